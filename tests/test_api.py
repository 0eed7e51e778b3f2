"""The JSON API under /api/v1: every endpoint, who may call it, how bad input is refused, and that
every answer matches the OpenAPI document; on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import re

import jsonschema_rs
import pytest
from sqlalchemy import func, select, update

from engine.accounts import issue_token, revoke_token
from engine.runtime.dossiers import TEXT_LIMITS
from models import Dossier, Officer
from tests.conftest import LOADED_AT, at
from tests.test_read_use_cases import transactions
from web import create_app
from web.api_spec import PREFIX

APPLICANT = {"name": "Nguyễn Văn An", "id_number": "001203004005", "phone": "0912345678"}
# A checklist names at least one of the procedure's listed documents.
FIRST_DOCUMENT = (
    "Văn bản đề nghị công nhận cơ sở sản xuất, kinh doanh sử dụng từ 30% tổng số lao động trở lên là "
    "người khuyết tật"
)
PDF = base64.b64encode(b"%PDF-1.4\n%test\n").decode()
PUBLIC = {"/health", "/openapi.json"}


def is_public(path: str) -> bool:
    """Operations anyone may call without a token: the document, the health check and /public/..."""
    return path in PUBLIC or path.startswith("/public/")


class Api:
    """A test client of the API that signs each request with a token of the named officer."""

    def __init__(self, app) -> None:
        self.app = app
        self.ctx = app.extensions["motcua"]
        self.http = app.test_client()
        self.tokens: dict[str, str] = {}
        # Answers are checked against the document the API serves.
        self.doc = self.http.get(PREFIX + "/openapi.json").get_json()

    def token(self, username: str) -> str:
        if username not in self.tokens:
            self.tokens[username] = issue_token(self.ctx, username, "kiểm thử", LOADED_AT)
        return self.tokens[username]

    def call(self, method: str, path: str, who: str | None = "sonv.motcua", **kwargs):
        headers = dict(kwargs.pop("headers", {}))
        if who is not None:
            headers.setdefault("Authorization", f"Bearer {self.token(who)}")
        response = self.http.open(PREFIX + path, method=method, headers=headers, **kwargs)
        conforms(self.doc, method, path, response)
        return response

    def get(self, path: str, who: str | None = "sonv.motcua", **kwargs):
        return self.call("GET", path, who, **kwargs)

    def post(self, path: str, who: str | None = "sonv.motcua", **kwargs):
        return self.call("POST", path, who, **kwargs)


def _template(doc: dict, path: str) -> str | None:
    """The document's path template a concrete path falls under."""
    for template in doc["paths"]:
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path.split("?")[0]):
            return template
    return None


def conforms(doc: dict, method: str, path: str, response) -> None:
    """The response's status is documented for the operation and its body matches the schema."""
    template = _template(doc, path)
    if template is None or method.lower() not in doc["paths"][template]:
        return
    responses = doc["paths"][template][method.lower()]["responses"]
    declared = responses.get(str(response.status_code))
    assert declared is not None, f"{method} {path}: status {response.status_code} is not documented"
    if "$ref" in declared:
        declared = doc["components"]["responses"][declared["$ref"].rsplit("/", 1)[-1]]
    schema = declared["content"]["application/json"]["schema"]
    validator = jsonschema_rs.Draft202012Validator({**schema, "components": doc["components"]})
    errors = [e.message for e in validator.iter_errors(response.get_json())]
    assert not errors, f"{method} {path} {response.status_code}: {errors[:3]}"


@pytest.fixture
def api(app) -> Api:
    """The API client on the test's app."""
    return Api(app)


def receive(api: Api, who: str = "sonv.motcua", **body):
    payload = {"procedure_code": "1.001806", "applicant": APPLICANT} | body
    response = api.post("/dossiers", who, json=payload)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def open_item(api: Api, code: str, who: str = "sonv.motcua") -> dict:
    """The dossier's single open work item."""
    (item,) = [i for i in api.get(f"/dossiers/{code}", who).get_json()["work_items"] if i["open"]]
    return item


