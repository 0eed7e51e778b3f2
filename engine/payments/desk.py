"""Fees at the desk: a payment in cash or by transfer with its receipt number (số biên lai), and a
waiver (miễn thu) by a head or leader with its reason; each one transaction, audited."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.catalogue.fees import format_vnd
from engine.context import Context
from engine.errors import Conflict, Forbidden, InvalidFields, InvalidInput
from engine.payments.dues import FeeState, fee_state
from engine.runtime.access import require_view
from engine.runtime.dossiers import check_text, dossier_by_code, record_event
from engine.usecase import active_officer, reading, require_aware, use_case
from models import Dossier, Officer, Payment, UnitOfWork
from models.dossier import OPEN_STATUSES
from models.vocabulary import PaymentMethod, PaymentStatus

DESK_METHODS = (PaymentMethod.CASH.value, PaymentMethod.TRANSFER.value)
WAIVER_ROLES = ("head", "leader")
RECEIPT_NUMBER = re.compile(r"^[0-9A-Za-z./\-_]{1,40}$")
MAX_REASON = 1000


@dataclass
class FeePage:
    """A dossier's fees as its page shows them, and what the officer may do about them."""

    dossier: Dossier
    state: FeeState
    may_record: bool
    may_waive: bool


def new_reference() -> str:
    """A payment's own reference, unguessable, sent to the gateway and printed for a transfer."""
    return "TT" + secrets.token_hex(8).upper()


def _receiving_desk(officer: Officer, dossier: Dossier) -> None:
    if not officer.has_role("desk") or officer.agency_id != dossier.agency_id:
        raise Forbidden(f"Chỉ Bộ phận Một cửa nơi tiếp nhận hồ sơ {dossier.code} được thu phí, lệ phí")


def _open(dossier: Dossier) -> None:
    if dossier.status not in OPEN_STATUSES:
        raise Conflict(f"Hồ sơ {dossier.code} đã kết thúc; không ghi nhận phí, lệ phí được nữa")


def fee_page(ctx: Context, officer_id: int, code: str, *, uow: UnitOfWork | None = None) -> FeePage:
    """The dossier's fees for an officer who may see the dossier."""
    with reading(ctx, uow) as session:
        officer = active_officer(session, officer_id)
        dossier = dossier_by_code(session, code)
        require_view(session, officer, dossier)
        same = officer.agency_id == dossier.agency_id and dossier.status in OPEN_STATUSES
        state = fee_state(session, dossier)
        due = not state.settled
        return FeePage(
            dossier,
            state,
            may_record=due and same and officer.has_role("desk"),
            may_waive=due and same and any(officer.has_role(role) for role in WAIVER_ROLES),
        )


def record_desk_payment(
    ctx: Context,
    code: str,
    officer_id: int,
    *,
    amount: int | str,
    method: str,
    receipt_number: str,
    now: datetime,
) -> int:
    """Thu phí tại Bộ phận Một cửa: the amount still due, paid in cash or by transfer; the payment's id."""
    require_aware(now)
    receipt_number = (receipt_number or "").strip()
    problems: dict[str, str] = {}
    if method not in DESK_METHODS:
        problems["method"] = "Chọn hình thức nộp: tiền mặt hoặc chuyển khoản"
    if not RECEIPT_NUMBER.match(receipt_number):
        problems["receipt_number"] = "Ghi số biên lai (chữ, số và . / - _, tối đa 40 ký tự)"
    if isinstance(amount, str):
        digits = amount.replace(".", "").replace(",", "").replace(" ", "").removesuffix("đồng").strip()
        amount = int(digits) if digits.isdigit() and len(digits) < 13 else -1
    if isinstance(amount, bool) or amount <= 0:
        problems["amount"] = "Số tiền phải là số nguyên dương (đồng)"
    if problems:
        raise InvalidFields(problems)
    with use_case(ctx, "Thu phí, lệ phí") as uow:
        session = uow.session
        officer = active_officer(session, officer_id)
        dossier = dossier_by_code(session, code)
        _receiving_desk(officer, dossier)
        _open(dossier)
        state = fee_state(session, dossier)
        if state.settled:
            raise Conflict(f"Hồ sơ {dossier.code} không còn phí, lệ phí phải nộp")
        if amount != state.outstanding:
            raise InvalidInput(
                f"Số tiền {format_vnd(amount)} không khớp với số còn phải nộp "
                f"{format_vnd(state.outstanding)}",
                "amount",
            )
        _require_unused_receipt(session, dossier.agency_id, receipt_number)
        payment = Payment(
            dossier_id=dossier.id,
            amount=amount,
            method=method,
            status=PaymentStatus.PAID.value,
            reference=new_reference(),
            receipt_number=receipt_number,
            created_at=now,
            paid_at=now,
            officer_id=officer.id,
        )
        session.add(payment)
        session.flush()
        record_event(
            session,
            dossier,
            "payment_recorded",
            officer.id,
            now,
            amount=amount,
            method=method,
            receipt_number=receipt_number,
        )
        payment_id = payment.id
        uow.commit()
    return payment_id


def _require_unused_receipt(session: Session, agency_id: int, receipt_number: str) -> None:
    """A receipt number (số biên lai) stands for one payment in the receiving agency's books."""
    used_by = session.scalar(
        select(Dossier.code)
        .join(Payment, Payment.dossier_id == Dossier.id)
        .where(
            Payment.receipt_number == receipt_number,
            Payment.status == PaymentStatus.PAID.value,
            Dossier.agency_id == agency_id,
        )
        .limit(1)
    )
    if used_by:
        raise InvalidInput(
            f"Số biên lai {receipt_number} đã được ghi cho hồ sơ {used_by}: kiểm tra lại số biên lai",
            "receipt_number",
        )


def waive_fee(ctx: Context, code: str, officer_id: int, *, reason: str, now: datetime) -> None:
    """Miễn thu: a head or leader of the receiving agency waives the fee still due, with the reason."""
    require_aware(now)
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("Ghi rõ lý do miễn thu phí, lệ phí (đối tượng được miễn, căn cứ)", "reason")
    if len(reason) > MAX_REASON:
        raise InvalidInput(f"Lý do miễn thu quá dài (tối đa {MAX_REASON} ký tự)", "reason")
    check_text(reason, "reason")
    with use_case(ctx, "Miễn thu phí, lệ phí") as uow:
        session = uow.session
        officer = active_officer(session, officer_id)
        dossier = dossier_by_code(session, code)
        if not any(officer.has_role(role) for role in WAIVER_ROLES) or officer.agency_id != dossier.agency_id:
            raise Forbidden(
                "Chỉ lãnh đạo (trưởng phòng, lãnh đạo cơ quan) nơi tiếp nhận được quyết định miễn thu"
            )
        _open(dossier)
        state = fee_state(session, dossier)
        if state.settled:
            raise Conflict(f"Hồ sơ {dossier.code} không còn phí, lệ phí phải nộp")
        record_event(session, dossier, "fee_waived", officer.id, now, reason=reason, amount=state.outstanding)
        uow.commit()
