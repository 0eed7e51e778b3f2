"""A step's projection written as statements: the dossier's version guard, and the objects after it."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value

from engine.errors import Conflict, NotFound
from engine.runtime import dossiers as svc
from models import Agency, Dossier, DossierEvent, Officer, Procedure, WorkItem
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


def test_the_preloaded_rows_are_the_objects_an_orm_load_gives(ctx):
    officers = Officers(ctx)
    receipt = _received(ctx, officers)
    (item,) = open_items(ctx, receipt.dossier_id)
    officer_id = officers["sonv.motcua"]
    with ctx.uow() as uow:
        session = uow.session
        svc.preload_step(session, item.id, officer_id, open_items_too=True)
        preloaded = [
            session.get_one(Officer, officer_id),
            session.get_one(WorkItem, item.id),
            session.get_one(Dossier, receipt.dossier_id),
            session.get_one(Procedure, session.get_one(Dossier, receipt.dossier_id).procedure_id),
        ]
        assert not session.dirty and not session.new
        states = [sa_inspect(obj) for obj in preloaded]
        assert all(s.persistent and not s.modified and not s.expired_attributes for s in states)
    with ctx.uow() as uow:
        loaded = [uow.session.get_one(type(obj), obj.id) for obj in preloaded]
    for fresh, early in zip(loaded, preloaded, strict=True):
        keys = [prop.key for prop in sa_inspect(type(fresh)).column_attrs]
        assert {k: getattr(early, k) for k in keys} == {k: getattr(fresh, k) for k in keys}


def test_the_desk_read_gives_the_objects_an_orm_load_gives(ctx):
    officers = Officers(ctx)
    desk_id = officers["sonv.motcua"]
    with ctx.uow() as uow:
        session = uow.session
        procedure, version = svc._read_desk(session, desk_id, "1.001806")
        assert procedure is not None and version is not None and version.status == "active"
        officer = session.get_one(Officer, desk_id)
        read = [officer, session.get_one(Agency, officer.agency_id), procedure, version]
        assert "bpmn_xml" not in version.__dict__  # deferred: loaded when used, as the ORM does
        assert version.bpmn_xml.startswith("<?xml") or "<bpmn" in version.bpmn_xml[:400]
        assert not session.dirty and not session.new
        assert all(sa_inspect(obj).persistent and not sa_inspect(obj).modified for obj in read)
    with ctx.uow() as uow:
        loaded = [uow.session.get_one(type(obj), obj.id) for obj in read]
        for fresh, early in zip(loaded, read, strict=True):
            keys = [prop.key for prop in sa_inspect(type(fresh)).column_attrs]
            assert {k: getattr(early, k) for k in keys} == {k: getattr(fresh, k) for k in keys}
    with ctx.uow() as uow:  # no such procedure: the officer is read, the procedure and version are not
        assert svc._read_desk(uow.session, desk_id, "9.999999") == (None, None)
        assert uow.session.get(Officer, desk_id) is not None
    with ctx.uow() as uow:  # no such officer: nothing is read
        assert svc._read_desk(uow.session, 999999, "1.001806") == (None, None)


def test_a_missing_item_or_officer_preloads_nothing_and_fails_as_before(ctx):
    officers = Officers(ctx)
    receipt = _received(ctx, officers)
    (item,) = open_items(ctx, receipt.dossier_id)
    with pytest.raises(NotFound, match="bước xử lý số 999999"):
        svc.complete(ctx, 999999, officers["sonv.motcua"], now=at("2026-11-23 09:00"))
    with pytest.raises(NotFound, match="cán bộ có mã 999999"):
        svc.complete(ctx, item.id, 999999, now=at("2026-11-23 09:00"))
    assert [i.id for i in open_items(ctx, receipt.dossier_id)] == [item.id]


def test_a_prepared_statement_raises_driver_errors_as_sqlalchemy_does(ctx):
    officers = Officers(ctx)
    receipt = _received(ctx, officers)
    (item,) = open_items(ctx, receipt.dossier_id)
    with ctx.uow() as uow:
        session = uow.session
        taken = {key: getattr(item, key) for key in ("dossier_id", "task_uuid", "task_id", "task_name")}
        row = {**taken, "role": item.role, "agency_id": item.agency_id, "created_at": item.created_at}
        row.update(lane=None, kind=None, due_at=None, allotted_hours=1.0, counted=True)
        statement = svc._prepared_insert(WorkItem, tuple(row), returning=True)
        with pytest.raises(IntegrityError):  # the task's id is unique: the use case answers Conflict
            statement.rows(session.connection(), row)


@pytest.mark.parametrize("count", [1, 3, svc.MULTI_ROW_LIMIT + 2])
def test_events_are_written_in_their_order_with_their_payloads(ctx, count):
    officers = Officers(ctx)
    receipt = _received(ctx, officers)
    before = _event_kinds(ctx, receipt.dossier_id)
    events = [("claimed" if n % 2 else "released", {"n": n, "text": f"ghi chú {n}"}) for n in range(count)]
    with ctx.uow() as uow:
        dossier = uow.session.get_one(Dossier, receipt.dossier_id)
        svc.record_events(uow.session, dossier, officers["sonv.motcua"], at("2026-11-23 09:00"), events)
        uow.commit()
    with ctx.uow() as uow:
        written = uow.session.scalars(
            select(DossierEvent)
            .where(DossierEvent.dossier_id == receipt.dossier_id)
            .order_by(DossierEvent.id)
        ).all()[len(before) :]
    assert [(e.kind, e.payload) for e in written] == events
    assert {(e.at, e.officer_id) for e in written} == {(at("2026-11-23 09:00"), officers["sonv.motcua"])}


def test_a_prepared_statement_takes_the_values_it_holds_for_parameters_not_given(ctx):
    from sqlalchemy import bindparam, literal, update

    from models.prepared import Prepared

    officers = Officers(ctx)
    receipt = _received(ctx, officers)
    table = Dossier.__table__
    # `version + 2` and the literal status hold their own values; only the id is given.
    statement = Prepared(
        update(table)
        .where(table.c.id == bindparam("w_id"))
        .values(version=table.c.version + 2, withdrawal_reason=literal("đã rút"))
        .returning(table.c.version, table.c.withdrawal_reason)
    )
    with ctx.uow() as uow:
        before = uow.session.get_one(Dossier, receipt.dossier_id).version
        rows = statement.rows(uow.session.connection(), {"w_id": receipt.dossier_id})
        uow.rollback()
    assert rows == [(before + 2, "đã rút")]
