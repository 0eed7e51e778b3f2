"""Fees of a dossier: the officers' page (payment at the desk, waiver by a head or leader), the
citizen's online payment from the lookup page, the gateway's return page and its signed callback."""

from __future__ import annotations

import contextlib
import time

import segno
from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_login import login_required
from markupsafe import Markup

from engine.errors import DomainError, InvalidFields
from engine.payments.desk import DESK_METHODS, fee_page, record_desk_payment, waive_fee
from engine.payments.online import handle_callback, payment_receipt, settle_from_gateway, start_online_payment
from models.vocabulary import PaymentStatus
from web.extensions import csrf, limiter
from web.helpers import end_request_uow, engine_ctx, now, officer, request_uow
from web.public import lookup_budget

bp = Blueprint("payments", __name__)
MAX_CALLBACK_BYTES = 8 * 1024
NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _lookup_limit() -> str:
    return engine_ctx().settings.lookup_rate_limit


def _callback_limit() -> str:
    return engine_ctx().settings.payment_callback_rate_limit


@bp.get("/ho-so/<code>/phi")
@login_required
def fees(code: str):
    """The dossier's fees: what is due, what was paid, the waiver, and the forms the officer may use."""
    return _fees_page(code, {}, 200)


def _fees_page(code: str, errors: dict[str, str], status: int):
    page = fee_page(engine_ctx(), officer().id, code, uow=request_uow())
    return (
        render_template("fees.html", page=page, errors=errors, values=request.form, methods=DESK_METHODS),
        status,
    )


@bp.post("/ho-so/<code>/phi/thu")
@login_required
def record(code: str):
    """Thu phí tại Bộ phận Một cửa: the amount still due, cash or transfer, with the receipt number."""
    end_request_uow()
    try:
        record_desk_payment(
            engine_ctx(),
            code,
            officer().id,
            amount=request.form.get("amount", ""),
            method=request.form.get("method", ""),
            receipt_number=request.form.get("receipt_number", ""),
            now=now(),
        )
    except InvalidFields as exc:
        return _fees_page(code, exc.fields, exc.http_status)
    except DomainError as exc:
        if exc.http_status in (403, 404):
            raise
        return _fees_page(code, {getattr(exc, "field", None) or "form": exc.message}, exc.http_status)
    flash(f"Đã ghi nhận nộp phí, lệ phí của hồ sơ {code}.", "success")
    return redirect(url_for("payments.fees", code=code))


@bp.post("/ho-so/<code>/phi/mien")
@login_required
def waive(code: str):
    """Miễn thu: a head or leader waives the fee still due, with the reason (recorded in the history)."""
    end_request_uow()
    try:
        waive_fee(engine_ctx(), code, officer().id, reason=request.form.get("reason", ""), now=now())
    except DomainError as exc:
        if exc.http_status in (403, 404):
            raise
        return _fees_page(code, {getattr(exc, "field", None) or "waiver": exc.message}, exc.http_status)
    flash(f"Đã ghi nhận miễn thu phí, lệ phí của hồ sơ {code}.", "success")
    return redirect(url_for("payments.fees", code=code))


@bp.post("/tra-cuu/thanh-toan")
@lookup_budget
def pay_online():
    """The citizen pays the fee of the dossier they looked up: off to the gateway's checkout page."""
    code = (request.form.get("code") or "").strip()
    try:
        checkout = start_online_payment(
            engine_ctx(),
            code,
            request.form.get("last4", ""),
            now=now(),
            return_url=url_for("payments.returned", _external=True) + "?ref=REF",
            callback_url=url_for("payments.callback", _external=True),
        )
    except DomainError as exc:
        flash(exc.message, "danger")
        return redirect(url_for("public.lookup", ma=code), 303)
    # A page of our own with the link and the QR code: the forms' CSP (form-action 'self') keeps a
    # form from landing on another origin, and a banking app reads the QR instead.
    qr = segno.make(checkout.qr_payload or checkout.checkout_url, error="m")
    page = render_template(
        "payment_checkout.html", checkout=checkout, qr=Markup(qr.svg_inline(scale=4, border=2))
    )
    return page, 200, NO_STORE


@bp.get("/tra-cuu/thanh-toan/ket-qua")
@limiter.limit(_lookup_limit, scope="payment_return")
def returned():
    """Where the gateway sends the citizen back: the payment's state (the gateway is asked once if it
    has not called back yet) and, once paid, the receipt."""
    reference = (request.args.get("ref") or "").strip()[:40]
    if not reference:
        abort(404)
    end_request_uow()  # the page may settle the payment: a write use case of its own
    ctx = engine_ctx()
    try:
        receipt = payment_receipt(ctx, reference)
        if receipt.status == PaymentStatus.PENDING and ctx.settings.payment_gateway_url:
            with contextlib.suppress(DomainError):  # refusals are logged; the page shows what stands
                settle_from_gateway(ctx, reference, now())
            receipt = payment_receipt(ctx, reference)
    except DomainError as exc:
        page = render_template("payment_receipt.html", receipt=None, error=exc.message)
        return page, exc.http_status, NO_STORE
    return render_template("payment_receipt.html", receipt=receipt, error=None), 200, NO_STORE


@bp.post("/thanh-toan/callback")
@csrf.exempt
@limiter.limit(_callback_limit, scope="payment_callback")
def callback():
    """The gateway's signed callback (HMAC-SHA256, timestamp, nonce; docs/payments.md)."""
    if (request.content_length or 0) > MAX_CALLBACK_BYTES:
        return jsonify(ok=False, error="Nội dung quá lớn"), 413
    body = request.get_data(cache=False)[: MAX_CALLBACK_BYTES + 1]
    if len(body) > MAX_CALLBACK_BYTES:
        return jsonify(ok=False, error="Nội dung quá lớn"), 413
    headers = {name: request.headers.get(name, "") for name in ("X-Timestamp", "X-Nonce", "X-Signature")}
    try:
        outcome = handle_callback(engine_ctx(), body, headers, now(), wall_seconds=time.time())
    except DomainError as exc:
        return jsonify(ok=False, error=exc.message), exc.http_status
    return jsonify(ok=True, outcome=outcome)
