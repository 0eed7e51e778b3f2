"""Input the database would choke on, and actions by the wrong agency, are refused before any write: by the
engine's own checks, and by the web guard in front of every page and the API (web/guards.py)."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from engine.accounts import issue_token
from engine.catalogue.bpmn_check import check_bpmn
from engine.errors import Conflict, Forbidden, InvalidInput
from engine.runtime import dossiers as svc
from engine.runtime.counter import issue_counter_slip
from engine.statistics.periods import parse_period
from models import ApologyLetter, Dossier, Officer, ProcessVersion
from tests.conftest import LOADED_AT, at, open_items


def receive(ctx, officers, **kw):
    applicant = kw.pop("applicant", svc.Applicant(name="Lê Văn Minh", phone="0912000111"))
    return svc.receive_dossier(
        ctx,
        procedure_code="1.001806",
        applicant=applicant,
        channel="in_person",
        officer_id=officers["sonv.motcua"],
        now=at("2026-11-23 08:00"),
        **kw,
    )


def count(ctx) -> int:
    with ctx.uow() as uow:
        return uow.session.scalar(select(func.count(Dossier.id)))


@pytest.mark.parametrize(
    ("applicant", "field"),
    [
        (svc.Applicant(name="Lê\x00Minh"), "applicant_name"),
        (svc.Applicant(name="x" * 256), "applicant_name"),
        (svc.Applicant(name="Lê Minh", email="a" * 260 + "@b.vn"), "applicant_email"),
        (svc.Applicant(name="Lê Minh", address="\x07chuông"), "applicant_address"),
    ],
)
def test_applicant_text_the_database_cannot_hold_is_refused(ctx, officers, applicant, field) -> None:
    with pytest.raises(InvalidInput) as caught:
        receive(ctx, officers, applicant=applicant)
    assert caught.value.field == field
    assert count(ctx) == 0


@pytest.mark.parametrize(
    "data", [{"nested": {"typename": "BpmnWorkflow"}}, {"typename": "x"}, {"bad key": 1}, {"x": [1, 2]}]
)
def test_step_data_must_stay_flat(ctx, officers, data) -> None:
    with pytest.raises(InvalidInput, match=r"dữ liệu|Khóa|Giá trị"):
        receive(ctx, officers, data=data)
    assert count(ctx) == 0


def test_resume_by_another_agency_is_forbidden_before_revealing_the_state(ctx, officers) -> None:
    receipt = receive(ctx, officers)
    with pytest.raises(Forbidden):
        svc.resume(ctx, receipt.code, officers["xa.motcua"], at("2026-11-23 09:00"))


def test_return_by_another_agency_is_forbidden_before_naming_the_step(ctx, officers) -> None:
    receipt = receive(ctx, officers)
    item = open_items(ctx, receipt.dossier_id)[0]
    with pytest.raises(Forbidden):
        svc.return_result(ctx, item.id, officers["xa.motcua"], collected_by="X", now=at("2026-11-23 09:00"))


def test_a_submission_key_of_another_agency_is_not_answered_with_its_dossier(ctx, officers) -> None:
    receive(ctx, officers, submission_key="k-1")
    with pytest.raises(Conflict):
        svc.receive_dossier(
            ctx,
            procedure_code="1.001193",
            applicant=svc.Applicant(name="Hà"),
            channel="in_person",
            officer_id=officers["xa.motcua"],
            now=at("2026-11-23 08:00"),
            submission_key="k-1",
        )


# ---------------------------------------------------------------------------
# the engine's own checks, for every caller (pages, API, CLI)


@pytest.mark.parametrize("name", ["Lê \ud800Minh", "\udfff", "An\ud83d"])
def test_a_lone_surrogate_is_refused_by_the_text_guard_before_any_write(ctx, officers, name) -> None:
    with pytest.raises(InvalidInput, match="ký tự Unicode đơn lẻ") as caught:
        receive(ctx, officers, applicant=svc.Applicant(name=name))
    assert caught.value.field == "applicant_name"
    assert count(ctx) == 0


def test_a_submission_key_longer_than_its_column_is_refused_before_any_write(ctx, officers) -> None:
    with pytest.raises(InvalidInput, match="80 ký tự") as caught:
        receive(ctx, officers, submission_key="k" * 81)
    assert caught.value.field == "submission_key"
    assert count(ctx) == 0
    assert receive(ctx, officers, submission_key="k" * 80).code  # as long as the column: taken


def test_a_counter_slip_key_longer_than_its_column_is_refused(ctx, officers) -> None:
    with pytest.raises(InvalidInput) as caught:
        issue_counter_slip(
            ctx,
            kind="refusal",
            procedure_code="1.001806",
            applicant=svc.Applicant(name="Lê Văn Minh"),
            missing=[],
            reason="Không thuộc thẩm quyền",
            officer_id=officers["sonv.motcua"],
            now=at("2026-11-23 08:00"),
            submission_key="k" * 81,
        )
    assert caught.value.field == "submission_key"


@pytest.mark.parametrize(
    "text",
    [
        "0001-01",
        "9999-12",
        "0001",
        "1999",
        "2101-Q1",
        "0001-H2",
        "1999-12-31..2026-01-01",
        "2026-01-01..9999-12-31",
    ],
)
def test_a_report_period_outside_2000_to_2100_is_refused_in_vietnamese(text) -> None:
    with pytest.raises(InvalidInput, match="từ 2000 đến 2100") as caught:
        parse_period(text)
    assert caught.value.field == "period"


def test_report_periods_at_the_edges_of_the_range_are_read() -> None:
    assert parse_period("2000-01").first_day == date(2000, 1, 1)
    assert parse_period("2100").last_day == date(2100, 12, 31)


# ---------------------------------------------------------------------------
# the web guard: the findings of the hardening review, one test each

ALL_ROLES = [
    "desk",
    "head",
    "specialist",
    "leader",
    "clerk",
    "supervisor",
    "process_owner",
    "approver",
    "admin",
]
INT_ROUTES = [
    "/viec/{}",
    "/xin-loi/{}",
    "/xin-loi/{}/in",
    "/mot-cua/phieu-tai-quay/{}",
    "/quy-trinh/phien-ban/{}",
    "/quy-trinh/phien-ban/{}/bpmn",
    "/quy-trinh/phien-ban/{}/sua",
    "/ho-so/000.00.12.H40-261123-0001/tai-lieu/{}",
]


def every_role(app, username: str = "sonv.giamsat") -> str:
    """Give one officer every role, so that no role check answers before the input is read."""
    with app.extensions["motcua"].uow() as uow:
        uow.session.execute(update(Officer).where(Officer.username == username).values(roles=ALL_ROLES))
        uow.commit()
    return username


def page_count(app) -> int:
    return count(app.extensions["motcua"])


def test_a_nul_byte_in_the_sign_in_form_is_refused_naming_the_field(web) -> None:
    response = web.post("/dang-nhap", {"username": "sonv\x00.motcua", "password": "x"}, page="/dang-nhap")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "“Tên đăng nhập” chứa ký tự NUL không hợp lệ." in page


def test_a_nul_byte_in_the_citizen_lookup_is_refused_naming_the_field(web) -> None:
    response = web.post("/tra-cuu", {"code": "000.00.12\x00", "last4": "0111"})
    assert response.status_code == 422
    assert "“Mã hồ sơ” chứa ký tự NUL" in response.get_data(as_text=True)
    rating = web.post("/tra-cuu/danh-gia", {"code": "x", "last4": "0\x001", "satisfied": "yes"})
    assert rating.status_code == 422


def test_a_nul_byte_in_a_query_value_is_refused_naming_the_field(web) -> None:
    web.login("sonv.motcua")
    for url, label in [
        ("/ho-so/?q=%00", "Tìm kiếm"),
        ("/mot-cua/thanh-phan-ho-so?procedure_code=1.001806%00", "Thủ tục"),
        ("/?scope=mine%00", "scope"),
    ]:
        response = web.get(url)
        assert response.status_code == 422, url
        assert f"“{label}” chứa ký tự NUL" in response.get_data(as_text=True), url


def test_a_nul_byte_in_a_path_value_names_nothing(web) -> None:
    web.login("sonv.motcua")
    for url in ["/ho-so/000.00%00", "/mot-cua/ho-so/%00/bo-sung", "/quy-trinh/1.001806%00"]:
        assert web.get(url).status_code == 404, url


def test_a_control_character_in_a_form_field_changes_nothing(web, app) -> None:
    web.login("sonv.motcua")
    form = {"procedure_code": "1.001806", "applicant_name": "Lê\x1bMinh", "channel": "in_person"}
    response = web.post("/mot-cua/tiep-nhan", form, page="/mot-cua/tiep-nhan")
    assert response.status_code == 422
    assert "“Họ tên người nộp” chứa ký tự điều khiển U+001B" in response.get_data(as_text=True)
    assert page_count(app) == 0


def test_ids_beyond_the_database_integer_are_not_found(web, app) -> None:
    web.login(every_role(app))
    for url in INT_ROUTES:
        for number in (2**31, 2**63, 10**30):
            response = web.get(url.format(number))
            assert response.status_code == 404, url.format(number)
            assert "Không tìm thấy" in response.get_data(as_text=True)


def test_a_post_to_an_id_beyond_the_database_integer_is_not_found(web, app) -> None:
    web.login(every_role(app))
    for url in ["/viec/{}/nhan", "/viec/{}/hoan-thanh", "/xin-loi/{}/ky", "/quy-trinh/phien-ban/{}/trinh"]:
        assert web.post(url.format(2**31), {}).status_code == 404, url


def test_the_largest_id_the_database_holds_is_simply_not_there(web, app) -> None:
    web.login(every_role(app))
    assert web.get(f"/viec/{2**31 - 1}").status_code == 404
    assert web.get(f"/xin-loi/{2**31 - 1}").status_code == 404


INTEGER_FIELDS = [
    ("get", f"/?procedure={2**31}", None),
    ("get", f"/?page={10**30}", None),
    ("get", f"/bao-cao/ho-so?column=received&page={2**63}", None),
    ("post", "/viec/nhan-nhieu", {"item": str(2**63)}),
    ("post", "/thong-bao/da-doc", {"id": str(2**31)}),
    ("post", "/quan-tri/thong-bao-loi", {"id": str(2**31)}),
]


def test_integer_fields_beyond_the_database_integer_are_not_found(web, app) -> None:
    web.login(every_role(app))
    for method, url, data in INTEGER_FIELDS:
        response = web.get(url) if method == "get" else web.post(url, data)
        assert response.status_code == 404, url
        assert "Không tìm thấy" in response.get_data(as_text=True)


def test_an_integer_field_that_is_no_integer_is_refused_naming_it(web, app) -> None:
    web.login(every_role(app))
    response = web.post("/viec/nhan-nhieu", {"item": "²"})  # a digit to str.isdigit, not to int()
    assert response.status_code == 422
    assert "“Hồ sơ được chọn” phải là số nguyên không âm." in response.get_data(as_text=True)


def test_a_lone_surrogate_in_api_text_is_refused_with_422_naming_the_field(app) -> None:
    ctx = app.extensions["motcua"]
    token = issue_token(ctx, "sonv.motcua", "kiểm thử", LOADED_AT)
    body = '{"procedure_code": "1.001806", "applicant": {"name": "An\\ud800"}}'
    response = app.test_client().post(
        "/api/v1/dossiers",
        data=body,
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 422
    assert response.get_json()["field"] == "applicant.name"
    assert "ký tự Unicode đơn lẻ U+D800" in response.get_json()["message"]
    assert count(ctx) == 0


def test_a_desk_form_key_longer_than_its_column_is_refused_and_nothing_is_received(web, app) -> None:
    web.login("sonv.motcua")
    form = {
        "procedure_code": "1.001806",
        "applicant_name": "Lê Văn Minh",
        "channel": "in_person",
        "submission_key": "k" * 81,
    }
    response = web.post("/mot-cua/tiep-nhan", form, page="/mot-cua/tiep-nhan")
    assert response.status_code == 422
    assert "“Mã gửi biểu mẫu” dài quá 80 ký tự." in response.get_data(as_text=True)
    slip = web.post("/mot-cua/phieu-tai-quay/", form | {"kind": "refusal", "reason": "x"}, page="/mot-cua/")
    assert slip.status_code == 422
    assert page_count(app) == 0


PERIOD_URLS = [
    "/bao-cao/?period=0001-01",
    "/bao-cao/ho-so?period=0001-01&column=received",
    "/bao-cao/bieu-06.xlsx?period=9999-12",
    "/bao-cao/bieu-06.csv?period=0001",
    "/bao-cao/chi-so?period=0001-01",
    "/so-theo-doi/?period=0001-01",
    "/so-theo-doi/so-theo-doi-ho-so.xlsx?period=9999-Q4",
]


def test_a_report_period_of_year_one_is_answered_422_in_vietnamese(web, app) -> None:
    web.login(every_role(app))
    for url in PERIOD_URLS:
        response = web.get(url)
        assert response.status_code == 422, url
        assert "nằm ngoài khoảng cho phép" in response.get_data(as_text=True), url


def test_a_typed_date_outside_the_years_is_refused_naming_the_field(web, app, clock) -> None:
    from tests.test_web_alerts import letter_id, overdue_dossier

    letter = letter_id(app, overdue_dossier(web, app, clock))
    web.login(every_role(app, "sonv.lanhdao"))
    for day in ("0001-01-01", "9999-12-31"):
        response = web.post(
            f"/xin-loi/{letter}", {"new_due_date": day, "new_due_time": "08:00", "reason": "x"}
        )
        assert response.status_code == 422, day
        assert "“Ngày hẹn mới” phải là một ngày trong các năm từ 2000 đến 2100." in response.get_data(
            as_text=True
        )
    with app.extensions["motcua"].uow() as uow:
        assert uow.session.get(ApologyLetter, letter).reason != "x"


def test_a_report_asked_with_the_cell_parameters_still_renders(web, app) -> None:
    web.login(every_role(app))
    response = web.get("/bao-cao/?period=2026-11&column=received&group=x&page=2")
    assert response.status_code == 200
    assert "Biểu" in response.get_data(as_text=True)


# ---------------------------------------------------------------------------
# BPMN uploads: what the diagram's text becomes must fit its columns

BPMN = Path(__file__).resolve().parent.parent / "workflows" / "bpmn" / "1.001806.bpmn"


def versions_of(app) -> int:
    with app.extensions["motcua"].uow() as uow:
        return uow.session.scalar(select(func.count(ProcessVersion.id)))


def test_a_diagram_whose_process_id_is_longer_than_its_column_is_refused_and_nothing_is_stored(
    web, app
) -> None:
    text = BPMN.read_text().replace('process id="Process_1_001806"', 'process id="' + "P" * 300 + '"')
    web.login(every_role(app))
    before = versions_of(app)
    response = web.post(
        "/quy-trinh/1.001806/nhap-tep",
        {"file": (io.BytesIO(text.encode()), "dai.bpmn")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    assert "mã phần tử dài quá 255 ký tự" in web.get(response.location).get_data(as_text=True)
    assert versions_of(app) == before


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('name="Bộ phận Một cửa"', 'name="' + "L" * 256 + '"', "tên làn dài quá 255 ký tự"),
        ("'forward'", "'" + "o" * 41 + "'", "giá trị kết quả trong điều kiện dài quá 40 ký tự"),
    ],
)
def test_diagram_text_the_columns_cannot_hold_is_a_problem_to_fix(old, new, message) -> None:
    source = BPMN.read_text()
    assert old in source
    result = check_bpmn(source.replace(old, new, 1).encode())
    assert any(message in p.message for p in result.problems), result.problems
    assert result.storable  # kept as a draft to fix, never approved


@pytest.mark.parametrize("hours", ["10001", "1e9", "1e308"])
def test_allotted_hours_no_column_can_hold_are_refused_before_anything_is_stored(hours) -> None:
    source = BPMN.read_text()
    result = check_bpmn(source.replace('hours="56"', f'hours="{hours}"', 1).encode())
    assert any("vượt quá 10.000 giờ làm việc" in p.message for p in result.unsafe), result.problems
    assert not result.storable
