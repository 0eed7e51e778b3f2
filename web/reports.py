"""Reports for leaders: Biểu 06 with every number linked to its dossiers, XLSX and CSV, the
service-quality indicators with their formulas, and a dashboard."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, Response, abort, render_template, request
from sqlalchemy import select

from engine.errors import InvalidInput
from engine.runtime.access import visible_dossier_ids
from engine.statistics import indicators, report_export, reports
from engine.statistics.periods import parse_period
from models import Agency
from web.helpers import engine_ctx, now, officer, roles_required
from web.inbox import me

bp = Blueprint("reports", __name__, url_prefix="/bao-cao")
READERS = ("leader", "supervisor", "head", "approver")


def _province_wide() -> bool:
    """The provincial office that checks procedures (approvers) sees every agency."""
    return officer().has_role("approver")


def _scope() -> tuple[object, str | None, str]:
    """The period, the agency code (None: the province) and the grouping asked for, checked."""
    ctx = engine_ctx()
    local_today = now().astimezone(ctx.calendar.tz).date()
    default = f"{local_today.year}-{local_today.month:02d}"
    text = (request.args.get("period") or default).strip()
    try:
        period = parse_period(text, ctx.calendar.tz)
    except (InvalidInput, ValueError) as exc:
        raise InvalidInput(getattr(exc, "message", str(exc)), "period") from exc
    agency = request.args.get("agency") or None
    if not _province_wide():
        agency = officer().agency_code
    group_by = request.args.get("by", "field")
    if group_by not in reports.GROUPINGS:
        group_by = "field"
    return period, agency, group_by


def _is_month(period) -> bool:  # type: ignore[no-untyped-def]
    following = period.last_day + timedelta(days=1)
    return (
        period.first_day.day == 1 and following.day == 1 and period.first_day.month == period.last_day.month
    )


def _agencies() -> list[Agency]:
    with engine_ctx().uow() as uow:
        return list(uow.session.scalars(select(Agency).order_by(Agency.code)))


@bp.get("/")
@roles_required(*READERS)
def statistics():  # type: ignore[no-untyped-def]
    """Biểu 06/VPCP/KSTT for a period and an agency."""
    period, agency, group_by = _scope()
    with engine_ctx().uow() as uow:
        report = reports.statistics_report(uow.session, period, agency, group_by)
    problems = [p for row in [*report.rows, report.total] for p in reports.identity_problems(row)]
    return render_template(
        "report.html",
        report=report,
        problems=problems,
        agencies=_agencies() if _province_wide() else [],
        args=request.args,
        period_text=period.label,
        group_by=group_by,
    )


@bp.get("/ho-so")
@roles_required(*READERS)
def cell():  # type: ignore[no-untyped-def]
    """The dossiers behind one number of the report."""
    period, agency, group_by = _scope()
    column = request.args.get("column", "")
    group = request.args.get("group") or None
    page = max(1, request.args.get("page", 1, type=int))
    with engine_ctx().uow() as uow:
        total = reports.report_cell_count(uow.session, period, agency, group_by, group, column)
        rows = reports.report_cell_dossiers(
            uow.session, period, agency, group_by, group, column, limit=100, offset=(page - 1) * 100
        )
        label = next((f"{c.group} · {c.label}" for c in reports.COLUMNS if c.key == column), column)
        # Province-wide readers see every number, but names and dossier pages only of their own.
        visible = visible_dossier_ids(uow.session, me(uow.session), [d.id for d in rows])
        html = render_template(
            "report_cell.html",
            visible=visible,
            rows=rows,
            total=total,
            label=label,
            group=group,
            period=period,
            args=request.args,
            page=page,
            pages=max(1, -(-total // 100)),
        )
    return html


def _download(content: bytes | str, mimetype: str, name: str) -> Response:
    response = Response(content, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@bp.get("/bieu-06.xlsx")
@roles_required(*READERS)
def xlsx():  # type: ignore[no-untyped-def]
    """Biểu 06 as XLSX with the legal layout."""
    period, agency, group_by = _scope()
    with engine_ctx().uow() as uow:
        report = reports.statistics_report(uow.session, period, agency, group_by)
    return _download(
        report_export.xlsx_bytes(report),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        f"bieu-06-{period.label}.xlsx",
    )


@bp.get("/bieu-06.csv")
@roles_required(*READERS)
def csv():  # type: ignore[no-untyped-def]
    """Biểu 06 as CSV (UTF-8 with BOM so spreadsheet programs read the diacritics)."""
    period, agency, group_by = _scope()
    with engine_ctx().uow() as uow:
        report = reports.statistics_report(uow.session, period, agency, group_by)
    return _download("\ufeff" + report_export.csv_text(report), "text/csv", f"bieu-06-{period.label}.csv")


@bp.get("/chi-so")
@roles_required(*READERS)
def quality():  # type: ignore[no-untyped-def]
    """On-time rates, who makes dossiers late, apologies, online and digitised shares, QĐ 766 scores."""
    period, agency, _ = _scope()
    agencies = _agencies() if _province_wide() else []
    with engine_ctx().uow() as uow:
        html = render_template(
            "indicators.html",
            period=period,
            by_agency=indicators.on_time_rates(uow.session, period, "agency", agency),
            by_procedure=indicators.on_time_rates(uow.session, period, "procedure", agency),
            steps=indicators.step_indicators(uow.session, period, agency),
            counts=indicators.agency_counts(uow.session, period, agency),
            # QĐ 766 scores agencies month by month.
            scores=indicators.qd766_scores(uow.session, period, agency) if _is_month(period) else [],
            args=request.args,
            agencies=agencies,
        )
    return html


@bp.get("/tong-quan")
@roles_required(*READERS)
def dashboard():  # type: ignore[no-untyped-def]
    """Leaders' dashboard: receipts by week and channel, on-time rate by month, where dossiers are stuck."""
    ctx = engine_ctx()
    agency = None if _province_wide() else officer().agency_code
    if _province_wide() and request.args.get("agency"):
        agency = request.args["agency"]
    today = now().astimezone(ctx.calendar.tz).date()
    with ctx.uow() as uow:
        weeks = indicators.received_per_week(
            uow.session, today - timedelta(weeks=11), today, ctx.calendar.tz, agency
        )
        first_month = (today.replace(day=1) - timedelta(days=330)).replace(day=1)
        months = indicators.on_time_by_month(uow.session, first_month, today, ctx.calendar.tz, agency)
        by_agency = indicators.overdue_by_agency(uow.session, now()) if agency is None else []
        by_step = indicators.overdue_by_step(uow.session, now(), agency)[:15]
        oldest = indicators.oldest_open_dossiers(uow.session, 10, agency)
        html = render_template(
            "dashboard.html",
            weeks=weeks,
            months=months,
            by_agency=by_agency,
            by_step=by_step,
            oldest=oldest,
            agency=agency,
        )
    return html


@bp.before_request
def _no_foreign_agency() -> None:
    """An officer who is not province-wide never asks for another agency's numbers."""
    asked = request.args.get("agency")
    if asked and officer().is_authenticated and not _province_wide() and asked != officer().agency_code:
        abort(403)
