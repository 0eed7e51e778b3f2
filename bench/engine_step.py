"""Benchmark: the cost of one dossier step against the bare SpiffWorkflow step it wraps.

    .venv/bin/python -m bench.engine_step [--db sqlite|postgres|both] [--runs 200]

For each sample procedure the benchmark receives a batch of dossiers through
`engine.runtime.dossiers.receive_dossier`, then completes the first step of each one with
`engine.runtime.dossiers.complete` (one call per dossier, each on a different dossier's open item)
and times that call alone: load the dossier, restore the workflow, run the task and the engine
steps, project the work items, write the audit event, commit.

Interleaved with every measured call, the baseline runs the same step on the same stored
state without any database: `load_state` with the cached compiled process, `run_user_task`
(which includes `do_engine_steps`) and `dump_state`. The ratio of the two medians is what the
benchmark reports; absolute times depend too much on the machine. The ratio of the medians of
this process's CPU time is printed next to it: on a loaded machine the wall time also holds the
waits for a CPU (and, on PostgreSQL, for the server at each round trip), the CPU time does not.

Each database run starts from a fresh database: a SQLite file in a temporary directory, or
the PostgreSQL bench database dropped and created again (never the test database).
Not part of the test suite; the exit code is 0 whatever the ratio.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from importlib.metadata import version as package_version
from pathlib import Path

from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from bench.generate import recreate_database
from config import Settings
from engine.catalogue import workflow_state as wf
from engine.catalogue.loader import load_all
from engine.context import Context
from engine.demo import desk_for, officers_by_role
from engine.runtime import dossiers as svc
from models import Dossier, Procedure, WorkItem
from models.migrate import upgrade

PROCEDURES = ("1.001806", "NA.3854", "1.001193")
START = datetime(2026, 11, 23, 8, 0, tzinfo=timezone(timedelta(hours=7)))
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/motcua_bench"
GOAL = 2.5  # SQLite
PG_GOAL = 5.0
Echo = Callable[[str], None]
APPLICANT = svc.Applicant(name="Nguyễn Văn An", id_number="001203004567", phone="0912345678")


class Clock:
    """The simulated clock: a fixed aware start, one minute later at every service call."""

    def __init__(self, start: datetime = START) -> None:
        self._now = start

    def tick(self) -> datetime:
        now = self._now
        self._now = now + timedelta(minutes=1)
        return now


@dataclass
class Case:
    """One prepared dossier: its open first step and what the baseline needs to replay it."""

    dossier_code: str
    work_item_id: int
    officer_id: int
    task_uuid: str
    task_id: str
    state: str
    compiled: wf.CompiledProcess


@dataclass
class Row:
    """The result line of one procedure on one database."""

    procedure: str
    db: str
    step: str
    measured_ns: list[int]
    baseline_ns: list[int]
    # This process's CPU time (time.process_time_ns) of the same runs: what a loaded machine's waits
    # for the CPU and for the database server do not inflate.
    measured_cpu_ns: list[int]
    baseline_cpu_ns: list[int]

    @property
    def measured_ms(self) -> float:
        return statistics.median(self.measured_ns) / 1e6

    @property
    def baseline_ms(self) -> float:
        return statistics.median(self.baseline_ns) / 1e6

    @property
    def ratio(self) -> float:
        return self.measured_ms / self.baseline_ms

    @property
    def cpu_ratio(self) -> float:
        return statistics.median(self.measured_cpu_ns) / statistics.median(self.baseline_cpu_ns)

    @staticmethod
    def p95(values: list[int]) -> float:
        ordered = sorted(values)
        return ordered[max(math.ceil(0.95 * len(ordered)) - 1, 0)] / 1e6


# ---------------------------------------------------------------------------
# machine and versions


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_lines() -> list[str]:
    import sqlite3

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return [
        f"machine: nproc={cpus}, cpu={cpu_model()}, {platform.system()} {platform.release()}",
        f"python {platform.python_version()} ({platform.python_implementation()})",
        f"SQLAlchemy {package_version('SQLAlchemy')}, SpiffWorkflow {package_version('SpiffWorkflow')}, "
        f"SQLite {sqlite3.sqlite_version}, psycopg {package_version('psycopg')}",
    ]


# ---------------------------------------------------------------------------
# fresh databases


@contextmanager
def sqlite_database() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="motcua-bench-") as tmp:
        yield f"sqlite:///{Path(tmp) / 'bench.db'}"


@contextmanager
def postgres_database(url: str) -> Iterator[str]:
    recreate_database(url)
    parsed = make_url(url)
    yield parsed.render_as_string(hide_password=False)


# ---------------------------------------------------------------------------
# preparation


def desk_officers(ctx: Context) -> dict[str, int]:
    """The desk officer where each procedure's dossiers arrive (a commune for two-level ones)."""
    with ctx.uow() as uow:
        procedures = uow.session.scalars(select(Procedure).where(Procedure.code.in_(PROCEDURES)))
        return {p.code: desk_for(ctx, uow.session, p) for p in procedures}


