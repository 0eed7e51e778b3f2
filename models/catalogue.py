"""The catalogue: agencies, officers, procedures and their process versions."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base
from models.vocabulary import Level, ProcessStatus

AGENCY_LEVELS = Level.values()
PROCESS_STATUSES = ProcessStatus.values()
ONLINE_LEVELS = ("none", "partial", "full")
# The agency levels whose desks receive a procedure of a receiving level: a provincial procedure is
# received at the province's centre or at a department, the others at their own level.
RECEIVING_AGENCY_LEVELS: dict[str, tuple[str, ...]] = {
    "province": ("province", "department"),
    "department": ("department",),
    "district": ("district",),
    "commune": ("commune",),
}


def legal_budget_hours(value: float, unit: str, hours_per_day: int = 8) -> float:
    """Working hours the counted steps may use; a same-day procedure ("trong ngày") has one working day."""
    if unit == "hours":
        return float(value)
    return (value if value > 0 else 1) * hours_per_day


class Agency(Base):
    """An administrative agency, identified by its electronic code (QCVN 102:2016)."""

    __tablename__ = "agency"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    level: Mapped[str] = mapped_column(String(20))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("agency.id"))

    parent: Mapped[Agency | None] = relationship(remote_side="Agency.id")


class Officer(Base):
    """A user who works tasks (cán bộ, công chức), with roles inside one agency."""

    __tablename__ = "officer"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    full_name: Mapped[str] = mapped_column(String(255))
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"), index=True)
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    password_hash: Mapped[str] = mapped_column(String(255), default="")
    email: Mapped[str | None] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Copied into the session cookie at sign-in; raised by sign-out, a new password or disabling the
    # account, which ends every session of the officer at once.
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Set with a one-time password (a new account imported, a reset by the administrator): every page
    # asks for a password of the officer's own before anything else.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    agency: Mapped[Agency] = relationship()

    def has_role(self, role: str) -> bool:
        """Whether the officer holds this role in their agency."""
        return role in (self.roles or [])


class Procedure(Base):
    """An administrative procedure (thủ tục hành chính) from the national catalogue."""

    __tablename__ = "procedure"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(Text)
    field: Mapped[str] = mapped_column(String(255))
    level: Mapped[str] = mapped_column(String(20))
    legal_time_value: Mapped[float] = mapped_column(Numeric(8, 2, asdecimal=False))
    legal_time_unit: Mapped[str] = mapped_column(String(10))  # "days" | "hours"
    fee: Mapped[str] = mapped_column(Text, default="")
    # Each fee or charge as data: [{"name": "Lệ phí cấp giấy phép", "amount": 50000, "exempt": "..."}],
    # amounts in đồng; read through engine.catalogue.fees. `fee` keeps the catalogue's own wording.
    fees: Mapped[list[dict]] = mapped_column(JSON, default=list)
    required_documents: Mapped[list[str]] = mapped_column(JSON, default=list)
    online_level: Mapped[str] = mapped_column(String(10), default="partial")
    owner_agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"), index=True)
    # Who receives its dossiers (thẩm quyền tiếp nhận): desks of agencies at this level (see
    # RECEIVING_AGENCY_LEVELS), and when agency codes are listed, only those agencies' desks.
    receiving_level: Mapped[str] = mapped_column(
        String(20), default=lambda context: context.get_current_parameters()["level"]
    )
    receiving_agencies: Mapped[list[str]] = mapped_column(JSON, default=list)
    # "tthc": an administrative procedure; "feedback": the handling of citizens' feedback (phản ánh,
    # kiến nghị), run by the engine like a procedure but never counted as an administrative dossier.
    kind: Mapped[str] = mapped_column(String(20), default="tthc", server_default="tthc")

    owner_agency: Mapped[Agency] = relationship()
    versions: Mapped[list[ProcessVersion]] = relationship(
        back_populates="procedure", order_by="ProcessVersion.number"
    )

    def legal_hours(self, hours_per_day: int = 8) -> float:
        """The legal time as a working-hour budget for the procedure's steps."""
        return legal_budget_hours(float(self.legal_time_value), self.legal_time_unit, hours_per_day)


class ProcessVersion(Base):
    """One version of a procedure's internal procedure (quy trình nội bộ) as BPMN."""

    __tablename__ = "process_version"
    __table_args__ = (
        CheckConstraint(ProcessStatus.check_in("status"), name="status"),
        UniqueConstraint("procedure_id", "number", name="uq_process_version_procedure_number"),
        Index("ix_process_version_procedure_status", "procedure_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    procedure_id: Mapped[int] = mapped_column(ForeignKey("procedure.id"))
    number: Mapped[int] = mapped_column(Integer)
    # Deferred: the runtime needs only the sha256 to find the compiled spec in its cache.
    bpmn_xml: Mapped[str] = mapped_column(Text, deferred=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    process_id: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(20), default="draft")
    decision_number: Mapped[str | None] = mapped_column(String(80))
    decision_date: Mapped[date | None] = mapped_column(Date)
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("officer.id"))
    approved_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("officer.id"))
    # The result of `bpmn check` on this text, stored when the version is saved, imported or
    # approved so the pages do not check it again on every view. NULL until checked; checked
    # again when `check_rules` is older than the checker's rules or `check_legal_hours` is not
    # the procedure's budget any more.
    check_ok: Mapped[bool | None] = mapped_column(Boolean)
    check_problems: Mapped[list[dict] | None] = mapped_column(JSON)
    check_counted_hours: Mapped[float | None] = mapped_column(Numeric(12, 4, asdecimal=False))
    check_step_count: Mapped[int | None] = mapped_column(Integer)
    check_legal_hours: Mapped[float | None] = mapped_column(Numeric(12, 4, asdecimal=False))
    check_rules: Mapped[int | None] = mapped_column(Integer)
    checked_at: Mapped[datetime | None]

    procedure: Mapped[Procedure] = relationship(back_populates="versions")
