"""Messages for the portal, queued in the transaction of the change they report.

`record_event` notes each dossier event on the session; just before the transaction commits, the
noted dossiers' messages are built from their final state (so the status sent is the one committed)
and inserted with the rest. A rolled-back use case queues nothing. Nothing is queued while the
portal is not configured (an empty `dvcqg_url`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from engine.integrations.dvcqg.messages import (
    PROGRESS,
    SYNC_DOSSIER,
    MappingMissing,
    Mappings,
    dossier_payload,
    progress_payload,
    state_of,
)
from models import Agency, Dossier, Procedure, WorkItem
from models.portal import PortalMessage

NOTED = "dvcqg_noted"
# Events after which the portal's record of the dossier is sent again (its state or dates changed).
RECORD_EVENTS = {
    "received",
    "step_completed",
    "supplement_requested",
    "supplement_received",
    "refused",
    "returned",
    "withdrawn",
    "appointment_moved",
    # The result asked for by post: HinhThuc changes.
    "postal_requested",
}


def enabled(session: Session) -> bool:
    """Whether this session's settings name a portal adapter."""
    settings = session.info.get("settings")
    return bool(settings is not None and settings.dvcqg_url)


def note(session: Session, dossier: Dossier, kind: str, now: datetime, payload: dict[str, Any]) -> None:
    """Remember a dossier event of this transaction for the portal (called by record_event)."""
    if kind not in RECORD_EVENTS or not enabled(session):
        return
    procedure = session.get(Procedure, dossier.procedure_id)
    if procedure is not None and procedure.kind == "feedback":
        return  # citizens' feedback is no administrative dossier: the portal does not hear of it
    session.info.setdefault(NOTED, []).append((dossier, kind, now, dict(payload)))


def madonvi_of(session: Session, dossier: Dossier, mappings: Mappings) -> str:
    """The unit code of the receiving agency: its own mapping, else the province's setting."""
    agency = session.get_one(Agency, dossier.agency_id)
    return mappings.get("agency", agency.code, session.info["settings"].dvcqg_madonvi or None)


def _next_seq(session: Session, stream: str) -> int:
    last = session.scalar(select(func.max(PortalMessage.seq)).where(PortalMessage.stream == stream))
    return (last or 0) + 1


def queue(
    session: Session,
    stream: str,
    service: str,
    envelope: dict[str, Any],
    now: datetime,
    dossier_id: int | None,
) -> PortalMessage:
    """Append a message to a stream, after every message already queued on it."""
    message = PortalMessage(
        stream=stream,
        seq=_next_seq(session, stream),
        dossier_id=dossier_id,
        service=service,
        payload=envelope,
        status="queued",
        attempts=0,
        created_at=now,
        next_attempt_at=now,
    )
    session.add(message)
    session.flush()
    return message


def _build(session: Session) -> None:
    noted = session.info.pop(NOTED, [])
    if not noted:
        return
    mappings = Mappings(session)
    by_dossier: dict[int, list[tuple[Dossier, str, datetime, dict[str, Any]]]] = {}
    for entry in noted:
        by_dossier.setdefault(entry[0].id, []).append(entry)
    for entries in by_dossier.values():
        dossier = entries[0][0]
        kinds = {kind for _, kind, _, _ in entries}
        now = max(moment for _, _, moment, _ in entries)
        state = state_of(dossier, kinds)
        try:
            madonvi = madonvi_of(session, dossier, mappings)
            record = dossier_payload(session, dossier, state, mappings)
            steps = [
                session.get_one(WorkItem, payload["work_item_id"])
                for _, kind, _, payload in entries
                if kind == "step_completed" and payload.get("work_item_id")
            ]
            progress = [progress_payload(session, dossier, item, state, mappings) for item in steps]
        except MappingMissing as exc:
            # Queued as failed, naming the dossier and the value, so an administrator sees it and
            # re-queues it once the mapping exists (the record is built again then); the officer's
            # work is never refused for it.
            envelope = {"madonvi": "", "data": [], "state": state}
            failed = queue(session, dossier.code, SYNC_DOSSIER, envelope, now, dossier.id)
            failed.status = "failed"
            failed.last_error = f"Hồ sơ {dossier.code}: {exc}"
            continue
        first = "received" in kinds
        if first:
            queue(
                session, dossier.code, SYNC_DOSSIER, {"madonvi": madonvi, "data": [record]}, now, dossier.id
            )
        for entry in progress:
            queue(session, dossier.code, PROGRESS, {"madonvi": madonvi, "data": [entry]}, now, dossier.id)
        if not first:
            queue(
                session, dossier.code, SYNC_DOSSIER, {"madonvi": madonvi, "data": [record]}, now, dossier.id
            )


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    if NOTED in session.info:
        _build(session)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(NOTED, None)
