"""Sổ theo dõi hồ sơ (form 07): an agency's register for a period, as a printable A4 landscape page
and as XLSX, for the agency's desk, leaders and supervisors (and province-wide approvers)."""

from __future__ import annotations

from flask import Blueprint, Response, render_template, request

from engine.statistics.periods import Period, parse_period
from engine.statistics.register import (
    HEADINGS,
    REGISTER_READERS,
    agency_choices,
    agency_register,
    line_cells,
    register_xlsx,
    summary_lines,
)
from web.helpers import engine_ctx, now, officer, request_uow, roles_required

bp = Blueprint("register", __name__, url_prefix="/so-theo-doi")
READERS = (*REGISTER_READERS, "approver")


def _asked() -> tuple[Period, str]:
    """The period (default: this month) and the agency code (default: the officer's own) asked for."""
    ctx = engine_ctx()
    today = now().astimezone(ctx.calendar.tz).date()
    text = (request.args.get("period") or f"{today.year}-{today.month:02d}").strip()
    # A malformed period is an InvalidInput naming the field: a 422 page.
    period = parse_period(text, ctx.calendar.tz)
    return period, (request.args.get("agency") or officer().agency_code).strip()


@bp.get("/")
@roles_required(*READERS)
def page():
    """Form 07 of an agency for a period, ready to print on A4 landscape."""
    period, agency = _asked()
    ctx = engine_ctx()
    register = agency_register(
        ctx, agency_code=agency, period=period, officer_id=officer().id, now=now(), uow=request_uow()
    )
    agencies = agency_choices(ctx, uow=request_uow()) if officer().has_role("approver") else []
    return render_template(
        "form_07.html",
        register=register,
        agencies=agencies,
        args=request.args,
        headings=HEADINGS,
        cells=line_cells,
        summary=summary_lines(register),
    )


@bp.get("/so-theo-doi-ho-so.xlsx")
@roles_required(*READERS)
def xlsx():
    """Form 07 as XLSX."""
    period, agency = _asked()
    register = agency_register(
        engine_ctx(), agency_code=agency, period=period, officer_id=officer().id, now=now(), uow=request_uow()
    )
    response = Response(
        register_xlsx(register), mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    name = f"so-theo-doi-ho-so-{register.agency_code}-{period.label}.xlsx"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
