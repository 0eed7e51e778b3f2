"""Benchmark: dossiers received and work items completed per second, 1 and 4 processes, PostgreSQL.

    .venv/bin/python -m bench.throughput [--db URL] [--seconds 15] [--procs 1,4]

Each phase runs for a fixed time in N worker processes (multiprocessing, spawn), each with its
own `Context.from_settings` and connection pool:
- receive: `engine.runtime.dossiers.receive_dossier` in a loop, the three sample procedures in turn, each
  at its own desk (all workers share the agencies' dossier-number rows, as real desks do);
- complete: `engine.runtime.dossiers.complete` of open work items (the worker's share: dossier id modulo
  N, so two workers never race for one item, read before the start), with the step's first outcome
  that advances (not "supplement" nor "refuse"), by an officer of the item's agency and role.
The baseline, measured in the same run with the same number of processes for the same time, is
a bare PostgreSQL write transaction of one row per operation: psycopg, `INSERT` of one
event-shaped row (code, kind, time, JSON payload) into a scratch table, `COMMIT`.
Ratios are baseline operations per second / measured operations per second. Each phase also
reports its worker processes' own CPU time per operation (not the database server's), which the
other load of a shared machine inflates less than the wall clock.

The database (default `motcua_bench_tp`) is created, migrated and loaded with the demo
organisation by `bench.generate.prepare_database` and reused between runs. Not part of the test
suite; the exit code is 0 whatever the numbers.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import sys
import time
from datetime import datetime

from sqlalchemy import func, or_, select, text
from sqlalchemy.engine import make_url

from bench.engine_step import APPLICANT, machine_lines
from bench.generate import prepare_database

DEFAULT_DB = "postgresql+psycopg://postgres@127.0.0.1:5432/motcua_bench_tp"
PROCEDURES = ("1.001193", "1.001806", "NA.3854")
BASELINE_TABLE = "bench_tp_baseline"
WARMUP = 3
# Goals: baseline operations per second / measured, with 4 processes.
GOAL_COMPLETE = 6.0
GOAL_RECEIVE = 8.0


def _context(url: str):
    from config import Settings
    from engine.context import Context

    return Context.from_settings(Settings().with_overrides(database_url=url))


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1)))]


# ---------------------------------------------------------------------------
# the three kinds of work, each run in a worker process


def _receive_loop(url: str, index: int, procs: int, start, seconds: float, results) -> None:
    from engine.demo import desk_for
    from engine.runtime import dossiers as svc
    from models import Procedure

    ctx = _context(url)
    with ctx.uow() as uow:
        desks = {}
        for code in PROCEDURES:
            procedure = uow.session.scalars(select(Procedure).where(Procedure.code == code)).one()
            desks[code] = desk_for(ctx, uow.session, procedure)

    def one(i: int) -> None:
        code = PROCEDURES[(index + i) % len(PROCEDURES)]
        svc.receive_dossier(
            ctx,
            procedure_code=code,
            applicant=APPLICANT,
            channel="in_person",
            officer_id=desks[code],
            now=datetime.now(ctx.calendar.tz),
        )

    for i in range(WARMUP):
        one(i)
    _timed(one, start, seconds, results, index)
    ctx.db.dispose()


def _complete_loop(url: str, index: int, procs: int, start, seconds: float, results) -> None:
    from engine.demo import officers_by_role
    from engine.errors import Conflict
    from engine.runtime import dossiers as svc
    from models import Dossier, WorkItem

    ctx = _context(url)
    officers = officers_by_role(ctx)
    outcomes: dict[tuple[int, str], str | None] = {}
    queue: list[tuple] = []

    def refill(limit: int | None = 200) -> None:
        with ctx.uow() as uow:
            s = uow.session
            rows = s.execute(
                select(
                    WorkItem.id,
                    WorkItem.agency_id,
                    WorkItem.role,
                    WorkItem.assignee_id,
                    WorkItem.task_id,
                    Dossier.process_version_id,
                )
                .join(Dossier, Dossier.id == WorkItem.dossier_id)
                .where(
                    WorkItem.completed_at.is_(None),
                    or_(WorkItem.kind.is_(None), WorkItem.kind.notin_(("supplement", "return"))),
                    WorkItem.dossier_id % procs == index,
                )
                .order_by(WorkItem.id)
                .limit(limit)
            ).all()
            for row in rows:
                key = (row.process_version_id, row.task_id)
                if key not in outcomes:
                    step = svc.compiled_process(ctx, s, row.process_version_id).model.steps[row.task_id]
                    advancing = [o for o in step.outcome_values() if o not in ("supplement", "refuse")]
                    outcomes[key] = advancing[0] if advancing else None
        queue.extend(reversed(rows))

    conflicts = [0]

    def one(_: int) -> None:
        if not queue:
            refill()
            if not queue:
                raise LookupError("no open work item left")
        row = queue.pop()
        officer = row.assignee_id or officers[(row.agency_id, row.role)][0]
        try:
            svc.complete(
                ctx,
                row.id,
                officer,
                now=datetime.now(ctx.calendar.tz),
                outcome=outcomes[(row.process_version_id, row.task_id)],
            )
        except Conflict:
            conflicts[0] += 1

    for i in range(WARMUP):
        one(i)
    # The worker's whole share of open items is read before the start, so that choosing the next
    # item (a query over every open item) is not timed with the completions; read again only
    # if it runs out.
    queue.clear()
    refill(limit=None)
    _timed(one, start, seconds, results, index, conflicts)
    ctx.db.dispose()


def _baseline_loop(url: str, index: int, procs: int, start, seconds: float, results) -> None:
    import psycopg

    conn = psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False))
    insert = (
        f"INSERT INTO {BASELINE_TABLE} (code, kind, at, payload) "
        "VALUES (%s, 'step_completed', now(), %s::jsonb)"
    )

    def one(i: int) -> None:
        with conn.cursor() as cur:
            cur.execute(insert, (f"W{index}-{i}", '{"step": "Task_Process", "outcome": "forward"}'))
        conn.commit()

    for i in range(WARMUP):
        one(i)
    _timed(one, start, seconds, results, index)
    conn.close()


def _timed(one, start, seconds: float, results, index: int, conflicts: list[int] | None = None) -> None:
    """Wait for the common start, then run `one` until the time is up; send count and latencies."""
    start.wait()
    latencies: list[float] = []
    cpu = time.process_time()
    began = time.perf_counter()
    deadline = began + seconds
    stopped = ""
    i = 0
    while time.perf_counter() < deadline:
        t0 = time.perf_counter()
        try:
            one(i)
        except LookupError as exc:
            stopped = str(exc)
            break
        latencies.append(time.perf_counter() - t0)
        i += 1
    elapsed = time.perf_counter() - began
    cpu = time.process_time() - cpu
    results.put((index, len(latencies), elapsed, latencies, (conflicts or [0])[0], stopped, cpu))


# ---------------------------------------------------------------------------
# phases


def run_phase(target, url: str, procs: int, seconds: float) -> dict:
    """Run one kind of work in `procs` processes started together; operations per second and latency."""
    spawn = mp.get_context("spawn")
    start = spawn.Barrier(procs + 1)
    results = spawn.Queue()
    workers = [
        spawn.Process(target=target, args=(url, i, procs, start, seconds, results)) for i in range(procs)
    ]
    for w in workers:
        w.start()
    start.wait(timeout=120)
    got = [results.get(timeout=seconds + 120) for _ in workers]
    for w in workers:
        w.join(timeout=30)
    latencies = [x for r in got for x in r[3]]
    stopped = [r[5] for r in got if r[5]]
    ops = sum(r[1] for r in got)
    return {
        "ops": ops,
        # the worker processes' own CPU time per operation (not the database server's)
        "cpu": sum(r[6] for r in got) / ops * 1000 if ops else float("nan"),
        "rate": sum(r[1] / r[2] for r in got),  # each worker's own rate, summed
        "p50": statistics.median(latencies) * 1000 if latencies else float("nan"),
        "p95": _percentile(latencies, 0.95) * 1000,
        "conflicts": sum(r[4] for r in got),
        "stopped": stopped[0] if stopped else "",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.throughput", description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=DEFAULT_DB)
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each phase (default 15)")
    parser.add_argument("--procs", default="1,4", help="worker process counts (default 1,4)")
    args = parser.parse_args(argv)
    counts = [int(p) for p in args.procs.split(",") if p.strip()]
    if make_url(args.db).get_backend_name() != "postgresql":
        parser.error("--db must be a PostgreSQL URL")
    for line in machine_lines():
        print(line)
    ctx = prepare_database(args.db)
    with ctx.db.connect() as conn:
        conn.execute(
            text(
                f"CREATE TABLE IF NOT EXISTS {BASELINE_TABLE} (id bigserial PRIMARY KEY, code text NOT NULL, "
                "kind text NOT NULL, at timestamptz NOT NULL, payload jsonb)"
            )
        )
        conn.execute(text(f"TRUNCATE {BASELINE_TABLE}"))
        conn.commit()
        server = conn.execute(text("SHOW server_version")).scalar_one()
        sync = conn.execute(text("SHOW synchronous_commit")).scalar_one()
    from models import Dossier

    with ctx.uow() as uow:
        before = uow.session.scalar(select(func.count()).select_from(Dossier))
    ctx.db.dispose()
    print(f"PostgreSQL {server} (synchronous_commit={sync}); {before} dossiers in {args.db}")
    print(f"{args.seconds:g} s per phase; process counts {counts}\n")

    rows = []
    for procs in counts:
        phases = {}
        for name, target in (
            ("baseline", _baseline_loop),
            ("receive", _receive_loop),
            ("complete", _complete_loop),
        ):
            phases[name] = run_phase(target, args.db, procs, args.seconds)
            r = phases[name]
            note = f"  (stopped early: {r['stopped']})" if r["stopped"] else ""
            print(
                f"  {procs} proc {name:9} {r['ops']:7d} ops {r['rate']:8.1f}/s "
                f"p50 {r['p50']:7.2f} ms p95 {r['p95']:7.2f} ms cpu {r['cpu']:5.2f} ms/op "
                f"conflicts {r['conflicts']}{note}",
                flush=True,
            )
        rows.append((procs, phases))

    print("")
    header = (
        f"{'operation':22} {'procs':>5} {'ops/s':>8} {'p50 ms':>8} {'p95 ms':>8} "
        f"{'baseline ops/s':>14} {'ratio':>6}"
    )
    print(header)
    print("-" * len(header))
    for procs, phases in rows:
        base = phases["baseline"]
        for name, label in (("receive", "dossiers received"), ("complete", "work items completed")):
            r = phases[name]
            print(
                f"{label:22} {procs:>5} {r['rate']:8.1f} {r['p50']:8.2f} {r['p95']:8.2f} "
                f"{base['rate']:14.1f} {base['rate'] / r['rate']:6.1f}"
            )
        print(
            f"{'baseline INSERT+COMMIT':22} {procs:>5} {base['rate']:8.1f} {base['p50']:8.2f} "
            f"{base['p95']:8.2f}"
        )
    if len(rows) > 1:
        first, last = rows[0], rows[-1]
        print("")
        for name in ("baseline", "receive", "complete"):
            print(
                f"scaling {name:9} {last[0]} procs / {first[0]} proc: "
                f"{last[1][name]['rate'] / first[1][name]['rate']:.2f}x"
            )
    procs, phases = rows[-1]
    print("")
    for name, goal in (("complete", GOAL_COMPLETE), ("receive", GOAL_RECEIVE)):
        ratio = phases["baseline"]["rate"] / phases[name]["rate"]
        met = "met" if ratio <= goal else "not met"
        print(f"ratio {name:9} {procs} procs: {ratio:.1f} (goal <= {goal:g} with 4 processes: {met})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
