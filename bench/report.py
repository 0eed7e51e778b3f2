"""Benchmark: Biểu 06 at province scale on PostgreSQL, against a bare count over the same scope.

    .venv/bin/python -m bench.report [--db URL] [--count 1000000] [--runs 7]

The bench database (default `motcua_bench_report`) is generated once with `bench.generate` when
it holds no dossier, then reused. Two reports are timed, each as the full engine call
(`engine.statistics.reports.statistics_report`: the GROUP BY query and folding its cells into rows):
- the yearly province report for the last generated year, rows by field;
- a monthly report of the busiest receiving agency, rows by field.
The baseline of each is `SELECT count(*) FROM dossier WHERE <the same scope>` (received before
the end, not closed by the start, same agency), measured in the same run, interleaved
run for run. Medians are reported with the ratio measured / baseline. Goal: the yearly report
under 2 s. Not part of the test suite; the exit code is 0 whatever the numbers.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime

from sqlalchemy import func, select, text

from bench.engine_step import machine_lines
from bench.generate import DEFAULT_DB, generate, prepare_database
from engine.context import Context
from engine.statistics.periods import Period, parse_period
from engine.statistics.reports import scope_filter, statistics_report
from models import Agency, Dossier

GOAL_SECONDS = 2.0


def measure(
    ctx: Context, label: str, period: Period, agency_code: str | None, runs: int, now: datetime
) -> dict:
    """Interleave the report and the bare count; the first pair warms the cache and is dropped."""
    with ctx.uow() as uow:
        session = uow.session
        agency_id = (
            session.scalars(select(Agency.id).where(Agency.code == agency_code)).one()
            if agency_code
            else None
        )
        count_query = (
            select(func.count()).select_from(Dossier).where(scope_filter(period, agency_id, now=now))
        )
        report_times: list[float] = []
        count_times: list[float] = []
        in_scope = 0
        total = None
        for index in range(runs + 1):
            first_report = index % 2 == 0
            for which in ("report", "count") if first_report else ("count", "report"):
                started = time.perf_counter()
                if which == "report":
                    total = statistics_report(session, period, agency_code, "field", now=now).total
                else:
                    in_scope = session.execute(count_query).scalar_one()
                elapsed = time.perf_counter() - started
                if index:
                    (report_times if which == "report" else count_times).append(elapsed)
            session.rollback()
    assert total is not None
    if total.counts["received_total"] != in_scope:
        raise RuntimeError(f"{label}: report total {total.counts['received_total']} != count {in_scope}")
    return {
        "label": label,
        "dossiers": in_scope,
        "report": statistics.median(report_times),
        "count": statistics.median(count_times),
        "total": total,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.report", description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=DEFAULT_DB)
    parser.add_argument(
        "--count", type=int, default=1_000_000, help="dossiers to generate if the database is empty"
    )
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--explain", action="store_true", help="print the plan of the yearly report's query")
    args = parser.parse_args(argv)
    for line in machine_lines():
        print(line)
    ctx = prepare_database(args.db)
    if ctx.db.dialect.name != "postgresql":
        print("note: this benchmark is meant for PostgreSQL")
    try:
        with ctx.uow() as uow:
            existing = uow.session.scalar(select(func.count()).select_from(Dossier))
        if not existing:
            count, seconds = generate(ctx, args.count, args.years, seed=2026)
            print(f"generated {count} dossiers in {seconds:.0f} s")
            existing = count
        if ctx.db.dialect.name == "postgresql":
            # The state autovacuum keeps a live database in: statistics and the visibility map.
            with ctx.db.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                for table in ("dossier", "suspension"):
                    conn.execute(text(f"VACUUM (ANALYZE) {table}"))
                server = conn.execute(text("SHOW server_version")).scalar_one()
                indexes = conn.execute(
                    text("SELECT indexname FROM pg_indexes WHERE tablename = 'dossier' ORDER BY indexname")
                ).scalars()
                print(f"PostgreSQL {server}; dossier indexes: {', '.join(indexes)}")
        with ctx.uow() as uow:
            s = uow.session
            last = s.scalar(select(func.max(Dossier.received_at)))
            busiest = s.execute(
                select(Agency.code, func.count())
                .join(Dossier, Dossier.agency_id == Agency.id)
                .group_by(Agency.code)
                .order_by(func.count().desc())
                .limit(1)
            ).first()
        year = last.astimezone(ctx.calendar.tz).year
        month = f"{year}-06"
        print(
            f"{existing} dossiers in the database; last receipt {last:%Y-%m-%d}; busiest agency {busiest[0]}"
        )
        # Both periods are closed: each is judged as of its end, whatever the clock says.
        now = datetime.now(UTC)
        if args.explain:
            _explain(ctx, parse_period(str(year), ctx.calendar.tz), now)
        rows = [
            measure(
                ctx, f"year {year}, province", parse_period(str(year), ctx.calendar.tz), None, args.runs, now
            ),
            measure(
                ctx,
                f"month {month}, {busiest[0]}",
                parse_period(month, ctx.calendar.tz),
                busiest[0],
                args.runs,
                now,
            ),
        ]
    finally:
        ctx.db.dispose()
    print("")
    header = f"{'report':<34} {'dossiers':>9} {'report s':>9} {'count(*) s':>11} {'ratio':>6}"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['label']:<34} {r['dossiers']:>9} {r['report']:>9.3f} {r['count']:>11.3f} "
            f"{r['report'] / r['count']:>6.2f}"
        )
    yearly = rows[0]["report"]
    print("")
    verdict = "met" if yearly < GOAL_SECONDS else "NOT met"
    print(f"yearly province report: {yearly:.3f} s (goal < {GOAL_SECONDS:g} s: {verdict})")
    c = rows[0]["total"].counts
    print(
        f"year totals: received {c['received_total']} (online {c['received_online']}), resolved "
        f"{c['resolved_total']} (late {c['resolved_late']}), in progress {c['in_progress_total']}, refused "
        f"{c['refused']}, withdrawn {c['withdrawn']}, waiting for supplement {c['supplement']}"
    )
    return 0


def _explain(ctx: Context, period: Period, now: datetime) -> None:
    from engine.statistics.reports import report_cells

    with ctx.uow() as uow:
        session = uow.session
        captured: list[str] = []
        original = session.execute

        def spy(statement, *a, **k):
            if not captured and hasattr(statement, "selected_columns"):
                compiled = statement.compile(dialect=ctx.db.dialect, compile_kwargs={"literal_binds": True})
                captured.append(str(compiled))
            return original(statement, *a, **k)

        session.execute = spy  # type: ignore[method-assign]
        report_cells(session, period, None, now)
        session.execute = original  # type: ignore[method-assign]
        prefix = "EXPLAIN ANALYZE " if ctx.db.dialect.name == "postgresql" else "EXPLAIN QUERY PLAN "
        for line in session.execute(text(prefix + captured[0])):
            print(" ".join(str(x) for x in line))


if __name__ == "__main__":
    sys.exit(main())
