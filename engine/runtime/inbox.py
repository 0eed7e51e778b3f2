"""The officer's inbox: their own open work items and the pool of their roles in their agency.

Read-only queries over the work-item projection, each backed by a partial index on open items
((assignee, due) and (agency, role, due)); nothing here loads a workflow.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, Select, case, func, literal, select, union_all
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


def _parts(officer: Officer, scope: str) -> list[list[ColumnElement[bool]]]:
    """The conditions of the inbox's disjoint parts, each served by its own partial index.

    Own items use (assignee, due); the pool uses (agency, role, due). An OR of the two would
    make the database scan every open item, so each part is queried apart and merged.
    """
    mine = [WorkItem.completed_at.is_(None), WorkItem.assignee_id == officer.id]
    pool = [
        WorkItem.completed_at.is_(None),
        WorkItem.agency_id == officer.agency_id,
        WorkItem.role.in_(list(officer.roles or []) or [""]),
        WorkItem.assignee_id.is_(None),
    ]
    return {"mine": [mine], "pool": [pool], "all": [mine, pool]}[scope]


def _filtered(
    conditions: list[ColumnElement[bool]],
    *,
    window: DueWindow,
    procedure_id: int | None,
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


def _count(session: Session, query: Select) -> int:
    return session.scalar(select(func.count()).select_from(query.subquery())) or 0


def _by_due(query: Select) -> Select:
    # Items without a due time (waiting for the applicant) go last; NULLS LAST matches the
    # index order on PostgreSQL, so the top of the list is read straight from the index.
    return query.order_by(WorkItem.due_at.asc().nulls_last(), WorkItem.id)


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
    `warning_hours` working hours (the setting the watcher warns by).
    """
    if scope not in SCOPES:
        scope = "all"
    limit, offset = max(1, min(limit, 500)), max(0, offset)
    window = due_window(calendar, now, warning_hours)
    queries = [
        _filtered(part, window=window, procedure_id=procedure_id, status=status)
        for part in _parts(officer, scope)
    ]
    counts, items_key = _counts_and_key(session, officer, window)
    unfiltered = procedure_id is None and status not in URGENCIES
    total = counts[scope] if unfiltered else sum(_count(session, q) for q in queries)
    # The first offset+limit of each part, merged by due time: a page never needs more.
    # One statement for all parts (UNION ALL of each part's head, each read from its own index).
    tops = [_by_due(query).limit(offset + limit).subquery() for query in queries]
    merged = union_all(*(select(top.c.id, top.c.due_at) for top in tops)) if len(tops) > 1 else None
    heads = [
        (due, item_id)
        for item_id, due in session.execute(
            merged if merged is not None else select(tops[0].c.id, tops[0].c.due_at)
        )
    ]
    far = datetime.max.replace(tzinfo=now.tzinfo)
    heads.sort(key=lambda h: (h[0] is None, h[0] or far, h[1]))
    page_ids = [item_id for _, item_id in heads[offset : offset + limit]]
    details = (
        {
            r[0]: r
            for r in session.execute(
                select(
                    WorkItem.id,
                    WorkItem.task_name,
                    WorkItem.kind,
                    WorkItem.role,
                    WorkItem.created_at,
                    WorkItem.due_at,
                    WorkItem.assignee_id,
                    Dossier.code,
                    Dossier.received_at,
                    Procedure.code,
                    Procedure.name,
                    Officer.full_name,
                )
                .join(Dossier, Dossier.id == WorkItem.dossier_id)
                .join(Procedure, Procedure.id == Dossier.procedure_id)
                .outerjoin(Officer, Officer.id == WorkItem.assignee_id)
                .where(WorkItem.id.in_(page_ids))
            )
        }
        if page_ids
        else {}
    )
    rows = []
    for item_id in page_ids:
        r = details[item_id]
        left = remaining_hours(calendar, r[5], now)
        rows.append(
            InboxRow(
                work_item_id=r[0],
                step=r[1],
                kind=r[2],
                role=r[3],
                created_at=r[4],
                due_at=r[5],
                assignee_id=r[6],
                dossier_code=r[7],
                received_at=r[8],
                procedure_code=r[9],
                procedure_name=r[10],
                assignee_name=r[11],
                remaining_hours=None if left is None else round(left, 2),
                urgency=window.urgency(r[5]).value,
            )
        )
    return InboxPage(rows=rows, total=total, counts=counts, items_key=items_key)


def inbox_counts(session: Session, officer: Officer, window: DueWindow) -> dict[str, int]:
    """How many open items are the officer's own, in the pool, overdue and due soon."""
    return _counts_and_key(session, officer, window)[0]


def _counts_and_key(session: Session, officer: Officer, window: DueWindow) -> tuple[dict[str, int], tuple]:
    """The counts, and a key of the open items they count: per part, how many, the sum of their
    dossier ids and the largest item id (read from the same rows, so at no extra cost)."""
    counts = {"mine": 0, "pool": 0, "overdue": 0, "soon": 0}
    engine = session.get_bind().engine
    key: list[object] = [
        id(engine),
        str(engine.url),
        officer.id,
        officer.agency_id,
        tuple(officer.roles or []),
    ]
    names = ("mine", "pool")
    # One statement, one aggregate per part (each over its own index), told apart by the part's number.
    per_part = union_all(
        *(
            select(
                literal(number).label("part"),
                func.count(),
                func.sum(case((window.overdue_sql(WorkItem.due_at), 1), else_=0)),
                func.sum(case((window.due_soon_sql(WorkItem.due_at), 1), else_=0)),
                func.sum(WorkItem.dossier_id),
                func.max(WorkItem.id),
            ).where(*conditions)
            for number, conditions in enumerate(_parts(officer, "all"))
        )
    )
    rows = {int(row[0]): row for row in session.execute(per_part)}
    for number, name in enumerate(names):
        row = rows[number]
        counts[name] = int(row[1] or 0)
        counts["overdue"] += int(row[2] or 0)
        counts["soon"] += int(row[3] or 0)
        key.extend((counts[name], int(row[4] or 0), int(row[5] or 0)))
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