def prepare(ctx: Context, clock: Clock, procedure: str, desk_id: int, count: int) -> list[str]:
    """Receive `count` dossiers; each stops at its first step (no outcome needed)."""
    return [
        svc.receive_dossier(
            ctx,
            procedure_code=procedure,
            applicant=APPLICANT,
            channel="in_person",
            officer_id=desk_id,
            now=clock.tick(),
        ).code
        for _ in range(count)
    ]


def load_cases(ctx: Context, codes: list[str], officers: dict[tuple[int, str], list[int]]) -> list[Case]:
    """Read the open item and the stored workflow state of each dossier (not timed)."""
    cases = []
    with ctx.uow() as uow:
        session = uow.session
        for code in codes:
            dossier = session.scalars(select(Dossier).where(Dossier.code == code)).one()
            items = list(
                session.scalars(
                    select(WorkItem).where(WorkItem.dossier_id == dossier.id, WorkItem.completed_at.is_(None))
                )
            )
            if len(items) != 1:
                raise RuntimeError(f"{code}: expected one open item, found {len(items)}")
            item = items[0]
            compiled = svc.compiled_process(ctx, session, dossier.process_version_id)
            step = compiled.model.steps[item.task_id]
            if step.needs_outcome or step.kind is not None:
                raise RuntimeError(f"{code}: step {item.task_id} is not completed by a plain `complete`")
            cases.append(
                Case(
                    dossier_code=code,
                    work_item_id=item.id,
                    officer_id=officers[(item.agency_id, item.role)][0],
                    task_uuid=item.task_uuid,
                    task_id=item.task_id,
                    state=dossier.workflow_state,
                    compiled=compiled,
                )
            )
    return cases


# ---------------------------------------------------------------------------
# the two timed operations


def run_baseline(case: Case) -> tuple[int, int, list[str]]:
    """The bare SpiffWorkflow step on the stored state: restore, run the task, serialize."""
    cpu, started = time.process_time_ns(), time.perf_counter_ns()
    workflow = wf.load_state(case.state, case.compiled)
    wf.run_user_task(workflow, case.task_uuid, {"outcome": ""})
    wf.dump_state(workflow)
    elapsed, cpu = time.perf_counter_ns() - started, time.process_time_ns() - cpu
    return elapsed, cpu, sorted(t.task_spec.bpmn_id for t in wf.ready_user_tasks(workflow))


def run_measured(ctx: Context, case: Case, now: datetime) -> tuple[int, int, list[int]]:
    """The full service call."""
    cpu, started = time.process_time_ns(), time.perf_counter_ns()
    result = svc.complete(ctx, case.work_item_id, case.officer_id, now=now)
    elapsed, cpu = time.perf_counter_ns() - started, time.process_time_ns() - cpu
    return elapsed, cpu, result.opened_work_item_ids


def next_steps(ctx: Context, item_ids: list[int]) -> list[str]:
    with ctx.uow() as uow:
        return sorted(uow.session.scalars(select(WorkItem.task_id).where(WorkItem.id.in_(item_ids))))


def measure(ctx: Context, clock: Clock, db: str, procedure: str, cases: list[Case], warmup: int) -> Row:
    """Alternate baseline and measured runs; the first `warmup` pairs are discarded."""
    measured: list[int] = []
    baseline: list[int] = []
    measured_cpu: list[int] = []
    baseline_cpu: list[int] = []
    gc.collect()
    for index, case in enumerate(cases):
        now = clock.tick()
        # Alternate which of the two goes first, so neither always runs on a warmer cache.
        if index % 2 == 0:
            b_ns, b_cpu, b_next = run_baseline(case)
            m_ns, m_cpu, opened = run_measured(ctx, case, now)
        else:
            m_ns, m_cpu, opened = run_measured(ctx, case, now)
            b_ns, b_cpu, b_next = run_baseline(case)
        if index < 2:  # the two paths must do the same step (checked outside the timings)
            m_next = next_steps(ctx, opened)
            if m_next != b_next:
                raise RuntimeError(f"{case.dossier_code}: service opened {m_next}, baseline {b_next}")
        if index >= warmup:
            measured.append(m_ns)
            baseline.append(b_ns)
            measured_cpu.append(m_cpu)
            baseline_cpu.append(b_cpu)
    return Row(procedure, db, cases[0].task_id, measured, baseline, measured_cpu, baseline_cpu)


