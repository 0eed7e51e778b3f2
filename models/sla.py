"""What the SLA watcher keeps: alerts, apology letters (form 04), the scheduler's lease and heartbeat."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base
from models.catalogue import Agency, Officer
from models.dossier import Dossier, WorkItem
from models.vocabulary import AlertKind, LetterStatus

ALERT_KINDS = AlertKind.values()
ALERT_SUBJECTS = ("work_item", "dossier")
LETTER_STATUSES = LetterStatus.values()
LETTER_LABELS = LetterStatus.labels()

_OPEN_ITEM = text("completed_at IS NULL")
_WAKE_UP = text("next_at IS NOT NULL")

# The watcher re-checks the dossiers whose open steps were created since its last tick (a rework
# loop can make a dossier late at once); the range scan needs open items by creation time.
ix_work_item_open_created = Index(
    "ix_work_item_open_created",
    WorkItem.created_at,
    sqlite_where=_OPEN_ITEM,
    postgresql_where=_OPEN_ITEM,
)


class SlaAlert(Base):
    """One alert raised by the watcher; its key makes raising it twice impossible."""

    __tablename__ = "sla_alert"
    __table_args__ = (
        CheckConstraint(AlertKind.check_in("kind"), name="kind"),
        # (subject, kind, deadline version, round): repeated ticks, restarts and a second
        # scheduler all insert against this key, so each alert exists once.
        UniqueConstraint(
            "subject_kind", "subject_id", "kind", "deadline_version", "round", name="uq_sla_alert_key"
        ),
        Index("ix_sla_alert_dossier", "dossier_id", "raised_at"),
        # Daily reminders: the alerts whose next reminder is due, by time.
        Index("ix_sla_alert_next", "next_at", sqlite_where=_WAKE_UP, postgresql_where=_WAKE_UP),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_kind: Mapped[str] = mapped_column(String(20))  # "work_item" | "dossier"
    subject_id: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(30))
    # The dossier's deadline version for dossier alerts (a new appointment raises them again);
    # 0 for work items, whose due time never changes.
    deadline_version: Mapped[int] = mapped_column(Integer)
    # 1, 2, ... for the daily reminders of a late dossier without an issued apology; 0 otherwise.
    round: Mapped[int] = mapped_column(Integer, default=0)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossier.id"))
    work_item_id: Mapped[int | None] = mapped_column(ForeignKey("work_item.id"))
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"))
    due_at: Mapped[datetime]
    raised_at: Mapped[datetime]
    next_at: Mapped[datetime | None]
    recipients: Mapped[int] = mapped_column(Integer, default=0)

    dossier: Mapped[Dossier] = relationship()
    agency: Mapped[Agency] = relationship()


class ApologyLetter(Base):
    """Phiếu xin lỗi và hẹn lại ngày trả kết quả (form 04, TT 03/2025): at most one per dossier."""

    __tablename__ = "apology_letter"
    __table_args__ = (
        CheckConstraint(LetterStatus.check_in("status"), name="status"),
        # The appointment moves once only, so a dossier never needs a second letter.
        UniqueConstraint("dossier_id", name="uq_apology_letter_dossier_id"),
        Index("ix_apology_letter_agency_status", "agency_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossier.id"))
    # The agency at fault: the one whose steps overran their allotments (the holder when none has).
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"))
    # The agency holding the dossier when the letter was drafted (told as well when not at fault).
    holder_agency_id: Mapped[int | None] = mapped_column(ForeignKey("agency.id"))
    status: Mapped[str] = mapped_column(String(10), default="draft")
    reason: Mapped[str] = mapped_column(Text)
    apology_text: Mapped[str] = mapped_column(Text)
    original_due_at: Mapped[datetime]
    proposed_due_at: Mapped[datetime]
    new_due_at: Mapped[datetime]
    deadline_version: Mapped[int] = mapped_column(Integer)
    remaining_hours: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("officer.id"))
    edited_at: Mapped[datetime | None]
    edited_by_id: Mapped[int | None] = mapped_column(ForeignKey("officer.id"))
    issued_at: Mapped[datetime | None]
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("officer.id"))
    signer_name: Mapped[str | None] = mapped_column(String(255))
    signer_title: Mapped[str | None] = mapped_column(String(255))
    # Issued less than one working day before the legal due time (or after it): allowed, counted.
    issued_late: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    dossier: Mapped[Dossier] = relationship()
    agency: Mapped[Agency] = relationship(foreign_keys=[agency_id])
    issued_by: Mapped[Officer | None] = relationship(foreign_keys=[issued_by_id])


class SchedulerLease(Base):
    """The scheduler's leader lease: the leader renews it at every run; once it has expired another
    scheduler takes it over, with the next `term` (the fencing token every job's transaction checks)."""

    __tablename__ = "scheduler_lease"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    holder: Mapped[str] = mapped_column(String(120))
    acquired_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    # Raised by one at every change of holder: a job runs only while the lease still has its term.
    term: Mapped[int] = mapped_column(Integer, server_default="0")
    # The last renewal, and the leader's own interval (the health probe judges the heartbeat by it).
    renewed_at: Mapped[datetime | None]
    interval_seconds: Mapped[int | None] = mapped_column(Integer)


class SchedulerHeartbeat(Base):
    """When the watcher last ran and how far its scans reached (the watermark of the next tick)."""

    __tablename__ = "scheduler_heartbeat"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    # The `now` of the last tick: the next one scans only what became due after it.
    last_now: Mapped[datetime]
    # Wall-clock moment the last tick committed; the web app warns when it is stale.
    ran_at: Mapped[datetime]
    holder: Mapped[str] = mapped_column(String(120))
    ticks: Mapped[int] = mapped_column(Integer, default=0)
    raised: Mapped[int] = mapped_column(Integer, default=0)
    duration_ms: Mapped[float | None] = mapped_column(Float)
