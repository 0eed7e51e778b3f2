"""Online payment: the citizen's checkout for a dossier's fee, the gateway's signed callback, and the
reconciliation of payments whose callback never came (citizens close the tab before the redirect).

A callback is accepted only when its HMAC signature holds, its timestamp is fresh, its nonce was never
seen (replay-safe), the merchant is ours and the reference and amount match a payment of ours. A
repeated valid callback (a fresh nonce about a payment already settled) changes nothing (idempotent).
Every refusal is logged and changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.catalogue.fees import FeeLine, format_vnd
from engine.context import Context
from engine.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from engine.payments.desk import new_reference
from engine.payments.dues import fee_state
from engine.payments.gateway import CallbackRefused, Gateway, GatewayError, GatewayStatus, verify_callback
from engine.runtime.dossiers import record_event
from engine.runtime.lookup import verified_dossier
from engine.usecase import require_aware, use_case
from models import Dossier, Payment, PaymentNonce, Procedure
from models.dossier import OPEN_STATUSES
from models.vocabulary import PaymentMethod, PaymentStatus

LOG = logging.getLogger("motcua.payments")
RECONCILE_BATCH = 500


class GatewayUnavailable(DomainError):
    """The gateway could not be reached; nothing was stored."""

    code = "gateway_unavailable"
    http_status = 503


@dataclass(frozen=True)
class PublicFees:
    """What the citizen sees of the fees after a lookup."""

    lines: list[FeeLine]
    due: int
    paid: int
    outstanding: int
    waived: bool
    can_pay_online: bool
    receipts: list[tuple[str, int, str]]  # (receipt number, amount, method label) of paid payments


@dataclass(frozen=True)
class Checkout:
    """Where the citizen pays: the gateway's page, the QR payload and our reference."""

    reference: str
    amount: int
    checkout_url: str
    qr_payload: str
    dossier_code: str


@dataclass(frozen=True)
class PaymentReceipt:
    """A payment as the citizen sees it on the return page (found by its unguessable reference)."""

    reference: str
    dossier_code: str
    procedure: str
    amount: int
    status: str
    status_label: str
    receipt_number: str | None
    paid_at: datetime | None


@dataclass
class ReconcileReport:
    """One reconciliation run: each payment asked about and what became of it."""

    lines: list[tuple[str, str]] = field(default_factory=list)  # (reference, outcome)

    def count(self, outcome: str) -> int:
        return sum(1 for _, o in self.lines if o == outcome)


def public_fees(ctx: Context, session: Session, dossier: Dossier) -> PublicFees:
    """The fees of a dossier found by the citizen's lookup (the caller checked the second factor)."""
    state = fee_state(session, dossier)
    payable = dossier.status in OPEN_STATUSES and not dossier.refusal_reason
    return PublicFees(
        lines=state.lines,
        due=state.due,
        paid=state.paid,
        outstanding=state.outstanding if payable else 0,
        waived=state.waiver is not None,
        can_pay_online=bool(ctx.settings.payment_gateway_url) and payable and state.outstanding > 0,
        receipts=[
            (p.receipt_number or p.reference, p.amount, PaymentMethod.label_of(p.method))
            for p in state.payments
            if p.status == PaymentStatus.PAID
        ],
    )


def lookup_fees(ctx: Context, code: str, last4: str) -> PublicFees:
    """The fees of the dossier the citizen looked up, with the second factor checked again."""
    with ctx.uow() as uow:
        dossier = verified_dossier(uow.session, code, last4)
        return public_fees(ctx, uow.session, dossier)


