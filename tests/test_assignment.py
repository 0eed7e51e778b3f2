"""Assignment and decisions with reasons: a head or supervisor gives a step to a named officer of the
right agency and role (seeing each one's open load), the officer is notified; a send-back for rework
needs its reason, says so, and shows it to the next officer; outcome buttons only for who may use
them. Through the engine, the pages and the JSON API, on SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from engine.catalogue.bpmn_xml import parse_bpmn_xml
from engine.catalogue.procedure_model import read_model
from engine.context import Context
from engine.errors import Forbidden, InvalidInput
from engine.notify.notifications import officer_notifications
from engine.runtime import dossiers as svc
from engine.runtime.assignment import assignment_candidates
from engine.runtime.dossier_views import task_page
from engine.runtime.inbox import officer_inbox
from models import DossierEvent, Notification, WorkItem
from tests.conftest import Officers, at, open_items
from tests.test_api import Api

APPLICANT = svc.Applicant(name="Nguyễn Văn An", id_number="001203004005", phone="0912345678")
HA, HUY = "Lê Thị Thu Hà", "Phạm Quốc Huy"  # sonv.chuyenvien1, sonv.chuyenvien2
HEAD = "Trần Văn Dũng"  # sonv.truongphong
CAO_BANG = "workflows/bpmn/1.001806.bpmn"
LATER = at("2026-11-23 14:00")  # the web app's clock, after what the tests arrange through the engine


def receive(ctx: Context, officers: Officers, when: str = "2026-11-23 08:00") -> svc.Receipt:
    """A dossier of 1.001806 received at the Sở Nội vụ desk."""
    return svc.receive_dossier(
        ctx,
        procedure_code="1.001806",
        applicant=APPLICANT,
        channel="in_person",
        officer_id=officers["sonv.motcua"],
        now=at(when),
    )


def only_item(ctx: Context, dossier_id: int) -> WorkItem:
    (item,) = open_items(ctx, dossier_id)
    return item


def at_the_head(ctx: Context, officers: Officers) -> tuple[svc.Receipt, WorkItem]:
    """Received and forwarded by the desk: the head's "Phân công xử lý" step is open."""
    receipt = receive(ctx, officers)
    desk = only_item(ctx, receipt.dossier_id)
    svc.complete(ctx, desk.id, officers["sonv.motcua"], now=at("2026-11-23 08:30"))
    return receipt, only_item(ctx, receipt.dossier_id)


def in_the_pool(ctx: Context, officers: Officers) -> tuple[svc.Receipt, WorkItem]:
    """The head completed "Phân công" without naming anyone: the specialists' step is in the pool."""
    receipt, head = at_the_head(ctx, officers)
    svc.complete(ctx, head.id, officers["sonv.truongphong"], now=at("2026-11-23 09:00"))
    return receipt, only_item(ctx, receipt.dossier_id)


def at_the_review(ctx: Context, officers: Officers) -> tuple[svc.Receipt, WorkItem]:
    """The specialist appraised and forwarded: the head's review is open."""
    receipt, item = in_the_pool(ctx, officers)
    svc.complete(ctx, item.id, officers["sonv.chuyenvien1"], now=at("2026-11-23 10:00"), outcome="forward")
    return receipt, only_item(ctx, receipt.dossier_id)


def history(ctx: Context, dossier_id: int) -> list[tuple[str, dict]]:
    with ctx.uow() as uow:
        return [
            (e.kind, e.payload)
            for e in uow.session.scalars(
                select(DossierEvent).where(DossierEvent.dossier_id == dossier_id).order_by(DossierEvent.id)
            )
        ]


def notification_count(ctx: Context) -> int:
    with ctx.uow() as uow:
        return uow.session.scalar(select(func.count()).select_from(Notification)) or 0


# --- the procedure model -------------------------------------------------------------------------


