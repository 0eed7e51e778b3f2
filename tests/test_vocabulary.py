"""One vocabulary: value sets with their Vietnamese labels, kept by CHECK constraints; one rule for
"overdue" and "due soon" wherever a due time is judged; one way of writing times and numbers."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError

from config import Settings
from engine import formatting
from engine.catalogue.loader import load_all
from engine.context import Context
from engine.deadlines.watcher import tick
from engine.runtime import dossiers as svc
from engine.runtime.apology import overdue_without_apology
from engine.runtime.consistency import repair_dossier
from engine.runtime.inbox import officer_inbox
from engine.statistics.health import gauges
from engine.urgency import due_window, is_overdue
from models import Dossier, DossierEvent, WorkItem
from models.migrate import current_revision, downgrade, upgrade
from models.vocabulary import VOCABULARIES, EventKind
from tests.conftest import LOADED_AT, VN, Officers, at, open_items
from tests.test_web import ctx_of
from tests.test_web_alerts import letter_id, overdue_dossier

APPLICANT = svc.Applicant(name="Lê Văn Cường", id_number="001203004006", phone="0912345679")


def receive(ctx: Context, officers: Officers, when: str = "2026-11-23 08:00") -> svc.Receipt:
    return svc.receive_dossier(
        ctx,
        procedure_code="1.001806",
        applicant=APPLICANT,
        channel="in_person",
        officer_id=officers["sonv.motcua"],
        now=at(when),
    )


def step(ctx: Context, officers: Officers, dossier_id: int, who: str, when: str) -> None:
    (item,) = open_items(ctx, dossier_id)
    svc.complete(ctx, item.id, officers[who], now=at(when))


# --- the value sets ---------------------------------------------------------------------------


def test_every_value_of_every_set_has_its_own_vietnamese_label():
    for vocabulary in VOCABULARIES:
        labels = [member.label for member in vocabulary]
        for member in vocabulary:
            # Vietnamese: written with diacritics, never the stored English value.
            assert any(ord(char) > 127 for char in member.label), (vocabulary.__name__, member.value)
            assert member.value not in member.label
        assert len(set(labels)) == len(labels), f"two values of {vocabulary.__name__} read the same"


def test_the_history_names_every_event_in_vietnamese_including_the_letter_and_the_repair(web, app, clock):
    code = overdue_dossier(web, app, clock)  # the watcher drafted the apology letter
    letter = letter_id(app, code)
    web.login("sonv.lanhdao")
    form = {"reason": "Chờ ý kiến cơ quan phối hợp", "new_due_date": "2026-12-15", "new_due_time": "16:00"}
    web.post(f"/xin-loi/{letter}", form, page=f"/xin-loi/{letter}")
    web.post(f"/xin-loi/{letter}/ky", {}, page=f"/xin-loi/{letter}")
    ctx = ctx_of(app)
    with ctx.uow() as uow:
        # A step marked done behind the workflow's back: the repair reopens it, on the record.
        dossier_id = uow.session.scalar(select(Dossier.id).where(Dossier.code == code))
        (item,) = uow.session.scalars(
            select(WorkItem).where(WorkItem.dossier_id == dossier_id, WorkItem.completed_at.is_(None))
        )
        item.completed_at, item.outcome = clock.moment, "done"
        uow.commit()
    assert repair_dossier(ctx, code, Officers(ctx)["sonv.lanhdao"], clock.moment).changes
    with ctx.uow() as uow:
        kinds = set(
            uow.session.scalars(select(DossierEvent.kind).where(DossierEvent.dossier_id == dossier_id))
        )
    assert {"apology_drafted", "apology_edited", "apology_issued", "appointment_moved", "repaired"} <= kinds
    page = web.get(f"/ho-so/{code}").get_data(as_text=True)
    history = page.split('id="events"')[1].split("</ol>")[0]
    for kind in kinds:
        assert f"<strong>{EventKind(kind).label}</strong>" in history
    assert "Sửa dữ liệu hồ sơ cho khớp quy trình" in history and "Mở lại bước" in history
    assert not any(f"<strong>{kind}</strong>" in history for kind in kinds)


# --- the CHECK constraints --------------------------------------------------------------------

OUTSIDE = [
    ("ck_dossier_status", "UPDATE dossier SET status = 'lost'"),
    ("ck_dossier_channel", "UPDATE dossier SET channel = 'fax'"),
    ("ck_dossier_result_class", "UPDATE dossier SET result_class = 'late_ish'"),
    ("ck_work_item_kind", "UPDATE work_item SET kind = 'review'"),
    ("ck_work_item_result_class", "UPDATE work_item SET result_class = 'early_ish'"),
    ("ck_dossier_event_kind", "UPDATE dossier_event SET kind = 'unclaimed'"),
    ("ck_process_version_status", "UPDATE process_version SET status = 'archived'"),
]


def test_the_database_refuses_a_value_outside_its_set(ctx, officers):
    receive(ctx, officers)
    for name, statement in OUTSIDE:
        with ctx.uow() as uow, pytest.raises(IntegrityError, match=name):
            uow.session.execute(text(statement))
    # The ORM path too: a status nobody declared never reaches the table.
    with ctx.uow() as uow:
        uow.session.scalars(select(Dossier)).one().status = "lost"
        with pytest.raises(IntegrityError, match="ck_dossier_status"):
            uow.session.flush()
    with ctx.uow() as uow:
        assert uow.session.scalars(select(Dossier.status)).all() == ["processing"]


def test_an_event_outside_the_set_is_refused_before_the_database(ctx, officers):
    receipt = receive(ctx, officers)
    with ctx.uow() as uow:
        dossier = uow.session.get(Dossier, receipt.dossier_id)
        with pytest.raises(ValueError, match="unclaimed"):
            svc.record_event(uow.session, dossier, "unclaimed", None, at("2026-11-23 09:00"))


def test_the_checks_come_and_go_with_the_migration_on_a_sqlite_database_holding_dossiers(tmp_path):
    # SQLite adds a CHECK by rebuilding the table, which other tables' rows point at.
    ctx = Context.from_settings(Settings().with_overrides(database_url=f"sqlite:///{tmp_path / 'old.db'}"))
    try:
        # The rows are written with today's models (at the newest revision), then the schema goes
        # back to 0007 with them in it: the upgrade below is the one from 0007 on a database
        # holding dossiers.
        upgrade(ctx.db)
        load_all(ctx, LOADED_AT)
        receipt = receive(ctx, Officers(ctx))
        step(ctx, Officers(ctx), receipt.dossier_id, "sonv.motcua", "2026-11-23 09:00")
        downgrade(ctx.db, "0007")
        upgrade(ctx.db)
        checks = {c["name"] for c in inspect(ctx.db).get_check_constraints("dossier")}
        assert checks == {"ck_dossier_status", "ck_dossier_channel", "ck_dossier_result_class"}
        (item,) = open_items(ctx, receipt.dossier_id)
        assert item.task_id == "Task_Assign"
        downgrade(ctx.db, "0007")
        assert (current_revision(ctx.db), inspect(ctx.db).get_check_constraints("dossier")) == ("0007", [])
        upgrade(ctx.db)
        with ctx.uow() as uow:
            assert uow.session.get(Dossier, receipt.dossier_id).status == "processing"
            assert len(uow.session.scalars(select(WorkItem)).all()) == 2
    finally:
        ctx.db.dispose()


# --- overdue and due soon ---------------------------------------------------------------------


def test_a_due_time_is_overdue_from_the_moment_it_is_reached():
    due = at("2026-11-23 13:30")
    assert (is_overdue(due, due - timedelta(microseconds=1)), is_overdue(due, due)) == (False, True)
    assert is_overdue(None, due) is False


def test_a_step_is_overdue_in_the_inbox_from_the_moment_the_watcher_alerts_it(ctx, officers):
    receive(ctx, officers)  # reception step: due 13:30
    desk = officers["sonv.motcua"]
    before, due = at("2026-11-23 13:29"), at("2026-11-23 13:30")
    page = officer_inbox(ctx, desk, now=before)
    assert (page.rows[0].urgency, page.counts["overdue"]) == ("soon", 0)
    assert officer_inbox(ctx, desk, now=before, status="overdue").total == 0
    assert tick(ctx, before).count("overdue") == 0
    page = officer_inbox(ctx, desk, now=due)
    assert (page.rows[0].urgency, page.counts["overdue"], page.counts["soon"]) == ("overdue", 1, 0)
    assert officer_inbox(ctx, desk, now=due, status="overdue").total == 1
    assert tick(ctx, due).count("overdue") == 1


def test_a_step_is_due_soon_in_the_inbox_from_the_moment_the_watcher_warns(ctx, officers):
    receipt = receive(ctx, officers)
    step(ctx, officers, receipt.dossier_id, "sonv.motcua", "2026-11-23 08:30")
    step(ctx, officers, receipt.dossier_id, "sonv.truongphong", "2026-11-23 09:00")
    (process,) = open_items(ctx, receipt.dossier_id)
    # Due Thursday 3/12 09:00; four working hours before is Wednesday 2/12 14:30.
    assert process.due_at == at("2026-12-03 09:00")
    specialist = officers["sonv.chuyenvien1"]
    before, warned = at("2026-12-02 14:29"), at("2026-12-02 14:30")
    page = officer_inbox(ctx, specialist, now=before)
    assert (page.rows[0].urgency, page.counts["soon"]) == ("ok", 0)
    assert tick(ctx, before).count("due_soon") == 0
    page = officer_inbox(ctx, specialist, now=warned)
    assert (page.rows[0].urgency, page.counts["soon"]) == ("soon", 1)
    assert officer_inbox(ctx, specialist, now=warned, status="soon").total == 1
    assert tick(ctx, warned).count("due_soon") == 1
    window = due_window(ctx.calendar, warned, ctx.settings.warning_hours)
    assert (window.soon_end, window.urgency(process.due_at)) == (process.due_at, "soon")


def test_a_dossier_is_overdue_from_its_legal_due_time_in_the_lists_the_gauges_and_the_watcher(ctx, officers):
    receipt = receive(ctx, officers)
    with ctx.uow() as uow:
        dossier = uow.session.get(Dossier, receipt.dossier_id)
        due, agency_id = dossier.due_at, dossier.agency_id
    before = due - timedelta(minutes=1)
    with ctx.uow() as uow:
        dossier = uow.session.get(Dossier, receipt.dossier_id)
        assert (dossier.is_late_at(before), dossier.is_late_at(due)) == (False, True)
        assert overdue_without_apology(uow.session, agency_id, before) == []
        assert [r.code for r in overdue_without_apology(uow.session, agency_id, due)] == [receipt.code]
    assert gauges(ctx, before, with_history=False).overdue_dossiers == 0
    assert gauges(ctx, due, with_history=False).overdue_dossiers == 1
    assert tick(ctx, before).count("late_unapologised") == 0
    assert tick(ctx, due).count("late_unapologised") == 1
    # Lateness itself is recorded once the due time has passed: a result ready at it is on time.
    with ctx.uow() as uow:
        assert uow.session.get(Dossier, receipt.dossier_id).late_at is None
    tick(ctx, due + timedelta(minutes=1))
    with ctx.uow() as uow:
        assert uow.session.get(Dossier, receipt.dossier_id).late_at == due


def test_a_result_ready_at_the_due_time_itself_is_on_time_one_after_it_late(ctx):
    due = at("2026-11-25 10:00")
    assert svc.classify(due, due, ctx) == "on_time"
    assert svc.classify(due + timedelta(seconds=1), due, ctx) == "late"
    assert svc.classify(at("2026-11-24 16:00"), due, ctx) == "early"


# --- writing times, hours and numbers ---------------------------------------------------------


def test_times_hours_and_numbers_are_written_the_vietnamese_way():
    moment = at("2026-02-25 10:00").astimezone(UTC)
    assert formatting.local_time(moment, VN) == "10:00 ngày 25/02/2026"
    assert formatting.short_time(moment, VN) == "10:00 25/02/2026"
    assert formatting.in_zone(moment, VN) == "25/02/2026 10:00"
    assert (formatting.local_time(None, VN), formatting.short_time(None, VN)) == ("chưa xác định", "?")
    assert [formatting.number(v) for v in (2.5, 3.0, 10, 1234.56, None)] == ["2,5", "3", "10", "1234,6", ""]
    assert (formatting.number(10, 0), formatting.number(0.125, 2), formatting.hours(3.5)) == (
        "10",
        "0,12",
        "3,5",
    )
    assert formatting.working_time(-20, 8) == "quá 2 ngày 4 giờ"
    assert formatting.working_time(16, 8) == "2 ngày"
    assert formatting.working_time(0.5, 8) == "0,5 giờ"
    assert formatting.working_time(None, 8) == "tạm dừng"
