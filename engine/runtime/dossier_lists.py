"""The officer's dossier list: a menu of dossier states with counts, filters, search, paging, export.

Scope: the dossiers the officer's agency received or holds or held a step of, the rule of
engine/runtime/access.py, so the list shows exactly what the dossier page lets the officer open.
It is read as two disjoint parts (`visible_parts_sql`): the agency's receipts, and the dossiers
of other agencies it holds or held a step of; each part is counted and paged from its own index
and the pages are merged, as the inbox merges its own items and its pool.

The states of the menu (`STATES`) split the scope by `Dossier.status`, with the running dossiers
split once more between those the desk has not forwarded yet and the others:

- **Mới tiếp nhận** (`new`): running (status processing) and none of its steps completed yet: the
  dossier is still at its first step, the desk has received it but not handed it on.
- **Đang xử lý** (`processing`): running, and at least one step completed.
- **Chờ bổ sung**, **Chờ trả kết quả**, **Đã trả kết quả**, **Từ chối**, **Dừng/rút**: the statuses
  supplement, result_ready, returned, refused and withdrawn.
- **Trễ hạn** (`late`) and **Sắp đến hạn** (`soon`): running dossiers whose legal due time is overdue
  or due soon at `now`, as engine/urgency.py defines them (the inbox's definitions); a dossier
  waiting for a supplement has its clock stopped and is in neither.

Counts are exact up to `COUNT_LIMIT` (`SEARCH_COUNT_LIMIT` while searching) and shown as "more than"
beyond it: counting 700,000 returned dossiers on every page view would cost more than the whole page
may take, and past that size an officer filters (dates, procedure) rather than reads the number.
Every query reads an index in order and stops at what the page needs: an agency's receipts in a
state by time (ix_dossier_agency_status_received), the dossiers it handles (dossier_handler's key),
and on PostgreSQL the trigram index of the search text.
"""

from __future__ import annotations

import io
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Any

from openpyxl import Workbook
from sqlalchemy import ColumnElement, Select, case, exists, func, select
from sqlalchemy.orm import Session

from engine.catalogue.procedures import procedure_id_by_code
from engine.context import Context
from engine.errors import InvalidInput
from engine.formatting import in_zone
from engine.runtime.access import visible_parts_sql
from engine.runtime.inbox import remaining_hours
from engine.search_text import query_words
from engine.urgency import DueWindow, window_of
from engine.usecase import active_officer, reading
from models import Agency, Dossier, Officer, Procedure, UnitOfWork, WorkItem
from models.vocabulary import Channel, DossierStatus, Urgency

# The menu, in the order officers read it: key -> label.
STATES: dict[str, str] = {
    "new": "Mới tiếp nhận",
    "processing": "Đang xử lý",
    "supplement": "Chờ bổ sung",
    "result_ready": "Chờ trả kết quả",
    "returned": "Đã trả kết quả",
    "refused": "Từ chối",
    "withdrawn": "Dừng/rút",
    "late": "Trễ hạn",
    "soon": "Sắp đến hạn",
}
# The states that split the scope without overlap (late and due soon are parts of "processing"
# and "new").
STATUS_STATES = ("new", "processing", "supplement", "result_ready", "returned", "refused", "withdrawn")
# Sort keys a request may name ("-" before one sorts descending), and the column each reads.
SORTS = {
    "received": Dossier.received_at,
    "appointment": Dossier.appointment_at,
    "due": Dossier.due_at,
    "code": Dossier.code,
}
NULLABLE_SORTS = ("appointment", "due")
DEFAULT_SORT = "-received"
SORT_VALUES = tuple(f"{sign}{key}" for key in SORTS for sign in ("", "-"))
COUNT_LIMIT = 10_000
SEARCH_COUNT_LIMIT = 1_000
MAX_PER_PAGE = 200
# The XLSX export writes every matching row up to this many; beyond it the officer narrows the list.
EXPORT_LIMIT = 50_000
SEARCH_LENGTH = 100
EXPORT_HEADERS = (
    "STT",
    "Mã hồ sơ",
    "Người nộp",
    "Số điện thoại",
    "Số định danh",
    "Mã thủ tục",
    "Tên thủ tục",
    "Lĩnh vực",
    "Hình thức nộp",
    "Ngày tiếp nhận",
    "Ngày hẹn trả",
    "Hạn giải quyết",
    "Trạng thái",
    "Bước hiện tại",
    "Đang giữ",
)