def test_an_outcome_going_back_to_an_earlier_step_is_a_send_back_and_knows_the_steps_it_opens():
    with open(CAO_BANG, encoding="utf-8") as handle:
        model = read_model(parse_bpmn_xml(handle.read(), max_bytes=10**6))
    review = {o.value: o for o in model.steps["Task_Review"].outcomes}
    assert (review["rework"].returns, review["submit"].returns) == (True, False)
    assert review["rework"].next_steps == ("Task_Process",)
    assert {o.value: o.returns for o in model.steps["Task_Process"].outcomes} == {
        "forward": False,
        "supplement": False,
        "refuse": False,
    }
    assert model.next_steps("Task_Assign") == ("Task_Process",)
    assert model.next_steps("Task_Approve", "approve") == ("Task_Issue",)


# --- assigning an open step ----------------------------------------------------------------------


def test_a_head_assigns_a_pool_item_the_specialist_sees_it_as_theirs_and_is_notified(ctx, officers):
    receipt, item = in_the_pool(ctx, officers)
    assert item.assignee_id is None
    assert svc.assign(
        ctx, item.id, officers["sonv.truongphong"], officers["sonv.chuyenvien1"], at("2026-11-23 09:05")
    )
    assert only_item(ctx, receipt.dossier_id).assignee_id == officers["sonv.chuyenvien1"]
    mine = officer_inbox(ctx, officers["sonv.chuyenvien1"], now=at("2026-11-23 09:10"), scope="mine")
    assert [(r.dossier_code, r.assignee_name) for r in mine.rows] == [(receipt.code, HA)]
    assert (
        officer_inbox(ctx, officers["sonv.chuyenvien2"], now=at("2026-11-23 09:10"), scope="pool").rows == []
    )
    with ctx.uow() as uow:
        (note,) = officer_notifications(uow.session, officers["sonv.chuyenvien1"])
    assert note.subject == f"Được phân công xử lý hồ sơ {receipt.code}"
    assert HEAD in note.body and "Thẩm định hồ sơ" in note.body and note.dossier_code == receipt.code
    # From one officer to another: the history says from whom to whom.
    svc.assign(ctx, item.id, officers["sonv.giamsat"], officers["sonv.chuyenvien2"], at("2026-11-23 09:20"))
    assigned = [p for kind, p in history(ctx, receipt.dossier_id) if kind == "assigned"]
    assert [(p["from_officer_id"], p["to_officer_id"]) for p in assigned] == [
        (None, officers["sonv.chuyenvien1"]),
        (officers["sonv.chuyenvien1"], officers["sonv.chuyenvien2"]),
    ]
    # The same officer again changes nothing and tells nobody twice.
    before = notification_count(ctx)
    assert not svc.assign(
        ctx, item.id, officers["sonv.truongphong"], officers["sonv.chuyenvien2"], at("2026-11-23 09:30")
    )
    assert notification_count(ctx) == before


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("xa.chuyenvien", "không thuộc cơ quan đang giữ bước này"),
        ("sonv.lanhdao", 'không có vai trò "Chuyên viên"'),
    ],
)
def test_assigning_to_another_agency_or_role_is_refused_naming_the_officer_and_nothing_changes(
    ctx, officers, target, message
):
    receipt, item = in_the_pool(ctx, officers)
    events, notes = len(history(ctx, receipt.dossier_id)), notification_count(ctx)
    with pytest.raises(InvalidInput, match=message) as refused:
        svc.assign(ctx, item.id, officers["sonv.truongphong"], officers[target], at("2026-11-23 09:05"))
    assert (refused.value.field, refused.value.http_status) == ("officer", 422)
    assert only_item(ctx, receipt.dossier_id).assignee_id is None
    assert (len(history(ctx, receipt.dossier_id)), notification_count(ctx)) == (events, notes)


