"""The process owner's and approver's pages over HTTP: save with server validation, the unsafe
payloads, submission, approval, and who may do what."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from models import ProcessVersion
from tests.test_versions import CAO_BANG, PROCESS_SLA, XSS, replace_once, task_as
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
        {"decision_number": "125/QĐ-UBND", "decision_date": "2026-11-20"},
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
