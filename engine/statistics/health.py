"""What the operator's probes read: readiness (database, migrations, scheduler) and the gauges of open
work, alerts and the notification outbox, each counted with index-backed queries."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from sqlalchemy import func, select, text

from engine.context import Context
from engine.deadlines import watcher
from engine.urgency import overdue_sql
from models import Dossier, Notification, PortalMessage, SchedulerHeartbeat, SlaAlert, WorkItem
from models.dossier import OPEN_STATUSES
from models.migrate import current_revision, head_revision
from models.sla import ALERT_KINDS

# The probes' warnings keep the web logger's name that log shippers already filter on.
LOG = logging.getLogger("motcua.web")
LIVE_OUTBOX_STATUSES = ("pending", "sending", "failed")


@dataclass(frozen=True)
class Readiness:
    """Whether this instance can serve: the database answers and its schema is the code's."""

    database_ok: bool
    current_revision: str | None
    head_revision: str | None
    scheduler: watcher.Heartbeat | None  # read only once the schema is current

    @property
    def migrations_current(self) -> bool:
        """Whether the database is at the newest migration shipped with the code."""
        return self.database_ok and self.current_revision == self.head_revision

    @property
    def status(self) -> str:
        """ok, degraded (the scheduler is stale) or down (no database or migrations behind)."""
        if not self.migrations_current:
            return "down"
        return "degraded" if self.scheduler is not None and self.scheduler.stale else "ok"


@dataclass(frozen=True)
class History:
    """Counts that grow with history: alerts raised by kind and notifications sent."""

    alerts: dict[str, int]
    sent: int


@dataclass(frozen=True)
class Gauges:
    """Open work and the outbox now; `history` only when asked for (it is cached by the caller)."""

    open_dossiers: dict[str, int]
    overdue_dossiers: int
    overdue_work_items: int
    outbox: dict[str, int]
    tick_age_seconds: float | None
    tick_duration_seconds: float | None
    history: History | None = None
    # Messages for the national portal not sent yet, by status (the partial index on unsent rows).
    portal: dict[str, int] | None = None


UNSENT_PORTAL_STATUSES = ("queued", "sending", "uncertain", "retrying", "failed")


@lru_cache(maxsize=1)
def migration_head() -> str | None:
    """The newest migration shipped with the code (it never changes while the process runs)."""
    return head_revision()


def readiness(ctx: Context, now: datetime) -> Readiness:
    """Readiness: the database answers, its migrations are current, and when the watcher last ticked."""
    head = migration_head()
    try:
        with ctx.db.connect() as connection:
            connection.execute(text("SELECT 1"))
        current = current_revision(ctx.db)
        beat = None
        if current == head:
            with ctx.uow() as uow:
                beat = watcher.heartbeat(
                    uow.session,
                    now,
                    interval_seconds=ctx.settings.scheduler_interval_seconds,
                    lease_seconds=ctx.settings.scheduler_lease_seconds,
                )
    except Exception as exc:  # any failure to reach the database is the answer, not a crash
        LOG.warning("health check: database unreachable: %s", type(exc).__name__)
        return Readiness(False, None, head, None)
    return Readiness(True, current, head, beat)


def gauges(ctx: Context, now: datetime, *, with_history: bool) -> Gauges:
    """Count open dossiers by status, overdue work, the live outbox and the last tick (and history)."""
    with ctx.uow() as uow:
        s = uow.session
        # ix_dossier_status_due serves both dossier counts; the partial ix_work_item_open_due the items.
        counts = dict(
            s.execute(
                select(Dossier.status, func.count())
                .where(Dossier.status.in_(OPEN_STATUSES))
                .group_by(Dossier.status)
            ).all()
        )
        overdue = s.scalar(
            select(func.count())
            .select_from(Dossier)
            .where(Dossier.status == "processing", overdue_sql(Dossier.due_at, now))
        )
        overdue_items = s.scalar(
            select(func.count())
            .select_from(WorkItem)
            .where(WorkItem.completed_at.is_(None), overdue_sql(WorkItem.due_at, now))
        )
        # The outbox's live states each have a partial index; sent rows and alerts grow with
        # history, so the caller refreshes their counts only now and then.
        outbox = {
            status: s.scalar(
                select(func.count()).select_from(Notification).where(Notification.status == status)
            )
            or 0
            for status in LIVE_OUTBOX_STATUSES
        }
        history = None
        if with_history:
            raised = dict(s.execute(select(SlaAlert.kind, func.count()).group_by(SlaAlert.kind)).all())
            sent = s.scalar(
                select(func.count()).select_from(Notification).where(Notification.status == "sent")
            )
            history = History({kind: raised.get(kind, 0) for kind in ALERT_KINDS}, sent or 0)
        portal = dict(
            s.execute(
                select(PortalMessage.status, func.count())
                .where(PortalMessage.status != "sent")
                .group_by(PortalMessage.status)
            ).all()
        )
        beat = s.get(SchedulerHeartbeat, watcher.HEARTBEAT)
        age = duration = None
        if beat is not None and beat.ticks:
            age = max(0.0, (now - beat.ran_at).total_seconds())
            if beat.duration_ms is not None:
                duration = beat.duration_ms / 1000
    return Gauges(
        open_dossiers={status: counts.get(status, 0) for status in OPEN_STATUSES},
        overdue_dossiers=overdue or 0,
        overdue_work_items=overdue_items or 0,
        outbox=outbox,
        tick_age_seconds=age,
        tick_duration_seconds=duration,
        history=history,
        portal={status: int(portal.get(status, 0)) for status in UNSENT_PORTAL_STATUSES},
    )
