"""The officer's inbox: their own open work items and the pool of their roles in their agency.

Read-only queries over the work-item projection, each backed by a partial index on open items
((assignee, due) and (agency, role, due)); nothing here loads a workflow.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import cast

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    FromClause,
    Select,
    Subquery,
    bindparam,
    case,
    func,
    select,
    true,
    union_all,
)
from sqlalchemy.orm import Session

from config import Settings
from engine.calendar import WorkingCalendar
from engine.catalogue.procedures import procedure_id_by_code
from engine.context import Context
from engine.errors import InvalidInput
from engine.urgency import DueWindow, due_window
from engine.usecase import active_officer, reading
from models import Dossier, Officer, Procedure, UnitOfWork, WorkItem
from models.vocabulary import Urgency

SCOPES = ("all", "mine", "pool")
# The inbox's filters; a step without a due time (paused) is listed under "ok".
URGENCIES = (Urgency.OVERDUE.value, Urgency.SOON.value, Urgency.OK.value)


@dataclass(frozen=True)
class InboxRow:
    """One line of the inbox."""

    work_item_id: int
    dossier_code: str
    procedure_code: str
    procedure_name: str
    step: str
    kind: str | None
    role: str
    received_at: datetime
    created_at: datetime
    due_at: datetime | None
    assignee_id: int | None
    assignee_name: str | None
    remaining_hours: float | None  # working hours; negative when overdue; None when paused
    urgency: str  # Urgency: overdue | soon | ok | paused


@dataclass
class InboxPage:
    """A page of the inbox with the counts the filters show."""

    rows: list[InboxRow]
    total: int
    counts: dict[str, int] = field(default_factory=dict)
    procedures: list[tuple[int, str, str]] = field(default_factory=list)
    # What identifies the set of open items behind the counts (see `inbox_procedures`).
    items_key: tuple = ()


def remaining_hours(calendar: WorkingCalendar, due: datetime | None, now: datetime) -> float | None:
    """Working hours left until `due`, negative once it has passed."""
    if due is None:
        return None
    if due >= now:
        return calendar.working_hours_between(now, due)
    return -calendar.working_hours_between(due, now)


def _conditions(
    officer_id: int | BindParameter[int],
    agency_id: int | BindParameter[int],
    roles: list[str] | BindParameter[list[str]],
) -> dict[str, list[ColumnElement[bool]]]:
    """The conditions of the inbox's two disjoint parts, own items and the pool."""
    return {
        "mine": [WorkItem.completed_at.is_(None), WorkItem.assignee_id == officer_id],
        "pool": [
            WorkItem.completed_at.is_(None),
            WorkItem.agency_id == agency_id,
            WorkItem.role.in_(roles),
            WorkItem.assignee_id.is_(None),
        ],
    }


def _scoped(parts: dict[str, list[ColumnElement[bool]]], scope: str) -> list[list[ColumnElement[bool]]]:
    return [parts["mine"], parts["pool"]] if scope == "all" else [parts[scope]]


def _roles(officer: Officer) -> list[str]:
    return list(officer.roles or []) or [""]


def _parts(officer: Officer, scope: str) -> list[list[ColumnElement[bool]]]:
    """The conditions of the inbox's disjoint parts, each served by its own partial index.

    Own items use (assignee, due); the pool uses (agency, role, due). An OR of the two would
    make the database scan every open item, so each part is queried apart and merged.
    """
    return _scoped(_conditions(officer.id, officer.agency_id, _roles(officer)), scope)


def _filtered(
    conditions: list[ColumnElement[bool]],
    *,
    window: DueWindow,
    procedure_id: int | BindParameter[int] | None,
    status: str | None,
) -> Select:
    query = select(WorkItem.id, WorkItem.due_at).where(*conditions)
    if procedure_id is not None:
        query = query.join(Dossier, Dossier.id == WorkItem.dossier_id).where(
            Dossier.procedure_id == procedure_id
        )
    if status in URGENCIES:
        query = query.where(window.urgency_sql(WorkItem.due_at, status))
    return query


