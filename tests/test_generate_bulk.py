"""The generator's writers in parallel (PostgreSQL) keep the rows whole: ids, codes, references, sequences."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest
from sqlalchemy import func, select, text

from bench.bulk import defer_indexes, restore_indexes
from bench.generate import DEFERRED_TABLES, generate
from engine.context import Context
from engine.runtime import dossiers as svc
from models import Attachment, Dossier, DossierEvent, DossierSequence, Payment, PostalItem, WorkItem
from tests.conftest import at

CHILD_TABLES = (WorkItem, DossierEvent, Attachment, PostalItem, Payment)


def test_parallel_generation_writes_whole_rows_and_leaves_the_sequences_ahead(ctx: Context, officers):
    count, _seconds = generate(ctx, 120, years=1, seed=41, end=date(2026, 12, 31), progress=False, jobs=2)
    assert count == 120
    with ctx.uow() as uow:
        s = uow.session
        codes = list(s.scalars(select(Dossier.code)))
        assert len(codes) == len(set(codes)) == 120
        # Foreign keys are not checked by the bulk load: every reference must point at a dossier.
        for model in CHILD_TABLES:
            orphans = s.scalar(
                select(func.count())
                .select_from(model)
                .where(~select(Dossier.id).where(Dossier.id == model.dossier_id).exists())
            )
            assert orphans == 0, model.__tablename__
        assert s.scalar(select(func.count()).select_from(Attachment)) > 0
        # The per-day code sequence ends at the last number handed out that day.
        per_day = Counter((d.agency_id, d.code.split("-")[1]) for d in s.scalars(select(Dossier)))
        last = {
            (a, d): n
            for a, d, n in s.execute(
                select(DossierSequence.agency_id, DossierSequence.day, DossierSequence.last_number)
            )
        }
        assert {key: last[key] for key in per_day} == dict(per_day)
        opened = s.scalar(select(func.count()).select_from(WorkItem).where(WorkItem.completed_at.is_(None)))
        assert opened > 0
        if ctx.db.dialect.name == "postgresql":
            assert s.execute(text("SHOW session_replication_role")).scalar() == "origin"
    # The id sequences were moved past the generated rows: a receipt after it gets fresh ids.
    receipt = svc.receive_dossier(
        ctx,
        procedure_code="1.001806",
        applicant=svc.Applicant(name="Lê Văn Sau", id_number="001234567890", phone="0912345678"),
        channel="online",
        officer_id=officers["sonv.motcua"],
        now=at("2027-01-04 08:00"),
    )
    with ctx.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(Dossier)) == 121
        assert receipt.dossier_id == uow.session.scalar(select(func.max(Dossier.id)))


def _indexes(ctx: Context) -> set[tuple[str, str, str]]:
    with ctx.db.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT tablename, indexname, indexdef FROM pg_indexes "
                "WHERE schemaname = current_schema() AND tablename = ANY(:t)"
            ),
            {"t": list(DEFERRED_TABLES)},
        )
        return {tuple(row) for row in rows}


def test_a_large_load_builds_the_plain_indexes_afterwards_as_they_were(ctx: Context, monkeypatch):
    if ctx.db.dialect.name != "postgresql":
        pytest.skip("the indexes are deferred on PostgreSQL only")
    before = _indexes(ctx)
    plain = {name for _table, name, definition in before if " UNIQUE " not in definition}
    report: dict = {}
    generate(
        ctx, 40, years=1, seed=5, end=date(2026, 12, 31), progress=False, jobs=2, defer=True, report=report
    )
    assert set(report["deferred"]) == plain
    assert report["deferred"] and _indexes(ctx) == before
    # A load that fails midway builds them again as well.
    monkeypatch.setattr("bench.generate._write_in_parallel", _fail)
    with pytest.raises(RuntimeError, match="writer died"):
        generate(ctx, 40, years=1, seed=6, end=date(2026, 12, 31), progress=False, jobs=2, defer=True)
    assert _indexes(ctx) == before
    # A load killed before it could: the next run (or prepare_database) finds the definitions and builds them.
    dropped = defer_indexes(ctx.db, DEFERRED_TABLES)
    assert {name for name, _t, _d in dropped} == set(report["deferred"])
    assert _indexes(ctx) == before - {t for t in before if t[1] in report["deferred"]}
    assert sorted(restore_indexes(ctx.db)) == sorted(report["deferred"])
    assert _indexes(ctx) == before and restore_indexes(ctx.db) == []


def _fail(*_args, **_kwargs) -> None:
    raise RuntimeError("writer died")
