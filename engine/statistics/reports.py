"""The statistics report (Biểu 06/VPCP/KSTT, TT 01/2020/TT-VPCP), aggregated in SQL, as of a moment.

The moment. A report is judged as of `T = min(period.end, now)`: a closed period as of its end,
the current period as of now. Every class below is read from the recorded history (the moments
stored on the dossier, its suspensions and its apology letter), never from the dossier's current
state, so a closed period's numbers never change afterwards: a letter issued later, a supplement
restarting the clock later or an appointment moved later leave them as they were. "By T" means
at or before T; the period itself is [start, end) in local days, so a receipt at the end's midnight
belongs to the next period.

Scope. A report is asked for a period and either one agency (the dossiers whose receiving agency,
`dossier.agency_id`, is that agency) or the whole province (no agency: every dossier). A dossier
is in the report when it was received before `end` and by T, and was not closed by `start` (unless
it was received at `start` itself). A dossier is closed when it is resolved (`judged_at`), or
refused or withdrawn (`finished_at`); one closed by `start` was counted by the period before. (For
a period still to come, T is before `start`: what is open at T is carried over.)

Intake: each dossier in scope is exactly one of
- online: received within the period through the online channel (`channel == 'online'`);
- in person or by post: received within the period at the desk or by post (`in_person`, `postal`);
- carried over: received before `start` (and, being in scope, not closed by `start`).
received total = online + in person/post + carried over.

Class as of T: each dossier in scope is exactly one of, in this order
- withdrawn: `status == 'withdrawn'` and `finished_at` <= T (`withdraw` sets both at once);
- refused: `refusal_reason` is set and `finished_at` <= T. `refuse` records the reason and opens
  the hand-over of the refusal slip in the same transaction, which sets `finished_at`;
- resolved: `judged_at` <= T, classified by `result_class`, which is fixed at judgement and never
  changes: early, late, and on time for `on_time`. A late one is "with letter" when its apology
  letter has status 'issued' and `issued_at` <= T, "without letter" otherwise;
- waiting for supplement: a suspension of kind `supplement` covers T (`started_at` <= T and
  (`ended_at` is null or `ended_at` > T));
- otherwise in progress: overdue when `late_at` <= T (once late, always late), or when the legal
  due time `due_at` <= T and no suspension of any kind covers T; else not yet due.
A dossier whose result was ready by T but whose procedure counts the hand-over step (so
`finished_at` <= T < `judged_at`) is in progress until it is judged: its clock is still running,
and it is overdue by the same rule. `due_at` is the legal due time: an apology letter never moves
it, and a complete supplement that restarts the clock after T has, by then, either found the
dossier not yet due (the new due time is later still) or recorded `late_at`.

Identities, by construction (every column is a sum of (intake, class) cells and every dossier
has exactly one intake and one class):
received total = resolved + in progress + refused + withdrawn + waiting for supplement;
resolved = early + on time + late; late = with letter + without letter; in progress = not yet
due + overdue; and the per-field, the per-level and the per-agency rows of one scope sum to the
same total, because all three views are folded from one GROUP BY query.

Every number is a link: `cell_query` builds the select behind a cell from the very `ReportFrame`
(scope, intake and class expressions) the aggregate groups by.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, Subquery, and_, case, func, or_, outerjoin, select, text
from sqlalchemy.orm import Session

from engine.errors import InvalidInput, NotFound
from engine.feedback.scope import administrative_only
from engine.statistics.periods import Period
from engine.urgency import overdue_sql
from engine.usecase import require_aware
from models import Agency, ApologyLetter, Dossier, Procedure, Suspension
from models.vocabulary import Level

INTAKES = ("online", "in_person", "carried")
CLASSES = (
    "early",
    "on_time",
    "late_letter",
    "late_no_letter",
    "not_due",
    "overdue",
    "refused",
    "withdrawn",
    "supplement",
)
RESOLVED_CLASSES = ("early", "on_time", "late_letter", "late_no_letter")
ON_TIME_CLASSES = ("early", "on_time")  # the resolved dossiers that count as on time
LATE_CLASSES = ("late_letter", "late_no_letter")
CLASS_LABELS = {
    "early": "Đã giải quyết trước hạn",
    "on_time": "Đã giải quyết đúng hạn",
    "late_letter": "Đã giải quyết quá hạn, có văn bản xin lỗi",
    "late_no_letter": "Đã giải quyết quá hạn, không có văn bản xin lỗi",
    "not_due": "Đang giải quyết, chưa đến hạn",
    "overdue": "Đang giải quyết, quá hạn",
    "refused": "Từ chối",
    "withdrawn": "Rút hồ sơ (dừng giải quyết)",
    "supplement": "Chờ bổ sung",
}
GROUPINGS = ("field", "level", "agency")
LEVEL_LABELS = Level.labels()
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
    Column("resolved_total", _RESOLVED, "Tổng số", classes=RESOLVED_CLASSES),
    Column("resolved_early", _RESOLVED, "Trước hạn", classes=("early",)),
    Column("resolved_on_time", _RESOLVED, "Đúng hạn", classes=("on_time",)),
    Column("resolved_late", _RESOLVED, "Quá hạn", classes=LATE_CLASSES),
    Column("resolved_late_letter", _RESOLVED, "Quá hạn, có văn bản xin lỗi", classes=("late_letter",)),
    Column(
        "resolved_late_no_letter", _RESOLVED, "Quá hạn, không có văn bản xin lỗi", classes=("late_no_letter",)
    ),
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
    """Biểu 06 for one scope, one period and one grouping, with its total row, as of one moment."""

    period: Period
    agency_code: str | None
    agency_name: str
    group_by: str
    rows: list[ReportRow]
    total: ReportRow
    as_of: datetime

    @property
    def columns(self) -> tuple[Column, ...]:
        """The columns in Biểu 06 order."""
        return COLUMNS

    @property
    def closed(self) -> bool:
        """Whether the period is over (its numbers are final)."""
        return self.as_of >= self.period.end

    @property
    def as_of_title(self) -> str:
        """The moment the numbers are judged at, as printed under the title."""
        return self.period.as_of_title(self.as_of)


@dataclass(frozen=True)
class CellDossier:
    """One dossier behind a number: the dossier, its class as of the report's moment, its letter."""

    dossier: Dossier
    klass: str
    letter_issued_at: datetime | None

    @property
    def class_label(self) -> str:
        """The class in words, as the report counted it."""
        return CLASS_LABELS[self.klass]


