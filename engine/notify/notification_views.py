"""What officers read of the notifications: their own list, and the failed messages the administrator
may send again."""

from __future__ import annotations

from engine.context import Context
from engine.errors import Forbidden
from engine.notify import notifications
from engine.notify.notifications import FailedNotification, OfficerNotification
from engine.usecase import active_officer, reading
from models import UnitOfWork


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
