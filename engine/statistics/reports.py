"""The statistics report (Biểu 06/VPCP/KSTT, TT 01/2020/TT-VPCP), aggregated in SQL.

Scope. A report is asked for a period [start, end) and either one agency (the dossiers whose
receiving agency, `dossier.agency_id`, is that agency) or the whole province (no agency: every
dossier). A dossier is in the report when it was received before `end` and was not finished
before `start` (`finished_at` is null or >= `start`).

Intake: each dossier in scope is exactly one of
- online: received within the period through the online channel (`channel == 'online'`);
- in person or by post: received within the period at the desk or by post (`in_person`, `postal`);
- carried over: received before `start` (and, being in scope, not finished before `start`).
received total = online + in person/post + carried over.

Class at the period's end: each dossier in scope is exactly one of
- finished within the period (`finished_at < end`):
  - withdrawn: `status == 'withdrawn'` (`withdraw` sets `finished_at`);
  - refused: `refusal_reason` is set. `refuse` opens the hand-over of the refusal slip, and the
    runtime sets `finished_at` (status `result_ready`) the moment that step opens, then status
    `refused` when the slip is handed over; the refusal reason is what marks both states;
  - resolved: every other finished dossier. The runtime sets `finished_at` and `result_class`
    when the result's hand-over step opens (status `result_ready`, later `returned`), so a
    resolved dossier is counted when its result is ready, classified by `result_class`:
    early, late, and on time for `on_time` (and for the impossible missing class: every
    dossier gets a due time at receipt, so the runtime always classifies it);
- not finished by `end`:
  - waiting for supplement: a suspension of kind `supplement` covers `end`
    (`started_at < end` and (`ended_at` is null or `ended_at >= end`));
  - otherwise in progress: overdue if `due_at < end`, else not yet due. `due_at` is the
    dossier's current appointment, so for a past period a dossier whose appointment was moved
    (apology letter) or restarted (supplement) after `end` is judged by its new appointment.

Identities, by construction (every column is a sum of (intake, class) cells and every dossier
has exactly one intake and one class):
received total = resolved + in progress + refused + withdrawn + waiting for supplement;
resolved = early + on time + late; in progress = not yet due + overdue; and the per-field, the
per-level and the per-agency rows of one scope sum to the same total, because all three views
are folded from one GROUP BY query.

Every number is a link: `cell_query` builds the `select(Dossier)` behind a cell from the very
`ReportFrame` (scope, intake and class expressions) the aggregate groups by.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, Subquery, and_, case, func, or_, outerjoin, select, text
from sqlalchemy.orm import Session

from engine.errors import InvalidInput, NotFound
from engine.statistics.periods import Period
from models import Agency, Dossier, Procedure, Suspension

INTAKES = ("online", "in_person", "carried")
CLASSES = ("early", "on_time", "late", "not_due", "overdue", "refused", "withdrawn", "supplement")
GROUPINGS = ("field", "level", "agency")
LEVEL_LABELS = {
    "province": "Cấp tỉnh",
    "department": "Cấp sở, ngành",
    "district": "Cấp huyện",
    "commune": "Cấp xã",
}
GROUPING_LABELS = {"field": "Lĩnh vực", "level": "Cấp giải quyết", "agency": "Cơ quan tiếp nhận"}
PROVINCE_NAME = "Toàn tỉnh"


@dataclass(frozen=True)
class Column:
    """One column of Biểu 06: the intakes and classes whose dossiers it counts."""

    key: str
    group: str  # the first header row (merged over its columns)
    label: str  # the second header row
    intakes: tuple[str, ...] = INTAKES
    classes: tuple[str, ...] = CLASSES


_RECEIVED = "Tổng số hồ sơ tiếp nhận"
_RESOLVED = "Số hồ sơ đã giải quyết"
_IN_PROGRESS = "Số hồ sơ đang giải quyết"
COLUMNS: tuple[Column, ...] = (
    Column("received_total", _RECEIVED, "Tổng số"),
    Column("received_online", _RECEIVED, "Trực tuyến", intakes=("online",)),
    Column("received_in_person", _RECEIVED, "Trực tiếp, bưu chính", intakes=("in_person",)),
    Column("received_carried", _RECEIVED, "Từ kỳ trước chuyển sang", intakes=("carried",)),
    Column("resolved_total", _RESOLVED, "Tổng số", classes=("early", "on_time", "late")),
    Column("resolved_early", _RESOLVED, "Trước hạn", classes=("early",)),
    Column("resolved_on_time", _RESOLVED, "Đúng hạn", classes=("on_time",)),
    Column("resolved_late", _RESOLVED, "Quá hạn", classes=("late",)),
    Column("in_progress_total", _IN_PROGRESS, "Tổng số", classes=("not_due", "overdue")),
    Column("in_progress_not_due", _IN_PROGRESS, "Chưa đến hạn", classes=("not_due",)),
    Column("in_progress_overdue", _IN_PROGRESS, "Quá hạn", classes=("overdue",)),
    Column("refused", "Từ chối", "Từ chối", classes=("refused",)),
    Column("withdrawn", "Rút hồ sơ (dừng giải quyết)", "Rút hồ sơ (dừng giải quyết)", classes=("withdrawn",)),
    Column("supplement", "Chờ bổ sung", "Chờ bổ sung", classes=("supplement",)),
)
COLUMN_KEYS = tuple(c.key for c in COLUMNS)
_BY_KEY = {c.key: c for c in COLUMNS}


@dataclass
class ReportRow:
    """One row of the report: a field, a level or an agency (key None: the total row)."""

    key: str | None
    label: str
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COLUMN_KEYS, 0))

    def __getitem__(self, column: str) -> int:
        return self.counts[column]


@dataclass
class Report:
    """Biểu 06 for one scope, one period and one grouping, with its total row."""

    period: Period
    agency_code: str | None
    agency_name: str
    group_by: str
    rows: list[ReportRow]
    total: ReportRow

    @property
    def columns(self) -> tuple[Column, ...]:
        """The columns in Biểu 06 order."""
        return COLUMNS


# ---------------------------------------------------------------------------
# the shared predicates: the aggregate and the cell lists are built from these only


def scope_filter(period: Period, agency_id: int | None) -> ColumnElement[bool]:
    """Dossiers in the report: received before the end, not finished before the start."""
    conditions = [
        Dossier.received_at < period.end,
        or_(Dossier.finished_at.is_(None), Dossier.finished_at >= period.start),
    ]
    if agency_id is not None:
        conditions.insert(0, Dossier.agency_id == agency_id)
    return and_(*conditions)


def waiting_at(moment: Any) -> Subquery:
    """Ids of the dossiers a supplement suspension holds at `moment` (started before, not ended)."""
    return (
        select(Suspension.dossier_id.label("dossier_id"))
        .where(
            Suspension.kind == "supplement",
            Suspension.started_at < moment,
            or_(Suspension.ended_at.is_(None), Suspension.ended_at >= moment),
        )
        .distinct()
        .subquery("waiting")
    )


class ReportFrame:
    """The FROM clause and the intake and class expressions of one period.

    The aggregate and every cell list are built from one of these, so they cannot disagree.
    The supplement check is an outer join to the few suspensions running at the end (one hash
    join, parallel-safe) rather than a correlated subquery per dossier.
    """

    def __init__(self, period: Period) -> None:
        self.period = period
        self.waiting = waiting_at(period.end)
        self.source = outerjoin(Dossier, self.waiting, self.waiting.c.dossier_id == Dossier.id)
        start, end = period.start, period.end
        self.intake: ColumnElement[str] = case(
            (Dossier.received_at < start, "carried"),
            (Dossier.channel == "online", "online"),
            else_="in_person",
        )
        finished = and_(Dossier.finished_at.is_not(None), Dossier.finished_at < end)
        self.klass: ColumnElement[str] = case(
            (and_(finished, Dossier.status == "withdrawn"), "withdrawn"),
            (and_(finished, Dossier.refusal_reason.is_not(None)), "refused"),
            (and_(finished, Dossier.result_class == "early"), "early"),
            (and_(finished, Dossier.result_class == "late"), "late"),
            (finished, "on_time"),
            (self.waiting.c.dossier_id.is_not(None), "supplement"),
            (Dossier.due_at < end, "overdue"),
            else_="not_due",
        )

    def scope(self, agency_id: int | None) -> ColumnElement[bool]:
        """The dossiers in the report (see `scope_filter`)."""
        return scope_filter(self.period, agency_id)


def _group_filter(group_by: str, group_value: str | None) -> list[ColumnElement[bool]]:
    if group_value is None:
        return []
    if group_by == "field":
        return [Procedure.field == group_value]
    if group_by == "level":
        return [Procedure.level == group_value]
    return [Agency.code == group_value]


def _check_grouping(group_by: str) -> None:
    if group_by not in GROUPINGS:
        raise InvalidInput(
            f"Cách nhóm {group_by!r} không hợp lệ; chọn field (lĩnh vực), level (cấp) hoặc agency (cơ quan)",
            "group_by",
        )


def find_agency(session: Session, agency_code: str | None) -> Agency | None:
    """The agency with that code (None for None: the whole province), or NotFound."""
    if agency_code is None:
        return None
    agency = session.scalars(select(Agency).where(Agency.code == agency_code)).one_or_none()
    if agency is None:
        raise NotFound(f"Không tìm thấy cơ quan có mã {agency_code}")
    return agency


def cell_query(
    period: Period, agency_id: int | None, group_by: str, group_value: str | None, column: str
) -> Select[tuple[Dossier]]:
    """The `select(Dossier)` behind one number of the report, oldest receipt first."""
    _check_grouping(group_by)
    spec = _BY_KEY.get(column)
    if spec is None:
        raise InvalidInput(f"Cột {column!r} không có trong Biểu 06", "column")
    frame = ReportFrame(period)
    conditions = [frame.scope(agency_id), *_group_filter(group_by, group_value)]
    if spec.intakes != INTAKES:
        conditions.append(frame.intake.in_(spec.intakes))
    if spec.classes != CLASSES:
        conditions.append(frame.klass.in_(spec.classes))
    return (
        select(Dossier)
        .select_from(frame.source)
        .join(Procedure, Procedure.id == Dossier.procedure_id)
        .join(Agency, Agency.id == Dossier.agency_id)
        .where(*conditions)
        .order_by(Dossier.received_at, Dossier.id)
    )


def report_cell_dossiers(
    session: Session,
    period: Period,
    agency_code: str | None,
    group_by: str,
    group_value: str | None,
    column: str,
    limit: int = 50,
    offset: int = 0,
) -> list[Dossier]:
    """The dossiers behind one number (group_value None: the total row), a page at a time."""
    agency = find_agency(session, agency_code)
    query = cell_query(period, agency.id if agency else None, group_by, group_value, column)
    return list(session.scalars(query.limit(limit).offset(offset)))


def report_cell_count(
    session: Session,
    period: Period,
    agency_code: str | None,
    group_by: str,
    group_value: str | None,
    column: str,
) -> int:
    """How many dossiers are behind one number (for paging the list)."""
    agency = find_agency(session, agency_code)
    query = cell_query(period, agency.id if agency else None, group_by, group_value, column)
    return session.execute(select(func.count()).select_from(query.order_by(None).subquery())).scalar_one()


# ---------------------------------------------------------------------------
# the aggregate


def _cells(session: Session, period: Period, agency_id: int | None) -> list[tuple[int, int, str, str, int]]:
    """(agency id, procedure id, intake, class, count) for the scope, in one GROUP BY."""
    frame = ReportFrame(period)
    inner = (
        select(
            Dossier.agency_id.label("agency_id"),
            Dossier.procedure_id.label("procedure_id"),
            frame.intake.label("intake"),
            frame.klass.label("klass"),
        )
        .select_from(frame.source)
        .where(frame.scope(agency_id))
        .subquery()
    )
    # Grouping by the class only (the intakes are counted with FILTER) keeps PostgreSQL's group
    # estimate small enough for an in-memory hash aggregate instead of a sort spilling to disk.
    query = select(
        inner.c.agency_id,
        inner.c.procedure_id,
        inner.c.klass,
        *[func.count().filter(inner.c.intake == intake) for intake in INTAKES],
    ).group_by(inner.c.agency_id, inner.c.procedure_id, inner.c.klass)
    if session.get_bind().dialect.name == "postgresql":
        # Compiling the CASE expressions costs more than the whole scan saves (measured at 1M rows).
        session.execute(text("SET LOCAL jit = off"))
    cells = []
    for agency, procedure, klass, *by_intake in session.execute(query):
        cells += [(agency, procedure, i, klass, n) for i, n in zip(INTAKES, by_intake, strict=True) if n]
    return cells


def _add(counts: dict[str, int], intake: str, klass: str, n: int) -> None:
    for column in COLUMNS:
        if intake in column.intakes and klass in column.classes:
            counts[column.key] += n


def statistics_views(session: Session, period: Period, agency_code: str | None = None) -> dict[str, Report]:
    """Biểu 06 by field, by level and by agency, folded from one query so they cannot disagree."""
    agency = find_agency(session, agency_code)
    cells = _cells(session, period, agency.id if agency else None)
    procedures = {p.id: p for p in session.scalars(select(Procedure))}
    agencies = {a.id: a for a in session.scalars(select(Agency))}
    keys = {
        "field": lambda a, p: (procedures[p].field, procedures[p].field),
        "level": lambda a, p: (
            procedures[p].level,
            LEVEL_LABELS.get(procedures[p].level, procedures[p].level),
        ),
        "agency": lambda a, p: (agencies[a].code, agencies[a].name),
    }
    name = agency.name if agency else PROVINCE_NAME
    views: dict[str, Report] = {}
    for group_by in GROUPINGS:
        rows: dict[str, ReportRow] = {}
        total = ReportRow(None, "Tổng cộng")
        for agency_id, procedure_id, intake, klass, n in cells:
            key, label = keys[group_by](agency_id, procedure_id)
            row = rows.get(key)
            if row is None:
                row = rows[key] = ReportRow(key, label)
            _add(row.counts, intake, klass, n)
            _add(total.counts, intake, klass, n)
        ordered = sorted(rows.values(), key=lambda r: (r.label, r.key))
        views[group_by] = Report(period, agency_code, name, group_by, ordered, total)
    return views


def statistics_report(
    session: Session, period: Period, agency_code: str | None = None, group_by: str = "field"
) -> Report:
    """Biểu 06 for an agency (None: the whole province), rows by field, level or agency."""
    _check_grouping(group_by)
    return statistics_views(session, period, agency_code)[group_by]


def identity_problems(row: ReportRow) -> list[str]:
    """The Biểu 06 identities a row breaks (empty when it is consistent)."""
    c = row.counts
    checks = {
        "received = online + in person/post + carried over": c["received_total"]
        == c["received_online"] + c["received_in_person"] + c["received_carried"],
        "received = resolved + in progress + refused + withdrawn + supplement": c["received_total"]
        == c["resolved_total"] + c["in_progress_total"] + c["refused"] + c["withdrawn"] + c["supplement"],
        "resolved = early + on time + late": c["resolved_total"]
        == c["resolved_early"] + c["resolved_on_time"] + c["resolved_late"],
        "in progress = not yet due + overdue": c["in_progress_total"]
        == c["in_progress_not_due"] + c["in_progress_overdue"],
    }
    return [name for name, ok in checks.items() if not ok]


def sum_rows(rows: list[ReportRow]) -> dict[str, int]:
    """Column sums of some rows (the per-group rows of a view add up to its total row)."""
    totals: dict[str, int] = defaultdict(int)
    for row in rows:
        for key, n in row.counts.items():
            totals[key] += n
    return {key: totals[key] for key in COLUMN_KEYS}
