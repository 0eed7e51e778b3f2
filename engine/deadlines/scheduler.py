"""The scheduler: the SLA tick and the notification dispatch every `scheduler_interval_seconds`.

However many web or scheduler processes run, only the leader ticks. Leadership is a lease row
(`scheduler_lease`, on SQLite and PostgreSQL alike) that the leader renews at every run, for
`scheduler_lease_seconds`. A leader that stops renewing (killed, hung, SIGSTOPped, cut off from the
database) loses leadership when its lease expires: the next run of another process takes the lease
over with the next `term`. Fencing: the tick checks, inside its own transaction, that the lease is
still its own, with the same term and not expired (on PostgreSQL it holds the row FOR SHARE, so a
takeover waits for the tick to commit); a leader that wakes up after losing its lease rolls back and
becomes a standby. The other jobs check the lease just before they start, and are idempotent
anyway (unique alert keys, claimed outbox rows), so nothing is raised or sent twice.
"""

from __future__ import annotations

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
from sqlalchemy import select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from engine.context import Context
from engine.deadlines.watcher import LEASE, TickReport, tick
from engine.integrations.dvcqg.ratings import previous_month, queue_month_ratings
from engine.integrations.dvcqg.sync import SyncReport
from engine.integrations.dvcqg.sync import sync as portal_sync
from engine.notify.notifications import DispatchReport, dispatch
from engine.payments.online import reconcile as reconcile_payments
from models import SchedulerLease

LOG = logging.getLogger("motcua.scheduler")
LEASE_NAME = LEASE
Echo = Callable[[str], None]


def holder_name() -> str:
    """Who this process is, as shown in the heartbeat: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def utcnow() -> datetime:
    """The wall clock, aware, in UTC."""
    return datetime.now(UTC)


class LeaseLost(RuntimeError):
    """The lease is no longer this process's: the job's transaction must not commit."""


class LeaseLock:
    """The lease row: renewed at each run; another process takes it over once it has expired."""

    def __init__(self, ctx: Context, holder: str, seconds: int, interval: int | None = None) -> None:
        self.ctx = ctx
        self.holder = holder
        self.seconds = seconds
        self.interval = interval
        self.term: int | None = None

    def acquire(self, now: datetime) -> bool:
        """Renew our lease, or take over an expired one (next term), or create the first one."""
        expires = now + timedelta(seconds=self.seconds)
        mine = SchedulerLease.holder == self.holder
        renewal = {"expires_at": expires, "renewed_at": now, "interval_seconds": self.interval}
        with self.ctx.uow() as uow:
            session = uow.session
            postgres = session.get_bind().dialect.name == "postgresql"
            if postgres:
                # A takeover waits for a fenced job still running under the old term, but never for
                # long: a leader hung inside its transaction is cut off by the server (see `fence`).
                wait = max(1, min(self.seconds, 5))
                session.execute(text(f"SET LOCAL lock_timeout = '{wait}s'"))
            insert = postgresql.insert if postgres else sqlite.insert
            statements = [
                update(SchedulerLease).where(SchedulerLease.name == LEASE_NAME, mine).values(**renewal),
                update(SchedulerLease)
                .where(SchedulerLease.name == LEASE_NAME, SchedulerLease.expires_at <= now)
                .values(holder=self.holder, acquired_at=now, term=SchedulerLease.term + 1, **renewal),
                insert(SchedulerLease)
                .values(name=LEASE_NAME, holder=self.holder, acquired_at=now, term=1, **renewal)
                .on_conflict_do_nothing(index_elements=["name"]),
            ]
            term = None
            try:
                for stmt in statements:
                    # RETURNING, not rowcount: drivers disagree on rowcount for ON CONFLICT DO NOTHING.
                    term = session.execute(
                        stmt.returning(SchedulerLease.term).execution_options(synchronize_session=False)
                    ).scalar_one_or_none()
                    if term is not None:
                        break
            except OperationalError as exc:
                if getattr(exc.orig, "sqlstate", None) != "55P03":
                    raise
                LOG.warning("scheduler %s: the lease row is busy; trying again at the next run", self.holder)
                term = None
            else:
                uow.commit()
        self.term = term
        return term is not None

    def fence(self, session: Session, now: datetime) -> None:
        """In a job's transaction: raise LeaseLost unless the lease is still ours (holder, term, time)."""
        if self.term is None:
            raise LeaseLost(f"scheduler {self.holder} holds no lease")
        query = select(SchedulerLease.term).where(
            SchedulerLease.name == LEASE_NAME,
            SchedulerLease.holder == self.holder,
            SchedulerLease.term == self.term,
            SchedulerLease.expires_at > now,
        )
        if session.get_bind().dialect.name == "postgresql":
            # Hung inside this transaction (SIGSTOP), the server ends it after one lease, so the
            # row lock below keeps a successor waiting one lease at most.
            session.execute(text(f"SET LOCAL idle_in_transaction_session_timeout = '{self.seconds}s'"))
            query = query.with_for_update(read=True)
        if session.execute(query).scalar_one_or_none() is None:
            raise LeaseLost(f"scheduler {self.holder} lost its lease (term {self.term})")

    def still_held(self, now: datetime) -> bool:
        """Whether the lease is still ours, in a short transaction of its own."""
        try:
            with self.ctx.uow() as uow:
                self.fence(uow.session, now)
        except LeaseLost:
            return False
        return True

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
        self.term = None


def make_lock(ctx: Context, holder: str) -> LeaseLock:
    """The lease of this process (the same on every database)."""
    return LeaseLock(
        ctx, holder, ctx.settings.scheduler_lease_seconds, ctx.settings.scheduler_interval_seconds
    )


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
                result.tick = tick(
                    self.ctx,
                    self.clock(),
                    holder=self.holder,
                    fence=lambda session: self.lock.fence(session, self.clock()),
                )
                self.echo(
                    f"tick {self.holder}: {len(result.tick.raised)} alert(s), "
                    f"{len(result.tick.letters_drafted)} draft letter(s), {result.tick.duration_ms:.1f} ms"
                )
                self._check_lease()
                result.dispatch = dispatch(self.ctx, self.clock())
                if result.dispatch.total:
                    self.echo(f"dispatch {self.holder}: {result.dispatch.summary()}")
                if self.ctx.settings.dvcqg_url:
                    self._check_lease()
                    self._queue_ratings()
                    result.portal = portal_sync(self.ctx, self.clock())
                    sent = result.portal
                    if sent.lines:
                        self.echo(
                            f"dvcqg {self.holder}: sent {sent.count('sent')}, "
                            f"retrying {sent.count('retrying')}, failed {sent.count('failed')}"
                        )
                if self.ctx.settings.payment_gateway_url:
                    self._check_lease()
                    settled = reconcile_payments(self.ctx, self.clock())
                    if settled.lines:
                        paid = settled.count("paid")
                        self.echo(f"payments {self.holder}: asked {len(settled.lines)}, paid {paid}")
            except LeaseLost as exc:
                # Woken up after another process took the lease over: stand by, run nothing more.
                LOG.warning("%s; standing by", exc)
                self.is_leader = False
                self._announced = False
                self.echo(f"standby {self.holder} (lease lost)")
                result.leader = False
            except Exception:
                LOG.exception("scheduler %s: the run failed; the next run tries again", self.holder)
            return result

    def _check_lease(self) -> None:
        if not self.lock.still_held(self.clock()):
            raise LeaseLost(f"scheduler {self.holder} lost its lease (term {self.lock.term})")

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
