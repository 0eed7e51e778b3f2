"""The audit trail of a process version's lifecycle (draft -> submitted -> approved -> active -> retired)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, ForeignKey, Index, String, Text, event, inspect
from sqlalchemy.orm import Mapped, Mapper, mapped_column, relationship

from models.base import Base
from models.catalogue import Officer, ProcessVersion
from models.vocabulary import ProcessStatus, VersionAction

VERSION_ACTIONS = VersionAction.values()
# What a version's content is made of; once approved it is what dossiers run on.
CONTENT_FIELDS = ("bpmn_xml", "sha256", "process_id")
FROZEN_STATUSES = (ProcessStatus.APPROVED.value, ProcessStatus.ACTIVE.value, ProcessStatus.RETIRED.value)


class ProcessVersionEvent(Base):
    """One transition (or save) of a process version: who, when, from which status to which, why."""

    __tablename__ = "process_version_event"
    __table_args__ = (Index("ix_process_version_event_version", "process_version_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    process_version_id: Mapped[int] = mapped_column(ForeignKey("process_version.id"))
    action: Mapped[str] = mapped_column(String(20))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    officer_id: Mapped[int | None] = mapped_column(ForeignKey("officer.id"))
    at: Mapped[datetime]
    note: Mapped[str | None] = mapped_column(Text)
    sha256: Mapped[str | None] = mapped_column(String(64))

    officer: Mapped[Officer | None] = relationship()


class FrozenVersionError(RuntimeError):
    """A change to the content of an approved process version reached the database layer."""


@event.listens_for(ProcessVersion, "before_update")
def _refuse_changes_to_frozen_content(
    mapper: Mapper[Any], connection: Connection, target: ProcessVersion
) -> None:
    # Defence in depth behind the use cases: running dossiers are compiled from this text
    # (cached by version id), so it must never change once the version left the draft stages.
    state = inspect(target)
    status_history = state.attrs.status.history
    previous = status_history.deleted[0] if status_history.deleted else target.status
    if previous not in FROZEN_STATUSES:
        return
    for name in CONTENT_FIELDS:
        if state.attrs[name].history.has_changes():
            raise FrozenVersionError(f"process version {target.id} is {previous}; its {name} cannot change")
