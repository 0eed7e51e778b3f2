"""Bench-only fill: multiply an engine-generated seed set of dossiers inside PostgreSQL.

    .venv/bin/python -m bench.multiply --db URL --seed-dossiers 20000 --dossiers 1000000

`bench.generate` writes about 280 dossiers a second through the engine's plans, so 1,000,000
dossiers would take an hour. This fill generates a seed set that way (if the database holds
fewer than `--seed-dossiers`) and then copies the seed's dossiers and their work items with
`INSERT ... SELECT` over `generate_series`, inside PostgreSQL, until the database holds
`--dossiers`. Copy k of a dossier:

- gets the id `id + k * M` (M: the largest seed id) and a new unique code: the same agency,
  the receipt day moved, and the day's number raised by k * 10000;
- has every time moved k days earlier (receipt, due times, appointment, finish, steps), so
  receipts spread over the seed's year and k more days;
- has another phone number (the seed's, shifted), and its `search_text` rebuilt to match;
- keeps the seed's status, procedure, channel, workflow state, steps (with new task ids) and
  the agencies handling it (dossier_handler).

Events, suspensions, attachments, letters and notifications are not copied: the copies serve
the dossier list and search benchmarks (bench/http_inbox.py), not the reports or the watcher.
Never run it on a database that is not a bench database (its name must contain "bench").
"""

from __future__ import annotations

import argparse
import sys
import time

from sqlalchemy import Integer, func, select, text
from sqlalchemy.engine import make_url

from bench.generate import generate, prepare_database
from engine.context import Context
from models import Dossier, WorkItem

TIMESTAMPS_DOSSIER = (
    "received_at",
    "clock_started_at",
    "due_at",
    "original_due_at",
    "appointment_at",
    "appointment_moved_at",
    "late_at",
    "judged_at",
    "projected_late_at",
    "finished_at",
    "returned_at",
)
TIMESTAMPS_ITEM = ("created_at", "claimed_at", "due_at", "completed_at")
# The normalised code as engine/search_text.py writes it: lower case, no gaps between digits.
NORMALISED_CODE = r"regexp_replace(lower({code}), '(\d)[\s.\-]+(?=\d)', '\1', 'g')"


def _dossier_select() -> str:
    """SELECT of copy k of every seed dossier (k from generate_series, bound to `k`)."""
    raised = "(split_part(d.code, '-', 3)::int + k * 10000)::text"
    new_number = f"lpad({raised}, greatest(4, length({raised})), '0')"
    shifted_day = "to_char((d.received_at - k * interval '1 day') AT TIME ZONE 'Asia/Ho_Chi_Minh', 'YYMMDD')"
    new_code = f"(split_part(d.code, '-', 1) || '-' || {shifted_day} || '-' || {new_number})"
    new_phone = (
        "('09' || lpad(((substr(d.applicant_phone, 3)::bigint + k * 7919) % 100000000)::text, 8, '0'))"
    )
    columns = []
    for column in Dossier.__table__.columns:
        name = column.name
        if name == "id":
            value = "d.id + k * :m"
        elif name == "code":
            value = new_code
        elif name == "applicant_phone":
            value = new_phone
        elif name == "submission_key":
            value = "NULL"
        elif name == "search_text":
            value = (
                NORMALISED_CODE.format(code=new_code)
                + " || ' | ' || split_part(d.search_text, ' | ', 2) || ' | ' || "
                + new_phone
                + " || ' | ' || split_part(d.search_text, ' | ', 4)"
            )
        elif name in TIMESTAMPS_DOSSIER:
            value = f"d.{name} - k * interval '1 day'"
        else:
            value = f"d.{name}"
        columns.append((name, value))
    names = ", ".join(n for n, _ in columns)
    values = ", ".join(v for _, v in columns)
    return (
        f"INSERT INTO dossier ({names}) SELECT {values} FROM dossier d "
        "CROSS JOIN generate_series(CAST(:k0 AS integer), CAST(:k1 AS integer)) AS k "
        "WHERE d.id <= :m AND split_part(d.code, '-', 3)::int < 10000"
    )


def _item_select() -> str:
    """SELECT of the steps of copy k of every seed dossier."""
    columns = []
    for column in WorkItem.__table__.columns:
        name = column.name
        if name == "id":
            continue
        if name == "dossier_id":
            value = "w.dossier_id + k * :m"
        elif name == "task_uuid":
            value = "gen_random_uuid()::text"
        elif name in TIMESTAMPS_ITEM:
            value = f"w.{name} - k * interval '1 day'"
        else:
            value = f"w.{name}"
        columns.append((name, value))
    names = ", ".join(n for n, _ in columns)
    values = ", ".join(v for _, v in columns)
    return (
        f"INSERT INTO work_item ({names}) SELECT {values} FROM work_item w "
        "CROSS JOIN generate_series(CAST(:k0 AS integer), CAST(:k1 AS integer)) AS k WHERE w.dossier_id <= :m"
    )


