"""What officers read of the notifications: the page header, their own list, and the failed
messages the administrator may send again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from engine.context import Context
from engine.deadlines import watcher
from engine.errors import Forbidden
from engine.notify import notifications
from engine.notify.notifications import FailedNotification, OfficerNotification
from engine.usecase import active_officer, reading
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


def own_notifications(
    ctx: Context, officer_id: int, *, limit: int = 200, uow: UnitOfWork | None = None
) -> list[OfficerNotification]:
    """The officer's own in-app notifications, newest first."""
    with reading(ctx, uow) as session:
        active_officer(session, officer_id)
        return notifications.officer_notifications(session, officer_id, limit=limit)


def failed_messages(
    ctx: Context, officer_id: int, *, limit: int = 200, uow: UnitOfWork | None = None
) -> list[FailedNotification]:
    """Messages the dispatcher gave up on, for the system administrator only."""
    with reading(ctx, uow) as session:
        if not active_officer(session, officer_id).has_role("admin"):
            raise Forbidden("Danh sách thông báo gửi lỗi dành cho quản trị hệ thống")
        return notifications.failed_notifications(session, limit=limit)
