"""What every officer's page header shows: unread notifications and whether the watcher is alive.

It reads both the notifications and the watcher's heartbeat, so it sits above both.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache

from sqlalchemy import BindParameter, Select, bindparam, literal, select

from engine import accounts
from engine.accounts import SignedIn
from engine.context import Context
from engine.deadlines import watcher
from engine.notify import notifications
from engine.usecase import reading
from models import SchedulerHeartbeat, SchedulerLease, UnitOfWork


@dataclass(frozen=True)
class PageHeader:
    """What every page's header shows: unread notifications and whether the scheduler is stale."""

    unread_count: int
    heartbeat: watcher.Heartbeat


def page_header(ctx: Context, officer_id: int, now: datetime, *, uow: UnitOfWork | None = None) -> PageHeader:
    """The officer's unread count and the scheduler's heartbeat, for the page header."""
    with reading(ctx, uow) as session:
        # One statement: the unread count, and the scheduler's lease and heartbeat rows (or none).
        unread, lease, beat = session.execute(_statement(signed_in=False), {OFFICER: officer_id}).one()
        return _header(ctx, now, unread, lease, beat)


def signed_in_page(
    ctx: Context,
    officer_id: int,
    now: datetime,
    *,
    session_version: int | None = None,
    uow: UnitOfWork | None = None,
) -> tuple[SignedIn, PageHeader] | None:
    """The signed-in officer (as `accounts.signed_in_officer` reads it, None alike) and the page
    header, in one statement: what a signed-in page reads first."""
    with reading(ctx, uow) as session:
        row = session.execute(_statement(signed_in=True), {OFFICER: officer_id}).one_or_none()
        if row is None:
            return None
        officer, agency_code, agency_name, unread, lease, beat = row
        found = accounts.signed_in_of(session, officer, agency_code, agency_name, session_version)
        if found is None:
            return None
        return found, _header(ctx, now, unread, lease, beat)


OFFICER = "officer_id"  # the statements' one parameter
_ONE_ROW = select(literal(1).label("one")).subquery("one")


@cache
def _statement(*, signed_in: bool) -> Select:
    """The header's columns (the unread count, the scheduler's lease and heartbeat), after the
    signed-in officer's (`accounts.signed_in_query`) or alone. Built once per process, the officer
    a bound parameter: building the statement took almost half the time of reading it."""
    officer_id: BindParameter[int] = bindparam(OFFICER)
    query = accounts.signed_in_query(officer_id) if signed_in else select().select_from(_ONE_ROW)
    return (
        query.add_columns(
            notifications.unread_count_query(officer_id).scalar_subquery(), SchedulerLease, SchedulerHeartbeat
        )
        .outerjoin(SchedulerLease, SchedulerLease.name == watcher.LEASE)
        .outerjoin(SchedulerHeartbeat, SchedulerHeartbeat.name == watcher.HEARTBEAT)
    )


def _header(
    ctx: Context,
    now: datetime,
    unread: int | None,
    lease: SchedulerLease | None,
    beat: SchedulerHeartbeat | None,
) -> PageHeader:
    return PageHeader(
        unread_count=unread or 0,
        heartbeat=watcher.heartbeat_of(
            lease,
            beat,
            now,
            interval_seconds=ctx.settings.scheduler_interval_seconds,
            lease_seconds=ctx.settings.scheduler_lease_seconds,
        ),
    )
