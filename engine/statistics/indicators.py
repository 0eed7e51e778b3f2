"""Service-quality indicators, the QĐ 766 monthly score and the leaders' dashboard data.

Every count of a period is judged as of the same moment as the statistics report,
`T = min(period.end, now)`, from the same scope and classes (`engine.statistics.reports.ReportFrame`),
so an indicator never disagrees with Biểu 06 for the same agency, period and moment, and a closed
period's indicators never change afterwards:
- on-time rate = (early + on time) / resolved, per agency or per procedure;
- per step (TT 01/2018 indicator 2, each unit's time against its allotment): counted work items
  completed within the period by T, by the agency holding the step, with used against allotted
  hours and the step's own class; score per item 2 (early), 1 (on time), 0 (late), averaged;
- apologies against late dossiers: the late dossiers as of T are those resolved late, those in
  progress and overdue, and those waiting for a supplement that was asked for after the legal due
  time had passed (`late_at` <= T: once late, always late, even while the clock is stopped). Each is
  "with letter" when its apology letter was issued by T (status 'issued', `issued_at` <= T), else
  "without letter", the kind the law says should not exist; of the letters, those issued less than
  one working day before the legal due time or after it (`ApologyLetter.issued_late`) are counted;
- supplement requests made within the period by T, and among them the late ones (`Suspension.late`:
  asked more than the allowed working days after the clock started, the agency's fault), by the
  receiving agency of the dossier;
- online share = online / received within the period;
- digitised share (engine/documents/digitisation.py marks documents): received within the period
  with every required document of the procedure digitised by T (a scan or a reused document named
  after each checklist item), and resolved with a result digitised by T; also shown, not scored:
  received with at least one document digitised, and received with a reused earlier document;
- satisfaction = satisfied / rated, over the dossiers finished within the period that were rated by T.

QĐ 766/QĐ-TTg (23/6/2022, the index for directing, managing and assessing the quality of service
to citizens and businesses in administrative procedures) scores each agency monthly in five groups
(100 points). Group 2, "Tiến độ, kết quả giải quyết" (progress and on-time results, 20 points),
is the on-time share of the dossiers received that were due to be settled:
    score = 20 × numerator / denominator, where
    numerator   = dossiers resolved early or on time within the month (Biểu 06 resolved early +
                  resolved on time, as of T);
    denominator = dossiers resolved within the month (Biểu 06 resolved total: early + on time + late)
                  + dossiers in progress and overdue at T (Biểu 06 in progress overdue)
                  + dossiers waiting for a supplement asked for after the legal due time (late at T).
Dossiers not yet due, waiting for a supplement asked in time, refused or withdrawn are in neither.
Groups the system has no data for (online payment) carry score None and the reason,
never a made-up number.

The dashboard reads the present: open dossiers past their legal due time (`due_at`) or already
recorded late (`late_at`), open steps past their allotment, and the oldest open dossiers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo

from sqlalchemy import ColumnElement, SQLColumnExpression, and_, case, exists, func, or_, select
from sqlalchemy.orm import Session

from engine.feedback.scope import administrative_only
from engine.payments.counts import fee_due_sql, paid_online_sql
from engine.publication.completeness import publicity_by_agency
from engine.statistics.periods import Period, months_between
from engine.statistics.reports import (
    LATE_CLASSES,
    ON_TIME_CLASSES,
    RESOLVED_CLASSES,
    ReportFrame,
    find_agency,
    report_moment,
)
from engine.urgency import is_overdue, overdue_sql
from engine.usecase import require_aware
from models import Agency, Attachment, Dossier, Procedure, Rating, Suspension, WorkItem

RESOLVED = RESOLVED_CLASSES
FINISHED = (*RESOLVED_CLASSES, "refused", "withdrawn")


def _sum(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _rate(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _num(value: float) -> str:
    return f"{value:.2f}".replace(".", ",")


# ---------------------------------------------------------------------------
# on-time rates


@dataclass
class RateRow:
    """On-time rate of one agency or procedure: (early + on time) / resolved."""

    key: str
    label: str
    resolved: int
    early: int
    on_time: int
    late: int
    late_with_letter: int = 0

    @property
    def late_without_letter(self) -> int:
        """Resolved late with no apology letter issued by the report's moment."""
        return self.late - self.late_with_letter

    @property
    def rate(self) -> float | None:
        """Share resolved early or on time; None when nothing was resolved."""
        return _rate(self.early + self.on_time, self.resolved)


