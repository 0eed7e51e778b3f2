"""The officers' pages and the citizen's lookup, through the test client, on SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select, update

from engine.runtime import dossiers as svc
from models import Dossier, Officer, WorkItem
from tests.conftest import at, open_items

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def receive_form(**overrides: object) -> dict:
    form = {
        "procedure_code": "1.001806",
        "applicant_name": "Nguyễn Thị Lan",
        "applicant_id_number": "001190012345",
        "applicant_phone": "0912345678",
        "applicant_email": "lan@example.vn",
        "applicant_address": "Số 1 Lê Lợi, TP Vinh",
        "channel": "in_person",
        "documents": [
            "Văn bản đề nghị công nhận cơ sở sản xuất, kinh doanh sử dụng từ 30% tổng số lao động trở lên là "
            "người khuyết tật",
            "Danh sách người lao động khuyết tật đang làm việc tại cơ sở, kèm bản sao giấy xác nhận khuyết tật",
        ],
        "submission_key": "key-" + str(overrides.pop("key", "1")),
    }
    form.update(overrides)
    return form


def receive(web, **overrides):
    """Receive through the desk form as sonv.motcua; returns the dossier code."""
    web.login("sonv.motcua")
    response = web.post("/mot-cua/tiep-nhan", receive_form(**overrides), page="/mot-cua/tiep-nhan")
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return re.search(r"/ho-so/([^/]+)/in/01", response.location).group(1)


def ctx_of(app):
    return app.extensions["motcua"]


def item_of(app, code: str) -> WorkItem:
    ctx = ctx_of(app)
    with ctx.uow() as uow:
        dossier_id = uow.session.scalar(select(Dossier.id).where(Dossier.code == code))
    return open_items(ctx, dossier_id)[0]


def officer_id(app, username: str) -> int:
    with ctx_of(app).uow() as uow:
        return uow.session.scalar(select(Officer.id).where(Officer.username == username))


# ---------------------------------------------------------------------------
# anonymous users, sign-in, CSRF


@pytest.mark.parametrize(
    "url", ["/", "/mot-cua/", "/mot-cua/tiep-nhan", "/ho-so/", "/ho-so/X-1", "/ho-so/X-1/in/01", "/viec/1"]
)
def test_anonymous_user_is_sent_to_sign_in(web, url: str) -> None:
    response = web.get(url)
    assert response.status_code == 302
    assert response.location.startswith("/dang-nhap")


def test_anonymous_user_sees_sign_in_and_lookup_only(web) -> None:
    assert web.get("/dang-nhap").status_code == 200
    page = web.get("/tra-cuu")
    assert page.status_code == 200
    assert "Tra cứu tình trạng hồ sơ" in page.get_data(as_text=True)


def test_wrong_password_is_refused_with_a_message(web) -> None:
    response = web.login("sonv.motcua", "wrong-password")
    assert response.status_code == 401
    assert "Tên đăng nhập hoặc mật khẩu không đúng" in response.get_data(as_text=True)
    assert web.get("/").status_code == 302


def test_disabled_account_gets_a_clear_message(web, app) -> None:
    with ctx_of(app).uow() as uow:
        uow.session.execute(update(Officer).where(Officer.username == "sonv.vanthu").values(active=False))
        uow.commit()
    response = web.login("sonv.vanthu")
    assert response.status_code == 403
    assert "sonv.vanthu đã bị khóa" in response.get_data(as_text=True)


def test_session_cookie_is_httponly_and_samesite(web) -> None:
    response = web.login("sonv.motcua")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_form_without_csrf_token_is_refused(web) -> None:
    response = web.http.post("/dang-nhap", data={"username": "sonv.motcua", "password": "motcua-demo"})
    assert response.status_code == 400
    web.login("sonv.motcua")
    response = web.http.post("/mot-cua/tiep-nhan", data=receive_form())
    assert response.status_code == 400
    assert "biểu mẫu không hợp lệ" in response.get_data(as_text=True)


def test_sign_out_needs_post_and_ends_the_session(web) -> None:
    web.login("sonv.motcua")
    refused = web.get("/dang-xuat")
    assert refused.status_code == 405 and "POST" in refused.headers["Allow"]
    assert web.post("/dang-xuat", page="/").status_code == 302
    assert web.get("/").status_code == 302


def test_sign_in_is_rate_limited(app, clock) -> None:
    from tests.conftest import WebClient
    from web import create_app
    from web.extensions import limiter

    limited = create_app(
        ctx=app.extensions["motcua"],
        test_config={"TESTING": True, "SECRET_KEY": "t", "MOTCUA_CLOCK": clock, "RATELIMIT_ENABLED": True},
    )
    limiter.reset()
    web = WebClient(limited)
    statuses = [web.login("sonv.motcua", "wrong-password").status_code for _ in range(12)]
    limiter.reset()
    assert statuses[0] == 401
    assert 429 in statuses


def test_redirect_after_sign_in_stays_on_the_site(web) -> None:
    token = web.csrf()
    response = web.http.post(
        "/dang-nhap?next=https://evil.example/x",
        data={"csrf_token": token, "username": "sonv.motcua", "password": "motcua-demo"},
    )
    assert response.location == "/"


# ---------------------------------------------------------------------------
# the desk


def test_desk_receives_a_dossier_and_prints_the_receipt(web, app) -> None:
    code = receive(web)
    assert code.startswith("000.00.12.H40-261123-")
    receipt = web.get(f"/ho-so/{code}/in/01").get_data(as_text=True)
    assert "Giấy tiếp nhận hồ sơ và hẹn trả kết quả" in receipt
    assert "Nguyễn Thị Lan" in receipt
    assert "Văn bản đề nghị công nhận" in receipt
    assert "<svg" in receipt  # the QR code of the lookup link
    # 10 working days from Monday 23/11/2026 08:00 (24/11 is a holiday from 2026): 08/12 08:00.
    assert "08 giờ 00 phút, ngày 08/12/2026" in receipt


def test_receive_form_redisplays_field_errors_in_vietnamese(web, app) -> None:
    web.login("sonv.motcua")
    response = web.post(
        "/mot-cua/tiep-nhan", receive_form(applicant_id_number="12345"), page="/mot-cua/tiep-nhan"
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Số định danh cá nhân phải gồm đúng 12 chữ số" in page
    assert 'value="Nguyễn Thị Lan"' in page  # what was typed is kept
    with ctx_of(app).uow() as uow:
        assert (
            uow.session.scalar(
                select(func.count(Dossier.id)).where(Dossier.applicant_name == "Nguyễn Thị Lan")
            )
            == 0
        )


def test_double_submission_creates_one_dossier(web, app) -> None:
    first = receive(web, key="same")
    second = receive(web, key="same")
    assert first == second
    with ctx_of(app).uow() as uow:
        assert (
            uow.session.scalar(select(func.count(Dossier.id)).where(Dossier.submission_key == "key-same"))
            == 1
        )


def test_upload_is_stored_and_downloadable(web, app) -> None:
    import io

    form = receive_form(key="upload")
    form["files"] = (io.BytesIO(PDF), "don-de-nghi.pdf")
    web.login("sonv.motcua")
    response = web.post(
        "/mot-cua/tiep-nhan", form, page="/mot-cua/tiep-nhan", content_type="multipart/form-data"
    )
    code = re.search(r"/ho-so/([^/]+)/in/01", response.location).group(1)
    page = web.get(f"/ho-so/{code}").get_data(as_text=True)
    link = re.search(r'href="(/ho-so/[^"]+/tai-lieu/\d+)"', page).group(1)
    download = web.get(link)
    assert download.data == PDF
    assert download.headers["X-Content-Type-Options"] == "nosniff"


def test_upload_of_a_forbidden_type_is_refused(web, app) -> None:
    import io

    form = receive_form(key="exe")
    form["files"] = (io.BytesIO(b"MZ\x90\x00"), "virus.exe")
    web.login("sonv.motcua")
    response = web.post(
        "/mot-cua/tiep-nhan", form, page="/mot-cua/tiep-nhan", content_type="multipart/form-data"
    )
    assert response.status_code == 422
    assert "không thuộc loại được chấp nhận" in response.get_data(as_text=True)


def test_oversized_upload_gets_413(web, app) -> None:
    import io

    app.config["MAX_CONTENT_LENGTH"] = 1024
    form = receive_form(key="big")
    form["files"] = (io.BytesIO(b"%PDF-" + b"x" * 4096), "big.pdf")
    web.login("sonv.motcua")
    response = web.post(
        "/mot-cua/tiep-nhan", form, page="/mot-cua/tiep-nhan", content_type="multipart/form-data"
    )
    assert response.status_code == 413
    assert "vượt quá dung lượng" in response.get_data(as_text=True)


def test_only_desk_officers_open_the_receive_form(web) -> None:
    web.login("sonv.chuyenvien1")
    assert web.get("/mot-cua/tiep-nhan").status_code == 403


# ---------------------------------------------------------------------------
# inbox and task page


def _work_to(web, app, code: str, task_id: str) -> WorkItem:
    """Complete steps as the right officers until the dossier reaches `task_id`."""
    workers = {
        "desk": "sonv.motcua",
        "head": "sonv.truongphong",
        "specialist": "sonv.chuyenvien1",
        "leader": "sonv.lanhdao",
        "clerk": "sonv.vanthu",
    }
    outcomes = {"Task_Process": "forward", "Task_Review": "submit", "Task_Approve": "approve"}
    for _ in range(10):
        item = item_of(app, code)
        if item.task_id == task_id:
            return item
        web.login(workers[item.role])
        response = web.post(
            f"/viec/{item.id}/hoan-thanh",
            {"outcome": outcomes.get(item.task_id, "")},
            page=f"/viec/{item.id}",
        )
        assert response.status_code == 302, response.get_data(as_text=True)[:300]
    raise AssertionError(f"{task_id} not reached")


def test_inbox_lists_pool_items_by_due_time_with_counts(web, app, clock) -> None:
    first = receive(web, key="a")
    clock.moment = at("2026-11-23 09:00")
    second = receive(web, key="b")
    page = web.get("/").get_data(as_text=True)
    table = page[page.index('id="inbox"') :]
    assert table.index(first) < table.index(second)
    assert 'data-count="pool">2<' in page
    assert table.count("remaining-soon") == 2  # 4-hour steps: a working day or less left


def test_inbox_colours_follow_the_remaining_working_time(web, app, clock) -> None:
    code = receive(web)
    clock.moment = at("2026-11-23 10:30")  # 4 hours allotted from 08:00: 1.5 h left
    page = web.get("/").get_data(as_text=True)
    assert "remaining-soon" in page
    clock.moment = at("2026-11-23 15:00")
    page = web.get("/?status=overdue").get_data(as_text=True)
    assert code in page and "remaining-overdue" in page


def test_claim_release_and_bulk_claim(web, app) -> None:
    a, b = receive(web, key="a"), receive(web, key="b")
    items = [item_of(app, a).id, item_of(app, b).id]
    response = web.post("/viec/nhan-nhieu", {"item": [str(i) for i in items]}, page="/")
    assert response.status_code == 302
    mine = web.get("/?scope=mine").get_data(as_text=True)
    assert a in mine and b in mine
    web.post(f"/viec/{items[0]}/tra-lai", page="/")
    assert a not in web.get("/?scope=mine").get_data(as_text=True)


def test_task_page_offers_the_outcomes_of_the_bpmn(web, app) -> None:
    code = receive(web)
    item = _work_to(web, app, code, "Task_Process")
    web.login("sonv.chuyenvien1")
    page = web.get(f"/viec/{item.id}").get_data(as_text=True)
    assert "Đạt, trình trưởng phòng" in page
    assert "Yêu cầu bổ sung hồ sơ (Mẫu 02)" in page
    assert "Từ chối giải quyết (Mẫu 03)" in page


def test_completing_moves_to_the_next_item(web, app) -> None:
    first, second = receive(web, key="a"), receive(web, key="b")
    item = item_of(app, first)
    response = web.post(f"/viec/{item.id}/hoan-thanh", {}, page="/")
    assert response.location == f"/viec/{item_of(app, second).id}"


def test_completion_without_a_required_outcome_is_explained(web, app) -> None:
    code = receive(web)
    item = _work_to(web, app, code, "Task_Process")
    web.login("sonv.chuyenvien1")
    response = web.post(f"/viec/{item.id}/hoan-thanh", {"comment": "xong"}, page="/")
    assert response.status_code == 422
    assert "cần chọn kết quả xử lý" in response.get_data(as_text=True)


def test_step_completed_by_someone_else_shows_a_conflict(web, app) -> None:
    code = receive(web)
    item = item_of(app, code)
    svc.complete(ctx_of(app), item.id, officer_id(app, "sonv.motcua"), now=at("2026-11-23 08:30"))
    response = web.post(f"/viec/{item.id}/hoan-thanh", {}, page="/")
    assert response.status_code == 302
    assert "đã hoàn thành" in web.get("/").get_data(as_text=True)


def test_specialist_cannot_take_the_leaders_step(web, app) -> None:
    code = receive(web)
    item = _work_to(web, app, code, "Task_Approve")
    web.login("sonv.chuyenvien1")
    response = web.post(f"/viec/{item.id}/hoan-thanh", {"outcome": "approve"}, page="/")
    assert response.status_code == 403
    assert "Lãnh đạo cơ quan" in response.get_data(as_text=True)
    assert item_of(app, code).id == item.id


def test_supervisor_reassigns_an_item(web, app) -> None:
    code = receive(web)
    item = _work_to(web, app, code, "Task_Process")
    web.login("sonv.chuyenvien1")
    web.post(f"/viec/{item.id}/nhan", page="/")
    web.login("sonv.giamsat")
    page = web.get(f"/viec/{item.id}").get_data(as_text=True)
    assert "Chuyển người xử lý" in page
    web.post(f"/viec/{item.id}/chuyen", {"to": str(officer_id(app, "sonv.chuyenvien2"))}, page="/")
    assert item_of(app, code).assignee_id == officer_id(app, "sonv.chuyenvien2")


# ---------------------------------------------------------------------------
# other agencies see nothing


def test_officer_of_another_agency_can_neither_see_nor_act(web, app) -> None:
    code = receive(web)
    item = item_of(app, code)
    web.login("xa.motcua")
    assert web.get(f"/ho-so/{code}").status_code == 403
    assert web.get(f"/ho-so/{code}/in/01").status_code == 403
    assert web.get(f"/ho-so/{code}/quy-trinh.bpmn").status_code == 403
    assert web.get(f"/viec/{item.id}").status_code == 403
    assert web.post(f"/viec/{item.id}/hoan-thanh", {}, page="/").status_code == 403
    assert item_of(app, code).id == item.id  # nothing happened
    assert "Không có hồ sơ phù hợp" in web.get(f"/ho-so/?q={code}").get_data(as_text=True)
    assert web.get(f"/mot-cua/ho-so/{code}/tra-ket-qua").status_code == 403


# ---------------------------------------------------------------------------
# supplement, refusal, withdrawal, return, the dossier page


def test_supplement_request_prints_form_02_and_arrival_restarts_the_clock(web, app, clock) -> None:
    code = receive(web)
    item = _work_to(web, app, code, "Task_Process")
    web.login("sonv.chuyenvien1")
    clock.moment = at("2026-11-25 09:00")
    response = web.post(
        f"/viec/{item.id}/yeu-cau-bo-sung",
        {"missing": "Bản sao hợp đồng lao động\nGiấy xác nhận khuyết tật", "reason": "Thiếu giấy tờ"},
        page="/",
    )
    assert response.location.endswith(f"/ho-so/{code}/in/02")
    form = web.get(response.location).get_data(as_text=True)
    assert "Phiếu yêu cầu bổ sung, hoàn thiện hồ sơ" in form
    assert "Giấy xác nhận khuyết tật" in form
    web.login("sonv.motcua")
    clock.moment = at("2026-11-30 14:00")
    assert web.post(f"/mot-cua/ho-so/{code}/bo-sung", {"note": "Đã đủ"}, page="/").status_code == 302
    with ctx_of(app).uow() as uow:
        dossier = uow.session.scalars(select(Dossier).where(Dossier.code == code)).one()
        assert dossier.status == "processing"
        assert dossier.due_at == ctx_of(app).calendar.due_time(at("2026-11-30 14:00"), days=10)


def test_supplement_request_without_a_list_is_redisplayed(web, app) -> None:
    code = receive(web)
    item = _work_to(web, app, code, "Task_Process")
    web.login("sonv.chuyenvien1")
    response = web.post(f"/viec/{item.id}/yeu-cau-bo-sung", {"missing": "", "reason": "x"}, page="/")
    assert response.status_code == 422
    assert "một lần" in response.get_data(as_text=True)


def test_refusal_prints_form_03(web, app) -> None:
    code = receive(web)
    item = _work_to(web, app, code, "Task_Process")
    web.login("sonv.chuyenvien1")
    response = web.post(
        f"/viec/{item.id}/tu-choi", {"refusal_reason": "Không đủ 30% lao động khuyết tật"}, page="/"
    )
    assert response.location.endswith("/in/03")
    assert "Không đủ 30% lao động khuyết tật" in web.get(response.location).get_data(as_text=True)


def test_withdrawal_prints_the_stop_notice(web, app) -> None:
    code = receive(web)
    response = web.post(f"/mot-cua/ho-so/{code}/rut-ho-so", {"reason": "Công dân đổi ý"}, page="/")
    assert response.location.endswith("/in/05")
    notice = web.get(response.location).get_data(as_text=True)
    assert "Thông báo dừng giải quyết hồ sơ" in notice and "Công dân đổi ý" in notice


def test_withdrawal_without_reason_changes_nothing(web, app) -> None:
    code = receive(web)
    response = web.post(f"/mot-cua/ho-so/{code}/rut-ho-so", {"reason": " "}, page="/")
    assert response.status_code == 422
    with ctx_of(app).uow() as uow:
        assert uow.session.scalar(select(Dossier.status).where(Dossier.code == code)) == "processing"


def test_full_journey_then_citizen_lookup_and_rating(web, app, clock) -> None:
    code = receive(web)
    clock.moment = at("2026-11-30 10:00")
    _work_to(web, app, code, "Task_Return")
    web.login("sonv.motcua")
    assert code in web.get("/mot-cua/").get_data(as_text=True)
    response = web.post(f"/mot-cua/ho-so/{code}/tra-ket-qua", {"collected_by": "Nguyễn Thị Lan"}, page="/")
    assert response.status_code == 302
    page = web.get(f"/ho-so/{code}").get_data(as_text=True)
    assert "Đã trả kết quả" in page and "Trước hạn" in page
    sheet = web.get(f"/ho-so/{code}/in/06").get_data(as_text=True)
    assert sheet.count("<tr>") >= 8  # header plus seven hand-overs

    citizen = type(web)(app)
    wrong = citizen.post("/tra-cuu", {"code": code, "last4": "0000"})
    assert wrong.status_code == 404
    assert "Nguyễn Thị Lan" not in wrong.get_data(as_text=True) and "Đã trả" not in wrong.get_data(
        as_text=True
    )
    right = citizen.post("/tra-cuu", {"code": code, "last4": "5678"})
    assert right.status_code == 200
    assert "Đã trả kết quả" in right.get_data(as_text=True)
    assert "Nguyễn Thị Lan" not in right.get_data(as_text=True)  # no personal data even then
    unhappy = citizen.post(
        "/tra-cuu/danh-gia", {"code": code, "last4": "5678", "satisfied": "no", "reason": ""}
    )
    assert unhappy.status_code == 422
    rated = citizen.post("/tra-cuu/danh-gia", {"code": code, "last4": "2345", "satisfied": "yes"})
    assert rated.status_code == 302
    again = citizen.post("/tra-cuu/danh-gia", {"code": code, "last4": "2345", "satisfied": "yes"})
    assert again.status_code == 409


def test_lookup_of_an_unknown_code_says_the_same_as_a_wrong_factor(web) -> None:
    a = web.post("/tra-cuu", {"code": "000.00.12.H40-261123-9999", "last4": "1234"}).get_data(as_text=True)
    assert "Không tìm thấy hồ sơ với mã và 4 số cuối đã nhập" in a


def test_dossier_page_shows_diagram_sheet_and_history(web, app) -> None:
    code = receive(web)
    _work_to(web, app, code, "Task_Process")
    web.login("sonv.chuyenvien1")
    page = web.get(f"/ho-so/{code}").get_data(as_text=True)
    assert 'data-done=\'["Task_Assign", "Task_Receive"]\'' in page
    assert "data-current='[\"Task_Process\"]'" in page
    assert "Phiếu kiểm soát quá trình giải quyết hồ sơ" in page
    assert "Tiếp nhận hồ sơ" in page
    xml = web.get(f"/ho-so/{code}/quy-trinh.bpmn")
    assert xml.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert b"Task_Process" in xml.data


def test_vendor_assets_are_served_only_from_allowed_packages(web) -> None:
    assert web.get("/vendor/bootstrap/dist/css/bootstrap.min.css").status_code == 200
    assert web.get("/vendor/bpmn-js/dist/bpmn-navigated-viewer.production.min.js").status_code == 200
    assert web.get("/vendor/bpmn-js/package.json").status_code == 404


@pytest.mark.parametrize(
    "url", ["sqlite:///{tmp}/empty.db", "postgresql+psycopg://postgres@127.0.0.1:1/gone"]
)
def test_database_outage_answers_503_and_nothing_else(tmp_path, url: str) -> None:
    from config import Settings
    from engine.context import Context
    from tests.conftest import WebClient
    from web import create_app

    gone = Settings().with_overrides(database_url=url.format(tmp=tmp_path))
    app = create_app(ctx=Context.from_settings(gone), test_config={"TESTING": True, "SECRET_KEY": "t"})
    client = WebClient(app)
    page = client.post("/tra-cuu", {"code": "000.00.12.H40-261123-0001", "last4": "1234"})
    assert page.status_code == 503
    assert "tạm thời không sẵn sàng" in page.get_data(as_text=True)
    api = client.http.get("/api/v1/procedures", headers={"Authorization": "Bearer mc_x"})
    assert api.status_code == 503 and api.get_json()["error"] == "unavailable"
    assert api.headers["Retry-After"] == "5"


def test_search_finds_the_agencys_receipts_and_handled_dossiers_and_nothing_else(web, app, clock) -> None:
    from engine.demo import officers_by_role
    from models import Agency

    ctx = ctx_of(app)
    receipt = svc.receive_dossier(
        ctx,
        procedure_code="NA.3854",
        applicant=svc.Applicant(name="Đinh Thị Xuân", phone="0915000111"),
        channel="in_person",
        officer_id=officer_id(app, "xa.motcua"),
        now=at("2026-11-23 08:00"),
    )
    workers = officers_by_role(ctx)
    with ctx.uow() as uow:
        commune = uow.session.scalar(select(Agency.id).where(Agency.code == "000.01.25.H40"))
    for _ in range(12):  # the commune's steps, until the dossier reaches a provincial agency
        item = open_items(ctx, receipt.dossier_id)[0]
        if item.agency_id != commune:
            break
        with ctx.uow() as uow:
            step = svc.compiled_process(
                ctx, uow.session, uow.session.get(Dossier, receipt.dossier_id).process_version_id
            ).model.steps[item.task_id]
        outcome = next(
            (o for o in step.outcome_values() if o not in ("supplement", "refuse", "rework")), None
        )
        svc.complete(
            ctx, item.id, workers[(item.agency_id, item.role)][0], now=at("2026-11-23 09:00"), outcome=outcome
        )
    assert item.agency_id != commune
    web.login("xa.motcua")
    assert receipt.code in web.get("/ho-so/?q=Xuân").get_data(as_text=True)
    holder = next(o for (agency, role), ids in workers.items() if agency == item.agency_id for o in ids)
    with ctx.uow() as uow:
        username = uow.session.get(Officer, holder).username
    web.login(username)
    assert receipt.code in web.get(f"/ho-so/?q={receipt.code}").get_data(as_text=True)
    # An agency that handled a step lists the dossier among its own; one that never touched it does not.
    link = f'href="/ho-so/{receipt.code}"'
    assert link in web.get("/ho-so/?q=Xuân").get_data(as_text=True)
    web.login("vp.chuyenvien")
    assert link not in web.get("/ho-so/?q=Xuân").get_data(as_text=True)
    assert link not in web.get(f"/ho-so/?q={receipt.code}").get_data(as_text=True)


def test_a_late_supplement_request_asks_for_its_reason_and_is_marked_on_the_dossier(web, app, clock) -> None:
    code = receive(web)
    item = _work_to(web, app, code, "Task_Process")
    web.login("sonv.chuyenvien1")
    # Received Monday 23/11 08:00; Tuesday 24/11 is a day off: the 3 working days end Friday 27/11 08:00.
    clock.moment = at("2026-11-30 09:00")
    page = web.get(f"/viec/{item.id}").get_data(as_text=True)
    assert "đây là yêu cầu bổ sung trễ hạn" in page and 'id="late_reason"' in page
    data = {"missing": "Giấy xác nhận khuyết tật", "reason": "Thiếu giấy xác nhận"}
    refused = web.post(f"/viec/{item.id}/yeu-cau-bo-sung", data, page="/")
    assert refused.status_code == 422
    assert "cần ghi rõ lý do yêu cầu bổ sung muộn" in refused.get_data(as_text=True)
    assert item_of(app, code).id == item.id  # nothing happened
    accepted = web.post(
        f"/viec/{item.id}/yeu-cau-bo-sung", data | {"late_reason": "Chuyên viên nghỉ ốm"}, page="/"
    )
    assert accepted.status_code == 302
    dossier_page = web.get(f"/ho-so/{code}").get_data(as_text=True)
    assert "Yêu cầu bổ sung trễ hạn" in dossier_page and "Chuyên viên nghỉ ốm" in dossier_page
