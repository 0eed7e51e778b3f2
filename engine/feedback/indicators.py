"""TT 01/2018's indicator "on-time handling of feedback" (xử lý phản ánh, kiến nghị đúng hạn): the
feedback dossiers answered in a period, how many by their due time, and those still open past it.
Shown on the indicators page beside, never inside, the administrative dossiers' numbers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from engine.feedback.scope import feedback_only
from engine.statistics.periods import Period
from engine.statistics.reports import ON_TIME_CLASSES, find_agency, report_moment
from engine.urgency import overdue_sql
from models import Dossier, Feedback
from models.dossier import OPEN_STATUSES


@dataclass(frozen=True)
class FeedbackTimeliness:
    """Feedback answered in the period (by their due time or late) and feedback open past its due time."""

    answered: int
    on_time: int
    open_overdue: int

    @property
    def late(self) -> int:
        """Answered after the due time."""
        return self.answered - self.on_time

    @property
    def rate(self) -> float | None:
        """On time / answered (None when none was answered)."""
        return self.on_time / self.answered if self.answered else None


def feedback_timeliness(
    session: Session, period: Period, agency_code: str | None = None, *, now: datetime
) -> FeedbackTimeliness:
    """The indicator as of the period's end (or now), for the agency that received or handled the feedback."""
    moment = report_moment(period, now)
    agency = find_agency(session, agency_code)
    scope = [feedback_only()]
    if agency is not None:
        scope.append(or_(Dossier.agency_id == agency.id, Feedback.competent_agency_id == agency.id))
    judged = and_(
        Dossier.judged_at >= period.start, Dossier.judged_at < period.end, Dossier.judged_at <= moment
    )
    still_open = and_(
        Dossier.received_at <= moment,
        or_(Dossier.status.in_(OPEN_STATUSES), Dossier.finished_at > moment),
        or_(Dossier.late_at <= moment, overdue_sql(Dossier.due_at, moment)),
    )
    row = session.execute(
        select(
            func.sum(case((judged, 1), else_=0)),
            func.sum(case((and_(judged, Dossier.result_class.in_(ON_TIME_CLASSES)), 1), else_=0)),
            func.sum(case((still_open, 1), else_=0)),
        )
        .select_from(Dossier)
        .join(Feedback, Feedback.dossier_id == Dossier.id)
        .where(*scope)
    ).one()
    return FeedbackTimeliness(int(row[0] or 0), int(row[1] or 0), int(row[2] or 0))
