"""Slips issued at the counter before a dossier is accepted (forms 02 and 03 of TT 03/2025)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base
from models.catalogue import Agency, Officer, Procedure

# supplement: Phiếu yêu cầu bổ sung, hoàn thiện hồ sơ (form 02);
# refusal: Phiếu từ chối tiếp nhận giải quyết hồ sơ (form 03).
COUNTER_SLIP_KINDS = ("supplement", "refusal")
COUNTER_SLIP_LABELS = {
    "supplement": "Phiếu yêu cầu bổ sung, hoàn thiện hồ sơ",
    "refusal": "Phiếu từ chối tiếp nhận giải quyết hồ sơ",
}


class CounterSlip(Base):
    """A form 02 or 03 the desk handed to an applicant without receiving the dossier.

    No dossier exists and no dossier code is drawn; the slip is kept so that it can be printed
    again and counted per agency and period.
    """

    __tablename__ = "counter_slip"
    __table_args__ = (
        CheckConstraint("kind IN ('supplement', 'refusal')", name="kind"),
        # Counts per agency and period, and the desk's latest slips.
        Index("ix_counter_slip_agency_issued", "agency_id", "issued_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"))
    procedure_id: Mapped[int] = mapped_column(ForeignKey("procedure.id"))
    applicant_name: Mapped[str] = mapped_column(String(255))
    applicant_id_number: Mapped[str | None] = mapped_column(String(20))
    applicant_phone: Mapped[str | None] = mapped_column(String(20))
    applicant_email: Mapped[str | None] = mapped_column(String(255))
    applicant_address: Mapped[str | None] = mapped_column(Text)
    # Form 02: every missing or incorrect document, listed at once; form 03: empty.
    missing: Mapped[list[str]] = mapped_column(JSON, default=list)
    reason: Mapped[str] = mapped_column(Text)
    issued_at: Mapped[datetime]
    issued_by_id: Mapped[int] = mapped_column(ForeignKey("officer.id"))
    # Idempotency key of the desk form: a double submission finds the first slip.
    submission_key: Mapped[str | None] = mapped_column(String(80), unique=True)

    agency: Mapped[Agency] = relationship()
    procedure: Mapped[Procedure] = relationship()
    issued_by: Mapped[Officer] = relationship()
