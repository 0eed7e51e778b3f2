"""Benchmark: the inbox query at 1,000,000 dossiers against a bare indexed count, and web memory.

    .venv/bin/python -m bench.inbox_1m [--db URL] [--runs 200] [--seconds 5] [--workers 2]

Uses an existing generated database (default `motcua_bench_report`, 1,000,000 dossiers from
`bench.generate`); it is never generated, migrated or written here. Officers measured: the one
with the most open items assigned to them (if any is assigned), and in each agency the one with
the largest pool (open, unassigned items of their agency and roles). For each,
`engine.runtime.inbox.inbox(...)` (scope "all", first page of 50, with its counts) is interleaved run for
run with the baseline, a bare `SELECT count(*)` of the same officer's open items (own and pool,
each from its partial index, one statement); each call is its own transaction. Reported: p50 and
p95 in ms and their ratios.

Memory: gunicorn serves `web:create_app()` on the same database with 2 workers (scheduler off);
each worker's resident set (VmRSS in /proc/<pid>/status) is read after start-up and again after
driving the inbox page for `--seconds` from 4 client threads, signed in as the officer with the
largest inbox. The ratio compares a worker with a bare Python interpreter's resident set.
Not part of the test suite; the exit code is 0 whatever the numbers.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time

from sqlalchemy import func, select, text

from bench.engine_step import machine_lines
from bench.generate import DEFAULT_DB
from bench.gunicorn import start_gunicorn
from bench.http_inbox import busiest_officer, load, sign_in
from engine.runtime.inbox import inbox
from models import Dossier, Officer, WorkItem


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1)))]


def largest_inboxes(session) -> list[tuple[str, int]]:
    """(label, officer id) of the largest own inbox and the largest pool of each agency."""
    own = dict(
        session.execute(
            select(WorkItem.assignee_id, func.count())
            .where(WorkItem.completed_at.is_(None), WorkItem.assignee_id.is_not(None))
            .group_by(WorkItem.assignee_id)
        ).all()
    )
    pools = {
        (agency, role): n
        for agency, role, n in session.execute(
            select(WorkItem.agency_id, WorkItem.role, func.count())
            .where(WorkItem.completed_at.is_(None), WorkItem.assignee_id.is_(None))
            .group_by(WorkItem.agency_id, WorkItem.role)
        )
    }
    best_own: tuple[Officer | None, int] = (None, 0)
    best_pool: dict[int, tuple[Officer, int]] = {}
    for officer in session.scalars(select(Officer).where(Officer.active.is_(True)).order_by(Officer.id)):
        mine = own.get(officer.id, 0)
        pool = sum(pools.get((officer.agency_id, role), 0) for role in officer.roles or [])
        if mine > best_own[1]:
            best_own = (officer, mine)
        if pool > best_pool.get(officer.agency_id, (None, -1))[1]:
            best_pool[officer.agency_id] = (officer, pool)
    cases = []
    if best_own[0] is not None:
        cases.append((f"largest own: {best_own[0].username} ({best_own[1]} own)", best_own[0].id))
    else:
        print("note: no open work item is assigned to an officer in this data; pools only")
    for officer, pool in sorted(best_pool.values(), key=lambda p: -p[1]):
        cases.append((f"largest pool of its agency: {officer.username} ({pool})", officer.id))
    return cases


def open_count_query(officer: Officer):
    """The baseline: one statement counting the officer's own and pool open items, index-backed."""
    mine = select(func.count()).where(WorkItem.completed_at.is_(None), WorkItem.assignee_id == officer.id)
    pool = select(func.count()).where(
        WorkItem.completed_at.is_(None),
        WorkItem.agency_id == officer.agency_id,
        WorkItem.role.in_(list(officer.roles or []) or [""]),
        WorkItem.assignee_id.is_(None),
    )
    return select(mine.scalar_subquery() + pool.scalar_subquery())


def measure_inbox(ctx, officer_id: int, now, runs: int) -> dict:
    """Interleave inbox() and the bare count, each in its own transaction; the first 5 pairs warm up."""
    measured: list[float] = []
    baseline: list[float] = []
    total = count = 0
    for index in range(runs + 5):
        order = ("inbox", "count") if index % 2 == 0 else ("count", "inbox")
        for which in order:
            with ctx.uow() as uow:
                session = uow.session
                officer = session.get(Officer, officer_id)
                query = open_count_query(officer)
                started = time.perf_counter()
                if which == "inbox":
                    total = inbox(session, ctx.calendar, officer, now=now, scope="all", limit=50).total
                else:
                    count = session.execute(query).scalar_one()
                elapsed = (time.perf_counter() - started) * 1000
            if index >= 5:
                (measured if which == "inbox" else baseline).append(elapsed)
    if total != count:
        raise RuntimeError(f"inbox total {total} != count {count}")
    return {
        "size": count,
        "p50": statistics.median(measured),
        "p95": _percentile(measured, 0.95),
        "base_p50": statistics.median(baseline),
        "base_p95": _percentile(baseline, 0.95),
    }


