"""Benchmark: the portal sync's throughput against bare HTTP POSTs to the same adapter.

    .venv/bin/python -m bench.dvcqg_sync [--dossiers 300]

A fresh SQLite database receives and forwards `--dossiers` dossiers with the portal configured, so
each has three messages queued (DongBoHoSoMC, CapNhatTienDoHoSoMC, DongBoHoSoMC). The local fake
adapter of the tests (HTTP on 127.0.0.1, strict validation) then receives them through `sync` with
1 and with 4 workers. The baseline, measured in the same run against the same server, posts the
same bodies with a bare `urllib` request each, sequentially and from 4 threads. The ratio of
messages per second (baseline / sync) is the price of the outbox: taking a message, recording
its result and keeping one dossier's messages in order. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select, update

from bench.engine_step import APPLICANT, START
from config import Settings
from engine.catalogue.loader import load_all
from engine.context import Context
from engine.integrations.dvcqg.sync import sync
from engine.runtime import dossiers as svc
from models import Officer, PortalMessage, WorkItem
from models.migrate import upgrade
from tests.fake_dvcqg import FakeAdapter


def prepare(directory: Path, adapter: FakeAdapter, dossiers: int) -> Context:
    settings = Settings().with_overrides(
        database_url=f"sqlite:///{directory / 'bench.db'}",
        attachments_dir=str(directory / "attachments"),
        dvcqg_url=adapter.url,
        dvcqg_username=adapter.username,
        dvcqg_password=adapter.password,
        dvcqg_madonvi="000.00.00.H40",
    )
    ctx = Context.from_settings(settings)
    upgrade(ctx.db)
    load_all(ctx, START)
    with ctx.uow() as uow:
        desk = uow.session.scalars(select(Officer.id).where(Officer.username == "sonv.motcua")).one()
    for n in range(dossiers):
        moment = START + timedelta(seconds=20 * n)
        receipt = svc.receive_dossier(
            ctx,
            procedure_code="1.001806",
            applicant=APPLICANT,
            channel="in_person",
            officer_id=desk,
            now=moment,
        )
        with ctx.uow() as uow:
            item = uow.session.scalars(
                select(WorkItem.id).where(WorkItem.dossier_id == receipt.dossier_id)
            ).one()
        svc.complete(ctx, item, desk, now=moment + timedelta(seconds=10))
    return ctx


def reset(ctx: Context, adapter: FakeAdapter) -> None:
    """Every message queued again and the adapter empty, for the next measurement."""
    with ctx.uow() as uow:
        uow.session.execute(
            update(PortalMessage).values(status="queued", attempts=0, sent_at=None, next_attempt_at=START)
        )
        uow.commit()
    adapter.records.clear()
    adapter.progress.clear()
    adapter.accepted.clear()


def measure_sync(ctx: Context, adapter: FakeAdapter, workers: int, now: datetime) -> tuple[int, float]:
    reset(ctx, adapter)
    began = time.perf_counter()
    report = sync(ctx, now, workers=workers, limit=100_000)
    elapsed = time.perf_counter() - began
    return report.count("sent"), elapsed


def bodies(ctx: Context) -> list[dict]:
    with ctx.uow() as uow:
        rows = uow.session.execute(
            select(PortalMessage.service, PortalMessage.payload).order_by(
                PortalMessage.stream, PortalMessage.seq
            )
        ).all()
    return [
        {"service": service, "madonvi": payload["madonvi"], "data": payload["data"]}
        for service, payload in rows
    ]


def measure_bare(adapter: FakeAdapter, calls: list[dict], workers: int) -> float:
    """Seconds to POST every body once (the adapter's validation refuses nothing of consequence here)."""
    session = json.loads(
        urllib.request.urlopen(
            urllib.request.Request(
                adapter.url + "/auth",
                data=json.dumps({"username": adapter.username, "password": adapter.password}).encode(),
                method="POST",
            ),
            timeout=10,
        ).read()
    )["session"]

    def post(body: dict) -> None:
        request = urllib.request.Request(
            adapter.url + "/integration",
            data=json.dumps({"session": session, **body}, ensure_ascii=False).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        urllib.request.urlopen(request, timeout=10).read()

    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(post, calls))
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dossiers", type=int, default=300)
    args = parser.parse_args()
    adapter = FakeAdapter()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            ctx = prepare(Path(tmp), adapter, args.dossiers)
            calls = bodies(ctx)
            now = START + timedelta(days=1)
            print(f"{len(calls)} messages for {args.dossiers} dossiers (SQLite, fake adapter on 127.0.0.1)")
            for workers in (1, 4):
                sent, seconds = measure_sync(ctx, adapter, workers, now)
                adapter.records.clear()
                adapter.progress.clear()
                bare = measure_bare(adapter, calls, workers)
                rate, bare_rate = sent / seconds, len(calls) / bare
                print(
                    f"workers={workers}: sync {rate:,.0f} messages/s ({sent} sent), "
                    f"bare POST {bare_rate:,.0f}/s, ratio {bare_rate / rate:.2f}"
                )
            ctx.db.dispose()
    finally:
        adapter.close()


if __name__ == "__main__":
    main()
