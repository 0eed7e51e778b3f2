"""The report pages as leaders read them: Biểu 06 with the dossiers behind each number, its XLSX and
CSV, the service-quality indicators and the dashboard. Each checks the reader's scope first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from engine.context import Context
from engine.feedback.indicators import FeedbackTimeliness, feedback_timeliness
from engine.runtime.access import visible_dossier_ids
from engine.statistics import indicators, report_export, reports
from engine.statistics.periods import Period
from engine.statistics.scope import (
    ReportScope,
    agencies_to_choose,
    agency_scope,
    report_reader,
    report_scope,
)
from engine.usecase import reading
from models import Agency, UnitOfWork

CELL_PAGE_SIZE = 100


@dataclass(frozen=True)
class StatisticsPage:
    """Biểu 06 with the identities its rows break, and the agencies a province-wide reader may pick."""

    scope: ReportScope
    report: reports.Report
    problems: list[str]
    agencies: list[Agency]


@dataclass(frozen=True)
class CellPage:
    """The dossiers behind one number, a page at a time; names only of those the reader may open."""

    scope: ReportScope
    label: str
    total: int
    rows: list[reports.CellDossier]
    visible: set[int]
    page: int
    pages: int
    as_of_title: str = ""  # the moment the numbers are judged at


@dataclass(frozen=True)
class ReportFile:
    """Biểu 06 as a file to download."""

    content: bytes | str
    media_type: str
    file_name: str


@dataclass(frozen=True)
class QualityPage:
    """On-time rates, who makes dossiers late, the agencies' counts and the QĐ 766 scores."""

    scope: ReportScope
    by_agency: list[indicators.RateRow]
    by_procedure: list[indicators.RateRow]
    steps: list[indicators.StepRow]
    counts: list[indicators.AgencyCounts]
    scores: list[indicators.AgencyScore]
    agencies: list[Agency]
    # TT 01/2018: on-time handling of citizens' feedback, apart from the dossiers (docs/feedback.md).
    feedback: FeedbackTimeliness | None = None


@dataclass(frozen=True)
class DashboardPage:
    """Receipts by week, on-time rate by month, and where dossiers are stuck."""

    agency_code: str | None
    weeks: list[indicators.WeekCount]
    months: list[indicators.MonthRate]
    by_agency: list[indicators.OverdueCount]
    by_step: list[indicators.OverdueCount]
    oldest: list[indicators.OpenDossier]


def _is_month(period: Period) -> bool:
    following = period.last_day + timedelta(days=1)
    return (
        period.first_day.day == 1 and following.day == 1 and period.first_day.month == period.last_day.month
    )


def statistics_page(
    ctx: Context,
    officer_id: int,
    *,
    now: datetime,
    period: str | None = None,
    agency: str | None = None,
    group_by: str | None = None,
    uow: UnitOfWork | None = None,
) -> StatisticsPage:
    """Biểu 06/VPCP/KSTT for a period and the agency the reader may see."""
    with reading(ctx, uow) as session:
        scope = report_scope(
            session, officer_id, now=now, tz=ctx.calendar.tz, period=period, agency=agency, group_by=group_by
        )
        report = reports.statistics_report(session, scope.period, scope.agency_code, scope.group_by, now=now)
        problems = [p for row in [*report.rows, report.total] for p in reports.identity_problems(row)]
        return StatisticsPage(scope, report, problems, agencies_to_choose(session, scope))


