"""Fees paid for a dossier (phí, lệ phí): at the desk in cash or by transfer, or online through the
payment gateway; and the nonces of the gateway's signed callbacks already seen (replay-safe)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base
from models.vocabulary import PaymentMethod, PaymentStatus

_PENDING = text("status = 'pending'")


class Payment(Base):
    """One payment of a dossier's fees, with the receipt number (số biên lai) once paid."""

    __tablename__ = "payment"
    __table_args__ = (
        CheckConstraint(PaymentMethod.check_in("method"), name="method"),
        CheckConstraint(PaymentStatus.check_in("status"), name="status"),
        CheckConstraint("amount >= 0", name="amount"),
        Index("ix_payment_dossier", "dossier_id", "id"),
        # The reconciliation job's scan: payments still pending, oldest first.
        Index("ix_payment_pending", "created_at", sqlite_where=_PENDING, postgresql_where=_PENDING),
        # QĐ 766: payments settled in a period.
        Index("ix_payment_paid_at", "paid_at"),
        # The desk's check that a receipt number (số biên lai) is not used twice in one agency.
        Index("ix_payment_receipt_number", "receipt_number"),
        UniqueConstraint("reference", name="uq_payment_reference"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossier.id"))
    amount: Mapped[int] = mapped_column(Integer)  # đồng
    method: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(10), default="pending")
    # Our reference of the payment, sent to the gateway (and the transfer's content at the desk).
    reference: Mapped[str] = mapped_column(String(40))
    receipt_number: Mapped[str | None] = mapped_column(String(40))
    # The gateway's own transaction id, once it tells it.
    gateway_reference: Mapped[str | None] = mapped_column(String(80))
    # Where the citizen pays an online payment: the gateway's page, and the QR payload it gave.
    checkout_url: Mapped[str | None] = mapped_column(Text)
    qr_payload: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    paid_at: Mapped[datetime | None]
    # The officer who recorded a desk payment (None for online payments).
    officer_id: Mapped[int | None] = mapped_column(ForeignKey("officer.id"))
    note: Mapped[str | None] = mapped_column(Text)


class PaymentNonce(Base):
    """A nonce of a signed gateway callback already accepted or refused: a second use is a replay."""

    __tablename__ = "payment_nonce"

    nonce: Mapped[str] = mapped_column(String(80), primary_key=True)
    seen_at: Mapped[datetime]
