"""The scheduler: the SLA tick and the notification dispatch every `scheduler_interval_seconds`.

However many web or scheduler processes run, only the leader ticks. On PostgreSQL the leader
holds a session-level advisory lock on a dedicated connection: when its process dies the
server drops the connection and the lock with it, and another process takes over at its next
run. On SQLite the leader holds a lease row that it renews at every run; when it stops
renewing, another process takes over once the lease (`scheduler_lease_seconds`) has expired.
Ticks are idempotent anyway (unique alert keys, claimed outbox rows), so a short overlap
during a failover cannot raise or send anything twice.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy import Connection, Engine, create_engine, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from engine.context import Context
from engine.deadlines.watcher import TickReport, tick
from engine.integrations.dvcqg.ratings import previous_month, queue_month_ratings
from engine.integrations.dvcqg.sync import SyncReport
from engine.integrations.dvcqg.sync import sync as portal_sync
from engine.notify.notifications import DispatchReport, dispatch
from models import SchedulerLease

LOG = logging.getLogger("motcua.scheduler")
LEASE_NAME = "scheduler"
# pg_try_advisory_lock key of the scheduler: a fixed number, the same in every process.
ADVISORY_KEY = 0x6D6F74637561  # "motcua"
Echo = Callable[[str], None]


def holder_name() -> str:
    """Who this process is, as shown in the heartbeat: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def utcnow() -> datetime:
    """The wall clock, aware, in UTC."""
    return datetime.now(UTC)


class LeaderLock:
    """Decides which process ticks; `acquire` both takes and renews."""

    holder: str

    def acquire(self, now: datetime) -> bool:
        """Whether this process is the leader now (taking or renewing the lock)."""
        raise NotImplementedError

    def release(self, now: datetime) -> None:
        """Give the lock up so another process can take over at once."""
        raise NotImplementedError


class AdvisoryLock(LeaderLock):
    """PostgreSQL: `pg_try_advisory_lock` held by a connection of its own (not from the pool)."""

    def __init__(self, db: Engine, holder: str, key: int = ADVISORY_KEY) -> None:
        self.holder = holder
        self.key = key
        # NullPool: closing the connection really closes it, so the lock can never linger in a pool.
        self._engine = create_engine(db.url, poolclass=NullPool)
        self._conn: Connection | None = None

    def acquire(self, now: datetime) -> bool:
        """Keep the lock while its connection lives; otherwise try to take it."""
        if self._conn is not None:
            try:
                self._conn.exec_driver_sql("SELECT 1")
                return True
            except DBAPIError:
                LOG.warning("scheduler %s lost its lock connection", self.holder)
                self._close()
        conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar())
        except DBAPIError:
            conn.close()
            raise
        if got:
            self._conn = conn
            return True
        conn.close()
        return False

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(DBAPIError):
                conn.close()

    def release(self, now: datetime) -> None:
        """Unlock and close the lock connection."""
        if self._conn is not None:
            with contextlib.suppress(DBAPIError):
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
        self._close()
        self._engine.dispose()


class LeaseLock(LeaderLock):
    """A lease row renewed at each run; a follower takes it over once it has expired (SQLite's lock)."""

    def __init__(self, ctx: Context, holder: str, seconds: int) -> None:
        self.ctx = ctx
        self.holder = holder
        self.seconds = seconds

    def acquire(self, now: datetime) -> bool:
        """Renew our lease, or take over an expired one, or create the first one."""
        expires = now + timedelta(seconds=self.seconds)
        mine = SchedulerLease.holder == self.holder
        with self.ctx.uow() as uow:
            session = uow.session
            insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
            statements = [
                update(SchedulerLease)
                .where(SchedulerLease.name == LEASE_NAME, mine)
                .values(expires_at=expires),
                update(SchedulerLease)
                .where(SchedulerLease.name == LEASE_NAME, SchedulerLease.expires_at <= now)
                .values(holder=self.holder, acquired_at=now, expires_at=expires),
                insert(SchedulerLease)
                .values(name=LEASE_NAME, holder=self.holder, acquired_at=now, expires_at=expires)
                .on_conflict_do_nothing(index_elements=["name"]),
            ]
            held = False
            for stmt in statements:
                # RETURNING, not rowcount: drivers disagree on rowcount for ON CONFLICT DO NOTHING.
                found = session.execute(
                    stmt.returning(SchedulerLease.name).execution_options(synchronize_session=False)
                ).scalar_one_or_none()
                if found is not None:
                    held = True
                    break
            uow.commit()
        return held

    def release(self, now: datetime) -> None:
        """Expire our lease now."""
        with self.ctx.uow() as uow:
            uow.session.execute(
                update(SchedulerLease)
                .where(SchedulerLease.name == LEASE_NAME, SchedulerLease.holder == self.holder)
                .values(expires_at=now)
                .execution_options(synchronize_session=False)
            )
            uow.commit()


