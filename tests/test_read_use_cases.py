"""The engine's read use cases: each checks who asks, in the caller's unit of work or its own."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, update

from engine.accounts import sign_in, signed_in_officer
from engine.catalogue.procedures import procedure_by_code
from engine.catalogue.version_views import catalogue_page, procedure_page
from engine.catalogue.versions import check_diagram, versions_of
from engine.context import Context
from engine.deadlines.page_header import page_header
from engine.deadlines.watcher import tick
from engine.errors import Forbidden, InvalidInput, NotFound
from engine.notify.notification_views import failed_messages, own_notifications
from engine.runtime import dossiers as svc
from engine.runtime.apology_views import letter_page, overdue_list
from engine.runtime.desk import desk_checklist, desk_dossier, desk_page
from engine.runtime.dossier_views import dossier_page, task_page
from engine.runtime.forms import printed_dossier_form
from engine.runtime.inbox import officer_inbox
from engine.statistics.health import gauges, readiness
from engine.statistics.report_pages import dashboard_page, statistics_page
from models import Officer
from tests.conftest import Officers, at, open_items
from tests.test_runtime import APPLICANT, work
from tests.test_web import receive as receive_on_the_web

SPECIALISTS = ["Lê Thị Thu Hà", "Phạm Quốc Huy"]  # sonv.chuyenvien1 and 2, by name


def receive(
    ctx: Context, officers: Officers, code: str = "1.001806", desk: str = "sonv.motcua"
) -> svc.Receipt:
    return svc.receive_dossier(
        ctx,
        procedure_code=code,
        applicant=APPLICANT,
        channel="in_person",
        officer_id=officers[desk],
        now=at("2026-11-23 08:00"),
    )


def at_the_specialists(ctx: Context, officers: Officers) -> svc.Receipt:
    """A dossier of Sở Nội vụ past reception, waiting in the specialists' pool."""
    receipt = receive(ctx, officers)
    work(ctx, officers, receipt.dossier_id, "sonv.motcua", at("2026-11-23 09:00"))
    work(ctx, officers, receipt.dossier_id, "sonv.truongphong", at("2026-11-23 10:00"))
    return receipt


# --- dossiers and tasks ------------------------------------------------------------------------


def test_dossier_page_is_refused_to_an_agency_that_never_touched_the_dossier(ctx, officers):
    receipt = receive(ctx, officers)
    page = dossier_page(ctx, officers["sonv.chuyenvien1"], receipt.code)
    assert (page.dossier.code, page.procedure.code) == (receipt.code, "1.001806")
    with pytest.raises(Forbidden, match="không thuộc cơ quan của ông/bà"):
        dossier_page(ctx, officers["xa.lanhdao"], receipt.code)
    with pytest.raises(Forbidden):
        printed_dossier_form(ctx, officers["xa.motcua"], receipt.code, "01")
    with pytest.raises(NotFound):
        dossier_page(ctx, officers["sonv.chuyenvien1"], "KHONG-CO")


def test_dossier_page_is_open_to_the_agency_holding_a_step_of_another_agencys_dossier(ctx, officers):
    receipt = receive(ctx, officers, code="NA.3854", desk="xa.motcua")
    with pytest.raises(Forbidden):
        dossier_page(ctx, officers["sonv.truongphong"], receipt.code)
    now = at("2026-11-23 08:00")
    for who, outcome in [
        ("xa.motcua", None),
        ("xa.truongphong", None),
        ("xa.chuyenvien", "forward"),
        ("xa.truongphong", None),
        ("xa.lanhdao", None),
        ("xa.vanthu", None),
    ]:
        now += timedelta(hours=1)
        work(ctx, officers, receipt.dossier_id, who, now, outcome=outcome)
    # The province's step is now at Sở Nội vụ, whose officers may open the commune's dossier.
    assert dossier_page(ctx, officers["sonv.truongphong"], receipt.code).dossier.code == receipt.code
    with pytest.raises(Forbidden):
        dossier_page(ctx, officers["vp.chuyenvien"], receipt.code)


def test_disabled_officer_reads_nothing(ctx, officers):
    receipt = receive(ctx, officers)
    with ctx.uow() as uow:
        uow.session.execute(update(Officer).where(Officer.username == "sonv.lanhdao").values(active=False))
        uow.commit()
    with pytest.raises(Forbidden, match=r"sonv\.lanhdao đã bị khóa"):
        dossier_page(ctx, officers["sonv.lanhdao"], receipt.code)
    assert signed_in_officer(ctx, officers["sonv.lanhdao"]) is None


def test_task_page_is_refused_to_another_agency_and_offers_the_steps_outcomes(ctx, officers):
    receipt = at_the_specialists(ctx, officers)
    (item,) = open_items(ctx, receipt.dossier_id)
    page = task_page(ctx, officers["sonv.chuyenvien1"], item.id)
    assert (page.view.item.id, page.view.dossier.dossier.code) == (item.id, receipt.code)
    assert all(o.value not in ("supplement", "refuse") for o in page.outcomes)
    assert page.can_supplement
    with pytest.raises(Forbidden, match="thuộc cơ quan khác"):
        task_page(ctx, officers["xa.chuyenvien"], item.id)
    with pytest.raises(NotFound):
        task_page(ctx, officers["sonv.chuyenvien1"], 10**9)


