"""The notification outbox: one row per recipient and channel, sent by the dispatcher."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base

NOTIFICATION_CHANNELS = ("in_app", "email", "sms")
# pending: waiting for (another) attempt; sending: claimed by a dispatcher; sent; failed: gave up.
NOTIFICATION_STATUSES = ("pending", "sending", "sent", "failed")

_PENDING = text("status = 'pending'")
_SENDING = text("status = 'sending'")
_FAILED = text("status = 'failed'")
_IN_APP = text("channel = 'in_app'")
_UNREAD = text("channel = 'in_app' AND read_at IS NULL")


class Notification(Base):
    """One message to one recipient on one channel; `dedupe_key` makes a double send impossible."""

    __tablename__ = "notification"
    __table_args__ = (
        # The dispatcher's range scan: pending rows whose next attempt is due.
        Index("ix_notification_pending", "next_attempt_at", sqlite_where=_PENDING, postgresql_where=_PENDING),
        # Rows a dispatcher claimed and never finished (it died while sending).
        Index("ix_notification_sending", "claimed_until", sqlite_where=_SENDING, postgresql_where=_SENDING),
        Index("ix_notification_failed", "id", sqlite_where=_FAILED, postgresql_where=_FAILED),
        # An officer's notification list, newest first, and the unread count in the page header.
        Index("ix_notification_officer", "officer_id", "id", sqlite_where=_IN_APP, postgresql_where=_IN_APP),
        Index("ix_notification_unread", "officer_id", sqlite_where=_UNREAD, postgresql_where=_UNREAD),
        Index("ix_notification_dossier", "dossier_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    channel: Mapped[str] = mapped_column(String(10))
    kind: Mapped[str] = mapped_column(String(40))
    officer_id: Mapped[int | None] = mapped_column(ForeignKey("officer.id"))
    # E-mail address or phone number for email and SMS; empty for in-app rows.
    address: Mapped[str | None] = mapped_column(String(255))
    dossier_id: Mapped[int | None] = mapped_column(ForeignKey("dossier.id"))
    subject: Mapped[str] = mapped_column(String(255))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(10))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    claimed_until: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    read_at: Mapped[datetime | None]