# ---------------------------------------------------------------------------
# one database


def run_database(db: str, url: str, runs: int, warmup: int, echo: Echo) -> list[Row]:
    started = time.perf_counter()
    settings = Settings().with_overrides(database_url=url)
    ctx = Context.from_settings(settings)
    try:
        upgrade(ctx.db)
        clock = Clock()
        load_all(ctx, clock.tick())
        if db == "postgres":
            with ctx.db.connect() as conn:
                server = conn.execute(text("SHOW server_version")).scalar_one()
            echo(f"PostgreSQL server {server} at {make_url(url).render_as_string()}")
        officers = officers_by_role(ctx)
        desks = desk_officers(ctx)
        count = runs + warmup
        codes = {p: prepare(ctx, clock, p, desks[p], count) for p in PROCEDURES}
        prepared = time.perf_counter()
        rows = []
        for procedure in PROCEDURES:
            cases = load_cases(ctx, codes[procedure], officers)
            rows.append(measure(ctx, clock, db, procedure, cases, warmup))
        echo(
            f"[{db}] {len(PROCEDURES) * count} dossiers prepared in {prepared - started:.1f} s, "
            f"measured in {time.perf_counter() - prepared:.1f} s"
        )
        return rows
    finally:
        ctx.db.dispose()


def print_table(rows: list[Row], echo: Echo) -> None:
    header = (
        f"{'procedure':<10} {'db':<8} {'step':<20} {'n':>4} {'measured ms':>12} {'baseline ms':>12} "
        f"{'ratio':>6} {'p95 meas. ms':>13} {'p95 base ms':>12} {'CPU ratio':>9}"
    )
    echo(header)
    echo("-" * len(header))
    for r in rows:
        echo(
            f"{r.procedure:<10} {r.db:<8} {r.step:<20} {len(r.measured_ns):>4} {r.measured_ms:>12.2f} "
            f"{r.baseline_ms:>12.2f} {r.ratio:>6.2f} {Row.p95(r.measured_ns):>13.2f} "
            f"{Row.p95(r.baseline_ns):>12.2f} {r.cpu_ratio:>9.2f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.engine_step", description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="sqlite")
    parser.add_argument("--runs", type=int, default=200, help="measured runs per procedure (default 200)")
    parser.add_argument("--warmup", type=int, default=10, help="discarded runs per procedure (default 10)")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("MOTCUA_BENCH_PG_URL", DEFAULT_PG_URL),
        help="PostgreSQL bench database; it is dropped and created again (its name must contain 'bench')",
    )
    args = parser.parse_args(argv)
    if args.runs < 1 or args.warmup < 0:
        parser.error("--runs must be at least 1 and --warmup at least 0")

    def echo(line: str) -> None:
        print(line, flush=True)

    for line in machine_lines():
        echo(line)
    echo(f"runs per procedure: {args.runs} measured (+{args.warmup} warm-up), clock from {START.isoformat()}")
    echo("")
    started = time.perf_counter()
    rows: list[Row] = []
    if args.db in ("sqlite", "both"):
        with sqlite_database() as url:
            rows += run_database("sqlite", url, args.runs, args.warmup, echo)
    if args.db in ("postgres", "both"):
        with postgres_database(args.pg_url) as url:
            rows += run_database("postgres", url, args.runs, args.warmup, echo)
    echo("")
    print_table(rows, echo)
    echo("")
    echo(f"total time {time.perf_counter() - started:.1f} s")
    for db, goal in (("sqlite", GOAL), ("postgres", PG_GOAL)):
        ratios = [r.ratio for r in rows if r.db == db]
        if ratios:
            worst = max(ratios)
            met = "met" if worst <= goal else "not met"
            worst_cpu = max(r.cpu_ratio for r in rows if r.db == db)
            echo(f"worst ratio on {db}: {worst:.2f} (goal <= {goal:g}: {met}; CPU time: {worst_cpu:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