def multiply(ctx: Context, target: int, *, batch: int = 5, progress: bool = True) -> tuple[int, float]:
    """Copy the seed dossiers (ids up to the current maximum) until `target` dossiers exist."""
    name = make_url(ctx.settings.database_url).database or ""
    if ctx.db.dialect.name != "postgresql" or "bench" not in name:
        raise SystemExit("the bench fill runs only on a PostgreSQL database whose name contains 'bench'")
    started = time.perf_counter()
    # The seed: the dossiers whose day number has 4 digits (copies have k * 10000 added).
    original = func.cast(func.split_part(Dossier.code, "-", 3), Integer) < 10_000
    with ctx.db.begin() as conn:
        seed_max = conn.execute(select(func.max(Dossier.id)).where(original)).scalar() or 0
        seed_count = conn.execute(select(func.count(Dossier.id)).where(original)).scalar() or 0
        existing = conn.execute(select(func.count(Dossier.id))).scalar() or 0
    if seed_count == 0:
        raise SystemExit("no seed dossiers: generate some first")
    done = (existing - seed_count) // seed_count  # copies made by an earlier run
    copies = -(-(target - seed_count) // seed_count)
    dossiers, items = text(_dossier_select()), text(_item_select())
    handlers = text(
        "INSERT INTO dossier_handler (agency_id, dossier_id) SELECT h.agency_id, h.dossier_id + k * :m "
        "FROM dossier_handler h CROSS JOIN generate_series(CAST(:k0 AS integer), CAST(:k1 AS integer)) AS k "
        "WHERE h.dossier_id <= :m"
    )
    # Building an index once over all rows is far quicker than updating it row by row: the
    # secondary indexes go while copying and come back after (unique ones stay, to prove the
    # copies' codes and task ids unique).
    with ctx.db.begin() as conn:
        secondary = conn.execute(
            text(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
                "AND tablename IN ('dossier', 'work_item') AND indexdef NOT LIKE 'CREATE UNIQUE%'"
            )
        ).all()
        for name, _ in secondary:
            conn.execute(text(f'DROP INDEX "{name}"'))
    for first in range(done + 1, copies + 1, batch):
        last = min(copies, first + batch - 1)
        with ctx.db.begin() as conn:
            conn.execute(dossiers, {"k0": first, "k1": last, "m": seed_max})
            conn.execute(items, {"k0": first, "k1": last, "m": seed_max})
            conn.execute(handlers, {"k0": first, "k1": last, "m": seed_max})
        if progress:
            rows = seed_count * (last + 1)
            print(
                f"  copies {done + 1}..{last}: {rows} dossiers, {time.perf_counter() - started:.0f} s",
                flush=True,
            )
    with ctx.db.begin() as conn:
        conn.execute(text("SET LOCAL maintenance_work_mem = '512MB'"))
        for name, definition in secondary:
            conn.execute(text(definition))
            if progress:
                print(f"  index {name} rebuilt, {time.perf_counter() - started:.0f} s", flush=True)
    with ctx.db.begin() as conn:
        for table in ("dossier", "work_item"):
            conn.execute(
                text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
            )
    with ctx.db.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE dossier"))
        conn.execute(text("VACUUM ANALYZE work_item"))
    with ctx.db.begin() as conn:
        total = conn.execute(select(func.count(Dossier.id))).scalar() or 0
    return total, time.perf_counter() - started


def fill(url: str, dossiers: int, seed_dossiers: int) -> Context:
    """A bench database with `dossiers` dossiers: a generated seed, then copies of it."""
    ctx = prepare_database(url)
    with ctx.uow() as uow:
        existing = uow.session.scalar(select(func.count(Dossier.id))) or 0
    if existing >= dossiers:
        return ctx
    if existing < seed_dossiers:
        print(f"generating a seed of {seed_dossiers - existing} dossiers through the engine's plans ...")
        generate(ctx, seed_dossiers - existing, years=1, seed=existing + 7)
        existing = seed_dossiers
    print(f"multiplying {existing} seed dossiers inside PostgreSQL up to {dossiers} (bench-only fill) ...")
    total, seconds = multiply(ctx, dossiers)
    print(f"{total} dossiers after {seconds:.0f} s of copying")
    return ctx


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.multiply", description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="a PostgreSQL URL whose database name contains 'bench'")
    parser.add_argument("--dossiers", type=int, default=1_000_000)
    parser.add_argument("--seed-dossiers", type=int, default=20_000)
    args = parser.parse_args(argv)
    ctx = fill(args.db, args.dossiers, args.seed_dossiers)
    ctx.db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