def complete(api: Api, code: str, who: str, outcome: str | None = None) -> dict:
    item = open_item(api, code, who)
    response = api.post(f"/work-items/{item['id']}/complete", who, json={"outcome": outcome})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def to_specialist(api: Api, code: str, clock) -> dict:
    clock.moment = at("2026-11-23 09:00")
    complete(api, code, "sonv.motcua")
    clock.moment = at("2026-11-23 10:00")
    complete(api, code, "sonv.truongphong")
    return open_item(api, code, "sonv.chuyenvien1")


def dossier_count(api: Api) -> int:
    with api.ctx.uow() as uow:
        return uow.session.scalar(select(func.count()).select_from(Dossier))


# --- the document ------------------------------------------------------------------------


def test_the_document_describes_every_route_of_the_api_and_nothing_else(app, api):
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(PREFIX + "/"):  # every blueprint's routes under the API's prefix
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule).removeprefix(PREFIX)
            routes |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    doc = api.get("/openapi.json", who=None).get_json()
    documented = {(path, method) for path, methods in doc["paths"].items() for method in methods}
    assert routes == documented
    assert doc["openapi"].startswith("3.1")
    assert doc["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An API token.",
    }
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            statuses = set(op["responses"])
            if is_public(path):
                assert op["security"] == [], path
            else:
                assert "401" in statuses, (method, path)
            if "parameters" in op or "requestBody" in op:
                assert "422" in statuses, (method, path)
    all_statuses = {
        s for methods in doc["paths"].values() for op in methods.values() for s in op["responses"]
    }
    assert {"400", "401", "403", "404", "409", "413", "422"} <= all_statuses


def test_the_engine_text_limits_are_the_limits_the_document_shows_and_the_api_enforces(api, clock):
    schemas = api.doc["components"]["schemas"]
    shown = {
        "applicant_name": schemas["Applicant"]["properties"]["name"]["maxLength"],
        "reason": schemas["Withdraw"]["properties"]["reason"]["maxLength"],
        "collected_by": schemas["ReturnResult"]["properties"]["collected_by"]["maxLength"],
    }
    assert shown == {field: TEXT_LIMITS[field] for field in shown}
    limit = TEXT_LIMITS["applicant_name"]
    too_long = api.post("/dossiers", json=VALID | {"applicant": APPLICANT | {"name": "A" * (limit + 1)}})
    assert (too_long.status_code, too_long.get_json()["field"]) == (422, "applicant.name")
    assert too_long.get_json()["message"] == f"Giá trị của “applicant.name” dài quá {limit} ký tự."
    code = receive(api, applicant=APPLICANT | {"name": "A" * limit})["code"]
    limit = TEXT_LIMITS["reason"]
    refused = api.post(f"/dossiers/{code}/withdraw", json={"reason": "x" * (limit + 1)})
    assert (refused.status_code, refused.get_json()["field"]) == (422, "reason")
    withdrawn = api.post(f"/dossiers/{code}/withdraw", json={"reason": "x" * limit})
    assert withdrawn.get_json()["status"] == "withdrawn"


def test_a_body_without_required_fields_may_be_left_out_as_the_document_says(api, clock):
    bodies = {
        path: methods["post"]["requestBody"]["required"]
        for path, methods in api.doc["paths"].items()
        if "requestBody" in methods.get("post", {})
    }
    assert bodies["/dossiers/{code}/resume"] is False and bodies["/work-items/{item_id}/complete"] is False
    assert bodies["/dossiers/{code}/withdraw"] is True and bodies["/dossiers"] is True
    code = receive(api)["code"]
    item = to_specialist(api, code, clock)
    api.post(
        f"/work-items/{item['id']}/supplement",
        "sonv.chuyenvien1",
        json={"missing": ["Bản sao"], "reason": "Thiếu"},
    )
    resumed = api.post(f"/dossiers/{code}/resume")
    assert (resumed.status_code, resumed.get_json()["status"]) == (200, "processing")
    left_out = api.post(f"/dossiers/{code}/withdraw")
    assert (left_out.status_code, left_out.get_json()["field"]) == (422, "reason")
    assert left_out.get_json()["message"] == "Thiếu trường bắt buộc “reason”."