def make_lock(ctx: Context, holder: str) -> LeaderLock:
    """The advisory lock on PostgreSQL, the lease row elsewhere."""
    if ctx.db.dialect.name == "postgresql":
        return AdvisoryLock(ctx.db, holder)
    return LeaseLock(ctx, holder, ctx.settings.scheduler_lease_seconds)


@dataclass
class RunResult:
    """What one scheduled run did."""

    leader: bool
    tick: TickReport | None = None
    dispatch: DispatchReport | None = None
    portal: SyncReport | None = None


class Scheduler:
    """The SLA tick and the dispatch on an APScheduler interval job, run by the leader only."""

    def __init__(
        self,
        ctx: Context,
        *,
        holder: str | None = None,
        echo: Echo | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.ctx = ctx
        self.holder = holder or holder_name()
        self.echo = echo or (lambda line: LOG.info("%s", line))
        self.clock = clock
        self.lock = make_lock(ctx, self.holder)
        self.is_leader = False
        self._announced: bool | None = None
        self._aps: BackgroundScheduler | BlockingScheduler | None = None
        self._run_lock = threading.Lock()
        self._ratings_month: date | None = None

    def run_once(self) -> RunResult:
        """One run: take or renew the lock; the leader ticks and dispatches."""
        with self._run_lock:
            try:
                leader = self.lock.acquire(self.clock())
            except Exception:
                LOG.exception("scheduler %s could not reach the database for its lock", self.holder)
                leader = False
            self.is_leader = leader
            if leader != self._announced:
                self._announced = leader
                self.echo(f"{'leader' if leader else 'standby'} {self.holder}")
            if not leader:
                return RunResult(False)
            result = RunResult(True)
            try:
                result.tick = tick(self.ctx, self.clock(), holder=self.holder)
                self.echo(
                    f"tick {self.holder}: {len(result.tick.raised)} alert(s), "
                    f"{len(result.tick.letters_drafted)} draft letter(s), {result.tick.duration_ms:.1f} ms"
                )
                result.dispatch = dispatch(self.ctx, self.clock())
                if result.dispatch.total:
                    self.echo(f"dispatch {self.holder}: {result.dispatch.summary()}")
                if self.ctx.settings.dvcqg_url:
                    self._queue_ratings()
                    result.portal = portal_sync(self.ctx, self.clock())
                    sent = result.portal
                    if sent.lines:
                        self.echo(
                            f"dvcqg {self.holder}: sent {sent.count('sent')}, "
                            f"retrying {sent.count('retrying')}, failed {sent.count('failed')}"
                        )
            except Exception:
                LOG.exception("scheduler %s: the run failed; the next run tries again", self.holder)
            return result

    def _queue_ratings(self) -> None:
        """Last month's satisfaction for the portal, queued once a month (idempotent if repeated)."""
        month = previous_month(self.clock(), self.ctx.calendar.tz)
        if month != self._ratings_month:
            queued = queue_month_ratings(self.ctx, month, self.clock())
            self._ratings_month = month
            if queued.queued:
                self.echo(
                    f"dvcqg {self.holder}: ratings of {queued.month} queued for {len(queued.queued)} agencies"
                )

    def _add_job(self, aps: BackgroundScheduler | BlockingScheduler) -> None:
        aps.add_job(
            self.run_once,
            "interval",
            seconds=max(1, self.ctx.settings.scheduler_interval_seconds),
            id="motcua-sla",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
            next_run_time=datetime.now(UTC),
        )

    def start(self) -> Scheduler:
        """Run in a background thread of this process (the single-process development server)."""
        aps = BackgroundScheduler(timezone=UTC, daemon=True)
        self._add_job(aps)
        self._aps = aps
        aps.start()
        return self

    def run_forever(self) -> None:
        """Run in the foreground until SIGTERM or SIGINT (`motcua scheduler`)."""
        aps = BlockingScheduler(timezone=UTC)
        self._add_job(aps)
        self._aps = aps

        def _stop(_signum: int, _frame: object) -> None:
            aps.shutdown(wait=False)

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        self.echo(f"scheduler {self.holder}: every {self.ctx.settings.scheduler_interval_seconds} s")
        try:
            aps.start()
        finally:
            self._release()

    def stop(self) -> None:
        """Stop the job, wait for a running tick to finish, and give the lock up."""
        aps, self._aps = self._aps, None
        if aps is not None and aps.running:
            aps.shutdown(wait=True)
        self._release()

    def _release(self) -> None:
        with self._run_lock:
            try:
                self.lock.release(self.clock())
            except Exception:
                LOG.exception("scheduler %s could not release its lock", self.holder)
            self.is_leader = False
            self._announced = None


def start_in_process(ctx: Context, *, echo: Echo | None = None) -> Scheduler:
    """Start the scheduler inside this process (the web server's default); call `.stop()` on exit."""
    return Scheduler(ctx, echo=echo).start()
