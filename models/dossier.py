"""Dossiers (hồ sơ), their work items, suspensions, audit events and attachments."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship, synonym

from models.base import Base
from models.catalogue import Agency, Officer, Procedure, ProcessVersion
from models.vocabulary import Channel, DossierStatus, EventKind, ResultClass, WorkItemKind

# The value sets and their labels live in models.vocabulary; these names are kept for their readers.
CHANNELS = Channel.values()
CHANNEL_LABELS = Channel.labels()
DOSSIER_STATUSES = DossierStatus.values()
STATUS_LABELS = DossierStatus.labels()
# processing: somebody works on it; supplement: waiting for the applicant (clock stopped);
# result_ready: at the hand-over step; returned / refused / withdrawn: finished.
OPEN_STATUSES = tuple(
    s.value for s in (DossierStatus.PROCESSING, DossierStatus.SUPPLEMENT, DossierStatus.RESULT_READY)
)
RESULT_CLASSES = ResultClass.values()
RESULT_LABELS = ResultClass.labels()
WORK_ITEM_KINDS = WorkItemKind.values()
EVENT_KINDS = EventKind.values()

_OPEN_ITEM = text("completed_at IS NULL")
_OPEN_UNASSIGNED = text("completed_at IS NULL AND assignee_id IS NULL")
_PROCESSING = text("status = 'processing'")


class DossierSequence(Base):
    """The last dossier number issued by an agency on a day; rows are locked while a code is drawn."""

    __tablename__ = "dossier_sequence"
    __table_args__ = (UniqueConstraint("agency_id", "day", name="uq_dossier_sequence_agency_day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"))
    day: Mapped[str] = mapped_column(String(6))  # YYMMDD in local time
    last_number: Mapped[int] = mapped_column(Integer)


class Dossier(Base):
    """One application (hồ sơ) by one citizen or organisation."""

    __tablename__ = "dossier"
    __table_args__ = (
        # Named by the metadata's convention: ck_dossier_status, ck_dossier_channel, ...
        CheckConstraint(DossierStatus.check_in("status"), name="status"),
        CheckConstraint(Channel.check_in("channel"), name="channel"),
        CheckConstraint(ResultClass.check_in("result_class"), name="result_class"),
        Index("ix_dossier_status_due", "status", "due_at"),
        Index("ix_dossier_procedure_received", "procedure_id", "received_at"),
        # Biểu 06 and the indicators read only these columns: on PostgreSQL the report becomes an
        # index-only scan of ~100 bytes a dossier instead of a scan of the heap, whose rows carry
        # the workflow state (~1.4 KB). It also serves the agency's dossiers by receipt time
        # (it replaced ix_dossier_agency_received, which had the same key); migration 0005.
        Index(
            "ix_dossier_report",
            "agency_id",
            "received_at",
            postgresql_include=[
                "id",
                "procedure_id",
                "channel",
                "finished_at",
                "status",
                "result_class",
                "due_at",
                "refusal_reason",
                "judged_at",
                "late_at",
            ],
        ),
        # The watcher's scan of dossiers whose remaining steps stop fitting before the legal due time.
        Index(
            "ix_dossier_projected_late",
            "projected_late_at",
            sqlite_where=_PROCESSING,
            postgresql_where=_PROCESSING,
        ),
        # The watcher's scan of dossiers still unresolved after their (moved) appointment.
        Index(
            "ix_dossier_appointment", "appointment_at", sqlite_where=_PROCESSING, postgresql_where=_PROCESSING
        ),
        # The dossier list (engine/runtime/dossier_lists.py): an agency's receipts in one state,
        # newest first, read straight from the index; migration 0011.
        Index("ix_dossier_agency_status_received", "agency_id", "status", "received_at", "id"),
        # Search by any part of the normalised text: a trigram index on PostgreSQL (pg_trgm, created
        # by migration 0011 in the public schema); SQLite scans.
        Index(
            "ix_dossier_search_text",
            "search_text",
            postgresql_using="gin",
            postgresql_ops={"search_text": "public.gin_trgm_ops"},
        ),
        # The applicant's earlier digitised documents offered for reuse at the desk; migration 0019.
        Index("ix_dossier_applicant_id_number", "applicant_id_number"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    procedure_id: Mapped[int] = mapped_column(ForeignKey("procedure.id"))
    process_version_id: Mapped[int] = mapped_column(ForeignKey("process_version.id"))
    # The receiving agency; its code prefixes the dossier code.
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"))
    applicant_name: Mapped[str] = mapped_column(String(255))
    applicant_id_number: Mapped[str | None] = mapped_column(String(20))
    applicant_phone: Mapped[str | None] = mapped_column(String(20))
    applicant_email: Mapped[str | None] = mapped_column(String(255))
    applicant_address: Mapped[str | None] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(String(20))
    received_at: Mapped[datetime]
    received_by_id: Mapped[int | None] = mapped_column(ForeignKey("officer.id"))
    # The moment the processing time currently counts from (moves when a supplement restarts it).
    clock_started_at: Mapped[datetime]
    # The legal due time (hạn giải quyết theo quy định): receipt + the procedure's legal time. Only a
    # complete supplement recomputes it (restart) or shifts it (pause); every judgement of lateness
    # reads it. Also reachable as `legal_due_at`.
    due_at: Mapped[datetime | None]
    # The legal due time computed at receipt.
    original_due_at: Mapped[datetime | None]
    # The appointment (ngày hẹn trả kết quả) told to the applicant: the legal due time until an
    # issued apology letter moves it, once.
    appointment_at: Mapped[datetime | None]
    appointment_moved_at: Mapped[datetime | None]
    # When the dossier became late: the legal due time it passed while its clock was running.
    # Set once, never cleared: a letter, a supplement or a moved appointment never undo it.
    late_at: Mapped[datetime | None]
    # When the result class was fixed: the result ready at the desk, or handed over when the
    # procedure counts the hand-over step.
    judged_at: Mapped[datetime | None]
    # The moment the remaining allotments stop fitting before the legal due time if nothing moves
    # (the watcher's wake-up for drafting the apology letter); recomputed whenever steps open.
    projected_late_at: Mapped[datetime | None]
    # Bumped whenever the legal due time or the appointment changes, so alerts keyed on it are
    # raised again for a new deadline.
    deadline_version: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(20), default="processing")
    workflow_state: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    finished_at: Mapped[datetime | None]
    returned_at: Mapped[datetime | None]
    returned_to: Mapped[str | None] = mapped_column(String(255))
    result_class: Mapped[str | None] = mapped_column(String(10))
    refusal_reason: Mapped[str | None] = mapped_column(Text)
    withdrawal_reason: Mapped[str | None] = mapped_column(Text)
    # Idempotency key of the submission (desk form nonce or API Idempotency-Key): a double
    # submission finds the first dossier instead of creating a second one.
    submission_key: Mapped[str | None] = mapped_column(String(80), unique=True)
    # Code, applicant name, phone, ID number and e-mail normalised for search (engine/search_text.py):
    # lower case, no diacritics, no gaps in numbers. Written at receipt and when those fields change.
    search_text: Mapped[str | None] = mapped_column(Text)

    procedure: Mapped[Procedure] = relationship()
    process_version: Mapped[ProcessVersion] = relationship()
    agency: Mapped[Agency] = relationship()
    received_by: Mapped[Officer | None] = relationship()

    # Optimistic locking: two officers completing the same dossier's task cannot both win.
    __mapper_args__: ClassVar[dict] = {"version_id_col": version}  # type: ignore[misc]

    legal_due_at = synonym("due_at")

    @property
    def is_open(self) -> bool:
        """Whether the dossier is still being processed (not returned, refused or withdrawn)."""
        return self.status in OPEN_STATUSES

    def is_late_at(self, now: datetime) -> bool:
        """Whether late at `now`: lateness recorded, or its running clock reached the legal due time."""
        if self.late_at is not None:
            return True
        # The overdue rule of engine.urgency (due time reached), which models cannot import.
        return self.status == "processing" and self.due_at is not None and self.due_at <= now

    def apology_due(self, now: datetime) -> bool:
        """Whether a letter is called for: open, appointment not moved yet, late or projected late."""
        if self.status not in ("processing", "supplement") or self.appointment_moved_at is not None:
            return False
        projected = self.projected_late_at is not None and self.projected_late_at <= now
        return self.is_late_at(now) or projected


class WorkItem(Base):
    """The SQL projection of one human task of a dossier's workflow."""

    __tablename__ = "work_item"
    __table_args__ = (
        CheckConstraint(WorkItemKind.check_in("kind"), name="kind"),
        CheckConstraint(ResultClass.check_in("result_class"), name="result_class"),
        # Pool inbox: open items of an agency for a role, by due time.
        Index(
            "ix_work_item_open_pool",
            "agency_id",
            "role",
            "due_at",
            sqlite_where=_OPEN_ITEM,
            postgresql_where=_OPEN_ITEM,
        ),
        # Pool inbox, exactly: open unassigned items of an agency for a role, by due time, with
        # the dossier id the inbox's counts read (PostgreSQL reads both from the index alone).
        Index(
            "ix_work_item_open_unassigned",
            "agency_id",
            "role",
            "due_at",
            "id",
            sqlite_where=_OPEN_UNASSIGNED,
            postgresql_where=_OPEN_UNASSIGNED,
            postgresql_include=["dossier_id"],
        ),
        # Personal inbox: an officer's open items by due time.
        Index(
            "ix_work_item_open_assignee",
            "assignee_id",
            "due_at",
            sqlite_where=_OPEN_ITEM,
            postgresql_where=_OPEN_ITEM,
        ),
        # The watcher's range scan over open items by due time.
        Index("ix_work_item_open_due", "due_at", sqlite_where=_OPEN_ITEM, postgresql_where=_OPEN_ITEM),
        Index("ix_work_item_dossier", "dossier_id", "created_at"),
        UniqueConstraint("task_uuid", name="uq_work_item_task_uuid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossier.id"))
    task_uuid: Mapped[str] = mapped_column(String(36))  # SpiffWorkflow task id
    task_id: Mapped[str] = mapped_column(String(255))  # BPMN element id
    task_name: Mapped[str] = mapped_column(Text)
    lane: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str | None] = mapped_column(String(20))  # None | WorkItemKind
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("officer.id"))
    created_at: Mapped[datetime]
    claimed_at: Mapped[datetime | None]
    due_at: Mapped[datetime | None]
    allotted_hours: Mapped[float] = mapped_column(Numeric(8, 2, asdecimal=False))
    counted: Mapped[bool] = mapped_column(Boolean, default=True)
    completed_at: Mapped[datetime | None]
    completed_by_id: Mapped[int | None] = mapped_column(ForeignKey("officer.id"))
    outcome: Mapped[str | None] = mapped_column(String(40))
    comment: Mapped[str | None] = mapped_column(Text)
    used_hours: Mapped[float | None] = mapped_column(Numeric(10, 2, asdecimal=False))
    result_class: Mapped[str | None] = mapped_column(String(10))

    dossier: Mapped[Dossier] = relationship()
    agency: Mapped[Agency] = relationship()
    assignee: Mapped[Officer | None] = relationship(foreign_keys=[assignee_id])
    completed_by: Mapped[Officer | None] = relationship(foreign_keys=[completed_by_id])

    @property
    def is_open(self) -> bool:
        """Whether the task still waits for an officer."""
        return self.completed_at is None


