"""The scheduler: one leader ticks, a follower takes over when it dies; in-process start and stop."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from engine.context import Context
from engine.deadlines.scheduler import LeaseLock, LeaseLost, Scheduler, make_lock, start_in_process, utcnow
from engine.deadlines.watcher import heartbeat, tick
from models import SchedulerHeartbeat, SchedulerLease
from tests.conftest import at

ROOT = Path(__file__).resolve().parent.parent
INTERVAL = 1
LEASE = 3


class Process:
    """A `motcua scheduler` process whose output lines are collected as they come."""

    def __init__(self, url: str) -> None:
        env = dict(
            os.environ,
            MOTCUA_DATABASE_URL=url,
            MOTCUA_SCHEDULER_INTERVAL_SECONDS=str(INTERVAL),
            MOTCUA_SCHEDULER_LEASE_SECONDS=str(LEASE),
            PYTHONUNBUFFERED="1",
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "engine.cli", "scheduler"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self.holder: str | None = None
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            if line.startswith("{"):  # the process logs JSON lines: keep their messages
                line = json.loads(line)["message"]
            self.lines.append(line)
            found = re.match(r"scheduler (\S+): every", line)
            if found:
                self.holder = found.group(1)

    def has(self, prefix: str) -> bool:
        return any(line.startswith(prefix) for line in list(self.lines))

    def ticks(self) -> int:
        return sum(1 for line in list(self.lines) if line.startswith("tick "))

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


def wait_for(condition, seconds: float) -> float:
    """Poll until the condition holds; returns the seconds it took, fails after `seconds`."""
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < seconds, "timed out"
        time.sleep(0.05)
    return time.monotonic() - start


def beat_holder(ctx: Context) -> str | None:
    with ctx.uow() as uow:
        beat = uow.session.get(SchedulerHeartbeat, "sla")
        return beat.holder if beat else None


def lease_row(ctx: Context) -> tuple[str, int] | None:
    with ctx.uow() as uow:
        lease = uow.session.get(SchedulerLease, "scheduler")
        return (lease.holder, lease.term) if lease else None


# Serial: it counts ticks per second of two processes, which a CPU shared with other tests delays.
@pytest.mark.serial
def test_a_hung_leader_loses_the_lease_to_the_standby_and_stands_by_when_it_wakes(make_ctx):
    ctx = make_ctx()
    url = ctx.settings.database_url
    processes = [Process(url), Process(url)]
    try:
        wait_for(lambda: all(p.has("leader ") or p.has("standby ") for p in processes), 30)
        leader, follower = sorted(processes, key=lambda p: not p.has("leader "))
        # Both run for a couple of intervals: only the leader ticks.
        time.sleep(1.5 * INTERVAL)
        assert leader.ticks() >= 1
        assert follower.ticks() == 0
        assert not follower.has("leader ")
        assert beat_holder(ctx) == leader.holder
        first_term = lease_row(ctx)[1]

        # SIGSTOP: the process hangs with its connections open and cannot release anything.
        leader.proc.send_signal(signal.SIGSTOP)
        took = wait_for(lambda: follower.ticks() >= 1, LEASE + INTERVAL + 10)
        # Within the lease, plus one interval to notice and the first tick itself, with slack
        # for a busy machine.
        assert took <= LEASE + INTERVAL + 5
        assert lease_row(ctx) == (follower.holder, first_term + 1)
        wait_for(lambda: beat_holder(ctx) == follower.holder, 5)

        # Woken up, the old leader finds the lease taken and stands by: it ticks no more.
        ticked, seen = leader.ticks(), len(leader.lines)
        leader.proc.send_signal(signal.SIGCONT)
        wait_for(lambda: any(line.startswith("standby ") for line in leader.lines[seen:]), INTERVAL + 10)
        time.sleep(1.5 * INTERVAL)
        assert leader.ticks() == ticked
        assert lease_row(ctx) == (follower.holder, first_term + 1)
        assert beat_holder(ctx) == follower.holder
        print(f"failover after SIGSTOP: {took:.1f} s (lease {LEASE} s, interval {INTERVAL} s)")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; output: {[p.lines for p in processes]}") from exc
    finally:
        for p in processes:
            with contextlib.suppress(ProcessLookupError):
                p.proc.send_signal(signal.SIGCONT)
            p.kill()


def test_one_lock_holder_at_a_time_and_a_release_hands_over_at_once(ctx):
    now = at("2026-11-23 08:00")
    first, second = make_lock(ctx, "first"), make_lock(ctx, "second")
    try:
        assert first.acquire(now)
        assert not second.acquire(now)
        assert first.acquire(now + timedelta(seconds=1))  # renewing
        first.release(now + timedelta(seconds=1))
        assert second.acquire(now + timedelta(seconds=1))
        assert not first.acquire(now + timedelta(seconds=2))
    finally:
        first.release(now)
        second.release(now)


def test_a_lease_nobody_renews_expires_and_is_taken_over(ctx):
    now = at("2026-11-23 08:00")
    first, second = LeaseLock(ctx, "first", 180), LeaseLock(ctx, "second", 180)
    assert first.acquire(now)
    assert not second.acquire(now + timedelta(seconds=179))
    assert first.acquire(now + timedelta(seconds=179))  # renewed until 08:05:59
    assert not second.acquire(now + timedelta(seconds=358))
    assert second.acquire(now + timedelta(seconds=360))
    assert not first.acquire(now + timedelta(seconds=361))


def test_the_in_process_scheduler_ticks_and_stops_cleanly(make_ctx):
    ctx = make_ctx(scheduler_interval_seconds=1)
    lines: list[str] = []
    scheduler = start_in_process(ctx, echo=lines.append)
    try:
        wait_for(lambda: any(line.startswith("tick ") for line in lines), 30)
    finally:
        scheduler.stop()
    assert not scheduler.is_leader
    with ctx.uow() as uow:
        beat = heartbeat(uow.session, at("2026-11-23 08:00"), interval_seconds=1, lease_seconds=2)
    assert beat.ticks >= 1 and beat.holder == scheduler.holder
    # The lock was given up: another scheduler becomes leader at its first run.
    other = Scheduler(ctx, holder="other")
    try:
        assert other.run_once().leader
    finally:
        other.stop()


def test_a_leader_that_lost_its_lease_cannot_commit_a_tick(ctx):
    now = at("2026-11-23 08:00")
    old, new = make_lock(ctx, "old"), make_lock(ctx, "new")
    lease = ctx.settings.scheduler_lease_seconds
    assert old.acquire(now)
    tick(ctx, now, holder="old", fence=lambda session: old.fence(session, now))
    # The old leader hangs past its lease; the other process takes over with the next term.
    later = now + timedelta(seconds=lease + 1)
    assert new.acquire(later)
    assert new.term == old.term + 1
    # Woken up in the middle of its run, the old leader's tick is fenced off: nothing committed.
    with pytest.raises(LeaseLost):
        tick(ctx, later, holder="old", fence=lambda session: old.fence(session, later))
    assert beat_holder(ctx) == "old" and not old.still_held(later)
    with ctx.uow() as uow:
        assert uow.session.get(SchedulerHeartbeat, "sla").ticks == 1
    # An expired lease fences off even when nobody has taken it over yet.
    with pytest.raises(LeaseLost):
        tick(ctx, later, holder="new", fence=lambda session: new.fence(session, later + timedelta(days=1)))
    tick(ctx, later, holder="new", fence=lambda session: new.fence(session, later))
    assert beat_holder(ctx) == "new"


def test_the_heartbeat_is_judged_by_the_leaders_own_interval(make_ctx):
    # This process says 60 s intervals; the leader recorded its own 1 s interval and 3 s lease.
    ctx = make_ctx(scheduler_interval_seconds=60, scheduler_lease_seconds=180)
    leader = LeaseLock(ctx, "leader", 3, 1)
    now = utcnow()  # the heartbeat records the wall clock
    assert leader.acquire(now)
    tick(ctx, now, holder="leader", fence=lambda session: leader.fence(session, now))
    with ctx.uow() as uow:
        fresh = heartbeat(uow.session, now + timedelta(seconds=2), interval_seconds=60, lease_seconds=180)
        late = heartbeat(uow.session, now + timedelta(seconds=10), interval_seconds=60, lease_seconds=180)
    assert (fresh.interval_seconds, fresh.lease_seconds, fresh.stale) == (1, 3, False)
    # Ten seconds without a tick: stale for a 1 s leader, though fresh by this process's 60 s.
    assert late.stale
