"""What the public catalogue publishes beside the procedure's own data: its forms (mẫu đơn, tờ khai)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base
from models.catalogue import Procedure


class ProcedureForm(Base):
    """A form of a procedure (e.g. "Tờ khai"), uploaded by its process owner and served to everybody.

    The file is stored content-addressed under the attachments directory, like a dossier's documents.
    """

    __tablename__ = "procedure_form"
    __table_args__ = (Index("ix_procedure_form_procedure", "procedure_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    procedure_id: Mapped[int] = mapped_column(ForeignKey("procedure.id"))
    title: Mapped[str] = mapped_column(String(255))
    file_name: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(120))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    stored_path: Mapped[str] = mapped_column(Text)
    uploaded_at: Mapped[datetime]
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("officer.id"))

    procedure: Mapped[Procedure] = relationship()