@pytest.mark.parametrize("actor", ["sonv.chuyenvien2", "xa.truongphong"])
def test_only_a_head_or_supervisor_of_the_agency_may_assign(ctx, officers, actor):
    receipt, item = in_the_pool(ctx, officers)
    with pytest.raises(Forbidden, match="Chỉ lãnh đạo phòng hoặc cán bộ giám sát"):
        svc.assign(ctx, item.id, officers[actor], officers["sonv.chuyenvien1"], at("2026-11-23 09:05"))
    assert only_item(ctx, receipt.dossier_id).assignee_id is None


def test_the_candidates_are_the_agencys_officers_of_the_role_with_their_open_load(ctx, officers):
    _first, item = in_the_pool(ctx, officers)
    svc.assign(
        ctx, item.id, officers["sonv.truongphong"], officers["sonv.chuyenvien2"], at("2026-11-23 09:05")
    )
    _second, head = at_the_head(ctx, officers)
    page = task_page(ctx, officers["sonv.truongphong"], head.id)
    ((label, group),) = page.handover
    assert label == "Chuyên viên"
    assert [(c.name, c.open_items) for c in group] == [(HA, 0), (HUY, 1)]
    assert [c.label for c in group] == [f"{HA} (0 việc đang xử lý)", f"{HUY} (1 việc đang xử lý)"]
    # The head's own step is assigned among heads (the supervisor also heads the division).
    assert {c.name for c in page.assign_candidates} == {HEAD, "Đặng Văn Khánh"}
    # The same list as a read use case (for lists of steps), refused to whoever may not assign.
    loads = assignment_candidates(ctx, officers["sonv.giamsat"], item.id)
    assert [(c.username, c.open_items) for c in loads] == [("sonv.chuyenvien1", 0), ("sonv.chuyenvien2", 1)]
    with pytest.raises(Forbidden):
        assignment_candidates(ctx, officers["sonv.chuyenvien1"], item.id)


# --- assigning while completing the head's step -------------------------------------------------


def test_completing_the_heads_step_with_assign_to_gives_the_new_step_to_that_specialist(ctx, officers):
    receipt, head = at_the_head(ctx, officers)
    done = svc.complete(
        ctx,
        head.id,
        officers["sonv.truongphong"],
        now=at("2026-11-23 09:00"),
        assign_to=officers["sonv.chuyenvien2"],
    )
    assert (done.assigned_to, done.sent_back) == (HUY, False)
    item = only_item(ctx, receipt.dossier_id)
    assert (item.task_id, item.assignee_id) == ("Task_Process", officers["sonv.chuyenvien2"])
    mine = officer_inbox(ctx, officers["sonv.chuyenvien2"], now=at("2026-11-23 09:10"), scope="mine")
    assert [r.dossier_code for r in mine.rows] == [receipt.code]


def test_assign_to_that_fits_no_new_step_or_from_a_specialist_changes_nothing(ctx, officers):
    receipt, head = at_the_head(ctx, officers)
    with pytest.raises(InvalidInput, match='không có vai trò "Chuyên viên"') as refused:
        svc.complete(
            ctx,
            head.id,
            officers["sonv.truongphong"],
            now=at("2026-11-23 09:00"),
            assign_to=officers["sonv.lanhdao"],
        )
    assert refused.value.field == "assign_to"
    assert only_item(ctx, receipt.dossier_id).id == head.id  # the head's step is still open
    svc.complete(ctx, head.id, officers["sonv.truongphong"], now=at("2026-11-23 09:05"))
    item = only_item(ctx, receipt.dossier_id)
    with pytest.raises(Forbidden, match="Chỉ lãnh đạo phòng hoặc cán bộ giám sát"):
        svc.complete(
            ctx,
            item.id,
            officers["sonv.chuyenvien1"],
            now=at("2026-11-23 10:00"),
            outcome="forward",
            assign_to=officers["sonv.truongphong"],
        )
    assert only_item(ctx, receipt.dossier_id).id == item.id


# --- sending back for rework ----------------------------------------------------------------------