def on_time_rates(
    session: Session, period: Period, by: str = "agency", agency_code: str | None = None, *, now: datetime
) -> list[RateRow]:
    """On-time rate per receiving agency (`by='agency'`) or per procedure (`by='procedure'`), as of now."""
    agency = find_agency(session, agency_code)
    frame = ReportFrame(period, now)
    inner = (
        select(
            Dossier.agency_id.label("agency_id"),
            Dossier.procedure_id.label("procedure_id"),
            frame.klass.label("klass"),
        )
        .select_from(frame.source)
        .where(frame.scope(agency.id if agency else None))
        .subquery()
    )
    group = inner.c.agency_id if by == "agency" else inner.c.procedure_id
    query = (
        select(
            group,
            _sum(inner.c.klass.in_(RESOLVED)),
            _sum(inner.c.klass == "early"),
            _sum(inner.c.klass == "on_time"),
            _sum(inner.c.klass.in_(LATE_CLASSES)),
            _sum(inner.c.klass == "late_letter"),
        )
        .where(inner.c.klass.in_(RESOLVED))
        .group_by(group)
    )
    if by == "agency":
        names = {a.id: (a.code, a.name) for a in session.scalars(select(Agency))}
    else:
        names = {p.id: (p.code, p.name) for p in session.scalars(select(Procedure))}
    rows = [
        RateRow(*names[key], int(r), int(e), int(o), int(lt), int(wl))
        for key, r, e, o, lt, wl in session.execute(query)
    ]
    return sorted(rows, key=lambda r: r.key)


# ---------------------------------------------------------------------------
# per step (TT 01/2018 indicator 2)


@dataclass
class StepRow:
    """One step of one procedure at the agency holding it, over the items completed in the period."""

    agency_code: str
    agency_name: str
    procedure_code: str
    step: str
    step_name: str
    items: int
    early: int
    on_time: int
    late: int
    allotted_hours: float
    used_hours: float

    @property
    def late_share(self) -> float | None:
        """Share of the step's items finished after their allotment."""
        return _rate(self.late, self.items)

    @property
    def score(self) -> float | None:
        """TT 01/2018 indicator 2, averaged: 2 per early item, 1 per on-time item, 0 per late one."""
        return _rate(2 * self.early + self.on_time, self.items)


def step_indicators(
    session: Session, period: Period, agency_code: str | None = None, *, now: datetime
) -> list[StepRow]:
    """Each unit's used time against its allotment, per step, as of now; the latest steps first."""
    moment = report_moment(period, now)
    agency = find_agency(session, agency_code)
    conditions = [
        WorkItem.completed_at >= period.start,
        WorkItem.completed_at < period.end,
        WorkItem.completed_at <= moment,
        WorkItem.counted.is_(True),
        WorkItem.result_class.is_not(None),
        administrative_only(),  # the steps of administrative dossiers (docs/feedback.md)
    ]
    if agency is not None:
        conditions.append(WorkItem.agency_id == agency.id)
    query = (
        select(
            WorkItem.agency_id,
            Dossier.procedure_id,
            WorkItem.task_id,
            func.max(WorkItem.task_name),
            func.count(),
            _sum(WorkItem.result_class == "early"),
            _sum(WorkItem.result_class == "on_time"),
            _sum(WorkItem.result_class == "late"),
            func.coalesce(func.sum(WorkItem.allotted_hours), 0),
            func.coalesce(func.sum(WorkItem.used_hours), 0),
        )
        .join(Dossier, Dossier.id == WorkItem.dossier_id)
        .where(*conditions)
        .group_by(WorkItem.agency_id, Dossier.procedure_id, WorkItem.task_id)
    )
    agencies = {a.id: a for a in session.scalars(select(Agency))}
    procedures = {p.id: p.code for p in session.scalars(select(Procedure))}
    rows = [
        StepRow(
            agencies[a].code,
            agencies[a].name,
            procedures[p],
            task,
            name,
            int(n),
            int(e),
            int(o),
            int(lt),
            float(allotted),
            float(used),  # type: ignore[arg-type]
        )
        for a, p, task, name, n, e, o, lt, allotted, used in session.execute(query)
    ]
    return sorted(rows, key=lambda r: (-(r.late_share or 0), r.agency_code, r.procedure_code, r.step))