@dataclass(frozen=True)
class ListQuery:
    """What the officer asked for: state, search, filters, sort and page (all optional)."""

    state: str | None = None
    q: str = ""
    procedure_id: int | None = None
    procedure_code: str | None = None
    field: str | None = None
    channel: str | None = None
    received_from: date | None = None
    received_to: date | None = None
    sort: str = DEFAULT_SORT
    page: int = 1
    per_page: int = 50


@dataclass(frozen=True)
class DossierRow:
    """One line of the list."""

    id: int
    code: str
    applicant_name: str
    applicant_phone: str | None
    applicant_id_number: str | None
    procedure_code: str
    procedure_name: str
    procedure_field: str
    channel: str
    status: str
    received_at: datetime
    appointment_at: datetime | None
    due_at: datetime | None
    steps: list[str]
    holders: list[str]
    remaining_hours: float | None  # working hours to the legal due time; negative when overdue
    urgency: str | None  # Urgency while running or paused; None once finished


@dataclass
class DossierList:
    """A page of the list with the menu's counts and what the filters offer."""

    rows: list[DossierRow]
    total: int
    counts: dict[str, int]
    count_limit: int
    query: ListQuery
    pages: int
    procedures: list[tuple[int, str, str]] = field(default_factory=list)
    fields: list[str] = field(default_factory=list)

    def capped(self, value: int) -> bool:
        """Whether a count reached the limit (there are at least that many, maybe more)."""
        return value >= self.count_limit


# ---------------------------------------------------------------------------
# the query, checked


def _invalid(message: str, name: str) -> InvalidInput:
    return InvalidInput(message, name)


