"""Benchmark: the SLA watcher's tick against a bare indexed count of the rows it has to act on.

    .venv/bin/python -m bench.sla_tick [--pg-url URL] [--items 1000000] [--dossiers 200000]

On PostgreSQL (its own database, `motcua_bench_sla` by default, dropped and created again;
the name must contain "bench") the schema is migrated, the demo organisation and procedures
are loaded, and open dossiers and open work items are seeded with set-based SQL
(INSERT ... SELECT generate_series) in the shape the runtime writes them, with due times
spread over the next two months. Then, with the simulated clock one minute further at each
tick:

- idle: nothing becomes due; measured on the empty database first, then on the seeded one;
- N due: N open work items (of N different dossiers) are given a due time that passes just
  before the tick, which raises N overdue alerts with their in-app notifications.

The baseline is `SELECT count(*)` of the same due rows through the same partial index
(`ix_work_item_open_due`), measured in the same run. Printed: medians and ratios. Not part
of the test suite; exits 0 whatever the numbers.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from datetime import datetime, timedelta, timezone
from importlib.metadata import version as package_version

from sqlalchemy import Engine, select, text

from bench.generate import recreate_database
from config import Settings
from engine.catalogue.loader import load_all
from engine.context import Context
from engine.deadlines.watcher import MIN_OVERLAP, tick
from models import Agency, Officer, Procedure, ProcessVersion
from models.migrate import upgrade

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/motcua_bench_sla"
# A Tuesday morning with no holiday near: the windows of the watcher are plain working hours.
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=timezone(timedelta(hours=7)))
STEP = timedelta(minutes=1)
GOAL_IDLE_MS = 100.0


def seed(db: Engine, dossiers: int, items: int) -> float:
    """Open dossiers and open work items, set-based; returns the seconds it took."""
    started = time.perf_counter()
    with db.begin() as conn:
        procedure_id = conn.scalar(select(Procedure.id).where(Procedure.code == "1.001806"))
        version_id = conn.scalar(
            select(ProcessVersion.id).where(
                ProcessVersion.procedure_id == procedure_id, ProcessVersion.status == "active"
            )
        )
        agency_id = conn.scalar(select(Agency.id).where(Agency.code == "000.00.12.H40"))
        desk_id = conn.scalar(select(Officer.id).where(Officer.username == "sonv.motcua"))
        params = {
            "proc": procedure_id,
            "ver": version_id,
            "agency": agency_id,
            "desk": desk_id,
            "t0": T0,
            "n": dossiers,
        }
        conn.execute(
            text(
                """
                INSERT INTO dossier (code, procedure_id, process_version_id, agency_id, applicant_name,
                    applicant_phone, channel, received_at, received_by_id, clock_started_at, due_at,
                    original_due_at, deadline_version, status, workflow_state, version)
                SELECT '000.00.12.H40-BENCH-' || lpad(g::text, 7, '0'), :proc, :ver, :agency,
                    'Nguyễn Văn ' || g, '09' || lpad((g % 100000000)::text, 8, '0'), 'in_person',
                    :t0 - (g % 20) * interval '1 day', :desk, :t0 - (g % 20) * interval '1 day',
                    :t0 + interval '3 days' + (g % 57) * interval '1 day' + (g % 480) * interval '1 minute',
                    :t0 + interval '3 days' + (g % 57) * interval '1 day' + (g % 480) * interval '1 minute',
                    1, 'processing', '{}', 1
                FROM generate_series(1, :n) AS g
                """
            ).bindparams(**params)
        )
        # generate_series inserts in order, so the bench dossiers' ids are consecutive from here.
        base = conn.scalar(text("SELECT min(id) FROM dossier WHERE code LIKE '%-BENCH-%'"))
        conn.execute(
            text(
                """
                INSERT INTO work_item (dossier_id, task_uuid, task_id, task_name, lane, role, kind,
                    agency_id, created_at, due_at, allotted_hours, counted)
                SELECT :base + ((g - 1) % :n), md5('bench-' || g), 'Task_Process', 'Thẩm định hồ sơ',
                    'Chuyên viên thụ lý', 'specialist', NULL, :agency,
                    :t0 - interval '1 day' - (g % 10) * interval '1 hour',
                    :t0 + interval '2 days' + (g % 60) * interval '1 day' + (g % 600) * interval '1 minute',
                    56, true
                FROM generate_series(1, :items) AS g
                """
            ).bindparams(base=base, n=dossiers, agency=agency_id, t0=T0, items=items)
        )
    with db.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE dossier"))
        conn.execute(text("VACUUM ANALYZE work_item"))
    return time.perf_counter() - started


class Clock:
    """The simulated clock: one minute later at every tick."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def next(self) -> datetime:
        self.now += STEP
        return self.now


def count_due(db: Engine, low: datetime, high: datetime) -> float:
    """Milliseconds of the bare indexed count of open items due in (low, high]."""
    with db.connect() as conn:
        started = time.perf_counter()
        conn.execute(
            text(
                "SELECT count(*) FROM work_item WHERE completed_at IS NULL AND due_at > :lo AND due_at <= :hi"
            ),
            {"lo": low, "hi": high},
        ).scalar()
        return (time.perf_counter() - started) * 1000


