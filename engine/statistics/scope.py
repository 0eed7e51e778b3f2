"""Who may read which reports: leaders, heads and supervisors read their own agency; the provincial
office that checks procedures (approvers) reads every agency and the whole province."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import Forbidden, InvalidInput
from engine.statistics import reports
from engine.statistics.periods import Period, parse_period
from engine.usecase import active_officer
from models import Agency, Officer

READERS = ("leader", "supervisor", "head", "approver")
PROVINCE_WIDE = ("approver",)


@dataclass(frozen=True)
class ReportScope:
    """The checked scope of a report: the period, the agency (None: the province) and the grouping."""

    officer: Officer
    period: Period
    agency_code: str | None
    group_by: str
    province_wide: bool


def report_reader(session: Session, officer_id: int) -> Officer:
    """The officer, if they may read reports at all."""
    officer = active_officer(session, officer_id)
    if not any(officer.has_role(role) for role in READERS):
        raise Forbidden("Báo cáo dành cho lãnh đạo, trưởng phòng và cán bộ giám sát")
    return officer


def is_province_wide(officer: Officer) -> bool:
    """Whether the officer reads every agency's numbers (the provincial office that checks procedures)."""
    return any(officer.has_role(role) for role in PROVINCE_WIDE)


def agency_scope(officer: Officer, asked: str | None) -> str | None:
    """The agency whose numbers the officer reads: their own, or for province-wide readers the one
    asked for (None: the whole province). Asking for another agency's numbers is refused."""
    if is_province_wide(officer):
        return asked or None
    if asked and asked != officer.agency.code:
        raise Forbidden("Ông/bà chỉ được xem báo cáo của cơ quan mình")
    return officer.agency.code


def default_period_text(now: datetime, tz: tzinfo) -> str:
    """The current local month, e.g. '2026-11'."""
    today = now.astimezone(tz).date()
    return f"{today.year}-{today.month:02d}"


def report_scope(
    session: Session,
    officer_id: int,
    *,
    now: datetime,
    tz: tzinfo,
    period: str | None = None,
    agency: str | None = None,
    group_by: str | None = None,
) -> ReportScope:
    """Check who asks for which agency, then the period (default: this month) and the grouping."""
    officer = report_reader(session, officer_id)
    agency_code = agency_scope(officer, agency)
    text = (period or default_period_text(now, tz)).strip()
    try:
        checked = parse_period(text, tz)
    except (InvalidInput, ValueError) as exc:
        raise InvalidInput(getattr(exc, "message", str(exc)), "period") from exc
    if group_by not in reports.GROUPINGS:
        group_by = "field"
    return ReportScope(officer, checked, agency_code, group_by, is_province_wide(officer))


def agencies_to_choose(session: Session, scope: ReportScope) -> list[Agency]:
    """The agencies a province-wide reader may pick (none for the others)."""
    if not scope.province_wide:
        return []
    return list(session.scalars(select(Agency).order_by(Agency.code)))