# --- happy paths ---------------------------------------------------------------------------


def test_receiving_answers_201_with_the_code_the_appointment_and_the_first_step(api):
    response = api.post(
        "/dossiers",
        json={
            "procedure_code": "1.001806",
            "applicant": APPLICANT | {"email": "an@example.vn", "address": "Số 1, xã Demo"},
            "documents": [FIRST_DOCUMENT, "Danh sách người lao động"],
            "data": {"so_lao_dong": 42},
            "files": [{"name": "de-nghi.pdf", "content_base64": PDF}],
        },
    )
    assert response.status_code == 201
    body = response.get_json()
    assert body["code"] == "000.00.12.H40-261123-0001"
    assert response.headers["Location"] == f"{PREFIX}/dossiers/{body['code']}"
    assert response.headers["Cache-Control"] == "no-store"
    assert (body["status"], body["channel"]) == ("processing", "online")
    # Times are shown in Vietnam: 10 working days from Monday 23/11 08:00 (24/11 is a holiday).
    assert (body["received_at"], body["due_at"]) == ("2026-11-23T08:00:00+07:00", "2026-12-08T08:00:00+07:00")
    # Both times: the legal due time and the appointment, equal until a letter moves the appointment.
    assert (
        body["legal_due_at"],
        body["appointment_at"],
        body["late"],
        body["late_at"],
        body["judged_at"],
    ) == (
        "2026-12-08T08:00:00+07:00",
        "2026-12-08T08:00:00+07:00",
        False,
        None,
        None,
    )
    assert body["documents"] == [FIRST_DOCUMENT, "Danh sách người lao động"]
    assert [(a["file_name"], a["media_type"], a["kind"]) for a in body["attachments"]] == [
        ("de-nghi.pdf", "application/pdf", "input")
    ]
    (item,) = body["work_items"]
    assert (item["step_id"], item["role"], item["open"], item["due_at"]) == (
        "Task_Receive",
        "desk",
        True,
        "2026-11-23T13:30:00+07:00",
    )
    assert [e["kind"] for e in body["events"]] == ["received", "step_opened"]
    assert api.get(f"/dossiers/{body['code']}").get_json() == body