def start_online_payment(
    ctx: Context,
    code: str,
    last4: str,
    *,
    now: datetime,
    return_url: str,
    callback_url: str,
    gateway: Gateway | None = None,
) -> Checkout:
    """Create (or reuse) the pending online payment of what the dossier still owes, at the gateway."""
    require_aware(now)
    if not ctx.settings.payment_gateway_url:
        raise Conflict("Chưa hỗ trợ thanh toán trực tuyến; vui lòng nộp phí tại Bộ phận Một cửa")
    with ctx.uow() as uow:
        dossier = verified_dossier(uow.session, code, last4)
        fees = public_fees(ctx, uow.session, dossier)
        if not fees.can_pay_online:
            raise Conflict(f"Hồ sơ {dossier.code} không còn phí, lệ phí phải nộp trực tuyến")
        pending = fee_state(uow.session, dossier).pending
        if pending is not None and pending.amount == fees.outstanding and pending.checkout_url:
            return Checkout(
                pending.reference,
                pending.amount,
                pending.checkout_url,
                pending.qr_payload or "",
                dossier.code,
            )
        dossier_code, amount = dossier.code, fees.outstanding
        procedure = uow.session.get_one(Procedure, dossier.procedure_id).name
    reference = new_reference()
    try:
        request = (gateway or Gateway(ctx.settings)).create(
            reference,
            amount,
            f"Phí, lệ phí hồ sơ {dossier_code}: {procedure}"[:200],
            return_url.replace("REF", reference),
            callback_url,
        )
    except GatewayError as exc:
        LOG.warning("payment gateway: checkout of %s refused: %s", dossier_code, exc.message)
        raise GatewayUnavailable(f"{exc.message}; vui lòng thử lại sau") from None
    with use_case(ctx, "Tạo yêu cầu thanh toán trực tuyến") as uow:
        dossier = verified_dossier(uow.session, code, last4)
        if public_fees(ctx, uow.session, dossier).outstanding != amount:
            raise Conflict("Số tiền phải nộp vừa thay đổi; vui lòng tra cứu lại")
        uow.session.add(
            Payment(
                dossier_id=dossier.id,
                amount=amount,
                method=PaymentMethod.ONLINE.value,
                status=PaymentStatus.PENDING.value,
                reference=reference,
                gateway_reference=request.gateway_reference or None,
                checkout_url=request.checkout_url,
                qr_payload=request.qr_payload or None,
                created_at=now,
            )
        )
        uow.commit()
    return Checkout(reference, amount, request.checkout_url, request.qr_payload, dossier_code)


def payment_receipt(ctx: Context, reference: str) -> PaymentReceipt:
    """The payment with that reference, for the citizen's return page."""
    reference = (reference or "").strip()
    with ctx.uow() as uow:
        payment = uow.session.scalars(
            select(Payment).where(Payment.reference == reference[:40], Payment.method == PaymentMethod.ONLINE)
        ).one_or_none()
        if payment is None:
            raise NotFound("Không tìm thấy giao dịch thanh toán")
        dossier = uow.session.get_one(Dossier, payment.dossier_id)
        procedure = uow.session.get_one(Procedure, dossier.procedure_id)
        return PaymentReceipt(
            payment.reference,
            dossier.code,
            procedure.name,
            payment.amount,
            payment.status,
            PaymentStatus.label_of(payment.status),
            payment.receipt_number,
            payment.paid_at,
        )


def _settle(
    ctx: Context,
    reference: str,
    status: str,
    amount: int,
    gateway_reference: str,
    now: datetime,
    nonce: str | None = None,
) -> str:
    """Apply what the gateway says of a payment in one transaction, with the callback's nonce; the
    outcome. A refusal stores nothing, the nonce included."""
    with use_case(ctx, "Ghi nhận kết quả thanh toán trực tuyến") as uow:
        session = uow.session
        if nonce is not None:
            if session.get(PaymentNonce, nonce) is not None:
                raise Conflict("Thông báo thanh toán bị từ chối: mã dùng một lần (nonce) đã được dùng")
            session.add(PaymentNonce(nonce=nonce, seen_at=now))
        # The row is locked: a callback and the return page's query settling at once apply once.
        payment = session.scalars(
            select(Payment).where(Payment.reference == reference).with_for_update()
        ).one_or_none()
        if payment is None or payment.method != PaymentMethod.ONLINE:
            raise NotFound(f"Không có giao dịch {reference[:40]}")
        if amount != payment.amount:
            raise InvalidInput(
                f"Số tiền {format_vnd(amount)} không khớp với giao dịch {reference} "
                f"({format_vnd(payment.amount)})",
                "amount",
            )
        if payment.gateway_reference and gateway_reference and payment.gateway_reference != gateway_reference:
            raise InvalidInput(
                f"Mã giao dịch của cổng không khớp với giao dịch {reference}", "gateway_reference"
            )
        if payment.status != PaymentStatus.PENDING or status == PaymentStatus.PENDING:
            if payment.status != status:
                LOG.warning(
                    "payment %s is %s; the gateway now says %s: unchanged", reference, payment.status, status
                )
            uow.commit()  # the callback's nonce is kept: a replay of it is refused
            return "unchanged"
        payment.status = status
        payment.gateway_reference = gateway_reference or payment.gateway_reference
        if status == PaymentStatus.PAID:
            payment.paid_at = now
            payment.receipt_number = (payment.gateway_reference or payment.reference)[:40]
            dossier = session.get_one(Dossier, payment.dossier_id)
            record_event(
                session,
                dossier,
                "payment_recorded",
                None,
                now,
                amount=payment.amount,
                method=PaymentMethod.ONLINE.value,
                receipt_number=payment.receipt_number,
                reference=payment.reference,
            )
        uow.commit()
    LOG.info("payment %s: %s", reference, status)
    return status


