"""The feedback form (/phan-anh), its follow-up page, the officers' steps and the public API."""

from __future__ import annotations

import base64
import io

from sqlalchemy import func, select

from engine.feedback.service import FeedbackInput, submit_feedback
from models import Dossier, Feedback, WorkItem
from tests.conftest import Officers, WebClient, at
from tests.test_feedback import answer_through

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
GOOD = {
    "name": "Trần Thị Bình",
    "phone": "0912345678",
    "procedure_code": "1.001806",
    "dossier_code": "000.00.12.H40-261120-0001",
    "content": "Chờ lâu quá <script>alert(1)</script>",
    "consent_publish": "yes",
}


def _count(app, model) -> int:
    with app.extensions["motcua"].uow() as uow:
        return uow.session.scalar(select(func.count()).select_from(model))


def test_form_sends_a_feedback_and_shows_its_code(web: WebClient, app) -> None:
    page = web.get("/phan-anh?thu-tuc=1.001806")
    assert page.status_code == 200 and 'value="1.001806" selected' in page.get_data(as_text=True)
    # Without the CSRF token: refused, nothing stored.
    assert web.http.post("/phan-anh", data=GOOD).status_code == 400
    sent = web.post(
        "/phan-anh",
        {**GOOD, "files": (io.BytesIO(PNG), "anh.png")},
        page="/phan-anh",
        content_type="multipart/form-data",
    )
    assert sent.status_code == 302
    code = sent.location.split("/phan-anh/")[1].split("?")[0]
    shown = web.get(sent.location).get_data(as_text=True)
    assert f'<strong class="font-monospace fs-5">{code}</strong>' in shown and "Trần Thị Bình" not in shown
    # With the phone given: what was written, escaped.
    mine = web.post(f"/phan-anh/{code}", {"contact": "0912 345 678"}, page="/phan-anh").get_data(as_text=True)
    assert "Trần Thị Bình" in mine and "&lt;script&gt;" in mine and "<script>alert" not in mine
    wrong = web.post(f"/phan-anh/{code}", {"contact": "0987654321"}, page="/phan-anh")
    assert wrong.status_code == 422 and "Trần Thị Bình" not in wrong.get_data(as_text=True)
    assert web.get("/phan-anh/000.00.01.H40-261123-9999").status_code == 404
    assert _count(app, Feedback) == 1


def test_form_refuses_bad_input_and_stores_nothing(web: WebClient, app) -> None:
    bad = web.post(
        "/phan-anh",
        {"name": "", "email": "khong-phai-email", "content": "x" * 4001},
        page="/phan-anh",
    )
    body = bad.get_data(as_text=True)
    assert bad.status_code == 422
    assert (
        "Chưa nhập họ tên" in body and "Địa chỉ thư điện tử không hợp lệ" in body and "dài quá 4000" in body
    )
    wrong_type = web.post(
        "/phan-anh",
        {**GOOD, "files": (io.BytesIO(b"MZ\x90\x00"), "virus.exe")},
        page="/phan-anh",
        content_type="multipart/form-data",
    )
    assert wrong_type.status_code == 422 and "không thuộc loại được chấp nhận" in wrong_type.get_data(
        as_text=True
    )
    assert (_count(app, Feedback), _count(app, Dossier)) == (0, 0)


def test_form_is_rate_limited_per_address(app, clock) -> None:
    from web import create_app
    from web.extensions import limiter

    ctx = app.extensions["motcua"]
    limited = create_app(
        ctx=ctx.__class__.from_settings(
            ctx.settings.with_overrides(feedback_rate_limit="2 per hour", feedback_upload_max_bytes=1024)
        ),
        test_config={"TESTING": True, "SECRET_KEY": "t", "MOTCUA_CLOCK": clock, "RATELIMIT_ENABLED": True},
    )
    limiter.reset()
    web = WebClient(limited)
    try:
        # A body over three files at the cap and the text is refused before it is read.
        too_large = web.http.post("/api/v1/public/feedback", json={**GOOD, "content": "x" * 200_000})
        assert too_large.status_code == 413 and too_large.get_json()["error"] == "too_large"
        statuses = [web.post("/phan-anh", GOOD, page="/phan-anh").status_code for _ in range(3)]
        flood = web.post("/phan-anh", GOOD, page="/phan-anh")
    finally:
        limiter.reset()
    assert statuses == [302, 302, 429]
    assert "quá nhiều phản ánh" in flood.get_data(as_text=True)
    assert _count(app, Feedback) == 2