# ---------------------------------------------------------------------------
# the shared predicates: the aggregate and the cell lists are built from these only


def report_moment(period: Period, now: datetime) -> datetime:
    """The moment a report of the period is judged at: `min(period.end, now)`."""
    return period.as_of(require_aware(now))


def closed_at() -> ColumnElement[Any]:
    """When the dossier stopped being open: judged (resolved), or finished when refused or withdrawn."""
    return case(
        (or_(Dossier.status == "withdrawn", Dossier.refusal_reason.is_not(None)), Dossier.finished_at),
        else_=Dossier.judged_at,
    )


def scope_filter(period: Period, agency_id: int | None, *, now: datetime) -> ColumnElement[bool]:
    """Dossiers in the report: received before the end and by the moment, not closed by the start."""
    moment = report_moment(period, now)
    closed = closed_at()
    # Judged before the period starts (a period still to come), a dossier closed between the moment
    # and the start was still open at the moment.
    carried_from = min(period.start, moment)
    conditions = [
        Dossier.received_at < period.end,
        Dossier.received_at <= moment,
        or_(Dossier.received_at >= period.start, closed.is_(None), closed > carried_from),
        # Citizens' feedback runs as a dossier but is no administrative dossier (docs/feedback.md).
        administrative_only(),
    ]
    if agency_id is not None:
        conditions.insert(0, Dossier.agency_id == agency_id)
    return and_(*conditions)


def held_at(moment: datetime) -> Subquery:
    """The dossiers a suspension covers at `moment`, with whether one of them is a supplement request."""
    return (
        select(
            Suspension.dossier_id.label("dossier_id"),
            func.max(case((Suspension.kind == "supplement", 1), else_=0)).label("supplement"),
        )
        .where(
            Suspension.started_at <= moment,
            or_(Suspension.ended_at.is_(None), Suspension.ended_at > moment),
        )
        .group_by(Suspension.dossier_id)
        .subquery("held")
    )


def letters_by(moment: datetime) -> Subquery:
    """The apology letters issued by `moment` (at most one per dossier)."""
    return (
        select(
            ApologyLetter.dossier_id.label("dossier_id"),
            ApologyLetter.issued_at.label("issued_at"),
            ApologyLetter.issued_late.label("issued_late"),
        )
        .where(ApologyLetter.status == "issued", ApologyLetter.issued_at <= moment)
        .subquery("letters")
    )


