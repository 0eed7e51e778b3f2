"""What a dossier owes (phí, lệ phí) and whether it is settled: paid in full or waived.

The amount due is the procedure's fees (engine/catalogue/fees.py); a refused dossier owes nothing at
the hand-over (the refusal is handed over whatever was paid). A waiver is a `fee_waived` event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.catalogue.fees import FeeLine, fee_lines, format_vnd, total_due
from engine.errors import Conflict
from models import Dossier, DossierEvent, Payment, Procedure
from models.vocabulary import EventKind, PaymentStatus


@dataclass(frozen=True)
class Waiver:
    """Miễn thu: who waived the fee, when and why."""

    reason: str
    officer_id: int | None
    at: datetime


@dataclass
class FeeState:
    """A dossier's fees: the lines, the total due, what was paid, the waiver, the payments."""

    lines: list[FeeLine]
    due: int
    paid: int
    waiver: Waiver | None
    payments: list[Payment] = field(default_factory=list)

    @property
    def outstanding(self) -> int:
        """What is still to pay, in đồng (0 once waived)."""
        return 0 if self.waiver is not None else max(0, self.due - self.paid)

    @property
    def settled(self) -> bool:
        """Paid in full, waived, or nothing due."""
        return self.outstanding == 0

    @property
    def pending(self) -> Payment | None:
        """The newest online payment still waiting for the gateway."""
        return next((p for p in reversed(self.payments) if p.status == PaymentStatus.PENDING), None)


def fee_state(session: Session, dossier: Dossier) -> FeeState:
    """The dossier's fees as they stand now."""
    procedure = session.get_one(Procedure, dossier.procedure_id)
    payments = list(
        session.scalars(select(Payment).where(Payment.dossier_id == dossier.id).order_by(Payment.id))
    )
    paid = sum(p.amount for p in payments if p.status == PaymentStatus.PAID)
    event = session.scalars(
        select(DossierEvent)
        .where(DossierEvent.dossier_id == dossier.id, DossierEvent.kind == EventKind.FEE_WAIVED)
        .order_by(DossierEvent.id.desc())
        .limit(1)
    ).one_or_none()
    waiver = (
        Waiver(str(event.payload.get("reason", "")), event.officer_id, event.at)
        if event is not None
        else None
    )
    return FeeState(fee_lines(procedure.fees), total_due(procedure.fees), paid, waiver, payments)


def paid_total(session: Session, dossier_id: int) -> int:
    """The sum of the dossier's settled payments, in đồng."""
    total = session.scalar(
        select(func.coalesce(func.sum(Payment.amount), 0)).where(
            Payment.dossier_id == dossier_id, Payment.status == PaymentStatus.PAID
        )
    )
    return int(total or 0)


def require_settled_for_handover(session: Session, dossier: Dossier) -> None:
    """Refuse the result hand-over of a dossier whose fee is neither paid in full nor waived."""
    if dossier.refusal_reason:
        return
    # Read without flushing: the hand-over's own writes keep the dossier's version steps they had.
    with session.no_autoflush:
        state = fee_state(session, dossier)
    if not state.settled:
        raise Conflict(
            f"Hồ sơ {dossier.code} chưa nộp phí, lệ phí: còn phải nộp {format_vnd(state.outstanding)}. "
            "Ghi nhận việc nộp phí (hoặc quyết định miễn thu của lãnh đạo) trước khi trả kết quả."
        )