# ---------------------------------------------------------------------------
# per-agency counts behind the shares and the QĐ 766 score


@dataclass
class AgencyCounts:
    """The numerators and denominators of the indicators for one agency (or the province)."""

    agency_code: str | None
    agency_name: str
    received: int = 0  # within the period (not carried over)
    online: int = 0
    with_inputs: int = 0  # every required document digitised by the moment
    with_some_inputs: int = 0  # at least one document digitised by the moment
    with_reuse: int = 0  # at least one document reused from an earlier dossier
    resolved: int = 0
    resolved_on_time: int = 0  # early or on time
    resolved_late: int = 0
    with_results: int = 0
    overdue: int = 0  # in progress past the legal due time (or recorded late) at the moment
    late_waiting: int = 0  # waiting for a supplement asked for after the legal due time
    finished: int = 0
    rated: int = 0
    satisfied: int = 0
    late: int = 0  # resolved late + overdue + late_waiting
    late_with_letter: int = 0  # of `late`: an apology letter issued by the moment
    letters_issued_late: int = 0  # of `late_with_letter`: the letter was issued late
    supplement_requests: int = 0  # asked within the period
    late_supplement_requests: int = 0  # of those: asked after the allowed window
    fee_due: int = 0  # received within the period for a procedure with a fee
    paid_online: int = 0  # of those: the fee paid online by the moment
    as_of: datetime | None = None  # the moment the counts are judged at
    # (procedures, completely published ones) of the agency as they stand now (engine.publication)
    publicity: tuple[int, int] | None = None

    @property
    def late_without_letter(self) -> int:
        """Late dossiers with no apology letter issued by the moment."""
        return self.late - self.late_with_letter

    @property
    def online_share(self) -> float | None:
        """Online / received within the period."""
        return _rate(self.online, self.received)

    @property
    def input_digitised_share(self) -> float | None:
        """Received within the period with every required document digitised."""
        return _rate(self.with_inputs, self.received)

    @property
    def result_digitised_share(self) -> float | None:
        """Resolved within the period with at least one result digitised."""
        return _rate(self.with_results, self.resolved)

    @property
    def on_time_rate(self) -> float | None:
        """(Early + on time) / resolved."""
        return _rate(self.resolved_on_time, self.resolved)

    @property
    def progress_due(self) -> int:
        """The QĐ 766 progress denominator: resolved + overdue + late while waiting for a supplement."""
        return self.resolved + self.overdue + self.late_waiting

    @property
    def apology_share(self) -> float | None:
        """Late dossiers with an issued apology letter / late dossiers."""
        return _rate(self.late_with_letter, self.late)

    @property
    def late_supplement_share(self) -> float | None:
        """Late supplement requests / supplement requests."""
        return _rate(self.late_supplement_requests, self.supplement_requests)

    @property
    def satisfaction(self) -> float | None:
        """Satisfied / rated."""
        return _rate(self.satisfied, self.rated)


_COUNT_FIELDS = (
    "received",
    "online",
    "with_inputs",
    "with_some_inputs",
    "with_reuse",
    "resolved",
    "resolved_on_time",
    "resolved_late",
    "with_results",
    "overdue",
    "late_waiting",
    "finished",
    "rated",
    "satisfied",
    "late",
    "late_with_letter",
    "letters_issued_late",
    "fee_due",
    "paid_online",
)
_SUPPLEMENT_FIELDS = ("supplement_requests", "late_supplement_requests")


def _has_digitised(kind: str, moment: datetime, *extra: ColumnElement[bool]) -> ColumnElement[bool]:
    """The dossier has a document of this kind digitised by the moment."""
    return exists(
        select(Attachment.id).where(
            Attachment.dossier_id == Dossier.id,
            Attachment.kind == kind,
            Attachment.digitised_at <= moment,
            *extra,
        )
    )