def _part_totals(conditions: list[ColumnElement[bool]], window: DueWindow, name: str) -> Subquery:
    """One part's open items in one row: how many, overdue, due soon, and the sum of their dossier
    ids and the largest item id (the key of `inbox_procedures`); an aggregate over the part's index."""
    return (
        select(
            func.count().label("n"),
            func.sum(case((window.overdue_sql(WorkItem.due_at), 1), else_=0)).label("overdue"),
            func.sum(case((window.due_soon_sql(WorkItem.due_at), 1), else_=0)).label("soon"),
            func.sum(WorkItem.dossier_id).label("dossiers"),
            func.max(WorkItem.id).label("last"),
        )
        .where(*conditions)
        .subquery(name)
    )


def _by_due(query: Select) -> Select:
    # Items without a due time (waiting for the applicant) go last; NULLS LAST matches the
    # index order on PostgreSQL, so the top of the list is read straight from the index.
    return query.order_by(WorkItem.due_at.asc().nulls_last(), WorkItem.id)


def _page_rows(queries: list[Select]) -> Subquery:
    """The page's items with their dossiers, procedures and assignees, by due time.

    The first offset+limit of each part (each read from its own index), merged by due time: a
    page never needs more.
    """
    tops = [_by_due(query).limit(bindparam("top")).subquery() for query in queries]
    heads = (
        union_all(*(select(top.c.id, top.c.due_at) for top in tops)).subquery("heads")
        if len(tops) > 1
        else tops[0]
    )
    page = (
        select(heads.c.id)
        .order_by(heads.c.due_at.asc().nulls_last(), heads.c.id)
        .limit(bindparam("page_limit"))
        .offset(bindparam("page_offset"))
        .subquery("page")
    )
    return (
        select(
            WorkItem.id.label("item_id"),
            WorkItem.task_name,
            WorkItem.kind,
            WorkItem.role,
            WorkItem.created_at,
            WorkItem.due_at,
            WorkItem.assignee_id,
            Dossier.code.label("dossier_code"),
            Dossier.received_at,
            Procedure.code.label("procedure_code"),
            Procedure.name.label("procedure_name"),
            Officer.full_name.label("assignee_name"),
        )
        .select_from(page)
        .join(WorkItem, WorkItem.id == page.c.id)
        .join(Dossier, Dossier.id == WorkItem.dossier_id)
        .join(Procedure, Procedure.id == Dossier.procedure_id)
        .outerjoin(Officer, Officer.id == WorkItem.assignee_id)
        .subquery("rows")
    )


def _side_by_side(rows: list[Subquery]) -> FromClause:
    """One-row subqueries joined into one row (a cross join of single rows)."""
    joined: FromClause = rows[0]
    for other in rows[1:]:
        joined = joined.join(other, true())
    return joined


PART_NAMES = ("mine", "pool")
# Each part's aggregate row: n, overdue, soon, dossiers, last (see `_part_totals`).
_TOTALS_WIDTH = 5 * len(PART_NAMES)
# The columns of a page's row (`_page_rows`), the statement's last ones.
_ROW_WIDTH = 12


@cache
def _statement(scope: str, by_procedure: bool, status: str | None, with_page: bool = True) -> Select:
    """The inbox's one statement for a shape of request, built once per process.

    The officer, the moment and the page are bound parameters (`_parameters`): building the
    statement costs more than running it, and a statement reused as is also reuses its compiled
    form. Columns: both parts' aggregate rows, the filtered totals when a filter applies, then the
    page's rows joined to them (none when the page is empty); without the page, the aggregates.
    """
    window = DueWindow(
        # The window's SQL compares the due time with these instead of fixed moments.
        now=cast(datetime, bindparam("now")),
        soon_end=cast(datetime, bindparam("soon_end")),
    )
    conditions = _conditions(
        bindparam("officer_id"), bindparam("agency_id"), bindparam("roles", expanding=True)
    )
    totals = [_part_totals(conditions[name], window, name) for name in PART_NAMES]
    if not with_page:
        return select(*(c for part in totals for c in part.c)).select_from(_side_by_side(totals))
    procedure_id: BindParameter[int] | None = bindparam("procedure_id") if by_procedure else None
    queries = [
        _filtered(part, window=window, procedure_id=procedure_id, status=status)
        for part in _scoped(conditions, scope)
    ]
    if by_procedure or status is not None:
        totals += [
            select(func.count().label("n")).select_from(query.subquery()).subquery(f"filtered_{number}")
            for number, query in enumerate(queries)
        ]
    rows = _page_rows(queries)
    return (
        select(*(c for total in totals for c in total.c), *rows.c)
        .select_from(_side_by_side(totals).outerjoin(rows, true()))
        .order_by(rows.c.due_at.asc().nulls_last(), rows.c.item_id)
    )