def test_a_send_back_needs_its_reason_and_the_reopened_step_shows_it(ctx, officers):
    receipt, review = at_the_review(ctx, officers)
    # A step opened by going forward carries no reason.
    assert task_page(ctx, officers["sonv.truongphong"], review.id).sent_back is None
    events = len(history(ctx, receipt.dossier_id))
    for blank in (None, "   "):
        with pytest.raises(InvalidInput, match="Cần ghi lý do trả lại để xử lý lại") as refused:
            svc.complete(
                ctx,
                review.id,
                officers["sonv.truongphong"],
                now=at("2026-11-23 11:00"),
                outcome="rework",
                comment=blank,
            )
        assert refused.value.field == "comment"
    assert only_item(ctx, receipt.dossier_id).id == review.id
    assert len(history(ctx, receipt.dossier_id)) == events
    done = svc.complete(
        ctx,
        review.id,
        officers["sonv.truongphong"],
        now=at("2026-11-23 11:00"),
        outcome="rework",
        comment="Thiếu xác nhận tỷ lệ lao động",
    )
    assert done.sent_back
    reopened = only_item(ctx, receipt.dossier_id)
    assert reopened.task_id == "Task_Process"
    sent_back = task_page(ctx, officers["sonv.chuyenvien1"], reopened.id).sent_back
    assert sent_back is not None
    assert (sent_back.reason, sent_back.officer, sent_back.step) == (
        "Thiếu xác nhận tỷ lệ lao động",
        HEAD,
        "Xem xét, trình lãnh đạo",
    )
    assert sent_back.at == at("2026-11-23 11:00")


def test_outcome_buttons_are_for_who_may_use_them_the_supervisor_gets_the_assignment(ctx, officers):
    _receipt, item = in_the_pool(ctx, officers)
    specialist = task_page(ctx, officers["sonv.chuyenvien1"], item.id)
    assert specialist.can_work and specialist.assign_candidates == []
    supervisor = task_page(ctx, officers["sonv.giamsat"], item.id)
    assert not supervisor.can_work
    assert [c.name for c in supervisor.assign_candidates] == [HA, HUY]
    svc.assign(ctx, item.id, officers["sonv.giamsat"], officers["sonv.chuyenvien2"], at("2026-11-23 09:05"))
    assert not task_page(ctx, officers["sonv.chuyenvien1"], item.id).can_work  # now someone else's
    assert task_page(ctx, officers["sonv.chuyenvien2"], item.id).can_work


# --- the pages -----------------------------------------------------------------------------------


def ctx_of(app) -> Context:
    return app.extensions["motcua"]


def sign_in(web, username: str) -> None:
    response = web.login(username)
    assert response.status_code == 302, username