def _fully_digitised(moment: datetime) -> ColumnElement[bool]:
    """Every required document of the dossier's procedure has a digitised scan by the moment (a
    procedure listing none needs one digitised document)."""
    named = (
        select(func.count(func.distinct(Attachment.document_name)))
        .where(
            Attachment.dossier_id == Dossier.id,
            Attachment.kind == "input",
            Attachment.digitised_at <= moment,
            Attachment.document_name.is_not(None),
        )
        .scalar_subquery()
    )
    required = (
        select(func.json_array_length(Procedure.required_documents))
        .where(Procedure.id == Dossier.procedure_id)
        .scalar_subquery()
    )
    return and_(_has_digitised("input", moment), named >= required)


def _supplement_counts(
    session: Session, period: Period, moment: datetime, agency_id: int | None
) -> dict[int, tuple[int, int]]:
    """(requests, late requests) per receiving agency, for the supplement requests made in the period."""
    conditions = [
        Suspension.kind == "supplement",
        Suspension.started_at >= period.start,
        Suspension.started_at < period.end,
        Suspension.started_at <= moment,
    ]
    if agency_id is not None:
        conditions.append(Dossier.agency_id == agency_id)
    query = (
        select(Dossier.agency_id, func.count(), _sum(Suspension.late.is_(True)))
        .join(Dossier, Dossier.id == Suspension.dossier_id)
        .where(*conditions)
        .group_by(Dossier.agency_id)
    )
    return {a: (int(n), int(late)) for a, n, late in session.execute(query)}


def agency_counts(
    session: Session, period: Period, agency_code: str | None = None, *, now: datetime
) -> list[AgencyCounts]:
    """The indicator counts per receiving agency as of now, then the province total last."""
    agency = find_agency(session, agency_code)
    frame = ReportFrame(period, now)
    moment = frame.as_of
    klass, intake = frame.klass, frame.intake
    new = intake != "carried"
    resolved = klass.in_(RESOLVED)
    late_waiting = and_(klass == "supplement", Dossier.late_at <= moment)
    late = or_(klass.in_(LATE_CLASSES), klass == "overdue", late_waiting)
    finished = klass.in_(FINISHED)
    fee_due = fee_due_sql(session)
    rating = (
        select(Rating.satisfied)
        .where(Rating.dossier_id == Dossier.id, Rating.rated_at <= moment)
        .scalar_subquery()
    )
    flags = {
        "received": new,
        "online": intake == "online",
        "with_inputs": and_(new, _fully_digitised(moment)),
        "with_some_inputs": and_(new, _has_digitised("input", moment)),
        "with_reuse": and_(
            new, _has_digitised("input", moment, Attachment.reused_from_attachment_id.is_not(None))
        ),
        "resolved": resolved,
        "resolved_on_time": klass.in_(ON_TIME_CLASSES),
        "resolved_late": klass.in_(LATE_CLASSES),
        "with_results": and_(resolved, _has_digitised("result", moment)),
        "overdue": klass == "overdue",
        "late_waiting": late_waiting,
        "finished": finished,
        "rated": and_(finished, rating.is_not(None)),
        "satisfied": and_(finished, rating.is_(True)),
        "late": late,
        "late_with_letter": and_(late, frame.has_letter),
        "letters_issued_late": and_(late, frame.has_letter, frame.letters.c.issued_late.is_(True)),
        "fee_due": and_(new, fee_due),
        "paid_online": and_(new, fee_due, paid_online_sql(moment)),
    }
    inner = (
        select(
            Dossier.agency_id.label("agency_id"),
            *[case((flags[name], 1), else_=0).label(name) for name in _COUNT_FIELDS],
        )
        .select_from(frame.source)
        .where(frame.scope(agency.id if agency else None))
        .subquery()
    )
    query = select(inner.c.agency_id, *[func.sum(inner.c[name]) for name in _COUNT_FIELDS]).group_by(
        inner.c.agency_id
    )
    agencies = {a.id: a for a in session.scalars(select(Agency))}
    supplements = _supplement_counts(session, period, moment, agency.id if agency else None)
    by_agency: dict[int, AgencyCounts] = {}
    for agency_id, *values in session.execute(query):
        row = by_agency[agency_id] = AgencyCounts(
            agencies[agency_id].code, agencies[agency_id].name, as_of=moment
        )
        for name, value in zip(_COUNT_FIELDS, values, strict=True):
            setattr(row, name, int(value or 0))
    for agency_id, numbers in supplements.items():
        row = by_agency.get(agency_id)  # type: ignore[assignment]
        if row is None:
            row = by_agency[agency_id] = AgencyCounts(
                agencies[agency_id].code, agencies[agency_id].name, as_of=moment
            )
        row.supplement_requests, row.late_supplement_requests = numbers
    total = AgencyCounts(
        agency.code if agency else None, agency.name if agency else "Toàn tỉnh", as_of=moment
    )
    rows = sorted(by_agency.values(), key=lambda r: r.agency_code or "")
    for row in rows:
        for name in (*_COUNT_FIELDS, *_SUPPLEMENT_FIELDS):
            setattr(total, name, getattr(total, name) + getattr(row, name))
    if agency is not None:
        return rows or [total]
    return [*rows, total]


