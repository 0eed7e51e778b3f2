"""Điều hành: the worklists of the agency's leader, its supervisor and the approvers, the approvers'
notification when a version is submitted, and the confirmation asked before a version is activated."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from engine.catalogue import versions as v
from engine.context import Context
from engine.deadlines.watcher import tick
from engine.errors import Forbidden
from engine.notify.notifications import officer_notifications
from engine.runtime import dossiers as svc
from engine.runtime.worklists import worklist_page, worklist_waiting
from models import ProcessVersion, WorkItem
from tests.conftest import Officers, at, open_items
from tests.test_web import ctx_of

APPLICANT = svc.Applicant(name="Lê Văn Cường", phone="0912345678")
RECEIVED = "2026-11-23 08:00"
# Two weeks on: both dossiers' first steps are overdue and the watcher has drafted their letters.
LATE = "2026-12-08 10:00"


def receive(ctx: Context, officers: Officers, code: str, desk: str, when: str = RECEIVED) -> svc.Receipt:
    return svc.receive_dossier(
        ctx,
        procedure_code=code,
        applicant=APPLICANT,
        channel="in_person",
        officer_id=officers[desk],
        now=at(when),
    )


def left_late(ctx: Context, officers: Officers) -> tuple[str, str]:
    """A dossier of Sở Nội vụ and one of the commune, both left at their first step past their due times."""
    department = receive(ctx, officers, "1.001806", "sonv.motcua")
    commune = receive(ctx, officers, "1.001193", "xa.motcua")
    tick(ctx, at("2026-12-07 09:00"))
    tick(ctx, at(LATE))
    return department.code, commune.code


def codes(rows) -> set[str]:
    return {getattr(r, "dossier_code", None) or r.code for r in rows}


def status_of(app_or_ctx, version_id: int) -> str:
    ctx = app_or_ctx if isinstance(app_or_ctx, Context) else ctx_of(app_or_ctx)
    with ctx.uow() as uow:
        return uow.session.scalar(select(ProcessVersion.status).where(ProcessVersion.id == version_id))


# ----- the engine ------------------------------------------------------------------------------


def test_the_leader_sees_the_late_step_and_the_letter_to_sign_of_their_agency_only(ctx, officers):
    department, commune = left_late(ctx, officers)
    page = worklist_page(ctx, officers["sonv.lanhdao"], at(LATE))
    assert page.leader is not None and page.supervisor is None and page.versions is None
    assert department in codes(page.leader.late_steps) and commune not in codes(page.leader.late_steps)
    assert department in codes(page.leader.late_dossiers) and commune not in codes(page.leader.late_dossiers)
    assert codes(page.leader.letters) == {department}
    late = next(r for r in page.leader.late_steps if r.dossier_code == department)
    assert (
        late.urgency == "overdue"
        and late.remaining_hours < 0
        and late.holder == "Chưa phân công (Bộ phận Một cửa)"
    )
    assert page.leader.counts["late_steps"] == len(page.leader.late_steps)
    # The commune's leader sees the commune's dossier and letter, not the department's.
    other = worklist_page(ctx, officers["xa.lanhdao"], at(LATE))
    assert codes(other.leader.letters) == {commune}
    assert department not in codes(other.leader.late_steps)
    assert (
        worklist_waiting(ctx, officers["sonv.lanhdao"], at(LATE))
        == page.waiting
        == len(page.leader.late_steps) + 1
    )


def test_a_step_due_within_the_warning_window_is_due_soon_not_late(ctx, officers):
    receipt = receive(ctx, officers, "1.001806", "sonv.motcua")
    (item,) = open_items(ctx, receipt.dossier_id)
    page = worklist_page(ctx, officers["sonv.lanhdao"], item.due_at - (at("2026-11-23 10:00") - at(RECEIVED)))
    assert codes(page.leader.soon_steps) == {receipt.code} and page.leader.late_steps == []
    assert (
        worklist_page(ctx, officers["sonv.lanhdao"], item.due_at).leader.late_steps[0].dossier_code
        == receipt.code
    )


def test_the_supervisor_sees_open_work_per_officer_with_counts_matching_the_rows(ctx, officers):
    first, second, third = (receive(ctx, officers, "1.001806", "sonv.motcua") for _ in range(3))
    for receipt in (first, second):
        svc.claim(
            ctx, open_items(ctx, receipt.dossier_id)[0].id, officers["sonv.motcua"], at("2026-11-23 09:00")
        )
    now = at("2026-11-25 10:00")
    page = worklist_page(ctx, officers["sonv.giamsat"], now)
    supervisor = page.supervisor
    assert supervisor is not None and page.leader is None
    desk = next(load for load in supervisor.officers if load.officer_id == officers["sonv.motcua"])
    assert desk.open == len(desk.items) == 2
    assert {r.dossier_code for r in desk.items} == {first.code, second.code}
    assert desk.overdue == sum(r.urgency == "overdue" for r in desk.items)
    assert desk.soon == sum(r.urgency == "soon" for r in desk.items)
    (pool,) = supervisor.pools
    assert (pool.roles, pool.open, [r.dossier_code for r in pool.items]) == (("desk",), 1, [third.code])
    every = supervisor.officers + supervisor.pools
    assert supervisor.totals == {
        "open": sum(load.open for load in every),
        "overdue": sum(load.overdue for load in every),
        "soon": sum(load.soon for load in every),
    }
    # Officers with no open work are listed too (someone to hand work to), and the commune's are not.
    names = {load.name for load in supervisor.officers}
    assert {"Lê Thị Thu Hà", "Phạm Quốc Huy"} <= names and "Nguyễn Văn Tâm" not in names
    # The pool's item may go to the desk officer, the one with its role in the agency.
    assert [c.id for c in supervisor.candidates_for(pool.items[0])] == [officers["sonv.motcua"]]
    assert supervisor.candidates_for(desk.items[0]) == []


@pytest.mark.parametrize("username", ["sonv.chuyenvien1", "sonv.motcua", "sonv.truongphong", "sonv.quytrinh"])
def test_officers_without_a_worklist_role_are_refused(ctx, officers, username):
    with pytest.raises(Forbidden, match="Điều hành"):
        worklist_page(ctx, officers[username], at(LATE))
    assert worklist_waiting(ctx, officers[username], at(LATE)) == 0


def test_approvers_are_notified_in_the_submission_and_see_the_submitted_version(ctx, officers):
    owner, approver = officers["sonv.quytrinh"], officers["vp.pheduyet"]
    draft = v.new_draft_from_active(ctx, "1.001806", owner, at("2026-11-20 08:00"))
    with pytest.raises(Forbidden):
        v.submit(ctx, draft.version_id, approver, at("2026-11-20 09:00"))
    with ctx.uow() as uow:
        assert officer_notifications(uow.session, approver) == []
    v.submit(ctx, draft.version_id, owner, at("2026-11-20 10:00"))
    with ctx.uow() as uow:
        (note,) = officer_notifications(uow.session, approver)
        assert officer_notifications(uow.session, officers["sonv.lanhdao"]) == []
    assert note.subject == f"Quy trình 1.001806 phiên bản {draft.number} chờ phê duyệt"
    assert "Bùi Thị Ngọc Ánh" in note.body and note.unread
    (waiting,) = worklist_page(ctx, approver, at("2026-11-20 11:00")).versions
    assert (waiting.version_id, waiting.procedure_code, waiting.number) == (
        draft.version_id,
        "1.001806",
        draft.number,
    )
    assert (waiting.submitted_by, waiting.submitted_at) == ("Bùi Thị Ngọc Ánh", at("2026-11-20 10:00"))
    assert worklist_waiting(ctx, approver, at("2026-11-20 11:00")) == 1
    # Returned and submitted again: the approvers are told again; approved, it waits no more.
    v.withdraw_submission(ctx, draft.version_id, approver, at("2026-11-20 11:00"), note="Sửa tên bước")
    assert worklist_page(ctx, approver, at("2026-11-20 11:30")).versions == []
    v.submit(ctx, draft.version_id, owner, at("2026-11-20 13:00"))
    with ctx.uow() as uow:
        assert len(officer_notifications(uow.session, approver)) == 2
    (again,) = worklist_page(ctx, approver, at("2026-11-20 13:30")).versions
    assert again.submitted_at == at("2026-11-20 13:00")


# ----- the pages -------------------------------------------------------------------------------


def test_the_leader_page_lists_the_late_step_and_links_the_letter_to_sign(web, app, clock):
    officers = Officers(ctx_of(app))
    department, commune = left_late(ctx_of(app), officers)
    clock.moment = at(LATE)
    web.login("sonv.lanhdao")
    html = web.get("/dieu-hanh").get_data(as_text=True)
    late_steps = html.split('id="late-steps"')[1].split("</table>")[0]
    assert department in late_steps and commune not in html
    letters = html.split('id="letters"')[1].split("</table>")[0]
    (letter_id,) = re.findall(r'href="/xin-loi/(\d+)"', letters)
    assert department in letters and "Xem và ký" in letters
    assert web.get(f"/xin-loi/{letter_id}").status_code == 200
    assert re.search(r'id="worklist-count"[^>]*>(\d+)<', html).group(1) == str(
        worklist_waiting(ctx_of(app), officers["sonv.lanhdao"], at(LATE))
    )


def test_the_supervisor_reassigns_an_item_from_the_list(web, app, clock):
    ctx = ctx_of(app)
    officers = Officers(ctx)
    receipt = receive(ctx, officers, "1.001806", "sonv.motcua")
    (item,) = open_items(ctx, receipt.dossier_id)
    web.login("sonv.giamsat")
    html = web.get("/dieu-hanh").get_data(as_text=True)
    form = re.search(rf'<form method="post" action="/viec/{item.id}/chuyen".*?</form>', html, re.S).group(0)
    assert f'<option value="{officers["sonv.motcua"]}">Nguyễn Thị Hồng</option>' in form
    assert 'name="next" value="/dieu-hanh#pool-desk"' in form and 'name="csrf_token"' in form
    web.post(
        f"/viec/{item.id}/chuyen", {"to": officers["sonv.motcua"], "next": "/dieu-hanh"}, page="/dieu-hanh"
    )
    with ctx.uow() as uow:
        assert uow.session.get(WorkItem, item.id).assignee_id == officers["sonv.motcua"]
    html = web.get("/dieu-hanh").get_data(as_text=True)
    row = re.search(rf'<tr id="officer-{officers["sonv.motcua"]}"[^>]*>', html).group(0)
    assert 'data-open="1"' in row and 'id="pool-desk"' not in html


def test_officers_without_a_worklist_role_get_403_and_no_menu_entry(web):
    web.login("sonv.chuyenvien1")
    assert web.get("/dieu-hanh").status_code == 403
    assert "Điều hành" not in web.get("/").get_data(as_text=True)
    web.login("vp.pheduyet")
    assert 'id="nav-worklist"' in web.get("/").get_data(as_text=True)


def test_approval_without_confirmation_changes_nothing_and_with_it_activates(web, app):
    ctx = ctx_of(app)
    officers = Officers(ctx)
    draft = v.new_draft_from_active(ctx, "1.001806", officers["sonv.quytrinh"], at("2026-11-20 08:00"))
    v.submit(ctx, draft.version_id, officers["sonv.quytrinh"], at("2026-11-20 10:00"))
    web.login("vp.pheduyet")
    assert f"/quy-trinh/phien-ban/{draft.version_id}" in web.get("/dieu-hanh").get_data(as_text=True)
    url = f"/quy-trinh/phien-ban/{draft.version_id}/phe-duyet"
    decision = {"decision_number": "125/QĐ-UBND", "decision_date": "2026-11-20"}
    shown = web.post(url, decision, page="/dieu-hanh")
    page = shown.get_data(as_text=True)
    assert shown.status_code == 200 and "Xác nhận phê duyệt và áp dụng" in page
    assert (
        "125/QĐ-UBND" in page and "20/11/2026" in page and "Phiên bản 1 đang áp dụng sẽ ngừng áp dụng" in page
    )
    assert 'name="confirm" value="1"' in page
    assert status_of(app, draft.version_id) == "submitted"
    refused = web.post(url, {"decision_number": "", "decision_date": "2026-11-20"}, page="/dieu-hanh")
    assert refused.status_code == 422 and "Chưa nhập số quyết định" in refused.get_data(as_text=True)
    assert status_of(app, draft.version_id) == "submitted"
    done = web.post(url, {**decision, "confirm": "1"}, page="/dieu-hanh")
    assert done.status_code == 302
    assert status_of(app, draft.version_id) == "active"
    assert "Không có phiên bản quy trình nào chờ phê duyệt" in web.get("/dieu-hanh").get_data(as_text=True)