def test_only_a_supervisor_of_the_agency_gets_reassignment_candidates_holding_the_steps_role(ctx, officers):
    receipt = at_the_specialists(ctx, officers)
    (item,) = open_items(ctx, receipt.dossier_id)
    assert task_page(ctx, officers["sonv.chuyenvien1"], item.id).colleagues == []
    candidates = task_page(ctx, officers["sonv.giamsat"], item.id).colleagues
    assert [name for _, name in candidates] == SPECIALISTS
    with ctx.uow() as uow:
        uow.session.execute(
            update(Officer).where(Officer.username == "sonv.chuyenvien2").values(active=False)
        )
        uow.commit()
    assert [name for _, name in task_page(ctx, officers["sonv.giamsat"], item.id).colleagues] == SPECIALISTS[
        :1
    ]


# --- the desk ------------------------------------------------------------------------------


def test_desk_reads_are_for_desk_officers_and_their_own_receipts(ctx, officers):
    receipt = receive(ctx, officers)
    documents = desk_checklist(ctx, officers["sonv.motcua"], "1.001806")
    assert documents and documents == procedure_by_code_documents(ctx, "1.001806")
    assert desk_checklist(ctx, officers["sonv.motcua"], "9.999999") == []
    assert desk_checklist(ctx, officers["sonv.motcua"], None) == []
    with pytest.raises(Forbidden, match="Bộ phận Một cửa"):
        desk_checklist(ctx, officers["sonv.chuyenvien1"], "1.001806")
    with pytest.raises(Forbidden):
        desk_page(ctx, officers["sonv.lanhdao"])
    assert desk_dossier(ctx, officers["sonv.motcua"], receipt.code).dossier.code == receipt.code
    with pytest.raises(Forbidden):
        desk_dossier(ctx, officers["xa.motcua"], receipt.code)


def procedure_by_code_documents(ctx: Context, code: str) -> list[str]:
    with ctx.uow() as uow:
        return list(procedure_by_code(uow.session, code).required_documents)


def test_procedure_by_code_names_the_missing_procedure(ctx):
    with ctx.uow() as uow:
        assert procedure_by_code(uow.session, "1.001193").name == "Thủ tục đăng ký khai sinh"
        with pytest.raises(NotFound, match=r"Thủ tục 9\.999999 không có trong danh mục thủ tục hành chính"):
            procedure_by_code(uow.session, "9.999999")


# --- the inbox ------------------------------------------------------------------------------


def test_due_soon_in_the_inbox_is_the_settings_warning_hours_the_watcher_warns_by(make_ctx):
    ctx = make_ctx()
    officers = Officers(ctx)
    receive(ctx, officers)  # reception step: 4 working hours, due 13:30
    moment = at("2026-11-23 08:30")  # 3.5 working hours left, within the default 4
    (row,) = officer_inbox(ctx, officers["sonv.motcua"], now=moment).rows
    assert row.urgency == "soon"
    short_warning = make_ctx(warning_hours=2)
    page = officer_inbox(short_warning, officers["sonv.motcua"], now=moment)
    assert (page.rows[0].urgency, page.counts["soon"]) == ("ok", 0)
    assert [code for _, code, _ in page.procedures] == ["1.001806"]


# --- apology letters and notifications ------------------------------------------------------


def test_letters_and_overdue_lists_are_for_the_agencies_concerned(ctx, officers):
    receipt = receive(ctx, officers)
    moment = at("2026-12-08 10:00")
    tick(ctx, moment)
    (line,) = overdue_list(ctx, officers["sonv.lanhdao"], moment)
    assert line.code == receipt.code and line.letter_id is not None
    assert letter_page(ctx, officers["sonv.lanhdao"], line.letter_id).dossier.code == receipt.code
    with pytest.raises(Forbidden):
        letter_page(ctx, officers["xa.lanhdao"], line.letter_id)
    with pytest.raises(Forbidden, match="lãnh đạo, giám sát"):
        overdue_list(ctx, officers["sonv.chuyenvien1"], moment)
    assert overdue_list(ctx, officers["xa.lanhdao"], moment) == []
    assert any(n.dossier_code == receipt.code for n in own_notifications(ctx, officers["sonv.lanhdao"]))
    assert page_header(ctx, officers["sonv.lanhdao"], moment).unread_count > 0
    with pytest.raises(Forbidden, match="quản trị hệ thống"):
        failed_messages(ctx, officers["sonv.lanhdao"])


# --- the catalogue ---------------------------------------------------------------------------