def test_a_repeated_idempotency_key_returns_the_same_dossier_with_200(api):
    payload = {"procedure_code": "1.001806", "applicant": APPLICANT}
    first = api.post("/dossiers", json=payload, headers={"Idempotency-Key": "portal-7f3a"})
    again = api.post("/dossiers", json=payload, headers={"Idempotency-Key": "portal-7f3a"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json()["code"] == first.get_json()["code"]
    assert dossier_count(api) == 1
    # Keys belong to the caller: another account's identical key is another submission.
    other = api.post(
        "/dossiers",
        "xa.motcua",
        json={"procedure_code": "1.001193", "applicant": APPLICANT},
        headers={"Idempotency-Key": "portal-7f3a"},
    )
    assert other.status_code == 201
    assert other.get_json()["code"].startswith("000.01.25.H40-")
    assert dossier_count(api) == 2


def test_a_dossier_goes_through_its_steps_and_is_returned_through_the_api(api, clock):
    code = receive(api)["code"]
    item = to_specialist(api, code, clock)
    assert item["role"] == "specialist" and item["assignee"] is None
    task = api.get(f"/work-items/{item['id']}", "sonv.chuyenvien1").get_json()
    assert [o["value"] for o in task["outcomes"]] == ["forward"]
    assert (task["can_supplement"], task["can_refuse"]) == (True, True)

    claimed = api.post(f"/work-items/{item['id']}/claim", "sonv.chuyenvien1")
    assert claimed.status_code == 200
    assert claimed.get_json()["work_item"]["assignee"]["name"] == "Lê Thị Thu Hà"
    released = api.post(f"/work-items/{item['id']}/release", "sonv.chuyenvien1")
    assert released.get_json()["work_item"]["assignee"] is None
    api.post(f"/work-items/{item['id']}/claim", "sonv.chuyenvien1")

    clock.moment = at("2026-11-23 11:00")
    done = api.post(
        f"/work-items/{item['id']}/complete",
        "sonv.chuyenvien1",
        json={"outcome": "forward", "comment": "  Đủ điều kiện  "},
    )
    assert done.status_code == 200
    assert done.get_json()["status"] == "processing"
    (opened,) = done.get_json()["opened_work_item_ids"]
    for who, outcome, hour in [
        ("sonv.truongphong", "submit", "13:00"),
        ("sonv.lanhdao", "approve", "14:00"),
        ("sonv.vanthu", None, "15:00"),
    ]:
        clock.moment = at(f"2026-11-23 {hour}")
        result = complete(api, code, who, outcome)
    assert result["status"] == "result_ready"
    ret = open_item(api, code)
    returned = api.post(f"/work-items/{ret['id']}/return", json={"collected_by": "Nguyễn Văn An"})
    assert returned.get_json() == {"dossier_code": code, "status": "returned", "opened_work_item_ids": []}
    final = api.get(f"/dossiers/{code}").get_json()
    assert (final["status"], final["returned_to"], final["result_class"]) == (
        "returned",
        "Nguyễn Văn An",
        "early",
    )
    assert final["returned_at"] == "2026-11-23T15:00:00+07:00"
    specialist_step = next(i for i in final["work_items"] if i["id"] == item["id"])
    assert (specialist_step["outcome"], specialist_step["comment"]) == ("forward", "Đủ điều kiện")
    assert specialist_step["completed_by"]["name"] == "Lê Thị Thu Hà"
    assert opened in [i["id"] for i in final["work_items"]]
    assert {"claimed", "step_completed", "returned"} <= {e["kind"] for e in final["events"]}


def test_a_supplement_stops_the_clock_and_the_desk_resumes_it(api, clock):
    code = receive(api)["code"]
    item = to_specialist(api, code, clock)
    clock.moment = at("2026-11-23 14:00")
    asked = api.post(
        f"/work-items/{item['id']}/supplement",
        "sonv.chuyenvien1",
        json={"missing": ["Danh sách người lao động", "Bản sao hợp đồng"], "reason": "Thiếu giấy tờ"},
    )
    assert asked.get_json()["status"] == "supplement"
    waiting = api.get(f"/dossiers/{code}").get_json()
    (suspension,) = waiting["suspensions"]
    assert suspension["details"] == ["Danh sách người lao động", "Bản sao hợp đồng"]
    assert suspension["ended_at"] is None
    clock.moment = at("2026-11-27 09:00")
    resumed = api.post(f"/dossiers/{code}/resume", json={"note": "Đã nhận đủ"})
    assert resumed.status_code == 200
    assert resumed.get_json()["status"] == "processing"
    after = api.get(f"/dossiers/{code}").get_json()
    # Restarted from zero: 80 working hours from Friday 27/11 09:00.
    assert after["due_at"] == "2026-12-11T09:00:00+07:00"
    assert after["suspensions"][0]["paused_hours"] == 20.5
    assert open_item(api, code, "sonv.chuyenvien1")["step_id"] == "Task_Process"


def test_a_refusal_and_a_withdrawal_through_the_api(api, clock):
    refused = receive(api)["code"]
    item = to_specialist(api, refused, clock)
    response = api.post(
        f"/work-items/{item['id']}/refuse", "sonv.chuyenvien1", json={"reason": "Không đủ 30% lao động"}
    )
    assert response.status_code == 200
    assert api.get(f"/dossiers/{refused}").get_json()["refusal_reason"] == "Không đủ 30% lao động"
    assert open_item(api, refused)["step_id"] == "Task_ReturnRefusal"
    # Refusal only where the diagram refuses: the hand-over of the refusal slip has no refusal branch.
    hand_over = open_item(api, refused)
    again = api.post(f"/work-items/{hand_over['id']}/refuse", "sonv.motcua", json={"reason": "Lần nữa"})
    assert again.status_code == 422
    assert (again.get_json()["error"], again.get_json()["field"]) == ("invalid", "outcome")
    assert open_item(api, refused)["id"] == hand_over["id"]

    withdrawn = receive(api)["code"]
    response = api.post(f"/dossiers/{withdrawn}/withdraw", json={"reason": "Công dân xin rút"})
    assert response.status_code == 200
    body = response.get_json()
    assert (body["status"], body["withdrawal_reason"]) == ("withdrawn", "Công dân xin rút")
    assert not any(i["open"] for i in body["work_items"])
    again = api.post(f"/dossiers/{withdrawn}/withdraw", json={"reason": "lần nữa"})
    assert again.status_code == 409
    assert "không thể rút hồ sơ được nữa" in again.get_json()["message"]


def test_the_inbox_lists_my_items_and_my_pool_with_counts_and_filters(api, clock):
    first = receive(api)["code"]
    receive(api)
    item = open_item(api, first)
    api.post(f"/work-items/{item['id']}/claim")
    clock.moment = at("2026-11-23 12:00")
    mine = api.get("/work-items?scope=mine").get_json()
    assert [r["dossier_code"] for r in mine["items"]] == [first]
    assert mine["items"][0]["assignee"]["name"] == "Nguyễn Thị Hồng"
    assert mine["counts"] == {"all": 2, "mine": 1, "pool": 1, "overdue": 0, "soon": 2}
    pool = api.get("/work-items?scope=pool&limit=1&offset=0").get_json()
    assert (pool["total"], len(pool["items"]), pool["limit"]) == (1, 1, 1)
    # Due 13:30, lunch 11:30-13:00: half a working hour left.
    assert pool["items"][0]["remaining_hours"] == 0.5 and pool["items"][0]["urgency"] == "soon"
    clock.moment = at("2026-11-23 14:00")
    overdue = api.get("/work-items?status=overdue&procedure=1.001806").get_json()
    assert overdue["total"] == 2 and overdue["items"][0]["urgency"] == "overdue"
    assert api.get("/work-items?procedure=1.001193").get_json()["total"] == 0
    assert api.get("/work-items", "sonv.chuyenvien1").get_json()["total"] == 0


def test_the_catalogue_lists_procedures_with_their_legal_time_and_active_version(api):
    # Each caller sees what its desk may receive: the Sở 1.001806, the commune the other three.
    procedures = {
        p["code"]: p
        for who in ("sonv.chuyenvien1", "xa.motcua")
        for p in api.get("/procedures", who).get_json()["procedures"]
    }
    assert set(procedures) == {"1.001806", "NA.3854", "1.001193", "2.000635"}
    allowance = procedures["NA.3854"]
    assert allowance["legal_time"] == {"value": 96.0, "unit": "hours"}
    assert (allowance["has_active_version"], allowance["active_version"]) == (True, 1)
    assert procedures["1.001193"]["fee"] == "Miễn lệ phí" and procedures["1.001193"]["fees"] == []
    assert procedures["2.000635"]["fees"] == [
        {"name": "Phí cấp bản sao trích lục hộ tịch", "amount": 8000, "exempt": ""}
    ]
    assert len(procedures["1.001806"]["required_documents"]) == 4


def test_health_and_the_document_need_no_token(api):
    assert api.get("/health", who=None).get_json() == {"status": "ok"}
    assert api.get("/openapi.json", who=None).status_code == 200


# --- who may call what ---------------------------------------------------------------------


def _operations(doc: dict):
    for path, methods in doc["paths"].items():
        for method in methods:
            if not is_public(path):
                yield method.upper(), path.replace("{code}", "X").replace("{item_id}", "1")


def test_every_endpoint_refuses_a_request_without_a_valid_token(api):
    receive(api)
    for headers in [{}, {"Authorization": "Bearer mc_not-a-token"}, {"Authorization": "Basic c29udjpwYXNz"}]:
        for method, path in _operations(api.doc):
            response = api.call(method, path, who=None, headers=headers, json={})
            assert response.status_code == 401, (method, path, headers)
            assert response.get_json()["error"] == "unauthenticated"
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert dossier_count(api) == 1


def test_a_revoked_token_or_a_locked_account_stops_working_at_once(api):
    token = api.token("sonv.motcua")
    assert api.get("/work-items").status_code == 200
    revoke_token(api.ctx, token, LOADED_AT)
    response = api.get("/work-items")
    assert response.status_code == 401
    assert "thu hồi" in response.get_json()["message"]
    with api.ctx.uow() as uow:
        uow.session.execute(
            update(Officer).where(Officer.username == "sonv.chuyenvien1").values(active=False)
        )
        uow.commit()
    assert api.get("/work-items", "sonv.chuyenvien1").status_code == 401


def test_another_agency_can_neither_read_nor_act_on_a_dossier_or_its_steps(api):
    code = receive(api)["code"]
    item = open_item(api, code)
    before = api.get(f"/dossiers/{code}").get_json()
    read = api.get(f"/dossiers/{code}", "xa.motcua")
    assert read.status_code == 403
    assert read.get_json()["message"] == f"Hồ sơ {code} không thuộc cơ quan của ông/bà."
    assert "applicant" not in read.get_json()
    assert api.get(f"/work-items/{item['id']}", "xa.motcua").status_code == 403
    for action, body in [
        ("claim", None),
        ("release", None),
        ("complete", {}),
        ("supplement", {"missing": ["x"], "reason": "x"}),
        ("refuse", {"reason": "x"}),
        ("return", {"collected_by": "x"}),
    ]:
        response = api.post(f"/work-items/{item['id']}/{action}", "xa.motcua", json=body)
        assert response.status_code == 403, action
        assert response.get_json()["message"] == "Bước xử lý này thuộc cơ quan khác."
    assert api.post(f"/dossiers/{code}/withdraw", "xa.motcua", json={"reason": "x"}).status_code == 403
    assert api.post(f"/dossiers/{code}/resume", "xa.motcua", json={}).status_code == 403
    assert api.get("/work-items", "xa.motcua").get_json()["total"] == 0
    assert api.get(f"/dossiers/{code}").get_json() == before


def test_only_the_role_of_the_step_may_work_it(api, clock):
    code = receive(api)["code"]
    item = open_item(api, code)
    response = api.post(f"/work-items/{item['id']}/complete", "sonv.chuyenvien1", json={})
    assert response.status_code == 403
    assert response.get_json()["message"] == 'Bước xử lý này dành cho vai trò "Bộ phận Một cửa"'
    not_desk = api.post(
        "/dossiers", "sonv.chuyenvien1", json={"procedure_code": "1.001806", "applicant": APPLICANT}
    )
    assert not_desk.status_code == 403
    item = to_specialist(api, code, clock)
    api.post(f"/work-items/{item['id']}/complete", "sonv.chuyenvien1", json={"outcome": "forward"})
    complete(api, code, "sonv.truongphong", "submit")
    approve = open_item(api, code, "sonv.lanhdao")
    refused = api.post(
        f"/work-items/{approve['id']}/complete", "sonv.chuyenvien1", json={"outcome": "approve"}
    )
    assert refused.status_code == 403
    assert refused.get_json()["message"] == 'Bước xử lý này dành cho vai trò "Lãnh đạo cơ quan"'
    assert open_item(api, code, "sonv.lanhdao")["id"] == approve["id"]


def test_completing_a_step_someone_else_just_completed_is_a_conflict(api, clock):
    code = receive(api)["code"]
    item = to_specialist(api, code, clock)
    first = api.post(f"/work-items/{item['id']}/complete", "sonv.chuyenvien1", json={"outcome": "forward"})
    assert first.status_code == 200
    second = api.post(f"/work-items/{item['id']}/complete", "sonv.chuyenvien2", json={"outcome": "forward"})
    assert second.status_code == 409
    assert second.get_json() == {
        "error": "conflict",
        "message": "Bước xử lý này đã hoàn thành; vui lòng tải lại danh sách công việc",
    }
    head = open_item(api, code, "sonv.truongphong")
    api.post(f"/work-items/{head['id']}/claim", "sonv.truongphong")
    taken = api.post(f"/work-items/{head['id']}/claim", "sonv.giamsat")
    assert taken.status_code == 409
    assert taken.get_json()["message"] == "Bước xử lý này đã được cán bộ khác nhận xử lý"


def test_unknown_dossiers_and_work_items_are_not_found(api):
    assert api.get("/dossiers/000.00.12.H40-261123-9999").status_code == 404
    assert api.get("/work-items/999999").status_code == 404
    assert api.post("/work-items/99999999999/claim").status_code == 404
    # Ids outside the declared range name no work item.
    outside = api.get("/work-items/0")
    assert outside.status_code == 404
    assert outside.get_json()["message"] == "Không tìm thấy bước xử lý số 0"
    assert api.post("/dossiers/000.00.12.H40-261123-9999/resume", json={}).status_code == 404
    unknown = api.get("/khong-co")
    assert (unknown.status_code, unknown.get_json()["error"]) == (404, "not_found")


# --- one unit of work per request ------------------------------------------------------------


def test_a_read_is_one_transaction_and_an_action_adds_only_its_own_use_case(api, clock):
    code = receive(api)["code"]
    item = open_item(api, code)
    api.token("xa.motcua")  # tokens are issued before counting
    calls = {
        "dossier": ("GET", f"/dossiers/{code}", None, None),
        "work item": ("GET", f"/work-items/{item['id']}", None, None),
        "inbox": ("GET", "/work-items?procedure=1.001806", None, None),
        "catalogue": ("GET", "/procedures", None, None),
        "claim by another agency": ("POST", f"/work-items/{item['id']}/claim", "xa.motcua", None),
        "claim": ("POST", f"/work-items/{item['id']}/claim", None, None),
        "complete": ("POST", f"/work-items/{item['id']}/complete", None, {}),
    }
    cost = {}
    for name, (method, path, who, body) in calls.items():
        with transactions(api.ctx) as begun:
            response = api.call(method, path, who or "sonv.motcua", json=body)
        assert response.status_code in (200, 403), (name, response.get_json())
        cost[name] = (response.status_code, len(begun))
    assert cost == {
        # The token check and everything the answer shows, in the request's one unit of work.
        "dossier": (200, 1),
        "work item": (200, 1),
        "inbox": (200, 1),
        "catalogue": (200, 1),
        # The token check, then the use case, which checks the agency itself: no read in between.
        "claim by another agency": (403, 2),
        "complete": (200, 2),
        # An action that answers with the work item as it is now reads it after its use case.
        "claim": (200, 3),
    }


# --- bad input ----------------------------------------------------------------------------

VALID = {"procedure_code": "1.001806", "applicant": APPLICANT}


BAD_DOSSIERS = [
    ("{not json", "body", "không phải JSON hợp lệ"),
    ('{"procedure_code": NaN}', "body", "không phải JSON hợp lệ"),
    ("[1, 2]", "body", "phải là đối tượng JSON"),
    ({"applicant": APPLICANT}, "procedure_code", "Thiếu trường bắt buộc"),
    (VALID | {"procedure_code": 1806}, "procedure_code", "phải là chuỗi ký tự"),
    (VALID | {"applicant": APPLICANT | {"name": ["An"]}}, "applicant.name", "phải là chuỗi ký tự"),
    (VALID | {"applicant": {"phone": "0912345678"}}, "applicant.name", "Thiếu trường bắt buộc"),
    (VALID | {"channel": "fax"}, "channel", "phải là một trong: in_person, postal, online"),
    (VALID | {"documents": ["a", 2]}, "documents[1]", "phải là chuỗi ký tự"),
    (VALID | {"applicnt": {}}, "applicnt", "không được hỗ trợ"),
    (VALID | {"applicant": APPLICANT | {"name": "A" * 256}}, "applicant.name", "dài quá 255 ký tự"),
    (VALID | {"applicant": APPLICANT | {"name": "An\u0000"}}, "applicant.name", "ký tự NUL"),
    (VALID | {"data": {"x": {"typename": "BpmnWorkflow"}}}, "data.x", "không hợp lệ"),
    (VALID | {"files": [{"name": "a.pdf", "content_base64": "%%%"}]}, "files[0].content_base64", "base64"),
    (VALID | {"files": [{"name": "a.exe", "content_base64": PDF}]}, "files", "không thuộc loại"),
    (VALID | {"applicant": APPLICANT | {"phone": "12ab"}}, "applicant.phone", "Số điện thoại"),
    (VALID | {"applicant": APPLICANT | {"name": "   "}}, "applicant.name", "Chưa nhập họ tên"),
    (VALID | {"procedure_code": "9.999999"}, "procedure_code", "không có trong danh mục"),
]


def test_a_bad_dossier_is_refused_with_422_naming_the_field_and_nothing_is_written(api):
    for body, field, message in BAD_DOSSIERS:
        kwargs = (
            {"data": body, "content_type": "application/json"} if isinstance(body, str) else {"json": body}
        )
        response = api.post("/dossiers", **kwargs)
        assert response.status_code == 422, (body, response.get_json())
        assert response.get_json()["field"] == field, body
        assert message in response.get_json()["message"], body
    assert dossier_count(api) == 0


def test_bad_inbox_filters_are_refused_with_422_naming_the_parameter(api):
    for query, field in [
        ("scope=everything", "scope"),
        ("status=late", "status"),
        ("limit=ten", "limit"),
        ("limit=0", "limit"),
        ("offset=-1", "offset"),
        ("procedure=9.999", "procedure"),
        ("procedure=%00", "procedure"),
    ]:
        response = api.get(f"/work-items?{query}")
        assert response.status_code == 422, query
        assert response.get_json()["field"] == field, query


def test_bad_step_input_is_refused_with_422_naming_the_field(api, clock):
    code = receive(api)["code"]
    item = to_specialist(api, code, clock)
    url = f"/work-items/{item['id']}"
    cases = [
        ("complete", {}, "outcome"),
        ("complete", {"outcome": "approve"}, "outcome"),
        ("complete", {"outcome": 1}, "outcome"),
        ("complete", {"data": {"x": [1]}}, "data.x"),
        ("supplement", {"reason": "x"}, "missing"),
        ("supplement", {"missing": [" "], "reason": "x"}, "missing"),
        ("supplement", {"missing": "giấy tờ", "reason": "x"}, "missing"),
        ("refuse", {"reason": ""}, "reason"),
        ("return", {"collected_by": "An"}, "work_item"),
    ]
    for action, body, field in cases:
        response = api.post(f"{url}/{action}", "sonv.chuyenvien1", json=body)
        assert response.status_code == 422, (action, body, response.get_json())
        assert response.get_json()["field"] == field, (action, body)
    assert open_item(api, code, "sonv.chuyenvien1")["id"] == item["id"]
    bad_key = api.post("/dossiers", json=VALID, headers={"Idempotency-Key": "x" * 65})
    assert (bad_key.status_code, bad_key.get_json()["field"]) == (422, "Idempotency-Key")


def test_an_upload_over_the_cap_is_refused_with_413(make_ctx, clock, tmp_path):
    app = create_app(
        ctx=make_ctx(attachments_dir=str(tmp_path / "attachments"), upload_max_bytes=1024),
        test_config={
            "TESTING": True,
            "SECRET_KEY": "test",
            "MOTCUA_CLOCK": clock,
            "RATELIMIT_ENABLED": False,
        },
    )
    api = Api(app)
    big = base64.b64encode(b"%PDF-" + b"0" * 1100).decode()
    response = api.post("/dossiers", json=VALID | {"files": [{"name": "lon.pdf", "content_base64": big}]})
    assert response.status_code == 413
    assert response.get_json()["error"] == "too_large"
    assert "lon.pdf" in response.get_json()["message"]
    assert dossier_count(api) == 0