# ---------------------------------------------------------------------------
# QĐ 766/QĐ-TTg monthly score


@dataclass
class ScoreGroup:
    """One of the five QĐ 766 groups: its points, the formula with the numbers, or why none."""

    key: str
    name: str
    max_points: float
    score: float | None
    formula: str
    reason: str | None = None
    points_with_data: float = 0.0  # how many of max_points the data can score


@dataclass
class AgencyScore:
    """An agency's QĐ 766 score for one month."""

    agency_code: str | None
    agency_name: str
    period: Period
    groups: list[ScoreGroup] = field(default_factory=list)

    @property
    def total(self) -> float:
        """Sum of the groups that could be scored."""
        return sum(g.score for g in self.groups if g.score is not None)

    @property
    def points_with_data(self) -> float:
        """How many of the 100 points the available data can score."""
        return sum(g.points_with_data for g in self.groups)


PROGRESS_FORMULA = (
    "20 × (đã giải quyết trước hạn + đúng hạn) / (đã giải quyết + đang giải quyết quá hạn "
    "+ chờ bổ sung sau khi đã quá hạn)"
)


DIGITISATION_FORMULA = (
    "11 × hồ sơ tiếp nhận có mọi thành phần hồ sơ được số hóa / hồ sơ tiếp nhận "
    "+ 11 × hồ sơ đã giải quyết có kết quả số hóa / hồ sơ đã giải quyết"
)


def _digitisation_figures(c: AgencyCounts) -> str:
    """The figures shown beside the digitisation score, not scored."""
    return (
        f"không tính điểm: {c.with_some_inputs} / {c.received} hồ sơ có ít nhất một thành phần số hóa, "
        f"{c.with_reuse} hồ sơ sử dụng lại giấy tờ đã số hóa"
    )