class DossierHandler(Base):
    """An agency that holds or held a step of a dossier another agency received.

    The projection of engine/runtime/access.py's rule for lists: an agency's dossiers are its
    receipts (`Dossier.agency_id`) and these rows, each read from an index, instead of a search
    through every work item. Written when a step opens (engine/runtime/dossiers.py `project`).
    """

    __tablename__ = "dossier_handler"

    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"), primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossier.id"), primary_key=True)


class Suspension(Base):
    """A period when the dossier's clock is stopped (supplement, waiting on another authority)."""

    __tablename__ = "suspension"
    __table_args__ = (Index("ix_suspension_dossier", "dossier_id", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossier.id"))
    kind: Mapped[str] = mapped_column(String(20))  # "supplement" | "other_authority"
    reason: Mapped[str] = mapped_column(Text)
    details: Mapped[list[str]] = mapped_column(JSON, default=list)
    started_at: Mapped[datetime]
    started_by_id: Mapped[int | None] = mapped_column(ForeignKey("officer.id"))
    ended_at: Mapped[datetime | None]
    ended_by_id: Mapped[int | None] = mapped_column(ForeignKey("officer.id"))
    paused_hours: Mapped[float | None] = mapped_column(Numeric(10, 2, asdecimal=False))
    # A supplement request made after the window from receipt (default 3 working days): the
    # agency's fault, allowed only with a recorded reason, and counted in the indicators.
    late: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    late_reason: Mapped[str | None] = mapped_column(Text)


class DossierEvent(Base):
    """Append-only audit of everything that happened to a dossier."""

    __tablename__ = "dossier_event"
    __table_args__ = (
        CheckConstraint(EventKind.check_in("kind"), name="kind"),
        Index("ix_dossier_event_dossier", "dossier_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossier.id"))
    at: Mapped[datetime]
    officer_id: Mapped[int | None] = mapped_column(ForeignKey("officer.id"))
    kind: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict] = mapped_column(JSON, default=dict)

    officer: Mapped[Officer | None] = relationship()


class Attachment(Base):
    """A document of a dossier: an input the applicant gave, or a result.

    Digitisation (engine/documents): an input scan names the checklist item it digitises
    (`document_name`, one of the procedure's required documents) and is digitised when attached;
    a result is digitised when issued. A PDF may carry a signature, checked when it is stored or
    signed: `signature_status` is None (not a PDF), "unsigned", "valid" or "invalid". A document
    reused from an earlier dossier of the same applicant names the attachment it copies.
    """

    __tablename__ = "attachment"
    __table_args__ = (
        Index("ix_attachment_dossier", "dossier_id"),
        # The digitised documents of a dossier (the QĐ 766 counts and the reuse offer); migration 0019.
        Index("ix_attachment_dossier_digitised", "dossier_id", "kind", "digitised_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossier.id"))
    work_item_id: Mapped[int | None] = mapped_column(ForeignKey("work_item.id"))
    kind: Mapped[str] = mapped_column(String(10))  # "input" | "result"
    file_name: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(120))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    stored_path: Mapped[str] = mapped_column(Text)
    uploaded_at: Mapped[datetime]
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("officer.id"))
    document_name: Mapped[str | None] = mapped_column(String(1000))
    digitised_at: Mapped[datetime | None]
    reused_from_attachment_id: Mapped[int | None] = mapped_column(ForeignKey("attachment.id"))
    signature_status: Mapped[str | None] = mapped_column(String(10))
    signer_name: Mapped[str | None] = mapped_column(String(255))
    signer_organisation: Mapped[str | None] = mapped_column(String(255))
    signed_at: Mapped[datetime | None]
    signature_checked_at: Mapped[datetime | None]
    signature_note: Mapped[str | None] = mapped_column(Text)