def rss_kb(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in kB, from /proc/<pid>/status."""
    values = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        for line in handle:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
    return values["VmRSS"], values["VmHWM"]


def children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as handle:
        return [int(p) for p in handle.read().split()]


def bare_python_rss() -> int:
    """Resident set of a bare interpreter (the same executable, no imports), in kB."""
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmRSS')][0])",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout.strip())


def measure_memory(url: str, username: str, workers: int, seconds: float) -> dict:
    """Start gunicorn, read each worker's RSS after start-up and after driving the inbox page."""
    server, port = start_gunicorn(url, workers=workers)
    try:
        for _ in range(150):
            if len(children(server.pid)) == workers:
                break
            time.sleep(0.2)
        time.sleep(3.0)  # each worker imports and builds the app after the fork
        pids = children(server.pid)
        before = {pid: rss_kb(pid) for pid in pids}
        master_before = rss_kb(server.pid)
        cookie = sign_in(port, username)
        result = load(port, "/", {"Cookie": cookie}, seconds, 4)
        after = {pid: rss_kb(pid) for pid in pids if os.path.exists(f"/proc/{pid}")}
        master_after = rss_kb(server.pid)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    return {
        "pids": pids,
        "before": before,
        "after": after,
        "master": (master_before, master_after),
        "load": result,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.inbox_1m", description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=DEFAULT_DB, help=f"generated database (default {DEFAULT_DB})")
    parser.add_argument("--runs", type=int, default=200, help="measured inbox calls per officer")
    parser.add_argument("--seconds", type=float, default=5.0, help="inbox load before the second RSS reading")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    for line in machine_lines():
        print(line)

    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    url = make_url(args.db)
    admin = create_engine(url.set(database="postgres"))
    with admin.connect() as conn:
        found = conn.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": url.database}
        ).scalar()
    admin.dispose()
    if not found:
        print(
            f"database {url.database} is missing: generate it with `python -m bench.generate --count 1000000 "
            "--db URL` or point --db at a generated database"
        )
        return 0

    from config import Settings
    from engine.context import Context

    ctx = Context.from_settings(Settings().with_overrides(database_url=args.db))
    try:
        with ctx.uow() as uow:
            s = uow.session
            dossiers = s.scalar(select(func.count()).select_from(Dossier))
            open_items = s.scalar(select(func.count()).where(WorkItem.completed_at.is_(None)))
            now = s.scalar(select(func.max(Dossier.received_at))).astimezone(ctx.calendar.tz)
            revision = s.execute(text("SELECT version_num FROM alembic_version")).scalar()
            server = s.execute(text("SHOW server_version")).scalar()
            cases = largest_inboxes(s)
        print(
            f"PostgreSQL {server}; schema revision {revision}; {dossiers} dossiers, {open_items} open "
            f"work items; clock at the last receipt {now:%Y-%m-%d %H:%M}"
        )
        if dossiers < 1_000_000:
            print(f"note: {dossiers} dossiers, fewer than the 1,000,000 this benchmark is meant for")
        rows = [(label, measure_inbox(ctx, officer_id, now, args.runs)) for label, officer_id in cases]
        username, size = busiest_officer(ctx)
    finally:
        ctx.db.dispose()

    print(f"\ninbox(...) scope all, first 50, {args.runs} runs each, interleaved with the bare count")
    header = (
        f"{'officer':52} {'items':>6} {'p50 ms':>7} {'p95 ms':>7} {'count p50':>9} {'count p95':>9} "
        f"{'p50 ratio':>9} {'p95 ratio':>9}"
    )
    print(header)
    print("-" * len(header))
    for label, r in rows:
        print(
            f"{label:52} {r['size']:>6} {r['p50']:7.2f} {r['p95']:7.2f} {r['base_p50']:9.2f} "
            f"{r['base_p95']:9.2f} {r['p50'] / r['base_p50']:9.1f} {r['p95'] / r['base_p95']:9.1f}"
        )

    bare = bare_python_rss()
    mem = measure_memory(args.db, username, args.workers, args.seconds)
    lr = mem["load"]
    print(
        f"\nmemory: gunicorn {args.workers} workers x 2 threads; inbox page '/' as {username} ({size} open "
        f"items), {lr['requests']} requests in {args.seconds:g} s ({lr['rps']:.1f}/s, "
        f"p95 {lr['p95']:.1f} ms, {lr['errors']} errors)"
    )
    print(
        f"{'process':16} {'RSS start MB':>12} {'RSS after MB':>12} {'peak MB':>8} {'after / bare python':>19}"
    )
    for pid in mem["pids"]:
        b = mem["before"][pid][0]
        rss, peak = mem["after"].get(pid, (0, 0))
        print(
            f"{'worker ' + str(pid):16} {b / 1024:12.1f} {rss / 1024:12.1f} {peak / 1024:8.1f} "
            f"{rss / bare:19.1f}"
        )
    (mb, _), (ma, mpeak) = mem["master"]
    print(f"{'master':16} {mb / 1024:12.1f} {ma / 1024:12.1f} {mpeak / 1024:8.1f} {ma / bare:19.1f}")
    print(f"{'bare python':16} {bare / 1024:12.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
