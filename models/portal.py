"""The national public service portal (DVCQG): the outbox of messages for it, and the mappings of our
codes to the portal's."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base

PORTAL_MESSAGE_STATUSES = ("queued", "sending", "uncertain", "retrying", "failed", "sent")
_UNSENT = text("status <> 'sent'")


class PortalMessage(Base):
    """One call to the portal's adapter, queued in the transaction of the change it reports.

    Messages of one stream (a dossier's code) go in `seq` order, one at a time; streams go in
    parallel. A message is "sending" while a sender holds it; one found "sending" after a crash is
    "uncertain" and the portal is asked before it is sent again.
    """

    __tablename__ = "portal_message"
    __table_args__ = (
        UniqueConstraint("stream", "seq", name="uq_portal_message_stream_seq"),
        # The sender's scan: unsent messages by due time, never the sent history.
        Index("ix_portal_message_due", "next_attempt_at", sqlite_where=_UNSENT, postgresql_where=_UNSENT),
        Index(
            "ix_portal_message_stream_unsent", "stream", "seq", sqlite_where=_UNSENT, postgresql_where=_UNSENT
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    stream: Mapped[str] = mapped_column(String(60))
    seq: Mapped[int] = mapped_column(Integer)
    dossier_id: Mapped[int | None] = mapped_column(ForeignKey("dossier.id"), index=True)
    service: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(12), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    sending_since: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


class PortalMapping(Base):
    """Our value and the portal's: a status code, an agency's madonvi, a procedure's national code."""

    __tablename__ = "portal_mapping"
    __table_args__ = (UniqueConstraint("kind", "local", name="uq_portal_mapping_kind_local"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    local: Mapped[str] = mapped_column(String(80))
    portal: Mapped[str] = mapped_column(String(80))