def _score_groups(c: AgencyCounts) -> list[ScoreGroup]:
    if c.publicity and c.publicity[0]:
        procedures, complete = c.publicity
        score = 18 * complete / procedures
        groups = [
            ScoreGroup(
                "publicity",
                "Công khai, minh bạch",
                18,
                score,
                f"18 × thủ tục công khai đủ thông tin / thủ tục của cơ quan = 18 × {complete} / {procedures}"
                f" = {_num(score)}",
                "Tình trạng công khai hiện tại của danh mục (thành phần hồ sơ, thời hạn, phí, mẫu đơn, "
                "quy trình nội bộ được phê duyệt, lĩnh vực)",
                points_with_data=18,
            )
        ]
    else:
        groups = [
            ScoreGroup(
                "publicity",
                "Công khai, minh bạch",
                18,
                None,
                "18 × thủ tục công khai đủ thông tin / thủ tục của cơ quan",
                "Cơ quan không chủ trì và không tiếp nhận thủ tục nào trong danh mục",
            )
        ]
    due = c.progress_due
    if due:
        score = 20 * c.resolved_on_time / due
        groups.append(
            ScoreGroup(
                "progress",
                "Tiến độ, kết quả giải quyết",
                20,
                score,
                f"{PROGRESS_FORMULA} = 20 × {c.resolved_on_time} / {due} = {_num(score)}",
                points_with_data=20,
            )
        )
    else:
        groups.append(
            ScoreGroup(
                "progress",
                "Tiến độ, kết quả giải quyết",
                20,
                None,
                PROGRESS_FORMULA,
                "Không có hồ sơ đã giải quyết hoặc quá hạn trong kỳ",
            )
        )
    parts = [(c.with_inputs, c.received), (c.with_results, c.resolved)]
    known = [(n, d) for n, d in parts if d]
    if known:
        score = 22 * sum(n / d for n, d in known) / len(known)
        groups.append(
            ScoreGroup(
                "digitisation",
                "Số hóa hồ sơ, kết quả",
                22,
                score,
                (
                    f"{DIGITISATION_FORMULA} = 11 × {c.with_inputs} / {c.received} + 11 × {c.with_results} / "
                    f"{c.resolved} = {_num(score)}"
                    if len(known) == 2
                    else f"22 × {known[0][0]} / {known[0][1]} = {_num(score)} (chỉ một phần có dữ liệu)"
                )
                + f"; {_digitisation_figures(c)}",
                points_with_data=22,
            )
        )
    else:
        groups.append(
            ScoreGroup(
                "digitisation",
                "Số hóa hồ sơ, kết quả",
                22,
                None,
                "—",
                "Không có hồ sơ tiếp nhận hoặc giải quyết trong kỳ",
            )
        )
    groups.append(_online_group(c))
    if c.rated:
        score = 18 * c.satisfied / c.rated
        groups.append(
            ScoreGroup(
                "satisfaction",
                "Mức độ hài lòng",
                18,
                score,
                f"18 × đánh giá hài lòng / số đánh giá = 18 × {c.satisfied} / {c.rated} = {_num(score)}",
                points_with_data=18,
            )
        )
    else:
        groups.append(
            ScoreGroup(
                "satisfaction",
                "Mức độ hài lòng",
                18,
                None,
                "18 × đánh giá hài lòng / số đánh giá",
                "Chưa có đánh giá của người dân cho hồ sơ kết thúc trong kỳ",
            )
        )
    return groups


def _online_group(c: AgencyCounts) -> ScoreGroup:
    """Online services (11 points: online / received) and online payment (11 points: dossiers whose
    fee was paid online / dossiers received with a fee due)."""
    name = "Cung cấp dịch vụ trực tuyến, thanh toán trực tuyến"
    formula = (
        "11 × hồ sơ trực tuyến / hồ sơ tiếp nhận + 11 × hồ sơ thanh toán trực tuyến / hồ sơ phải nộp phí"
    )
    if not c.received:
        return ScoreGroup("online", name, 22, None, formula, "Không có hồ sơ tiếp nhận trong kỳ")
    services = 11 * c.online / c.received
    if not c.fee_due:
        return ScoreGroup(
            "online",
            name,
            22,
            services,
            f"11 × hồ sơ trực tuyến / hồ sơ tiếp nhận = 11 × {c.online} / {c.received} = {_num(services)}",
            "Thanh toán trực tuyến (11 điểm): không có hồ sơ phải nộp phí, lệ phí tiếp nhận trong kỳ",
            points_with_data=11,
        )
    paid = 11 * c.paid_online / c.fee_due
    return ScoreGroup(
        "online",
        name,
        22,
        services + paid,
        f"{formula} = 11 × {c.online} / {c.received} + 11 × {c.paid_online} / {c.fee_due} "
        f"= {_num(services + paid)}",
        points_with_data=22,
    )


def qd766_scores(
    session: Session, month: Period, agency_code: str | None = None, *, now: datetime
) -> list[AgencyScore]:
    """The QĐ 766 score of each agency (and the province, last) for one month, as of now."""
    counts = agency_counts(session, month, agency_code, now=now)
    publicity = publicity_by_agency(session)
    for c in counts:
        found = publicity.get(c.agency_code)
        c.publicity = (found.procedures, found.complete) if found else None
    return [AgencyScore(c.agency_code, c.agency_name, month, _score_groups(c)) for c in counts]