def _parameters(officer: Officer, window: DueWindow, **more: object) -> dict[str, object]:
    return {
        "officer_id": officer.id,
        "agency_id": officer.agency_id,
        "roles": _roles(officer),
        "now": window.now,
        "soon_end": window.soon_end,
        **more,
    }


def inbox(
    session: Session,
    calendar: WorkingCalendar,
    officer: Officer,
    *,
    now: datetime,
    scope: str = "all",
    procedure_id: int | None = None,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
    warning_hours: float = Settings.warning_hours,
) -> InboxPage:
    """The officer's open items (own and pool), due time ascending, with server-side counts.

    Overdue and due soon as engine.urgency defines them: "due soon" is within
    `warning_hours` working hours (the setting the watcher warns by). One statement reads the
    counts, the filtered total and the page (`_statement`).
    """
    if scope not in SCOPES:
        scope = "all"
    if status not in URGENCIES:
        status = None
    limit, offset = max(1, min(limit, 500)), max(0, offset)
    window = due_window(calendar, now, warning_hours)
    statement = _statement(scope, procedure_id is not None, status)
    parameters = _parameters(
        officer, window, procedure_id=procedure_id, top=offset + limit, page_limit=limit, page_offset=offset
    )
    # Plain Core rows: no ORM entity is loaded.
    result = session.connection().execute(statement, parameters).all()
    counts, items_key = _counts_and_key_of(session, officer, result[0][:_TOTALS_WIDTH])
    width = len(result[0]) - _ROW_WIDTH
    filtered = result[0][_TOTALS_WIDTH:width]
    total = counts[scope] if not filtered else sum(int(n or 0) for n in filtered)
    if result[0][width] is None:  # an empty page: the counts' row alone
        result = []
    # The working hours left of the page's rows in one call (`now` converted once).
    lefts = calendar.working_hours_left((r[width + 5] for r in result), now)
    rows = []
    for r, left in zip(result, lefts, strict=True):
        item_id, step, kind, role, created_at, due_at, assignee_id, code, received_at = r[width : width + 9]
        rows.append(
            InboxRow(
                work_item_id=item_id,
                step=step,
                kind=kind,
                role=role,
                created_at=created_at,
                due_at=due_at,
                assignee_id=assignee_id,
                dossier_code=code,
                received_at=received_at,
                procedure_code=r[width + 9],
                procedure_name=r[width + 10],
                assignee_name=r[width + 11],
                remaining_hours=None if left is None else round(left, 2),
                urgency=window.urgency(due_at).value,
            )
        )
    return InboxPage(rows=rows, total=total, counts=counts, items_key=items_key)


def inbox_counts(session: Session, officer: Officer, window: DueWindow) -> dict[str, int]:
    """How many open items are the officer's own, in the pool, overdue and due soon."""
    statement = _statement("all", False, None, with_page=False)
    row = session.connection().execute(statement, _parameters(officer, window)).one()
    return _counts_and_key_of(session, officer, tuple(row))[0]


