"""A receipt's writes as statements: the same rows as the flush wrote, the session as a flush leaves it,
and dossier numbers still drawn one at a time per agency and day, with no gap after a rollback."""

from __future__ import annotations

import dataclasses
import json
import re
import threading
from typing import Any

import pytest
from sqlalchemy import event, inspect, select

from engine.catalogue.procedures import procedure_by_code
from engine.catalogue.workflow_state import compile_process
from engine.errors import Conflict
from engine.runtime import dossiers as svc
from engine.runtime import receipt_writes
from engine.runtime.attachments import Upload
from engine.search_text import normalise
from models import Agency, Attachment, Dossier, DossierEvent, Notification, Officer, WorkItem
from models.dossier import DossierHandler
from tests.conftest import Officers, at, open_items

APPLICANT = svc.Applicant(
    name="Phạm Thị Dung", id_number="001203004888", phone="0987 654 321", email="dung@example.vn"
)
PDF = b"%PDF-1.4\n% receipt writes\n"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
MOMENT = re.compile(r'"last_state_change": [0-9.e+-]+')


def _flush_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Receive as before the statements: the new dossier added to the session and flushed."""
    monkeypatch.setattr(receipt_writes, "first_items", lambda *args, **kwargs: None)


def _receive(ctx, officers, code="1.001806", desk="sonv.motcua", **kwargs) -> svc.Receipt:
    kwargs.setdefault("applicant", APPLICANT)
    return svc.receive_dossier(
        ctx,
        procedure_code=code,
        channel="in_person",
        officer_id=officers[desk],
        now=at("2026-11-23 08:00"),
        **kwargs,
    )


def _columns(obj: Any) -> dict[str, Any]:
    return {attr.key: getattr(obj, attr.key) for attr in inspect(obj).mapper.column_attrs}


def _written(ctx, dossier_id: int) -> dict[str, Any]:
    """Every row the receipt wrote, column by column, in id order."""
    with ctx.uow() as uow:
        s = uow.session

        def rows(entity: Any) -> list[dict[str, Any]]:
            query = select(entity).where(entity.dossier_id == dossier_id).order_by(entity.id)
            return [_columns(o) for o in s.scalars(query)]

        handlers = s.scalars(select(DossierHandler).where(DossierHandler.dossier_id == dossier_id))
        return {
            "dossier": _columns(s.get_one(Dossier, dossier_id)),
            "work_item": rows(WorkItem),
            "dossier_event": rows(DossierEvent),
            "notification": rows(Notification),
            "attachment": rows(Attachment),
            "dossier_handler": sorted(h.agency_id for h in handlers),
        }


def _normalised(written: dict[str, Any]) -> Any:
    """The rows with what differs between two receipts of the same input replaced by the same marks:
    row ids (by position), the dossier code, SpiffWorkflow's task ids and state-change moments."""
    dossier = written["dossier"]
    item_ids = {row["id"]: f"<item {n}>" for n, row in enumerate(written["work_item"])}
    uuids: dict[str, str] = {}

    def text(value: str) -> str:
        value = value.replace(dossier["code"], "<code>").replace(normalise(dossier["code"]), "<code>")
        value = value.replace(f"dossier:{dossier['id']}:", "dossier:<id>:")
        value = MOMENT.sub('"last_state_change": <moment>', value)
        return UUID.sub(lambda m: uuids.setdefault(m.group(0), f"<task {len(uuids)}>"), value)

    def walk(value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            return {k: walk(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        if key == "work_item_id":
            return item_ids.get(value, value)
        if key in ("id", "dossier_id"):
            return "<id>"
        return text(value) if isinstance(value, str) else value

    return walk({k: v for k, v in written.items()})


@pytest.mark.parametrize(
    ("code", "desk", "extra"),
    [
        ("1.001806", "sonv.motcua", {}),
        ("NA.3854", "xa.motcua", {"documents": "listed", "submission_key": "receipt-writes"}),
        ("1.001193", "xa.motcua", {"uploads": [Upload("don.pdf", PDF)]}),
        ("1.001806", "sonv.motcua", {"forward": True}),
        ("NA.3854", "xa.motcua", {"forward": True}),
    ],
)
def test_a_receipt_writes_the_rows_the_flush_wrote(ctx, monkeypatch, code, desk, extra):
    officers = Officers(ctx)
    key = extra.get("submission_key")
    if extra.get("documents") == "listed":
        with ctx.uow() as uow:
            extra = {**extra, "documents": list(procedure_by_code(uow.session, code).required_documents)[:2]}
    by_statements = _receive(ctx, officers, code, desk, **extra)
    with monkeypatch.context() as patched:
        _flush_path(patched)
        if key:
            extra = {**extra, "submission_key": f"{key}-flush"}
        by_flush = _receive(ctx, officers, code, desk, **extra)
    assert by_statements.code != by_flush.code
    new, old = _written(ctx, by_statements.dossier_id), _written(ctx, by_flush.dossier_id)
    if key:
        assert (new["dossier"]["submission_key"], old["dossier"]["submission_key"]) == (key, f"{key}-flush")
        new["dossier"]["submission_key"] = old["dossier"]["submission_key"] = "<key>"
    assert new["work_item"] and new["dossier_event"] and len(new["notification"]) == 2  # SMS and e-mail
    assert len(new["attachment"]) == len(extra.get("uploads", []))
    assert new["dossier"]["version"] == old["dossier"]["version"]
    assert _normalised(new) == _normalised(old)
    assert (by_statements.due_at, by_statements.next_steps) == (by_flush.due_at, by_flush.next_steps)
    assert len(by_statements.work_item_ids) == len(by_flush.work_item_ids)


def test_a_first_step_at_another_agency_notes_it_as_a_handler_on_both_paths(ctx, monkeypatch):
    officers = Officers(ctx)
    with ctx.uow() as uow:
        office = uow.session.scalars(select(Agency.id).where(Agency.code == "000.00.01.H40")).one()
    # No sample procedure starts in another agency's lane; every first step is sent to the office.
    monkeypatch.setattr(svc, "_agency_for", lambda *args: office)
    new = _written(ctx, _receive(ctx, officers).dossier_id)
    with monkeypatch.context() as patched:
        _flush_path(patched)
        old = _written(ctx, _receive(ctx, officers).dossier_id)
    assert new["dossier_handler"] == old["dossier_handler"] == [office]
    assert [i["agency_id"] for i in new["work_item"]] == [office]
    assert _normalised(new) == _normalised(old)


def test_the_receipt_leaves_the_session_as_a_flush_would(ctx):
    officers = Officers(ctx)
    statements: list[str] = []
    with svc.use_case(ctx, "Tiếp nhận hồ sơ") as uow:
        session = uow.session
        procedure, version = svc._procedure_and_version(session, "1.001806")
        agency = _desk_agency(session, officers["sonv.motcua"])
        dossier, opened, _ = svc.receive_in(
            ctx,
            session,
            procedure=procedure,
            agency=agency,
            received_by_id=officers["sonv.motcua"],
            applicant=APPLICANT,
            channel="in_person",
            now=at("2026-11-23 08:00"),
            data=None,
            documents=None,
            uploads=(),
            submission_key=None,
            version=version,
        )
        assert not session.new and not session.dirty and not session.deleted
        assert inspect(dossier).persistent and all(inspect(i).persistent for i in opened)
        assert dossier.version == receipt_writes.RECEIVED_VERSION

        @event.listens_for(ctx.db, "before_cursor_execute")
        def count(_conn, _cursor, statement, *_args):
            statements.append(statement)

        try:
            # Every column is loaded: reading them (and the items') needs no statement.
            values = [_columns(dossier), *(_columns(i) for i in opened)]
            assert session.get(Dossier, dossier.id) is dossier
            assert {i.id for i in opened} == {session.get_one(WorkItem, i.id).id for i in opened}
        finally:
            event.remove(ctx.db, "before_cursor_execute", count)
        assert statements == []
        assert values[0]["deadline_version"] == 1 and values[0]["late_at"] is None
        assert all(v["counted"] is True and v["dossier_id"] == dossier.id for v in values[1:])
        uow.commit()
    # The next use case works on what the receipt left: the first step completes.
    (item,) = open_items(ctx, dossier.id)
    assert svc.complete(
        ctx, item.id, officers["sonv.motcua"], now=at("2026-11-23 09:00")
    ).opened_work_item_ids


def _desk_agency(session, officer_id):
    return session.get_one(Agency, session.get_one(Officer, officer_id).agency_id)


def _hold_after_draw(monkeypatch, drawn: threading.Event, release: threading.Event, fail: bool):
    """The first receipt to write waits, its number drawn and its row locked, until released; then it
    writes (or fails, rolling back)."""
    write = receipt_writes.write_receipt
    first = threading.Lock()

    def waiting(*args, **kwargs):
        if first.acquire(blocking=False):
            drawn.set()
            assert release.wait(30)
            if fail:
                raise Conflict("thử lỗi sau khi lấy số")
        return write(*args, **kwargs)

    monkeypatch.setattr(receipt_writes, "write_receipt", waiting)


@pytest.mark.parametrize("fail", [False, True])
def test_a_receipt_at_the_same_desk_meanwhile_waits_for_the_number(ctx, monkeypatch, fail):
    officers = Officers(ctx)
    drawn, release = threading.Event(), threading.Event()
    _hold_after_draw(monkeypatch, drawn, release, fail)
    results: dict[str, Any] = {}

    def run(name: str) -> None:
        try:
            results[name] = _receive(ctx, officers).code
        except Conflict as exc:
            results[name] = exc

    first = threading.Thread(target=run, args=("first",))
    first.start()
    assert drawn.wait(30)
    second = threading.Thread(target=run, args=("second",))
    second.start()
    second.join(timeout=0.5)
    assert second.is_alive()  # waiting for the first receipt's number row
    release.set()
    first.join(timeout=60)
    second.join(timeout=60)
    prefix = "000.00.12.H40-261123-"
    if fail:
        # The first receipt rolled back and gave its number back: no gap.
        assert isinstance(results["first"], Conflict)
        assert results["second"] == f"{prefix}0001"
    else:
        assert (results["first"], results["second"]) == (f"{prefix}0001", f"{prefix}0002")
    with ctx.uow() as uow:
        codes = sorted(uow.session.scalars(select(Dossier.code)))
    assert codes == sorted(r for r in results.values() if isinstance(r, str))


def _drawn_before_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """Receive as a diagram that names the dossier's code is received: the number drawn first."""
    compiled = svc.compiled_process

    def naming(*args, **kwargs):
        return dataclasses.replace(compiled(*args, **kwargs), names_dossier_code=True)

    monkeypatch.setattr(svc, "compiled_process", naming)


@pytest.mark.parametrize(
    ("code", "desk", "extra"),
    [
        ("1.001806", "sonv.motcua", {}),
        ("NA.3854", "xa.motcua", {"forward": True}),
        ("1.001193", "xa.motcua", {"uploads": [Upload("don.pdf", PDF)]}),
    ],
)
def test_a_workflow_given_its_code_after_the_start_writes_what_a_start_with_it_wrote(
    ctx, monkeypatch, code, desk, extra
):
    officers = Officers(ctx)
    late = _receive(ctx, officers, code, desk, **extra)  # the sample diagrams do not name the code
    with monkeypatch.context() as patched:
        _drawn_before_the_start(patched)
        early = _receive(ctx, officers, code, desk, **extra)
    new, old = _written(ctx, late.dossier_id), _written(ctx, early.dossier_id)
    assert _normalised(new) == _normalised(old)
    state = json.loads(new["dossier"]["workflow_state"])
    starts = [t["data"] for t in state["tasks"].values() if "dossier_code" in t["data"]]
    assert starts and all(data["dossier_code"] == late.code for data in starts)
    assert state["data"].get("dossier_code", late.code) == late.code
    assert (
        late.code in new["dossier"]["search_text"].upper()
        or normalise(late.code) in new["dossier"]["search_text"]
    )


def test_only_a_diagram_that_names_the_code_starts_with_its_number_drawn(ctx):
    with ctx.uow() as uow:
        procedure = procedure_by_code(uow.session, "1.001806")
        version = svc.active_version(uow.session, procedure)
        xml = version.bpmn_xml
    assert not compile_process(xml).names_dossier_code
    routed = xml.replace("outcome == ", "dossier_code != '' and outcome == ", 1)
    assert routed != xml and compile_process(routed).names_dossier_code
