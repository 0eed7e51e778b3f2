"""The process owner's and approver's pages over HTTP: save with server validation, the unsafe
payloads, submission, approval, who may do what, the stored check, and costly expressions."""

from __future__ import annotations

import html
import re
import time

import pytest
from sqlalchemy import func, select, update

from engine.catalogue import versions as versions_module
from models import Procedure, ProcessVersion
from tests.conftest import Officers
from tests.test_versions import (
    CAO_BANG,
    PROCESS_SLA,
    XSS,
    dossier_state,
    receive_on_slipped_version,
    replace_once,
    task_as,
    with_review_condition,
    work_to_review,
)
from tests.test_web import ctx_of


def new_draft(web) -> int:
    web.login("sonv.quytrinh")
    response = web.post("/quy-trinh/1.001806/ban-nhap", {}, page="/quy-trinh/1.001806")
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return int(re.search(r"/phien-ban/(\d+)/sua", response.location).group(1))


def save(web, version_id: int, xml: str):
    token = web.csrf(f"/quy-trinh/phien-ban/{version_id}/sua")
    return web.http.post(
        f"/quy-trinh/phien-ban/{version_id}/luu",
        data=xml.encode(),
        headers={"X-CSRFToken": token, "Content-Type": "application/xml"},
    )


def versions(app) -> int:
    with ctx_of(app).uow() as uow:
        return uow.session.scalar(select(func.count(ProcessVersion.id)))


def test_saving_a_valid_diagram_reports_the_counted_hours(web) -> None:
    version = new_draft(web)
    body = save(
        web, version, replace_once(CAO_BANG, PROCESS_SLA, '<mc:sla hours="48" counted="true"/>')
    ).get_json()
    assert body["problems"] == [] and body["counted_hours"] == 72 and body["legal_hours"] == 80


def test_xss_payload_is_refused_with_its_line(web, app) -> None:
    version = new_draft(web)
    response = save(web, version, replace_once(CAO_BANG, PROCESS_SLA, PROCESS_SLA + XSS))
    assert response.status_code == 422
    problem = response.get_json()["problems"][0]
    assert problem["line"] > 1 and "script" in problem["message"]
    xml = web.get(f"/quy-trinh/phien-ban/{version}/bpmn")
    assert b"<script" not in xml.data
    assert xml.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert xml.headers["X-Content-Type-Options"] == "nosniff"


def test_doctype_payload_is_refused(web) -> None:
    version = new_draft(web)
    evil = CAO_BANG.replace("?>\n", '?>\n<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n', 1)
    response = save(web, version, evil)
    assert response.status_code == 422
    assert "DOCTYPE" in response.get_json()["problems"][0]["message"]


def test_script_task_is_saved_as_a_draft_but_cannot_be_submitted(web) -> None:
    version = new_draft(web)
    body = save(web, version, task_as(CAO_BANG, "Task_Process", "scriptTask")).get_json()
    assert any(p["element_id"] == "Task_Process" for p in body["problems"])
    response = web.post(f"/quy-trinh/phien-ban/{version}/trinh", {}, page=f"/quy-trinh/phien-ban/{version}")
    assert response.status_code == 422
    assert "Bản nháp" in web.get(f"/quy-trinh/phien-ban/{version}").get_data(as_text=True)


def test_over_budget_procedure_is_reported(web) -> None:
    version = new_draft(web)
    body = save(
        web, version, replace_once(CAO_BANG, PROCESS_SLA, '<mc:sla hours="200" counted="true"/>')
    ).get_json()
    assert body["counted_hours"] > body["legal_hours"]
    assert any("80" in p["message"] for p in body["problems"])


def test_approval_needs_a_decision_number_and_only_approvers_approve(web, app) -> None:
    version = new_draft(web)
    assert web.post(f"/quy-trinh/phien-ban/{version}/trinh", {}, page="/").status_code == 302
    assert (
        web.post(
            f"/quy-trinh/phien-ban/{version}/phe-duyet", {"decision_number": "1/QĐ"}, page="/"
        ).status_code
        == 403
    )
    web.login("vp.pheduyet")
    refused = web.post(
        f"/quy-trinh/phien-ban/{version}/phe-duyet",
        {"decision_number": "", "decision_date": "2026-11-20"},
        page="/",
    )
    assert refused.status_code == 422
    assert "Chưa nhập số quyết định" in refused.get_data(as_text=True)
    approved = web.post(
        f"/quy-trinh/phien-ban/{version}/phe-duyet",
        {"decision_number": "125/QĐ-UBND", "decision_date": "2026-11-20", "confirm": "1"},
        page="/",
    )
    assert approved.status_code == 302
    page = web.get("/quy-trinh/1.001806").get_data(as_text=True)
    assert "125/QĐ-UBND" in page and "Đang áp dụng" in page