def _counts_and_key_of(session: Session, officer: Officer, values: Sequence) -> tuple[dict[str, int], tuple]:
    """The counts from the parts' aggregate rows (as `_part_totals` reads them), and the key of the
    open items they count: per part, how many, the sum of their dossier ids and the largest item id."""
    counts = {"mine": 0, "pool": 0, "overdue": 0, "soon": 0}
    engine = session.get_bind().engine
    key: list[object] = [
        id(engine),
        str(engine.url),
        officer.id,
        officer.agency_id,
        tuple(officer.roles or []),
    ]
    for number, name in enumerate(PART_NAMES):
        n, overdue, soon, dossiers, last = values[5 * number : 5 * number + 5]
        counts[name] = int(n or 0)
        counts["overdue"] += int(overdue or 0)
        counts["soon"] += int(soon or 0)
        key.extend((counts[name], int(dossiers or 0), int(last or 0)))
    counts["all"] = counts["mine"] + counts["pool"]
    return counts, tuple(key)


# The filter's procedures by the key of the open items they were read from, per process: joining
# every open item to its dossier is the inbox's costliest read at a million dossiers, and the set of
# open items rarely changes between two views. A dossier's procedure never changes, so a key seen
# again gives the same list; entries also expire, and the table is emptied when it grows.
_PROCEDURES_SEEN: dict[tuple, tuple[float, list[tuple[int, str, str]]]] = {}
_PROCEDURES_TTL = 300.0
_PROCEDURES_MAX = 2048


def inbox_procedures(session: Session, officer: Officer, items_key: tuple = ()) -> list[tuple[int, str, str]]:
    """The procedures that appear in the officer's open items, for the filter.

    With `items_key` (InboxPage.items_key) a list read for the same open items is reused.
    """
    moment = time.monotonic()
    if items_key:
        seen = _PROCEDURES_SEEN.get(items_key)
        if seen is not None and moment - seen[0] < _PROCEDURES_TTL:
            return list(seen[1])
    result = _read_procedures(session, officer)
    if items_key:
        if len(_PROCEDURES_SEEN) >= _PROCEDURES_MAX:
            _PROCEDURES_SEEN.clear()
        _PROCEDURES_SEEN[items_key] = (moment, list(result))
    return result


def _read_procedures(session: Session, officer: Officer) -> list[tuple[int, str, str]]:
    found: set[int] = set()
    for conditions in _parts(officer, "all"):
        found.update(
            session.scalars(
                select(Dossier.procedure_id)
                .join(WorkItem, WorkItem.dossier_id == Dossier.id)
                .where(*conditions)
                .distinct()
            )
        )
    if not found:
        return []
    query = (
        select(Procedure.id, Procedure.code, Procedure.name)
        .where(Procedure.id.in_(found))
        .order_by(Procedure.code)
    )
    return [(procedure_id, code, name) for procedure_id, code, name in session.execute(query)]


def next_item(session: Session, officer: Officer, after_id: int | None = None) -> int | None:
    """The officer's most urgent open item (own first, then pool), for 'complete and next'."""
    for conditions in _parts(officer, "all"):
        query = select(WorkItem.id).where(*conditions, WorkItem.kind.is_distinct_from("supplement"))
        if after_id is not None:
            query = query.where(WorkItem.id != after_id)
        found = session.scalar(_by_due(query).limit(1))
        if found is not None:
            return found
    return None


def officer_inbox(
    ctx: Context,
    officer_id: int,
    *,
    now: datetime,
    scope: str = "all",
    procedure_id: int | None = None,
    procedure_code: str | None = None,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
    with_procedures: bool = True,
    uow: UnitOfWork | None = None,
) -> InboxPage:
    """Hộp việc: a page of the officer's own and pool items, with the counts and the procedure filter.

    The procedure filter is an id (the page's select) or a code (the API), an unknown code refused;
    `with_procedures=False` skips the list of procedures the filter offers.
    """
    with reading(ctx, uow) as session:
        officer = active_officer(session, officer_id)
        if procedure_code is not None:
            procedure_id = procedure_id_by_code(session, procedure_code)
            if procedure_id is None:
                raise InvalidInput(f"Thủ tục {procedure_code} không có trong danh mục.", "procedure")
        page = inbox(
            session,
            ctx.calendar,
            officer,
            now=now,
            scope=scope,
            procedure_id=procedure_id,
            status=status,
            limit=limit,
            offset=offset,
            warning_hours=ctx.settings.warning_hours,
        )
        if with_procedures:
            page.procedures = inbox_procedures(session, officer, page.items_key)
        return page
