"""Postal items (bưu gửi) of the public postal service: a dossier that came by post, a result sent back
by post. The item's history is in the dossier's audit trail (DossierEvent)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base
from models.vocabulary import PostalDirection, PostalStatus

# The public postal service's designated carrier (bưu chính công ích).
DEFAULT_CARRIER = "Bưu điện Việt Nam"


class PostalItem(Base):
    """One postal item of a dossier: inbound (the dossier came by post) or outbound (the result goes
    back by post). At most one of each per dossier; an item number is unique per carrier."""

    __tablename__ = "postal_item"
    __table_args__ = (
        CheckConstraint(PostalDirection.check_in("direction"), name="direction"),
        CheckConstraint(PostalStatus.check_in("status"), name="status"),
        UniqueConstraint("dossier_id", "direction", name="uq_postal_item_dossier_direction"),
        UniqueConstraint("carrier", "item_number", name="uq_postal_item_carrier_item_number"),
        # The carrier's updates find an item by its number alone.
        Index("ix_postal_item_item_number", "item_number"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossier.id"))
    direction: Mapped[str] = mapped_column(String(10))
    # Số hiệu bưu gửi; an outbound item has none until it is handed to the post.
    item_number: Mapped[str | None] = mapped_column(String(20))
    carrier: Mapped[str] = mapped_column(String(120), default=DEFAULT_CARRIER)
    status: Mapped[str] = mapped_column(String(20))
    # Inbound: the sender's address as the envelope gives it; outbound: where the result goes.
    address: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    officer_id: Mapped[int | None] = mapped_column(ForeignKey("officer.id"))
    handed_at: Mapped[datetime | None]
    # Delivered, or back at the agency undelivered: the carrier's moment.
    closed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]
    note: Mapped[str | None] = mapped_column(Text)