def make_due(db: Engine, first_item: int, n: int, due: datetime) -> None:
    """Give n open items (consecutive ids: n different dossiers) a due time just passed."""
    with db.begin() as conn:
        conn.execute(
            text(
                "UPDATE work_item SET due_at = :due WHERE id IN "
                "(SELECT id FROM work_item WHERE completed_at IS NULL AND id >= :first ORDER BY id LIMIT :n)"
            ),
            {"due": due, "first": first_item, "n": n},
        )


def measure(
    ctx: Context, clock: Clock, runs: int, due: int = 0, first_item: int = 0
) -> tuple[list, list, int]:
    """Ticks (ms) and baseline counts (ms) over `runs` ticks, each with `due` rows becoming due."""
    ticks, counts, raised = [], [], 0
    for run in range(runs):
        now = clock.next()
        if due:
            make_due(ctx.db, first_item + run * due, due, now - timedelta(seconds=30))
        low = now - STEP - max(MIN_OVERLAP, 2 * timedelta(seconds=ctx.settings.scheduler_interval_seconds))
        started = time.perf_counter()
        report = tick(ctx, now, holder="bench")
        ticks.append((time.perf_counter() - started) * 1000)
        raised += len(report.raised)
        counts.append(min(count_due(ctx.db, low, now) for _ in range(3)))
    return ticks, counts, raised


def row(label: str, ticks: list[float], counts: list[float], raised: int) -> str:
    tick_ms, count_ms = statistics.median(ticks), statistics.median(counts)
    ratio = tick_ms / count_ms
    return f"| {label} | {tick_ms:.1f} | {max(ticks):.1f} | {count_ms:.2f} | {ratio:.0f} | {raised} |"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pg-url", default=os.environ.get("MOTCUA_BENCH_SLA_PG_URL", DEFAULT_PG_URL))
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--dossiers", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=15, help="measured ticks per case")
    args = parser.parse_args()

    recreate_database(args.pg_url)
    ctx = Context.from_settings(Settings().with_overrides(database_url=args.pg_url))
    upgrade(ctx.db)
    load_all(ctx, T0 - timedelta(days=60))
    clock = Clock(T0)
    tick(ctx, clock.now, holder="bench")  # the first tick sets the watermark
    with ctx.db.connect() as conn:
        server = conn.scalar(text("SHOW server_version"))

    print(
        f"motcua SLA tick benchmark: PostgreSQL {server}, Python {platform.python_version()}, "
        f"SQLAlchemy {package_version('sqlalchemy')}, psycopg {package_version('psycopg')}, "
        f"{os.cpu_count()} CPUs"
    )
    lines = [
        "| case | tick median ms | tick max ms | count(*) median ms | ratio | alerts raised |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    ticks, counts, raised = measure(ctx, clock, args.runs)
    lines.append(row("idle, empty database", ticks, counts, raised))
    empty_idle = statistics.median(ticks)

    seconds = seed(ctx.db, args.dossiers, args.items)
    print(f"seeded {args.dossiers:,} open dossiers and {args.items:,} open work items in {seconds:.1f} s")
    with ctx.db.connect() as conn:
        first_item = conn.scalar(text("SELECT min(id) FROM work_item WHERE completed_at IS NULL"))
    tick(ctx, clock.next(), holder="bench")  # warm the plans on the seeded tables
    ticks, counts, raised = measure(ctx, clock, args.runs)
    lines.append(row(f"idle, {args.items:,} open items", ticks, counts, raised))
    seeded_idle = statistics.median(ticks)
    offset = first_item
    results = {}
    for due in (100, 1000):
        runs = max(3, args.runs // 3)
        ticks, counts, raised = measure(ctx, clock, runs, due=due, first_item=offset)
        offset += runs * due
        lines.append(row(f"{due:,} due, {args.items:,} open items", ticks, counts, raised))
        results[due] = statistics.median(ticks)
    print("\n".join(lines))
    print()
    print(f"idle tick seeded / idle tick empty: {seeded_idle / empty_idle:.2f}")
    print(f"1,000 due / 100 due: {results[1000] / results[100]:.2f}")
    verdict = "met" if seeded_idle < GOAL_IDLE_MS else "NOT met"
    print(
        f"goal idle tick < {GOAL_IDLE_MS:.0f} ms on {args.items:,} open items: "
        f"{verdict} ({seeded_idle:.1f} ms)"
    )
    with ctx.db.connect() as conn:
        plan = (
            conn.execute(
                text(
                    "EXPLAIN SELECT count(*) FROM work_item WHERE completed_at IS NULL "
                    "AND due_at > :lo AND due_at <= :hi"
                ),
                {"lo": clock.now - timedelta(minutes=6), "hi": clock.now},
            )
            .scalars()
            .all()
        )
    print("baseline plan: " + " / ".join(p.strip() for p in plan))
    ctx.db.dispose()


if __name__ == "__main__":
    main()
