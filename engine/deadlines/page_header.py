"""What every officer's page header shows: unread notifications and whether the watcher is alive.

It reads both the notifications and the watcher's heartbeat, so it sits above both.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from engine.context import Context
from engine.deadlines import watcher
from engine.notify import notifications
from engine.usecase import reading
from models import UnitOfWork


@dataclass(frozen=True)
class PageHeader:
    """What every page's header shows: unread notifications and whether the scheduler is stale."""

    unread_count: int
    heartbeat: watcher.Heartbeat


def page_header(ctx: Context, officer_id: int, now: datetime, *, uow: UnitOfWork | None = None) -> PageHeader:
    """The officer's unread count and the scheduler's heartbeat, for the page header."""
    with reading(ctx, uow) as session:
        return PageHeader(
            unread_count=notifications.unread_count(session, officer_id),
            heartbeat=watcher.heartbeat(
                session,
                now,
                interval_seconds=ctx.settings.scheduler_interval_seconds,
                lease_seconds=ctx.settings.scheduler_lease_seconds,
            ),
        )
