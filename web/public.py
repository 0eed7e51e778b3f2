"""The citizen's lookup (/tra-cuu): code plus the last four digits of phone or ID; rating after return."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for

from engine.errors import DomainError
from engine.payments.online import lookup_fees
from engine.runtime.lookup import public_status, rate
from web.extensions import limiter
from web.helpers import engine_ctx, now

bp = Blueprint("public", __name__, url_prefix="/tra-cuu")


def _lookup_limit() -> str:
    return engine_ctx().settings.lookup_rate_limit


# The lookup and the rating both check a code against its second factor: one budget per client for
# the two, so the rating form is no second guessing channel.
lookup_budget = limiter.shared_limit(_lookup_limit, scope="lookup", methods=["POST"])


@bp.route("", methods=["GET", "POST"])
@lookup_budget
def lookup():
    """The lookup form and, with both factors, the dossier's progress in plain words."""
    code = (request.values.get("ma") or request.form.get("code") or "").strip()
    last4 = (request.form.get("last4") or "").strip()
    found, fees, error, status = None, None, None, 200
    if request.method == "POST":
        try:
            with engine_ctx().uow() as uow:
                found = public_status(uow.session, code, last4)
            fees = lookup_fees(engine_ctx(), code, last4)  # phí, lệ phí and online payment (engine/payments)
        except DomainError as exc:
            error, status = exc.message, exc.http_status
    response = render_template(
        "lookup.html", code=code, last4=last4 if found else "", found=found, fees=fees, error=error
    )
    return response, status, {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


@bp.post("/danh-gia")
@lookup_budget
def rating():
    """The citizen rates the service of a finished dossier (the second factor is checked again)."""
    code = (request.form.get("code") or "").strip()
    satisfied = request.form.get("satisfied") == "yes"
    try:
        rate(
            engine_ctx(),
            code,
            request.form.get("last4", ""),
            satisfied=satisfied,
            reason=request.form.get("reason"),
            now=now(),
        )
    except DomainError as exc:
        # The dossier is shown again when the factors hold (a missing reason is put right on the
        # spot); the lookup form on the page posts to the lookup itself either way.
        last4 = (request.form.get("last4") or "").strip()
        found = None
        try:
            with engine_ctx().uow() as uow:
                found = public_status(uow.session, code, last4)
        except DomainError:
            last4 = ""
        response = render_template(
            "lookup.html", code=code, last4=last4 if found else "", found=found, error=exc.message
        )
        return response, exc.http_status, {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    flash("Cảm ơn ông/bà đã đánh giá.", "success")
    return redirect(url_for("public.lookup", ma=code))
