"""Citizens' feedback and recommendations (phản ánh, kiến nghị) about procedures, as the public form
gives them; each is handled as a dossier of the catalogue's feedback procedure (its own BPMN)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, false, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base

_PUBLISHED = text("published")


class Feedback(Base):
    """One feedback: who sent it, about what, the answer and whether it may be published.

    Its tracking code is the code of the dossier the engine runs for it (`dossier_id`). The dossier
    code a citizen names (`about_dossier_code`) is kept as typed and never looked up for the public.
    """

    __tablename__ = "feedback"
    __table_args__ = (
        # The public page of a procedure lists its published answers, newest first.
        Index(
            "ix_feedback_published",
            "procedure_id",
            "published_at",
            sqlite_where=_PUBLISHED,
            postgresql_where=_PUBLISHED,
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossier.id"), unique=True)
    # The procedure the feedback is about (None: not about one procedure).
    procedure_id: Mapped[int | None] = mapped_column(ForeignKey("procedure.id"))
    about_dossier_code: Mapped[str | None] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(255))
    content: Mapped[str] = mapped_column(Text)
    consent_publish: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    submitted_at: Mapped[datetime]
    # The agency the classifying officer found competent (its steps land in that agency's inbox).
    competent_agency_id: Mapped[int | None] = mapped_column(ForeignKey("agency.id"))
    answer: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime | None]
    # When the approved answer was sent to the citizen (the feedback's workflow ended).
    sent_at: Mapped[datetime | None]
    published: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    published_at: Mapped[datetime | None]