def handle_callback(
    ctx: Context, body: bytes, headers: dict[str, str], now: datetime, *, wall_seconds: float | None = None
) -> str:
    """The gateway's signed callback: the outcome (paid, failed, cancelled, unchanged) or a DomainError.

    `wall_seconds` is the real time the callback's timestamp is judged against (the web passes the
    wall clock; tests default to `now`)."""
    require_aware(now)
    try:
        callback = verify_callback(
            ctx.settings, body, headers, now.timestamp() if wall_seconds is None else wall_seconds
        )
    except CallbackRefused as exc:
        LOG.warning("payment callback refused: %s", exc.message)
        raise Forbidden(f"Thông báo thanh toán bị từ chối: {exc.message}") from None
    if callback.merchant_id != ctx.settings.payment_merchant_id:
        LOG.warning("payment callback refused: merchant %r is not ours", callback.merchant_id[:80])
        raise Forbidden("Thông báo thanh toán bị từ chối: mã đơn vị chấp nhận thanh toán không đúng")
    try:
        return _settle(
            ctx,
            callback.reference,
            callback.status,
            callback.amount,
            callback.gateway_reference,
            now,
            nonce=callback.nonce,
        )
    except DomainError as exc:
        LOG.warning("payment callback about %s refused: %s", callback.reference[:40], exc.message)
        raise


def settle_from_gateway(ctx: Context, reference: str, now: datetime, gateway: Gateway | None = None) -> str:
    """Ask the gateway about one payment and apply its answer (the return page and the reconciliation)."""
    try:
        answer: GatewayStatus = (gateway or Gateway(ctx.settings)).status(reference)
    except GatewayError as exc:
        LOG.warning("payment %s: the gateway could not be asked: %s", reference, exc.message)
        return "error"
    return _settle(ctx, reference, answer.status, answer.amount, answer.gateway_reference, now)


def reconcile(ctx: Context, now: datetime, gateway: Gateway | None = None) -> ReconcileReport:
    """Ask the gateway about every online payment still pending after `payment_pending_minutes`."""
    require_aware(now)
    report = ReconcileReport()
    if not ctx.settings.payment_gateway_url:
        return report
    gateway = gateway or Gateway(ctx.settings)
    before = now - timedelta(minutes=ctx.settings.payment_pending_minutes)
    with ctx.uow() as uow:
        references = list(
            uow.session.scalars(
                select(Payment.reference)
                .where(
                    Payment.status == PaymentStatus.PENDING,
                    Payment.created_at <= before,
                    Payment.method == PaymentMethod.ONLINE,
                )
                .order_by(Payment.created_at)
                .limit(RECONCILE_BATCH)
            )
        )
    for reference in references:
        try:
            outcome = settle_from_gateway(ctx, reference, now, gateway)
        except DomainError as exc:
            LOG.warning("payment %s not reconciled: %s", reference, exc.message)
            outcome = "refused"
        report.lines.append((reference, outcome))
    return report