def test_only_process_owners_of_the_agency_edit(web, app) -> None:
    version = new_draft(web)
    before = versions(app)
    web.login("sonv.chuyenvien1")
    assert web.get("/quy-trinh/").status_code == 403
    assert web.post("/quy-trinh/1.001806/ban-nhap", {}, page="/").status_code == 403
    web.login("vp.pheduyet")
    assert save(web, version, CAO_BANG).status_code == 403
    assert versions(app) == before


def test_import_of_a_malformed_file_changes_nothing(web, app) -> None:
    import io

    web.login("sonv.quytrinh")
    before = versions(app)
    response = web.post(
        "/quy-trinh/1.001806/nhap-tep",
        {"file": (io.BytesIO(b"<bpmn:definitions"), "broken.bpmn")},
        page="/quy-trinh/1.001806",
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    assert versions(app) == before
    page = web.get("/quy-trinh/1.001806").get_data(as_text=True)
    assert re.search(r"alert-danger[^>]*>[^<]*(XML|dòng)", page), page[
        page.find("alert") : page.find("alert") + 300
    ]


# ----- the check stored with the version, and expressions that would stall the server ---------


def test_a_costly_condition_is_saved_as_a_draft_with_its_problem_but_cannot_be_submitted(web, app) -> None:
    version = new_draft(web)
    started = time.perf_counter()
    body = save(web, version, with_review_condition("9**9**9 > 0")).get_json()
    assert time.perf_counter() - started < 5
    [problem] = body["problems"]
    assert problem["element_id"] == "Flow_Review_Rework"
    assert problem["message"] == "điều kiện '9**9**9 > 0' bị từ chối: không được dùng phép lũy thừa '**'"
    response = web.post(f"/quy-trinh/phien-ban/{version}/trinh", {}, page=f"/quy-trinh/phien-ban/{version}")
    assert response.status_code == 422
    assert "không được dùng phép lũy thừa" in response.get_data(as_text=True)


def test_the_pages_show_the_stored_check_and_do_not_check_again(web, app, monkeypatch) -> None:
    version = new_draft(web)
    save(web, version, with_review_condition("9**9**9 > 0"))
    monkeypatch.setattr(versions_module, "check_bpmn", lambda *a, **k: pytest.fail("checked on a view"))
    page = web.get(f"/quy-trinh/phien-ban/{version}")
    assert page.status_code == 200
    assert "không được dùng phép lũy thừa" in page.get_data(as_text=True)
    assert web.get("/quy-trinh/1.001806").status_code == 200
    assert web.get(f"/quy-trinh/phien-ban/{version}/sua").status_code == 200


def test_an_old_version_without_a_stored_check_is_checked_on_its_first_view_and_stored(
    web, app, clock
) -> None:
    ctx = ctx_of(app)
    with ctx.uow() as uow:
        uow.session.execute(update(ProcessVersion).values(check_ok=None, checked_at=None))
        uow.commit()
    web.login("sonv.quytrinh")
    assert web.get("/quy-trinh/1.001806").status_code == 200
    with ctx.uow() as uow:
        [(ok, checked_at)] = uow.session.execute(
            select(ProcessVersion.check_ok, ProcessVersion.checked_at)
            .join(Procedure, Procedure.id == ProcessVersion.procedure_id)
            .where(Procedure.code == "1.001806")
        ).all()
    assert (ok, checked_at) == (True, clock.moment)


def test_completing_a_step_on_a_costly_condition_that_slipped_in_answers_422_and_keeps_the_dossier(
    web, app
) -> None:
    ctx = ctx_of(app)
    officers = Officers(ctx)
    dossier_id = receive_on_slipped_version(ctx, officers, with_review_condition("len('a'*10**9) > 0"))
    item = work_to_review(ctx, officers, dossier_id)
    before = dossier_state(ctx, dossier_id)
    web.login("sonv.truongphong")
    started = time.perf_counter()
    response = web.post(f"/viec/{item.id}/hoan-thanh", {"outcome": "submit"}, page=f"/viec/{item.id}")
    assert time.perf_counter() - started < 5
    assert response.status_code == 422
    page = html.unescape(response.get_data(as_text=True))
    assert f'Không thể hoàn thành bước "{item.task_name}": điều kiện "len(\'a\'*10**9) > 0"' in page
    assert "Hồ sơ được giữ nguyên" in page
    assert dossier_state(ctx, dossier_id) == before
    assert web.get("/livez").status_code == 200