def check_query(session: Session, query: ListQuery) -> ListQuery:
    """The query with its procedure resolved, or InvalidInput naming the first parameter at fault."""
    if query.state is not None and query.state not in STATES:
        raise _invalid(f"Trạng thái hồ sơ không hợp lệ; chọn một trong: {', '.join(STATES)}.", "state")
    if query.sort not in SORT_VALUES:
        raise _invalid(
            f"Không sắp xếp được theo “{query.sort}”; chọn một trong: {', '.join(SORT_VALUES)}.", "sort"
        )
    if query.channel is not None and query.channel not in Channel.values():
        raise _invalid(
            f"Hình thức nộp không hợp lệ; chọn một trong: {', '.join(Channel.values())}.", "channel"
        )
    if len(query.q) > SEARCH_LENGTH:
        raise _invalid(f"Từ khóa tìm kiếm dài quá {SEARCH_LENGTH} ký tự.", "q")
    if not 1 <= query.per_page <= MAX_PER_PAGE:
        raise _invalid(f"Số hồ sơ mỗi trang phải từ 1 đến {MAX_PER_PAGE}.", "per_page")
    limit = SEARCH_COUNT_LIMIT if query_words(query.q) else COUNT_LIMIT
    last_page = max(1, -(-limit // query.per_page))
    if not 1 <= query.page <= last_page:
        raise _invalid(
            f"Trang phải từ 1 đến {last_page}; để xem thêm, lọc theo ngày tiếp nhận hoặc thủ tục.", "page"
        )
    if query.received_from and query.received_to and query.received_from > query.received_to:
        raise _invalid("Ngày tiếp nhận “từ ngày” phải trước hoặc bằng “đến ngày”.", "received_from")
    if query.procedure_code is not None:
        procedure_id = procedure_id_by_code(session, query.procedure_code)
        if procedure_id is None:
            raise _invalid(f"Thủ tục {query.procedure_code} không có trong danh mục.", "procedure")
        query = replace(query, procedure_id=procedure_id)
    return query


# ---------------------------------------------------------------------------
# SQL


def _step_done() -> ColumnElement[bool]:
    return exists().where(WorkItem.dossier_id == Dossier.id, WorkItem.completed_at.is_not(None))


def state_sql(state: str, window: DueWindow) -> ColumnElement[bool]:
    """SQL: the dossier is in this state of the menu at the window's moment (see the module's notes)."""
    running = Dossier.status == DossierStatus.PROCESSING.value
    if state == "new":
        return running & ~_step_done()
    if state == "processing":
        return running & _step_done()
    if state == "late":
        return running & window.overdue_sql(Dossier.due_at)
    if state == "soon":
        return running & window.due_soon_sql(Dossier.due_at)
    return Dossier.status == DossierStatus(state).value


def _filters(ctx: Context, query: ListQuery) -> list[ColumnElement[bool]]:
    """Search and filters: everything but the scope and the state."""
    tz = ctx.calendar.tz
    conditions: list[ColumnElement[bool]] = []
    words = query_words(query.q)
    if words:
        # What was typed, normalised, appears in one of the fields: one LIKE whose trigrams (across
        # the words too) make the index scan selective. autoescape: `%`, `_` and `\` typed by the
        # officer match themselves only.
        conditions.append(Dossier.search_text.contains(" ".join(words), autoescape=True))
    if query.procedure_id is not None:
        conditions.append(Dossier.procedure_id == query.procedure_id)
    if query.field:
        conditions.append(
            Dossier.procedure_id.in_(select(Procedure.id).where(Procedure.field == query.field))
        )
    if query.channel:
        conditions.append(Dossier.channel == query.channel)
    if query.received_from:
        conditions.append(Dossier.received_at >= datetime.combine(query.received_from, time(), tz))
    if query.received_to:
        conditions.append(
            Dossier.received_at < datetime.combine(query.received_to + timedelta(days=1), time(), tz)
        )
    return conditions


def _capped_count(
    session: Session, parts: list[ColumnElement[bool]], conditions: list[ColumnElement[bool]], limit: int
) -> int:
    """How many dossiers match in the scope's parts, counting no further than `limit`."""
    total = 0
    for part in parts:
        matching = select(Dossier.id).where(part, *conditions).limit(limit - total)
        total += session.scalar(select(func.count()).select_from(matching.subquery())) or 0
        if total >= limit:
            break
    return total


def _sort_key(sort: str, search: bool) -> Any:
    column = SORTS[sort.lstrip("-")]
    # While searching, the few matches come from the trigram index and are sorted: coalesce()
    # keeps PostgreSQL from walking a whole state's receipts in order to find a rare name.
    return func.coalesce(column, column) if search else column


def _ordered(query: Select, sort: str, key: Any) -> Select:
    # Receipt time and code are never empty: no NULLS clause, so the index gives the order.
    nulls = sort.lstrip("-") in NULLABLE_SORTS
    if sort.startswith("-"):
        first = key.desc().nulls_last() if nulls else key.desc()
        return query.order_by(first, Dossier.id.desc())
    return query.order_by(key.asc().nulls_last() if nulls else key.asc(), Dossier.id.asc())


def _page_ids(
    session: Session,
    parts: list[ColumnElement[bool]],
    conditions: list[ColumnElement[bool]],
    sort: str,
    offset: int,
    limit: int,
    *,
    search: bool = False,
) -> list[int]:
    """The ids of one page in the sort's order: the head of each part, merged; `search` when the
    conditions match few dossiers (they are sorted rather than found by walking an index)."""
    key = _sort_key(sort, search)
    heads: list[tuple[int, Any]] = []
    for part in parts:
        query = _ordered(select(Dossier.id, key).where(part, *conditions), sort, key).limit(offset + limit)
        heads.extend((row[0], row[1]) for row in session.execute(query))
    descending = sort.startswith("-")
    present = sorted((h for h in heads if h[1] is not None), key=lambda h: (h[1], h[0]), reverse=descending)
    missing = sorted((h for h in heads if h[1] is None), key=lambda h: h[0], reverse=descending)
    return [dossier_id for dossier_id, _ in (present + missing)[offset : offset + limit]]


# ---------------------------------------------------------------------------
# rows


def _open_steps(session: Session, dossier_ids: list[int]) -> dict[int, list[tuple[str, str]]]:
    """The open steps of these dossiers as (step name, holder): the assignee, else the agency."""
    if not dossier_ids:
        return {}
    found: dict[int, list[tuple[str, str]]] = defaultdict(list)
    rows = session.execute(
        select(WorkItem.dossier_id, WorkItem.task_name, Officer.full_name, Agency.name)
        .join(Agency, Agency.id == WorkItem.agency_id)
        .outerjoin(Officer, Officer.id == WorkItem.assignee_id)
        .where(WorkItem.dossier_id.in_(dossier_ids), WorkItem.completed_at.is_(None))
        .order_by(WorkItem.id)
    )
    for dossier_id, step, officer_name, agency_name in rows:
        found[dossier_id].append((step, officer_name or agency_name))
    return found


def _rows(ctx: Context, session: Session, ids: list[int], window: DueWindow) -> list[DossierRow]:
    if not ids:
        return []
    # Only the columns shown: a dossier row also carries its workflow state (over a kilobyte).
    found = {
        row.id: row
        for row in session.execute(
            select(
                Dossier.id,
                Dossier.code,
                Dossier.applicant_name,
                Dossier.applicant_phone,
                Dossier.applicant_id_number,
                Dossier.channel,
                Dossier.status,
                Dossier.received_at,
                Dossier.appointment_at,
                Dossier.due_at,
                Procedure.code.label("procedure_code"),
                Procedure.name.label("procedure_name"),
                Procedure.field.label("procedure_field"),
            )
            .join(Procedure, Procedure.id == Dossier.procedure_id)
            .where(Dossier.id.in_(ids))
        )
    }
    steps = _open_steps(session, ids)
    rows = []
    for dossier_id in ids:
        dossier = found[dossier_id]
        running = dossier.status == DossierStatus.PROCESSING.value
        paused = dossier.status == DossierStatus.SUPPLEMENT.value
        left = remaining_hours(ctx.calendar, dossier.due_at, window.now) if running else None
        urgency = (
            window.urgency(dossier.due_at).value if running else (Urgency.PAUSED.value if paused else None)
        )
        rows.append(
            DossierRow(
                id=dossier.id,
                code=dossier.code,
                applicant_name=dossier.applicant_name,
                applicant_phone=dossier.applicant_phone,
                applicant_id_number=dossier.applicant_id_number,
                procedure_code=dossier.procedure_code,
                procedure_name=dossier.procedure_name,
                procedure_field=dossier.procedure_field,
                channel=dossier.channel,
                status=dossier.status,
                received_at=dossier.received_at,
                appointment_at=dossier.appointment_at,
                due_at=dossier.due_at,
                steps=[step for step, _ in steps.get(dossier_id, [])],
                holders=list(dict.fromkeys(holder for _, holder in steps.get(dossier_id, []))),
                remaining_hours=None if left is None else round(left, 2),
                urgency=urgency,
            )
        )
    return rows


def _choices(session: Session) -> tuple[list[tuple[int, str, str]], list[str]]:
    """The procedures and fields the filters offer: the catalogue's (a few hundred at most)."""
    procedures = [
        (pid, code, name)
        for pid, code, name in session.execute(
            select(Procedure.id, Procedure.code, Procedure.name).order_by(Procedure.code)
        )
    ]
    fields = sorted(set(session.scalars(select(Procedure.field).distinct())))
    return procedures, fields


def _capped_counts(
    session: Session,
    parts: list[ColumnElement[bool]],
    conditions: list[ColumnElement[bool]],
    named: dict[str, ColumnElement[bool]],
    limit: int,
) -> dict[str, int]:
    """Capped counts of several conditions in one statement (one round trip, not one per count)."""

    def capped(part: ColumnElement[bool], condition: ColumnElement[bool]) -> Any:
        matching = select(Dossier.id).where(part, *conditions, condition).limit(limit).subquery()
        return select(func.count()).select_from(matching).scalar_subquery()

    columns = [
        sum((capped(part, c) for part in parts[1:]), capped(parts[0], c)).label(n) for n, c in named.items()
    ]
    row = session.execute(select(*columns)).one()
    return {name: min(limit, int(row._mapping[name] or 0)) for name in named}


def _counted_in_python(
    session: Session,
    parts: list[ColumnElement[bool]],
    conditions: list[ColumnElement[bool]],
    window: DueWindow,
    limit: int,
) -> dict[str, int] | None:
    """Every state's count from one read of the matching dossiers, when there are at most `limit`
    (a search: the trigram index is read once instead of once per state); None when more."""
    running = Dossier.status == DossierStatus.PROCESSING.value
    new = case((running & ~_step_done(), 1), else_=0)
    rows: list[Any] = []
    for part in parts:
        rows += session.execute(
            select(Dossier.status, Dossier.due_at, new).where(part, *conditions).limit(limit + 1 - len(rows))
        ).all()
        if len(rows) > limit:
            return None
    counts = dict.fromkeys(STATES, 0)
    for status, due_at, is_new in rows:
        if status != DossierStatus.PROCESSING.value:
            counts[status] += 1
            continue
        counts["new" if is_new else "processing"] += 1
        # The same definitions as state_sql's, from engine/urgency.py.
        if window.is_overdue(due_at):
            counts["late"] += 1
        elif window.is_due_soon(due_at):
            counts["soon"] += 1
    return counts


def state_counts(
    session: Session,
    parts: list[ColumnElement[bool]],
    conditions: list[ColumnElement[bool]],
    window: DueWindow,
    limit: int,
    *,
    search: bool = False,
) -> dict[str, int]:
    """How many dossiers of the scope each state of the menu holds, counted up to `limit`.

    "Đang xử lý" is the running dossiers less the new ones when both counts are exact: telling
    the two apart probes each dossier's steps, so it is done once instead of twice. A search's
    few matches are read once and counted here.
    """
    if search:
        found = _counted_in_python(session, parts, conditions, window, limit)
        if found is not None:
            return found
    named = {state: state_sql(state, window) for state in STATES if state != "processing"}
    named["running"] = Dossier.status == DossierStatus.PROCESSING.value
    counts = _capped_counts(session, parts, conditions, named, limit)
    if counts["running"] < limit:
        counts["processing"] = counts["running"] - counts["new"]
    else:
        processing = {"processing": state_sql("processing", window)}
        counts |= _capped_counts(session, parts, conditions, processing, limit)
    return {state: counts[state] for state in STATES}


def dossier_list_in(
    ctx: Context, session: Session, officer: Officer, query: ListQuery, now: datetime, *, choices: bool = True
) -> DossierList:
    """A page of the officer's dossier list with the counts of every state of the menu."""
    query = check_query(session, query)
    window = window_of(ctx, now)
    parts = visible_parts_sql(officer.agency_id)
    base = _filters(ctx, query)
    limit = SEARCH_COUNT_LIMIT if query_words(query.q) else COUNT_LIMIT
    counts = state_counts(session, parts, base, window, limit, search=bool(query_words(query.q)))
    if query.state is not None:
        base.append(state_sql(query.state, window))
        total = counts[query.state]
    elif all(counts[state] < limit for state in STATUS_STATES):
        # The statuses split the scope: their exact counts add up to the whole list.
        total = min(limit, sum(counts[state] for state in STATUS_STATES))
    else:
        total = _capped_count(session, parts, base, limit)
    offset = (query.page - 1) * query.per_page
    # A search matching few dossiers sorts them; one matching many reads the receipts in order.
    few = bool(query_words(query.q)) and total < limit
    ids = _page_ids(session, parts, base, query.sort, offset, query.per_page, search=few)
    page = DossierList(
        rows=_rows(ctx, session, ids, window),
        total=total,
        counts=counts,
        count_limit=limit,
        query=query,
        pages=max(1, -(-total // query.per_page)),
    )
    if choices:
        page.procedures, page.fields = _choices(session)
    return page


def dossier_list(
    ctx: Context,
    officer_id: int,
    query: ListQuery,
    *,
    now: datetime,
    choices: bool = True,
    uow: UnitOfWork | None = None,
) -> DossierList:
    """Danh sách hồ sơ: a page of the dossiers the officer's agency received or handled, with counts."""
    with reading(ctx, uow) as session:
        return dossier_list_in(ctx, session, active_officer(session, officer_id), query, now, choices=choices)


# ---------------------------------------------------------------------------
# export


def export_rows(
    ctx: Context, session: Session, officer: Officer, query: ListQuery, now: datetime
) -> list[DossierRow]:
    """Every dossier of the filtered list in its order, up to EXPORT_LIMIT, else InvalidInput."""
    query = check_query(session, replace(query, page=1))
    window = window_of(ctx, now)
    base = _filters(ctx, query)
    if query.state is not None:
        base.append(state_sql(query.state, window))
    parts = visible_parts_sql(officer.agency_id)
    few = (
        bool(query_words(query.q))
        and _capped_count(session, parts, base, SEARCH_COUNT_LIMIT) < SEARCH_COUNT_LIMIT
    )
    ids = _page_ids(session, parts, base, query.sort, 0, EXPORT_LIMIT + 1, search=few)
    if len(ids) > EXPORT_LIMIT:
        limit = f"{EXPORT_LIMIT:,}".replace(",", ".")
        raise InvalidInput(
            f"Danh sách có hơn {limit} hồ sơ, quá số dòng xuất được một lần; hãy lọc thêm (theo ngày "
            "tiếp nhận, thủ tục hoặc trạng thái) rồi xuất lại.",
            "export",
        )
    rows: list[DossierRow] = []
    for start in range(0, len(ids), 1000):
        rows.extend(_rows(ctx, session, ids[start : start + 1000], window))
    return rows


def _title(query: ListQuery) -> str:
    parts = [STATES[query.state] if query.state else "Tất cả trạng thái"]
    if query.q:
        parts.append(f"tìm “{query.q}”")
    if query.received_from or query.received_to:
        start = query.received_from.strftime("%d/%m/%Y") if query.received_from else "…"
        end = query.received_to.strftime("%d/%m/%Y") if query.received_to else "…"
        parts.append(f"tiếp nhận {start} – {end}")
    return "; ".join(parts)


def build_export(
    ctx: Context, rows: list[DossierRow], query: ListQuery, now: datetime, agency_name: str
) -> bytes:
    """The rows as an XLSX workbook with Vietnamese headers (openpyxl, write-only for large lists)."""
    tz = ctx.calendar.tz
    book = Workbook(write_only=True)
    sheet: Any = book.create_sheet("Danh sách hồ sơ")
    sheet.append([f"DANH SÁCH HỒ SƠ — {agency_name}"])
    sheet.append([f"{_title(query)}. Lập lúc {in_zone(now, tz)}; {len(rows)} hồ sơ."])
    sheet.append([])
    sheet.append(list(EXPORT_HEADERS))
    labels = DossierStatus.labels()
    channels = Channel.labels()
    for number, row in enumerate(rows, start=1):
        sheet.append(
            [
                number,
                row.code,
                row.applicant_name,
                row.applicant_phone or "",
                row.applicant_id_number or "",
                row.procedure_code,
                row.procedure_name,
                row.procedure_field,
                channels.get(row.channel, row.channel),
                in_zone(row.received_at, tz),
                in_zone(row.appointment_at, tz),
                in_zone(row.due_at, tz),
                labels.get(row.status, row.status),
                "; ".join(row.steps),
                "; ".join(row.holders),
            ]
        )
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@dataclass(frozen=True)
class Export:
    """An XLSX file of the list, ready to be sent."""

    file_name: str
    content: bytes
    rows: int


def dossier_list_export(
    ctx: Context, officer_id: int, query: ListQuery, *, now: datetime, uow: UnitOfWork | None = None
) -> Export:
    """The filtered list as XLSX: every matching dossier up to EXPORT_LIMIT, else a message to filter."""
    with reading(ctx, uow) as session:
        officer = active_officer(session, officer_id)
        rows = export_rows(ctx, session, officer, query, now)
        agency = session.get_one(Agency, officer.agency_id)
        content = build_export(ctx, rows, query, now, agency.name)
    stamp = in_zone(now, ctx.calendar.tz, "%Y%m%d-%H%M")
    return Export(f"danh-sach-ho-so-{stamp}.xlsx", content, len(rows))