def test_officers_classify_it_to_the_competent_agency(web: WebClient, app) -> None:
    sent = web.post("/phan-anh", GOOD, page="/phan-anh")
    code = sent.location.split("/phan-anh/")[1].split("?")[0]
    with app.extensions["motcua"].uow() as uow:
        item_id = uow.session.scalar(
            select(WorkItem.id).join(Dossier, Dossier.id == WorkItem.dossier_id).where(Dossier.code == code)
        )
    web.login("vp.chuyenvien")
    task = web.get(f"/viec/{item_id}").get_data(as_text=True)
    assert 'id="competent_agency"' in task and 'value="000.00.12.H40" selected' in task
    assert "&lt;script&gt;" in task and "<script>alert" not in task
    missing = web.post(f"/viec/{item_id}/hoan-thanh", {"competent_agency": ""}, page=f"/viec/{item_id}")
    assert missing.status_code == 422 and "cơ quan có thẩm quyền" in missing.get_data(as_text=True)
    done = web.post(
        f"/viec/{item_id}/hoan-thanh", {"competent_agency": "000.00.12.H40"}, page=f"/viec/{item_id}"
    )
    assert done.status_code == 302
    with app.extensions["motcua"].uow() as uow:
        step = uow.session.scalars(
            select(WorkItem)
            .join(Dossier, Dossier.id == WorkItem.dossier_id)
            .where(Dossier.code == code, WorkItem.completed_at.is_(None))
        ).one()
        assert step.task_id == "Task_Assign" and step.agency.code == "000.00.12.H40"


def test_public_api_receives_and_follows_a_feedback(web: WebClient, app) -> None:
    body = {
        "name": "Nguyễn Văn An",
        "email": "an@example.vn",
        "content": "Đề nghị niêm yết rõ phí",
        "procedure_code": "1.001806",
        "files": [{"name": "a.png", "content_base64": base64.b64encode(PNG).decode()}],
    }
    created = web.http.post("/api/v1/public/feedback", json=body)
    assert created.status_code == 201, created.get_json()
    code = created.get_json()["code"]
    public = web.http.get(f"/api/v1/public/feedback/{code}").get_json()
    assert (public["state"], public["name"], public["content"], public["answer"]) == (
        "received",
        None,
        None,
        None,
    )
    mine = web.http.get(f"/api/v1/public/feedback/{code}", headers={"X-Feedback-Contact": "AN@example.vn"})
    assert mine.get_json()["name"] == "Nguyễn Văn An" and mine.headers["Cache-Control"] == "no-store"
    assert (
        web.http.get(f"/api/v1/public/feedback/{code}", headers={"X-Feedback-Contact": "x@y.vn"}).status_code
        == 422
    )
    assert web.http.get("/api/v1/public/feedback/KHONG-CO").status_code == 404
    bad = web.http.post("/api/v1/public/feedback", json={"name": "A", "content": "B"})
    assert bad.status_code == 422 and "contact" in bad.get_json()["fields"]
    wrong = web.http.post(
        "/api/v1/public/feedback",
        json={**body, "files": [{"name": "a.pdf", "content_base64": base64.b64encode(b"<html>").decode()}]},
    )
    assert wrong.status_code == 422 and wrong.get_json()["field"] == "files"
    assert _count(app, Feedback) == 1


def test_public_api_is_in_the_openapi_document(web: WebClient) -> None:
    paths = web.http.get("/api/v1/openapi.json").get_json()["paths"]
    assert "post" in paths["/public/feedback"] and paths["/public/feedback"]["post"]["security"] == []
    assert "get" in paths["/public/feedback/{code}"]


def test_a_published_answer_shows_on_the_procedure_page_escaped(web: WebClient, app) -> None:
    ctx = app.extensions["motcua"]
    data = FeedbackInput(name="Bình", email="b@example.vn", procedure_code="1.001806", content="<b>Chậm</b>")
    private = submit_feedback(
        ctx, FeedbackInput(**{**data.__dict__, "content": "Riêng tư"}), now=at("2026-11-23 09:00")
    )
    public = submit_feedback(
        ctx, FeedbackInput(**{**data.__dict__, "consent_publish": True}), now=at("2026-11-23 09:00")
    )
    officers = Officers(ctx)
    answer_through(ctx, officers, private.code, "Trả lời riêng")
    answer_through(ctx, officers, public.code, "Đã giải quyết <i>xong</i>")
    page = web.get("/thu-tuc/1.001806").get_data(as_text=True)
    assert "Đã giải quyết &lt;i&gt;xong&lt;/i&gt;" in page and "&lt;b&gt;Chậm&lt;/b&gt;" in page
    assert "Trả lời riêng" not in page and "Riêng tư" not in page and "b@example.vn" not in page
