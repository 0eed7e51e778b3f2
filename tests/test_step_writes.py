"""A step's projection written as statements: the dossier's version guard, and the objects after it."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm.attributes import set_committed_value

from engine.errors import Conflict
from engine.runtime import dossiers as svc
from models import Dossier, DossierEvent, WorkItem
from tests.conftest import Officers, at, open_items

APPLICANT = svc.Applicant(name="Lê Văn Cường", id_number="001203004777")


def _received(ctx, officers):
    return svc.receive_dossier(
        ctx,
        procedure_code="1.001806",
        applicant=APPLICANT,
        channel="online",
        officer_id=officers["sonv.motcua"],
        now=at("2026-11-23 08:00"),
    )


def _event_kinds(ctx, dossier_id):
    with ctx.uow() as uow:
        query = (
            select(DossierEvent.kind).where(DossierEvent.dossier_id == dossier_id).order_by(DossierEvent.id)
        )
        return list(uow.session.scalars(query))


def test_a_dossier_changed_since_it_was_read_refuses_the_step_and_changes_nothing(ctx, monkeypatch):
    officers = Officers(ctx)
    receipt = _received(ctx, officers)
    (item,) = open_items(ctx, receipt.dossier_id)
    kinds = _event_kinds(ctx, receipt.dossier_id)
    preload = svc.preload_step

    def read_then_someone_else_writes(session, *args, **kwargs):
        preload(session, *args, **kwargs)
        dossier = session.get(Dossier, receipt.dossier_id)
        set_committed_value(dossier, "version", dossier.version - 1)  # as if read before their write

    monkeypatch.setattr(svc, "preload_step", read_then_someone_else_writes)
    with pytest.raises(Conflict):
        svc.complete(ctx, item.id, officers["sonv.motcua"], now=at("2026-11-23 09:00"))
    monkeypatch.undo()
    assert [i.id for i in open_items(ctx, receipt.dossier_id)] == [item.id]
    assert _event_kinds(ctx, receipt.dossier_id) == kinds


def test_the_step_leaves_the_session_as_a_flush_would(ctx):
    officers = Officers(ctx)
    receipt = _received(ctx, officers)
    (item,) = open_items(ctx, receipt.dossier_id)
    with ctx.uow() as uow:
        before = uow.session.get_one(Dossier, receipt.dossier_id).version
    done = svc.complete(ctx, item.id, officers["sonv.motcua"], now=at("2026-11-23 09:00"))
    with ctx.uow() as uow:
        session = uow.session
        dossier = session.get_one(Dossier, receipt.dossier_id)
        opened = session.scalars(select(WorkItem).where(WorkItem.id.in_(done.opened_work_item_ids))).all()
        completed = session.get_one(WorkItem, item.id)
        events = session.scalars(
            select(DossierEvent).where(DossierEvent.dossier_id == dossier.id).order_by(DossierEvent.id)
        ).all()
    assert dossier.version == before + 1
    assert completed.completed_at is not None and completed.completed_by_id == officers["sonv.motcua"]
    assert [o.completed_at for o in opened] == [None] * len(opened) and opened
    assert all(o.counted is not None and o.assignee_id is None for o in opened)
    step = [e for e in events if e.payload.get("work_item_id") == item.id or e.at == at("2026-11-23 09:00")]
    assert [e.kind for e in step] == ["step_opened", "step_completed", *["step_opened"] * len(opened)]
    assert [e.payload["work_item_id"] for e in step[2:]] == done.opened_work_item_ids
    # The next step works on what this one left: the opened item completes.
    again = svc.complete(ctx, opened[0].id, officers["sonv.truongphong"], now=at("2026-11-23 10:00"))
    assert again.opened_work_item_ids