class ReportFrame:
    """The FROM clause and the intake and class expressions of one period as of one moment.

    The aggregate and every cell list are built from one of these, so they cannot disagree.
    The suspension and letter checks are outer joins to the few rows that matter at the moment
    (hash joins, parallel-safe) rather than correlated subqueries per dossier.
    """

    def __init__(self, period: Period, now: datetime) -> None:
        self.period = period
        self.as_of = moment = report_moment(period, now)
        self.held = held_at(moment)
        self.letters = letters_by(moment)
        self.source = outerjoin(
            outerjoin(Dossier, self.held, self.held.c.dossier_id == Dossier.id),
            self.letters,
            self.letters.c.dossier_id == Dossier.id,
        )
        self.has_letter: ColumnElement[bool] = self.letters.c.dossier_id.is_not(None)
        self.intake: ColumnElement[str] = case(
            (Dossier.received_at < period.start, "carried"),
            (Dossier.channel == "online", "online"),
            else_="in_person",
        )
        finished = Dossier.finished_at <= moment
        judged = Dossier.judged_at <= moment
        suspended = self.held.c.dossier_id.is_not(None)
        self.klass: ColumnElement[str] = case(
            (and_(finished, Dossier.status == "withdrawn"), "withdrawn"),
            (and_(finished, Dossier.refusal_reason.is_not(None)), "refused"),
            (and_(judged, Dossier.result_class == "early"), "early"),
            (and_(judged, Dossier.result_class == "late", self.has_letter), "late_letter"),
            (and_(judged, Dossier.result_class == "late"), "late_no_letter"),
            (judged, "on_time"),
            (self.held.c.supplement == 1, "supplement"),
            (Dossier.late_at <= moment, "overdue"),
            (and_(overdue_sql(Dossier.due_at, moment), ~suspended), "overdue"),
            else_="not_due",
        )

    def scope(self, agency_id: int | None) -> ColumnElement[bool]:
        """The dossiers in the report (see `scope_filter`)."""
        return scope_filter(self.period, agency_id, now=self.as_of)


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
    period: Period,
    agency_id: int | None,
    group_by: str,
    group_value: str | None,
    column: str,
    *,
    now: datetime,
) -> Select[tuple[Dossier, str, datetime | None]]:
    """The select behind one number: (dossier, class as of the moment, letter issued at), oldest first."""
    _check_grouping(group_by)
    spec = _BY_KEY.get(column)
    if spec is None:
        raise InvalidInput(f"Cột {column!r} không có trong Biểu 06", "column")
    frame = ReportFrame(period, now)
    conditions = [frame.scope(agency_id), *_group_filter(group_by, group_value)]
    if spec.intakes != INTAKES:
        conditions.append(frame.intake.in_(spec.intakes))
    if spec.classes != CLASSES:
        conditions.append(frame.klass.in_(spec.classes))
    return (
        select(Dossier, frame.klass.label("klass"), frame.letters.c.issued_at)
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
    *,
    now: datetime,
    limit: int = 50,
    offset: int = 0,
) -> list[CellDossier]:
    """The dossiers behind one number (group_value None: the total row), a page at a time."""
    agency = find_agency(session, agency_code)
    query = cell_query(period, agency.id if agency else None, group_by, group_value, column, now=now)
    return [CellDossier(*row) for row in session.execute(query.limit(limit).offset(offset))]  # type: ignore[arg-type, call-arg]


def report_cell_count(
    session: Session,
    period: Period,
    agency_code: str | None,
    group_by: str,
    group_value: str | None,
    column: str,
    *,
    now: datetime,
) -> int:
    """How many dossiers are behind one number (for paging the list)."""
    agency = find_agency(session, agency_code)
    query = cell_query(period, agency.id if agency else None, group_by, group_value, column, now=now)
    return session.execute(select(func.count()).select_from(query.order_by(None).subquery())).scalar_one()


# ---------------------------------------------------------------------------
# the aggregate


def report_cells(
    session: Session, period: Period, agency_id: int | None, now: datetime
) -> list[tuple[int, int, str, str, int]]:
    """(agency id, procedure id, intake, class, count) for the scope, in one GROUP BY."""
    frame = ReportFrame(period, now)
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


def statistics_views(
    session: Session, period: Period, agency_code: str | None = None, *, now: datetime
) -> dict[str, Report]:
    """Biểu 06 by field, by level and by agency as of `min(period.end, now)`, from one query."""
    moment = report_moment(period, now)
    agency = find_agency(session, agency_code)
    cells = report_cells(session, period, agency.id if agency else None, moment)
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
        views[group_by] = Report(period, agency_code, name, group_by, ordered, total, moment)
    return views


def statistics_report(
    session: Session,
    period: Period,
    agency_code: str | None = None,
    group_by: str = "field",
    *,
    now: datetime,
) -> Report:
    """Biểu 06 for an agency (None: the whole province), rows by field, level or agency, as of now."""
    _check_grouping(group_by)
    return statistics_views(session, period, agency_code, now=now)[group_by]


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
        "late = with letter + without letter": c["resolved_late"]
        == c["resolved_late_letter"] + c["resolved_late_no_letter"],
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
