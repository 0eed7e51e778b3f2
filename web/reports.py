"""Reports for leaders: Biểu 06 with every number linked to its dossiers, XLSX and CSV, the
service-quality indicators with their formulas, and a dashboard."""

from __future__ import annotations

from flask import Blueprint, Response, render_template, request

from engine.statistics import report_pages
from engine.statistics.scope import READERS
from web.helpers import engine_ctx, now, officer, request_uow, roles_required

bp = Blueprint("reports", __name__, url_prefix="/bao-cao")


def _asked() -> dict[str, str | None]:
    """The period, agency and grouping the request asks for; the engine checks them."""
    return {
        "period": request.args.get("period") or None,
        "agency": request.args.get("agency") or None,
        "group_by": request.args.get("by", "field"),
    }


def _carried() -> dict[str, str]:
    """What the report's links carry on: its period, agency and grouping (a `column` or `page` sent to the
    report would clash with the cell links' own)."""
    return {key: value for key, value in request.args.items() if key in ("period", "agency", "by")}


@bp.get("/")
@roles_required(*READERS)
def statistics():
    """Biểu 06/VPCP/KSTT for a period and an agency."""
    page = report_pages.statistics_page(engine_ctx(), officer().id, now=now(), uow=request_uow(), **_asked())
    return render_template(
        "report.html",
        report=page.report,
        problems=page.problems,
        agencies=page.agencies,
        args=_carried(),
        period_text=page.scope.period.label,
        group_by=page.scope.group_by,
    )


@bp.get("/ho-so")
@roles_required(*READERS)
def cell():
    """The dossiers behind one number of the report."""
    page = report_pages.report_cell_page(
        engine_ctx(),
        officer().id,
        now=now(),
        column=request.args.get("column", ""),
        group=request.args.get("group") or None,
        page=request.args.get("page", 1, type=int),
        uow=request_uow(),
        **_asked(),
    )
    return render_template(
        "report_cell.html",
        visible=page.visible,
        rows=page.rows,
        total=page.total,
        label=page.label,
        group=request.args.get("group") or None,
        period=page.scope.period,
        args=request.args,
        page=page.page,
        pages=page.pages,
        as_of_title=page.as_of_title,
    )


def _download(kind: str) -> Response:
    found = report_pages.statistics_file(
        engine_ctx(), officer().id, kind, now=now(), uow=request_uow(), **_asked()
    )
    response = Response(found.content, mimetype=found.media_type)
    response.headers["Content-Disposition"] = f'attachment; filename="{found.file_name}"'
    return response


@bp.get("/bieu-06.xlsx")
@roles_required(*READERS)
def xlsx():
    """Biểu 06 as XLSX with the legal layout."""
    return _download("xlsx")


@bp.get("/bieu-06.csv")
@roles_required(*READERS)
def csv():
    """Biểu 06 as CSV (UTF-8 with BOM so spreadsheet programs read the diacritics)."""
    return _download("csv")


@bp.get("/chi-so")
@roles_required(*READERS)
def quality():
    """On-time rates, who makes dossiers late, apologies, online and digitised shares, QĐ 766 scores."""
    asked = _asked()
    page = report_pages.quality_page(
        engine_ctx(),
        officer().id,
        now=now(),
        period=asked["period"],
        agency=asked["agency"],
        uow=request_uow(),
    )
    return render_template(
        "indicators.html",
        period=page.scope.period,
        by_agency=page.by_agency,
        by_procedure=page.by_procedure,
        steps=page.steps,
        counts=page.counts,
        scores=page.scores,
        args=request.args,
        agencies=page.agencies,
        feedback=page.feedback,
    )


@bp.get("/tong-quan")
@roles_required(*READERS)
def dashboard():
    """Leaders' dashboard: receipts by week and channel, on-time rate by month, where dossiers are stuck."""
    page = report_pages.dashboard_page(
        engine_ctx(), officer().id, now=now(), agency=request.args.get("agency") or None, uow=request_uow()
    )
    return render_template(
        "dashboard.html",
        weeks=page.weeks,
        months=page.months,
        by_agency=page.by_agency,
        by_step=page.by_step,
        oldest=page.oldest,
        agency=page.agency_code,
    )