# ---------------------------------------------------------------------------
# dashboard


@dataclass
class WeekCount:
    """Dossiers received in one ISO week (Monday to Sunday, local time), by channel."""

    week_start: date
    online: int = 0
    in_person: int = 0
    postal: int = 0

    @property
    def iso_week(self) -> str:
        """The week as `2026-W27`."""
        year, week, _ = self.week_start.isocalendar()
        return f"{year}-W{week:02d}"

    @property
    def total(self) -> int:
        """All channels."""
        return self.online + self.in_person + self.postal


def _local_midnight(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, datetime.min.time(), tz).astimezone(UTC)


def _bucket(column: SQLColumnExpression[datetime | None], bounds: list[datetime]) -> ColumnElement[int]:
    """Index i of the [bounds[i], bounds[i+1]) interval holding the value (callers filter the range)."""
    return case(*[(column < bound, index) for index, bound in enumerate(bounds[1:])], else_=len(bounds) - 1)


def received_per_week(
    session: Session, first_day: date, last_day: date, tz: tzinfo, agency_code: str | None = None
) -> list[WeekCount]:
    """Dossiers received per ISO week by channel, for the weeks touching [first_day, last_day]."""
    agency = find_agency(session, agency_code)
    monday = first_day - timedelta(days=first_day.weekday())
    weeks = [monday + timedelta(weeks=i) for i in range((last_day - monday).days // 7 + 1)]
    bounds = [_local_midnight(w, tz) for w in weeks] + [_local_midnight(weeks[-1] + timedelta(weeks=1), tz)]
    # Citizens' feedback is no administrative dossier, as in Biểu 06 (docs/feedback.md).
    conditions = [Dossier.received_at >= bounds[0], Dossier.received_at < bounds[-1], administrative_only()]
    if agency is not None:
        conditions.insert(0, Dossier.agency_id == agency.id)
    inner = (
        select(_bucket(Dossier.received_at, bounds).label("week"), Dossier.channel.label("channel"))
        .where(*conditions)
        .subquery()
    )
    result = [WeekCount(w) for w in weeks]
    for week, channel, n in session.execute(
        select(inner.c.week, inner.c.channel, func.count()).group_by(inner.c.week, inner.c.channel)
    ):
        setattr(result[week], channel, getattr(result[week], channel) + n)
    return result


@dataclass
class MonthRate:
    """Dossiers resolved in one month and how many of them early or on time."""

    month: str
    resolved: int
    on_time: int

    @property
    def rate(self) -> float | None:
        """(Early + on time) / resolved."""
        return _rate(self.on_time, self.resolved)


def on_time_by_month(
    session: Session, first_day: date, last_day: date, tz: tzinfo, agency_code: str | None = None
) -> list[MonthRate]:
    """The on-time rate of the dossiers judged in each month of the range (as in Biểu 06)."""
    agency = find_agency(session, agency_code)
    months = months_between(first_day, last_day, tz)
    bounds = [m.start for m in months] + [months[-1].end]
    conditions = [
        Dossier.judged_at >= bounds[0],
        Dossier.judged_at < bounds[-1],
        Dossier.status != "withdrawn",
        Dossier.refusal_reason.is_(None),
        administrative_only(),  # as in Biểu 06: feedback is no administrative dossier
    ]
    if agency is not None:
        conditions.insert(0, Dossier.agency_id == agency.id)
    inner = (
        select(
            _bucket(Dossier.judged_at, bounds).label("month"),
            case((Dossier.result_class.in_(ON_TIME_CLASSES), 1), else_=0).label("on_time"),
        )
        .where(*conditions)
        .subquery()
    )
    result = [MonthRate(m.label, 0, 0) for m in months]
    for month, n, on_time in session.execute(
        select(inner.c.month, func.count(), func.sum(inner.c.on_time)).group_by(inner.c.month)
    ):
        result[month].resolved = int(n)
        result[month].on_time = int(on_time or 0)
    return result


@dataclass
class OverdueCount:
    """Open dossiers (or open steps) past their due time for one agency (and step)."""

    agency_code: str
    agency_name: str
    count: int
    procedure_code: str | None = None
    step: str | None = None
    step_name: str | None = None


def _unjudged_open() -> ColumnElement[bool]:
    """Open and not yet judged: being processed, or a result at a hand-over the procedure counts."""
    return or_(
        Dossier.status == "processing",
        and_(
            Dossier.status == "result_ready",
            Dossier.judged_at.is_(None),
            Dossier.refusal_reason.is_(None),
        ),
    )


def _late_now(now: datetime) -> ColumnElement[bool]:
    """Past the legal due time now, or recorded late before (once late, always late)."""
    return or_(overdue_sql(Dossier.due_at, now), Dossier.late_at <= now)


def overdue_by_agency(session: Session, now: datetime) -> list[OverdueCount]:
    """Dossiers being processed past their legal due time (or recorded late), per receiving agency."""
    require_aware(now)
    query = (
        select(Dossier.agency_id, func.count())
        .where(Dossier.status.in_(("processing", "result_ready")), _unjudged_open(), _late_now(now))
        .group_by(Dossier.agency_id)
    )
    agencies = {a.id: a for a in session.scalars(select(Agency))}
    rows = [OverdueCount(agencies[a].code, agencies[a].name, int(n)) for a, n in session.execute(query)]
    return sorted(rows, key=lambda r: (-r.count, r.agency_code))


def overdue_by_step(session: Session, now: datetime, agency_code: str | None = None) -> list[OverdueCount]:
    """Open work items past their allotment, per agency holding them and step, most first."""
    require_aware(now)
    agency = find_agency(session, agency_code)
    conditions = [
        WorkItem.completed_at.is_(None),
        overdue_sql(WorkItem.due_at, now),
        WorkItem.counted.is_(True),
    ]
    if agency is not None:
        conditions.append(WorkItem.agency_id == agency.id)
    query = (
        select(
            WorkItem.agency_id,
            Dossier.procedure_id,
            WorkItem.task_id,
            func.max(WorkItem.task_name),
            func.count(),
        )
        .join(Dossier, Dossier.id == WorkItem.dossier_id)
        .where(*conditions)
        .group_by(WorkItem.agency_id, Dossier.procedure_id, WorkItem.task_id)
    )
    agencies = {a.id: a for a in session.scalars(select(Agency))}
    procedures = {p.id: p.code for p in session.scalars(select(Procedure))}
    rows = [
        OverdueCount(agencies[a].code, agencies[a].name, int(n), procedures[p], task, name)
        for a, p, task, name, n in session.execute(query)
    ]
    return sorted(rows, key=lambda r: (-r.count, r.agency_code, r.procedure_code or "", r.step or ""))


@dataclass(frozen=True)
class OpenDossier:
    """One of the dossiers waiting longest, with its legal due time and appointment."""

    code: str
    received_at: datetime
    status: str
    due_at: datetime | None
    appointment_at: datetime | None
    overdue: bool  # past the legal due time now (not while waiting for a supplement), or recorded late


def oldest_open_dossiers(
    session: Session, now: datetime, limit: int = 10, agency_code: str | None = None
) -> list[OpenDossier]:
    """The dossiers waiting longest: being processed or waiting for a supplement, oldest receipt first."""
    require_aware(now)
    agency = find_agency(session, agency_code)
    conditions: list[ColumnElement[bool]] = [Dossier.status.in_(("processing", "supplement"))]
    if agency is not None:
        conditions.append(Dossier.agency_id == agency.id)
    rows = session.execute(
        select(
            Dossier.code,
            Dossier.received_at,
            Dossier.status,
            Dossier.due_at,
            Dossier.appointment_at,
            Dossier.late_at,
        )
        .where(*conditions)
        .order_by(Dossier.received_at, Dossier.id)
        .limit(limit)
    )
    return [
        OpenDossier(
            code,
            received,
            status,
            due,
            appointment,
            (late is not None and late <= now) or (status == "processing" and is_overdue(due, now)),
        )
        for code, received, status, due, appointment, late in rows
    ]