def report_cell_page(
    ctx: Context,
    officer_id: int,
    *,
    now: datetime,
    column: str,
    group: str | None = None,
    page: int = 1,
    period: str | None = None,
    agency: str | None = None,
    group_by: str | None = None,
    uow: UnitOfWork | None = None,
) -> CellPage:
    """The dossiers behind one number of the report."""
    page = max(1, page)
    with reading(ctx, uow) as session:
        scope = report_scope(
            session, officer_id, now=now, tz=ctx.calendar.tz, period=period, agency=agency, group_by=group_by
        )
        args = (session, scope.period, scope.agency_code, scope.group_by, group, column)
        total = reports.report_cell_count(*args, now=now)
        rows = reports.report_cell_dossiers(
            *args, now=now, limit=CELL_PAGE_SIZE, offset=(page - 1) * CELL_PAGE_SIZE
        )
        label = next((f"{c.group} · {c.label}" for c in reports.COLUMNS if c.key == column), column)
        # Province-wide readers see every number, but names and dossier pages only of their own.
        visible = visible_dossier_ids(session, scope.officer, [r.dossier.id for r in rows])
        pages = max(1, -(-total // CELL_PAGE_SIZE))
        return CellPage(scope, label, total, rows, visible, page, pages, scope.period.as_of_title(now))


def statistics_file(
    ctx: Context,
    officer_id: int,
    kind: str,
    *,
    now: datetime,
    period: str | None = None,
    agency: str | None = None,
    group_by: str | None = None,
    uow: UnitOfWork | None = None,
) -> ReportFile:
    """Biểu 06 as XLSX with the legal layout, or as CSV (UTF-8 with BOM for spreadsheet programs)."""
    with reading(ctx, uow) as session:
        scope = report_scope(
            session, officer_id, now=now, tz=ctx.calendar.tz, period=period, agency=agency, group_by=group_by
        )
        report = reports.statistics_report(session, scope.period, scope.agency_code, scope.group_by, now=now)
    name = f"bieu-06-{scope.period.label}"
    if kind == "xlsx":
        media_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        return ReportFile(report_export.xlsx_bytes(report), media_type, f"{name}.xlsx")
    return ReportFile("\ufeff" + report_export.csv_text(report), "text/csv", f"{name}.csv")


def quality_page(
    ctx: Context,
    officer_id: int,
    *,
    now: datetime,
    period: str | None = None,
    agency: str | None = None,
    uow: UnitOfWork | None = None,
) -> QualityPage:
    """The service-quality indicators of a period, with their formulas."""
    with reading(ctx, uow) as session:
        scope = report_scope(session, officer_id, now=now, tz=ctx.calendar.tz, period=period, agency=agency)
        code = scope.agency_code
        return QualityPage(
            scope=scope,
            by_agency=indicators.on_time_rates(session, scope.period, "agency", code, now=now),
            by_procedure=indicators.on_time_rates(session, scope.period, "procedure", code, now=now),
            steps=indicators.step_indicators(session, scope.period, code, now=now),
            counts=indicators.agency_counts(session, scope.period, code, now=now),
            # QĐ 766 scores agencies month by month.
            scores=(
                indicators.qd766_scores(session, scope.period, code, now=now)
                if _is_month(scope.period)
                else []
            ),
            agencies=agencies_to_choose(session, scope),
            feedback=feedback_timeliness(session, scope.period, code, now=now),
        )


def dashboard_page(
    ctx: Context, officer_id: int, *, now: datetime, agency: str | None = None, uow: UnitOfWork | None = None
) -> DashboardPage:
    """Leaders' dashboard over the last twelve weeks and months, for the agency the reader may see."""
    tz = ctx.calendar.tz
    today = now.astimezone(tz).date()
    with reading(ctx, uow) as session:
        code = agency_scope(report_reader(session, officer_id), agency)
        first_month = (today.replace(day=1) - timedelta(days=330)).replace(day=1)
        return DashboardPage(
            agency_code=code,
            weeks=indicators.received_per_week(session, today - timedelta(weeks=11), today, tz, code),
            months=indicators.on_time_by_month(session, first_month, today, tz, code),
            by_agency=indicators.overdue_by_agency(session, now) if code is None else [],
            by_step=indicators.overdue_by_step(session, now, code)[:15],
            oldest=indicators.oldest_open_dossiers(session, now, 10, code),
        )