def test_catalogue_reads_and_the_diagram_check_are_for_process_owners_and_approvers(ctx, officers):
    assert "1.001806" in [e.code for e in catalogue_page(ctx, officers["vp.pheduyet"])]
    with pytest.raises(Forbidden):
        catalogue_page(ctx, officers["sonv.lanhdao"])
    assert procedure_page(ctx, officers["sonv.quytrinh"], "1.001806").may_edit
    assert not procedure_page(ctx, officers["vp.pheduyet"], "1.001806").may_edit
    with ctx.uow() as uow:
        (active,) = [v for v in versions_of(uow.session, "1.001806") if v.status == "active"]
        with pytest.raises(NotFound):
            procedure_by_code(uow.session, "9.999999")
    with ctx.uow() as uow:
        from engine.catalogue.versions import version_xml

        text = version_xml(uow.session, active.id).text.encode()
    checked = check_diagram(ctx, officers["sonv.quytrinh"], active.id, text)
    assert checked.problems == [] and checked.counted_hours is not None
    assert checked.legal_hours == 80  # ten working days of eight hours
    broken = check_diagram(ctx, officers["sonv.quytrinh"], active.id, b"<not-bpmn")
    assert broken.problems and broken.counted_hours is None
    with pytest.raises(Forbidden):
        check_diagram(ctx, officers["sonv.chuyenvien1"], active.id, text)


# --- reports ---------------------------------------------------------------------------------


def test_report_scope_keeps_agency_readers_to_their_own_agency(ctx, officers):
    receive(ctx, officers)
    moment = at("2026-11-30 09:00")
    own = statistics_page(ctx, officers["sonv.lanhdao"], now=moment)
    assert (own.scope.agency_code, own.scope.period.label, own.agencies) == ("000.00.12.H40", "2026-11", [])
    assert own.report.total["received_total"] == 1
    with pytest.raises(Forbidden, match="cơ quan mình"):
        statistics_page(ctx, officers["xa.lanhdao"], now=moment, agency="000.00.12.H40")
    with pytest.raises(Forbidden, match="Báo cáo dành cho"):
        statistics_page(ctx, officers["sonv.chuyenvien1"], now=moment)
    with pytest.raises(InvalidInput) as bad:
        statistics_page(ctx, officers["sonv.lanhdao"], now=moment, period="2026-13")
    assert bad.value.field == "period"
    province = statistics_page(ctx, officers["vp.pheduyet"], now=moment, group_by="agency")
    assert province.scope.agency_code is None and len(province.agencies) == 4
    assert (
        statistics_page(ctx, officers["vp.pheduyet"], now=moment, agency="000.01.25.H40").report.total[
            "received_total"
        ]
        == 0
    )
    assert dashboard_page(ctx, officers["sonv.lanhdao"], now=moment).agency_code == "000.00.12.H40"
    with pytest.raises(Forbidden):
        dashboard_page(ctx, officers["sonv.lanhdao"], now=moment, agency="000.01.25.H40")


# --- sign-in and health ----------------------------------------------------------------------


def test_sign_in_returns_what_the_session_keeps(ctx, officers):
    who = sign_in(ctx, "sonv.giamsat", "motcua-demo")
    assert (who.id, who.agency_code, who.agency_name) == (
        officers["sonv.giamsat"],
        "000.00.12.H40",
        "Sở Nội vụ",
    )
    assert who.has_role("supervisor") and not who.has_role("desk")
    assert signed_in_officer(ctx, who.id) == who


def test_health_counts_open_and_overdue_work_and_a_never_ticked_scheduler(ctx, officers):
    receive(ctx, officers)
    found = gauges(ctx, at("2026-11-23 16:00"), with_history=True)
    assert (found.open_dossiers["processing"], found.overdue_dossiers, found.overdue_work_items) == (1, 0, 1)
    assert found.history is not None and found.tick_age_seconds is None
    assert gauges(ctx, at("2026-11-23 16:00"), with_history=False).history is None
    ready = readiness(ctx, datetime.now(UTC))
    assert (ready.status, ready.migrations_current, ready.scheduler.stale) == ("degraded", True, True)


# --- one unit of work per request ------------------------------------------------------------


@contextmanager
def transactions(ctx: Context) -> Iterator[list[int]]:
    """Count the transactions begun on the context's database."""
    begun: list[int] = []

    def on_begin(_conn) -> None:
        begun.append(1)

    event.listen(ctx.db, "begin", on_begin)
    try:
        yield begun
    finally:
        event.remove(ctx.db, "begin", on_begin)


def test_a_page_reads_the_officer_its_header_and_its_content_in_one_transaction(web, app):
    code = receive_on_the_web(web)
    ctx = app.extensions["motcua"]
    for url in (f"/ho-so/{code}", "/", "/mot-cua/", f"/ho-so/?q={code}"):
        with transactions(ctx) as begun:
            response = web.get(url)
        assert response.status_code == 200, url
        assert len(begun) == 1, url


def test_a_form_post_reads_the_officer_then_acts_in_its_own_transaction(web, app):
    code = receive_on_the_web(web)
    ctx = app.extensions["motcua"]
    token = web.csrf("/")
    with transactions(ctx) as begun:
        response = web.http.post(
            f"/mot-cua/ho-so/{code}/rut-ho-so", data={"reason": "Công dân đổi ý", "csrf_token": token}
        )
    assert response.status_code == 302
    # The signed-in officer and the header, then the withdrawal with its own access check.
    assert len(begun) == 2