def text_of(html: str) -> str:
    """What the reader sees: tags dropped, spaces collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_head_assigns_from_the_task_page_and_the_specialist_sees_it_as_theirs(web, app, clock):
    ctx = ctx_of(app)
    officers = Officers(ctx)
    receipt, item = in_the_pool(ctx, officers)
    clock.moment = LATER
    sign_in(web, "sonv.truongphong")
    page = web.get(f"/viec/{item.id}").get_data(as_text=True)
    assert 'id="assign-form"' in page and f"{HA} (0 việc đang xử lý)" in page
    assert 'id="outcomes"' not in page  # the head does not appraise
    response = web.post(
        f"/viec/{item.id}/phan-cong", {"to": str(officers["sonv.chuyenvien1"])}, page=f"/viec/{item.id}"
    )
    assert response.status_code == 302
    assert only_item(ctx, receipt.dossier_id).assignee_id == officers["sonv.chuyenvien1"]
    sign_in(web, "sonv.chuyenvien1")
    inbox = text_of(web.get("/?scope=mine").get_data(as_text=True))
    assert receipt.code in inbox and HA in inbox
    notes = text_of(web.get("/thong-bao").get_data(as_text=True))
    assert f"Được phân công xử lý hồ sơ {receipt.code}" in notes
    # The history names both ends.
    sign_in(web, "sonv.giamsat")
    web.post(f"/viec/{item.id}/chuyen", {"to": str(officers["sonv.chuyenvien2"]), "next": "/"}, page="/")
    shown = text_of(web.get(f"/ho-so/{receipt.code}").get_data(as_text=True))
    assert f"Phân công: từ danh sách chung sang {HA}" in shown
    assert f"Phân công: từ {HA} sang {HUY}" in shown


def test_a_wrong_target_or_a_specialist_assigning_is_refused_on_the_page_and_nothing_changes(web, app, clock):
    ctx = ctx_of(app)
    officers = Officers(ctx)
    receipt, item = in_the_pool(ctx, officers)
    clock.moment = LATER
    sign_in(web, "sonv.truongphong")
    wrong = web.post(
        f"/viec/{item.id}/phan-cong", {"to": str(officers["xa.chuyenvien"])}, page=f"/viec/{item.id}"
    )
    assert wrong.status_code == 422
    assert "không thuộc cơ quan đang giữ bước này" in wrong.get_data(as_text=True)
    sign_in(web, "sonv.chuyenvien2")
    forbidden = web.post(f"/viec/{item.id}/phan-cong", {"to": str(officers["sonv.chuyenvien2"])}, page="/")
    assert forbidden.status_code == 403
    assert only_item(ctx, receipt.dossier_id).assignee_id is None
    assert [k for k, _ in history(ctx, receipt.dossier_id) if k == "assigned"] == []


def test_the_head_completes_phan_cong_giving_the_step_to_a_specialist(web, app, clock):
    ctx = ctx_of(app)
    officers = Officers(ctx)
    receipt, head = at_the_head(ctx, officers)
    clock.moment = LATER
    sign_in(web, "sonv.truongphong")
    page = web.get(f"/viec/{head.id}").get_data(as_text=True)
    assert "Giao cho" in page and "Để danh sách chung" in page and f"{HUY} (0 việc đang xử lý)" in page
    done = web.post(
        f"/viec/{head.id}/hoan-thanh",
        {"assign_to": str(officers["sonv.chuyenvien2"])},
        page=f"/viec/{head.id}",
    )
    assert done.status_code == 302
    assert only_item(ctx, receipt.dossier_id).assignee_id == officers["sonv.chuyenvien2"]
    flashed = text_of(web.get("/").get_data(as_text=True))
    assert f"Đã hoàn thành bước xử lý hồ sơ {receipt.code} và giao cho {HUY}." in flashed


def test_a_send_back_without_reason_is_422_with_reason_says_tra_lai_and_the_specialist_reads_it(
    web, app, clock
):
    ctx = ctx_of(app)
    officers = Officers(ctx)
    receipt, review = at_the_review(ctx, officers)
    clock.moment = LATER
    sign_in(web, "sonv.truongphong")
    page = web.get(f"/viec/{review.id}").get_data(as_text=True)
    assert "Khi trả lại để xử lý lại, ghi rõ lý do trả lại." in page
    refused = web.post(f"/viec/{review.id}/hoan-thanh", {"outcome": "rework"}, page=f"/viec/{review.id}")
    assert refused.status_code == 422
    assert "Cần ghi lý do trả lại để xử lý lại" in refused.get_data(as_text=True)
    assert only_item(ctx, receipt.dossier_id).id == review.id
    sent = web.post(
        f"/viec/{review.id}/hoan-thanh",
        {"outcome": "rework", "comment": "Thiếu xác nhận tỷ lệ lao động"},
        page=f"/viec/{review.id}",
        follow_redirects=True,
    )
    shown = text_of(sent.get_data(as_text=True))
    assert f"Đã trả lại hồ sơ {receipt.code} để xử lý lại." in shown and "Đã hoàn thành bước" not in shown
    reopened = only_item(ctx, receipt.dossier_id)
    sign_in(web, "sonv.chuyenvien1")
    task = text_of(web.get(f"/viec/{reopened.id}").get_data(as_text=True))
    assert "Lý do trả lại: Thiếu xác nhận tỷ lệ lao động" in task
    assert f"{HEAD} trả lại từ bước “Xem xét, trình lãnh đạo”" in task


def test_the_supervisor_sees_a_specialists_step_read_only_with_the_assignment_control(web, app, clock):
    ctx = ctx_of(app)
    officers = Officers(ctx)
    _, item = in_the_pool(ctx, officers)
    clock.moment = LATER
    sign_in(web, "sonv.giamsat")
    page = web.get(f"/viec/{item.id}").get_data(as_text=True)
    assert 'id="outcomes"' not in page and "/yeu-cau-bo-sung" not in page and "/tu-choi" not in page
    assert "Nhận xử lý" not in page and 'id="read-only"' in page and 'id="assign-form"' in page
    sign_in(web, "sonv.chuyenvien1")
    page = web.get(f"/viec/{item.id}").get_data(as_text=True)
    assert 'id="outcomes"' in page and "/yeu-cau-bo-sung" in page and 'id="assign-form"' not in page


# --- the JSON API ---------------------------------------------------------------------------------


def test_the_api_assigns_by_user_name_and_refuses_a_wrong_target_an_actor_or_an_unknown_one(app, clock):
    api = Api(app)
    ctx = api.ctx
    officers = Officers(ctx)
    receipt, item = in_the_pool(ctx, officers)
    clock.moment = LATER
    path = f"/work-items/{item.id}/assign"
    wrong = api.post(path, "sonv.truongphong", json={"officer": "xa.chuyenvien"})
    assert (wrong.status_code, wrong.get_json()["field"]) == (422, "officer")
    assert api.post(path, "sonv.chuyenvien1", json={"officer": "sonv.chuyenvien1"}).status_code == 403
    assert api.post(path, "sonv.truongphong", json={"officer": "khong.co"}).status_code == 404
    assert (
        api.post(
            "/work-items/99999999/assign", "sonv.truongphong", json={"officer": "sonv.chuyenvien1"}
        ).status_code
        == 404
    )
    assert only_item(ctx, receipt.dossier_id).assignee_id is None
    done = api.post(path, "sonv.truongphong", json={"officer": "sonv.chuyenvien1"})
    assert done.status_code == 200
    assert done.get_json()["work_item"]["assignee"] == {"id": officers["sonv.chuyenvien1"], "name": HA}


def test_the_api_completes_with_assign_to_and_wants_the_reason_of_a_send_back(app, clock):
    api = Api(app)
    ctx = api.ctx
    officers = Officers(ctx)
    receipt, head = at_the_head(ctx, officers)
    clock.moment = LATER
    done = api.post(
        f"/work-items/{head.id}/complete", "sonv.truongphong", json={"assign_to": "sonv.chuyenvien1"}
    )
    assert done.status_code == 200, done.get_json()
    (opened,) = done.get_json()["opened_work_item_ids"]
    assert only_item(ctx, receipt.dossier_id).assignee_id == officers["sonv.chuyenvien1"]
    svc.complete(ctx, opened, officers["sonv.chuyenvien1"], now=at("2026-11-23 14:30"), outcome="forward")
    clock.moment = at("2026-11-23 15:00")
    review = only_item(ctx, receipt.dossier_id)
    refused = api.post(f"/work-items/{review.id}/complete", "sonv.truongphong", json={"outcome": "rework"})
    assert (refused.status_code, refused.get_json()["field"]) == (422, "comment")
    assert refused.get_json()["message"] == "Cần ghi lý do trả lại để xử lý lại"
    sent = api.post(
        f"/work-items/{review.id}/complete",
        "sonv.truongphong",
        json={"outcome": "rework", "comment": "Thiếu hồ sơ"},
    )
    assert sent.status_code == 200
    assert only_item(ctx, receipt.dossier_id).task_id == "Task_Process"
