"""Benchmark: a province's folder of step tables (1,000 CSV files) turned into drafts in one command.

    .venv/bin/python -m bench.step_tables [--tables 1000] [--database-url URL]

Generates `--tables` step tables in a temporary folder, each for a procedure of its own (a commune
or department procedure of 5 to 12 steps, with the responsible phrases, times in days, fractions
and hours, and the hand-over "Không tính" that provinces write), puts the procedures in the
catalogue of a fresh database (SQLite in a temporary folder unless `--database-url` names an
empty PostgreSQL one: its schema is dropped and re-created), then times:

- parse alone: reading every table (`read_step_table`), the baseline;
- generate: parse and draw the diagram (`table_bpmn`), nothing checked or stored;
- bulk import: `drafts_from_folder`, what `motcua procedure from-table DIR --codes-from-filenames`
  runs: per table, one transaction that reads the table, draws the diagram, checks it
  (`check_bpmn`, SpiffWorkflow's parse included) and stores it as a draft with its check.

Prints the wall seconds, the tables per second, the ratio of each to the parse alone and the
CPU seconds of this process (on a busy machine the wall time also counts the waits for a CPU),
with the load average. Not part of the test suite; exits 1 when the bulk import takes 60 s or more.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import platform
import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select, text

from config import Settings
from engine.catalogue.bpmn_writer import table_bpmn
from engine.catalogue.loader import load_all
from engine.catalogue.step_table import read_step_table, role_table
from engine.catalogue.table_drafts import drafts_from_folder
from engine.context import Context
from models import Agency, Base, Procedure
from models.migrate import upgrade

LIMIT_SECONDS = 60.0
RESPONSIBLE = {
    "desk": ["Công chức Bộ phận Một cửa", "Bộ phận tiếp nhận và trả kết quả"],
    "head": ["Lãnh đạo phòng chuyên môn", "Trưởng phòng Văn hóa - Xã hội"],
    "specialist": ["Chuyên viên phòng chuyên môn", "Công chức chuyên môn (Tư pháp - Hộ tịch)"],
    "leader": ["Lãnh đạo UBND xã", "Giám đốc Sở", "Phó Chủ tịch UBND huyện"],
    "clerk": ["Văn thư cơ quan", "Văn thư UBND xã"],
}
TIMES = ["0,25 ngày", "0.5", "4 giờ", "1 ngày", "02 ngày", "8 giờ", "0,5 ngày"]


def table_for(rng: random.Random) -> tuple[str, float]:
    """One step table as CSV text, and the legal time in days that fits it."""
    middle = rng.randint(1, 8)
    roles = ["desk", "head", *(["specialist"] * middle), "head", "leader", "clerk"]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Bước", "Nội dung công việc", "Trách nhiệm thực hiện", "Thời gian thực hiện"])
    hours = 0.0
    for number, role in enumerate(roles, start=1):
        time_text = rng.choice(TIMES)
        hours += _hours(time_text)
        writer.writerow([number, f"Công việc bước {number}", rng.choice(RESPONSIBLE[role]), time_text])
    writer.writerow(
        [len(roles) + 1, "Trả kết quả cho tổ chức, cá nhân", RESPONSIBLE["desk"][0], "Không tính"]
    )
    return out.getvalue(), float(int(hours / 8) + 1)


def _hours(time_text: str) -> float:
    value = float(time_text.split()[0].replace(",", "."))
    return value if "giờ" in time_text else value * 8


def _database(url: str | None, folder: Path) -> Context:
    if url is None:
        url = f"sqlite:///{folder / 'bench.db'}"
    ctx = Context.from_settings(Settings().with_overrides(database_url=url))
    if ctx.db.dialect.name == "postgresql":
        with ctx.db.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    try:
        upgrade(ctx.db)
    except Exception:  # a checkout with unmerged migration heads: the models' schema will do
        Base.metadata.create_all(ctx.db)
    load_all(ctx, datetime.now(UTC))
    return ctx


def main() -> int:
    """Generate the tables, time the parse, the drawing and the bulk import, print the numbers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=1000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    # A shared machine: the wall time depends on what else runs, the process's CPU time much less.
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "tables"
        folder.mkdir()
        ctx = _database(args.database_url, Path(tmp))
        legal: dict[str, float] = {}
        for n in range(args.tables):
            code = f"9.{n:06d}"
            table, days = table_for(rng)
            (folder / f"{code}.csv").write_text(table, encoding="utf-8")
            legal[code] = days
        with ctx.uow() as uow:
            owner = uow.session.scalars(select(Agency).where(Agency.code == "000.00.12.H40")).one()
            for code, days in legal.items():
                uow.session.add(
                    Procedure(
                        code=code,
                        name=f"Thủ tục thử {code}",
                        field="Thử nghiệm",
                        level="department",
                        legal_time_value=days,
                        legal_time_unit="days",
                        fee="",
                        required_documents=["Đơn đề nghị"],
                        online_level="partial",
                        owner_agency_id=owner.id,
                    )
                )
            uow.commit()
        files = sorted(folder.iterdir())
        roles = role_table(ctx.settings.workflows_dir)

        started, cpu = time.perf_counter(), time.process_time()
        reports = [
            read_step_table(p.read_bytes(), p.name, roles=roles, legal_hours=legal[p.stem] * 8) for p in files
        ]
        parse_s, parse_cpu = time.perf_counter() - started, time.process_time() - cpu
        assert all(r.ok for r in reports), [r.errors for r in reports if not r.ok][:1]

        started, cpu = time.perf_counter(), time.process_time()
        for path in files:
            report = read_step_table(path.read_bytes(), path.name, roles=roles)
            table_bpmn(
                report.steps,
                procedure_code=path.stem,
                procedure_name=path.stem,
                legal_text="",
                source=path.name,
            )
        draw_s, draw_cpu = time.perf_counter() - started, time.process_time() - cpu

        started, cpu = time.perf_counter(), time.process_time()
        entries = drafts_from_folder(ctx, folder, datetime.now(UTC))
        bulk_s, bulk_cpu = time.perf_counter() - started, time.process_time() - cpu
        stored = sum(1 for e in entries if e.ok and not e.messages)
        dialect = ctx.db.dialect.name
        ctx.db.dispose()

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, {dialect}"
    )
    print(f"tables: {len(files)}, stored as valid drafts: {stored}")
    print(f"load average before / after: {load[0]:.1f} / {os.getloadavg()[0]:.1f}")
    print("| phase | wall s | tables/s | ratio to parse | CPU s of this process |")
    print("|---|---:|---:|---:|---:|")
    phases = (
        ("parse alone", parse_s, parse_cpu),
        ("parse + draw", draw_s, draw_cpu),
        ("bulk import", bulk_s, bulk_cpu),
    )
    for name, seconds, cpu_s in phases:
        print(
            f"| {name} | {seconds:.2f} | {len(files) / seconds:,.0f} | "
            f"{seconds / parse_s:.1f} | {cpu_s:.2f} |"
        )
    return 0 if bulk_s < LIMIT_SECONDS and stored == len(files) else 1


if __name__ == "__main__":
    sys.exit(main())
