"""The sender: what is due goes to the portal, one dossier's messages in order, dossiers in parallel.

- A message is taken with a conditional update ("sending", with the time), so two senders never take
  the same one; it is then sent outside any transaction and its result recorded.
- A failure retries with backoff and never blocks other dossiers; after the last attempt the message
  is "failed" and its dossier's later messages wait until an administrator re-queues it.
- A sender that died between sending and recording leaves the message "sending"; once that is older
  than the lease it is "uncertain", and the next attempt first asks the portal (TraCuuHoSo) whether
  it has the message, so a success is never sent twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import and_, exists, func, select, update
from sqlalchemy.orm import aliased

from engine.accounts import require_admin
from engine.context import Context
from engine.errors import NotFound
from engine.integrations.dvcqg.client import AdapterClient, PortalError
from engine.integrations.dvcqg.messages import (
    LOOKUP,
    PROGRESS,
    SYNC_DOSSIER,
    MappingMissing,
    Mappings,
    dossier_payload,
)
from engine.integrations.dvcqg.outbox import madonvi_of
from engine.usecase import reading, require_aware
from models import Dossier, UnitOfWork
from models.portal import PortalMessage

LOG = logging.getLogger("motcua.dvcqg")
DUE_STATUSES = ("queued", "retrying", "uncertain")
# A stream sends at most this many messages a run, so one busy dossier cannot hold a worker.
PER_STREAM = 50
BACKOFF_CAP = timedelta(hours=4)
ADMIN_PAGE = "Đồng bộ Cổng Dịch vụ công quốc gia"


class Portal(Protocol):
    """What the sender needs of the adapter (the real client, or a test's)."""

    def call(self, service: str, madonvi: str, fields: dict[str, Any]) -> dict[str, Any]: ...


@dataclass(frozen=True)
class SyncLine:
    """What became of one message in a run."""

    stream: str
    seq: int
    service: str
    outcome: str  # sent | confirmed | retrying | failed | skipped
    detail: str = ""

    def line(self) -> str:
        """One line of `motcua dvcqg sync`."""
        detail = f" - {self.detail}" if self.detail else ""
        return f"{self.stream} #{self.seq} {self.service}: {self.outcome}{detail}"


@dataclass
class SyncReport:
    """One run of the sender."""

    lines: list[SyncLine] = field(default_factory=list)
    recovered: int = 0

    def count(self, outcome: str) -> int:
        """How many messages ended so."""
        return sum(1 for line in self.lines if line.outcome == outcome)


def backoff(ctx: Context, attempts: int) -> timedelta:
    """The wait after the n-th failed attempt: doubling from the setting, capped at four hours."""
    return min(timedelta(seconds=ctx.settings.dvcqg_backoff_seconds * 2 ** max(attempts - 1, 0)), BACKOFF_CAP)


def lease(ctx: Context) -> timedelta:
    """How long a message may stay "sending" before it is presumed interrupted."""
    return timedelta(seconds=max(60.0, 4 * ctx.settings.dvcqg_timeout_seconds))


def _recover(ctx: Context, now: datetime) -> int:
    with ctx.uow() as uow:
        moved = uow.session.execute(  # type: ignore[attr-defined]
            update(PortalMessage)
            .where(PortalMessage.status == "sending", PortalMessage.sending_since < now - lease(ctx))
            .values(status="uncertain")
            .execution_options(synchronize_session=False)
        ).rowcount
        uow.commit()
    return int(moved or 0)


def _heads(ctx: Context, now: datetime, limit: int) -> list[int]:
    """The first unsent message of each stream that is due, oldest first."""
    earlier = aliased(PortalMessage)
    blocked = exists().where(
        and_(
            earlier.stream == PortalMessage.stream, earlier.seq < PortalMessage.seq, earlier.status != "sent"
        )
    )
    with ctx.uow() as uow:
        return list(
            uow.session.scalars(
                select(PortalMessage.id)
                .where(
                    PortalMessage.status != "sent",
                    PortalMessage.status.in_(DUE_STATUSES),
                    PortalMessage.next_attempt_at <= now,
                    ~blocked,
                )
                .order_by(PortalMessage.next_attempt_at, PortalMessage.id)
                .limit(limit)
            )
        )


@dataclass(frozen=True)
class Taken:
    """A message a sender holds, with what it needs to send it outside a transaction."""

    id: int
    stream: str
    seq: int
    service: str
    payload: dict[str, Any]
    was_uncertain: bool
    attempts: int
    updating: bool


def _take(ctx: Context, message_id: int, now: datetime) -> Taken | None:
    with ctx.uow() as uow:
        session = uow.session
        message = session.get(PortalMessage, message_id)
        if message is None or message.status not in DUE_STATUSES or message.next_attempt_at > now:
            return None
        taken = session.execute(  # type: ignore[attr-defined]
            update(PortalMessage)
            .where(PortalMessage.id == message_id, PortalMessage.status == message.status)
            .values(status="sending", sending_since=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        if taken != 1:
            return None
        updating = bool(
            session.scalar(
                select(func.count(PortalMessage.id)).where(
                    PortalMessage.stream == message.stream,
                    PortalMessage.service == SYNC_DOSSIER,
                    PortalMessage.status == "sent",
                )
            )
        )
        result = Taken(
            message.id,
            message.stream,
            message.seq,
            message.service,
            dict(message.payload),
            message.status == "uncertain",
            message.attempts,
            updating,
        )
        uow.commit()
    return result


def _record(
    ctx: Context, taken: Taken, now: datetime, error: str | None, *, uncertain: bool = False
) -> SyncLine:
    with ctx.uow() as uow:
        message = uow.session.get_one(PortalMessage, taken.id)
        message.sending_since = None
        message.attempts = taken.attempts + 1
        if error is None:
            message.status, message.sent_at, message.last_error = "sent", now, None
            outcome = "sent"
        elif message.attempts >= ctx.settings.dvcqg_max_attempts:
            message.status, message.last_error = "failed", f"Hồ sơ {taken.stream}: {error}"
            outcome = "failed"
            LOG.warning("dvcqg: %s #%s failed for good: %s", taken.stream, taken.seq, error)
        else:
            # An unanswered send may have arrived: the next attempt asks the portal first.
            message.status = "uncertain" if uncertain else "retrying"
            message.last_error = f"Hồ sơ {taken.stream}: {error}"
            message.next_attempt_at = now + backoff(ctx, message.attempts)
            outcome = "retrying"
        uow.commit()
    return SyncLine(taken.stream, taken.seq, taken.service, outcome, error or "")


def _already_there(portal: Portal, taken: Taken) -> bool:
    """Whether the portal has what this message carries (asked before sending an uncertain one again).

    TraCuuHoSo answers the portal's record of the dossier: its status and appointment, and the
    progress entries it holds (TienDo). A record or an entry equal to the message's means it arrived.
    """
    answer = portal.call(LOOKUP, taken.payload.get("madonvi", ""), {"MaHoSo": taken.stream})
    record = answer.get("data")
    if isinstance(record, list):
        record = record[0] if record else None
    if not isinstance(record, dict):
        return False
    sent = (taken.payload.get("data") or [{}])[0]
    if taken.service == SYNC_DOSSIER:
        return all(record.get(k) == sent.get(k) for k in ("TrangThaiHoSo", "NgayHenTra", "NgayTra"))
    entries = record.get("TienDo") or []
    return any(
        isinstance(e, dict)
        and e.get("ThoiDiemXuLy") == sent.get("ThoiDiemXuLy")
        and e.get("NoiDungXuLy") == sent.get("NoiDungXuLy")
        for e in entries
    )


def _send(portal: Portal, taken: Taken) -> str:
    """Send one message; "confirmed" when an uncertain one turned out to have arrived."""
    # A month's ratings are replaced whole by the portal, so sending them again is harmless.
    if taken.was_uncertain and taken.service in (SYNC_DOSSIER, PROGRESS) and _already_there(portal, taken):
        return "confirmed"
    fields: dict[str, Any] = {"data": taken.payload.get("data", [])}
    if taken.service == SYNC_DOSSIER:
        fields["isUpdating"] = "True" if taken.updating else "False"
    portal.call(taken.service, taken.payload.get("madonvi", ""), fields)
    return "sent"


def _next_in_stream(ctx: Context, stream: str, seq: int) -> int | None:
    with ctx.uow() as uow:
        return uow.session.scalar(
            select(PortalMessage.id)
            .where(PortalMessage.stream == stream, PortalMessage.seq > seq, PortalMessage.status != "sent")
            .order_by(PortalMessage.seq)
            .limit(1)
        )


def _run_stream(ctx: Context, portal: Portal, first_id: int, clock: Callable[[], datetime]) -> list[SyncLine]:
    lines: list[SyncLine] = []
    message_id: int | None = first_id
    while message_id is not None and len(lines) < PER_STREAM:
        taken = _take(ctx, message_id, clock())
        if taken is None:
            break
        try:
            outcome = _send(portal, taken)
        except PortalError as exc:
            lines.append(_record(ctx, taken, clock(), exc.message, uncertain=exc.uncertain))
            break  # the rest of this dossier waits for this one
        line = _record(ctx, taken, clock(), None)
        lines.append(SyncLine(line.stream, line.seq, line.service, outcome))
        message_id = _next_in_stream(ctx, taken.stream, taken.seq)
    return lines


def sync(
    ctx: Context,
    now: datetime,
    *,
    portal: Portal | None = None,
    limit: int = 1000,
    workers: int | None = None,
    clock: Callable[[], datetime] | None = None,
) -> SyncReport:
    """Send what is due now: each due dossier's messages in order, up to `workers` dossiers at once."""
    require_aware(now)
    report = SyncReport()
    if not ctx.settings.dvcqg_url and portal is None:
        return report
    portal = portal or AdapterClient(ctx.settings)
    report.recovered = _recover(ctx, now)
    heads = _heads(ctx, now, limit)
    moment = clock or (lambda: now)
    count = max(1, min(workers or ctx.settings.dvcqg_workers, len(heads) or 1))
    with ThreadPoolExecutor(max_workers=count, thread_name_prefix="dvcqg") as pool:
        for lines in pool.map(lambda head: _run_stream(ctx, portal, head, moment), heads):
            report.lines.extend(lines)
    return report


# ---------------------------------------------------------------------------
# the administrator's side


@dataclass(frozen=True)
class QueueStatus:
    """Counts of the outbox by status, and the oldest unsent message's age."""

    counts: dict[str, int]
    oldest_unsent: datetime | None


def queue_status(ctx: Context, admin_id: int | None = None, *, uow: UnitOfWork | None = None) -> QueueStatus:
    """How many messages are queued, sending, uncertain, retrying, failed and sent."""
    with reading(ctx, uow) as session:
        require_admin(session, admin_id, ADMIN_PAGE)
        counts = dict(
            session.execute(select(PortalMessage.status, func.count()).group_by(PortalMessage.status)).all()
        )
        oldest = session.scalar(
            select(func.min(PortalMessage.created_at)).where(PortalMessage.status != "sent")
        )
    return QueueStatus(
        {status: int(counts.get(status, 0)) for status in (*DUE_STATUSES, "sending", "failed", "sent")},
        oldest,
    )


@dataclass(frozen=True)
class FailedMessage:
    """A message waiting for an administrator, with the reason."""

    id: int
    stream: str
    seq: int
    service: str
    attempts: int
    last_error: str


def failed_messages(
    ctx: Context, limit: int = 200, admin_id: int | None = None, *, uow: UnitOfWork | None = None
) -> list[FailedMessage]:
    """The messages that failed for good, oldest first."""
    with reading(ctx, uow) as session:
        require_admin(session, admin_id, ADMIN_PAGE)
        return [
            FailedMessage(m.id, m.stream, m.seq, m.service, m.attempts, m.last_error or "")
            for m in session.scalars(
                select(PortalMessage)
                .where(PortalMessage.status == "failed")
                .order_by(PortalMessage.id)
                .limit(limit)
            )
        ]


def requeue(ctx: Context, ids: Iterable[int], now: datetime, admin_id: int | None = None) -> int:
    """Re-queue failed messages once the cause is fixed; a record that could not be built is built again."""
    require_aware(now)
    wanted = list(ids)
    with ctx.uow() as uow:
        session = uow.session
        require_admin(session, admin_id, ADMIN_PAGE)
        mappings = Mappings(session)
        moved = 0
        for message in session.scalars(
            select(PortalMessage).where(PortalMessage.id.in_(wanted), PortalMessage.status == "failed")
        ):
            if message.service == SYNC_DOSSIER and not message.payload.get("data"):
                dossier = session.scalars(select(Dossier).where(Dossier.code == message.stream)).one_or_none()
                if dossier is None:
                    raise NotFound(f"Không tìm thấy hồ sơ {message.stream}")
                try:
                    state = message.payload.get("state") or dossier.status
                    record = dossier_payload(session, dossier, state, mappings)
                    madonvi = madonvi_of(session, dossier, mappings)
                except MappingMissing as exc:
                    message.last_error = f"Hồ sơ {dossier.code}: {exc}"
                    continue
                message.payload = {"madonvi": madonvi, "data": [record]}
            message.status, message.attempts, message.next_attempt_at = "queued", 0, now
            moved += 1
        uow.commit()
    return moved


__all__ = ["PROGRESS", "SYNC_DOSSIER", "SyncReport", "failed_messages", "queue_status", "requeue", "sync"]
