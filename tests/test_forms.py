"""The printed forms of TT 03/2025 (Phụ lục I): number, title, place name and issue date of each, the
register of dossiers (form 07) and forms 02 and 03 issued at the counter without a dossier."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook
from sqlalchemy import func, select

from engine.context import Context
from engine.errors import Forbidden, InvalidInput, NotFound
from engine.runtime import apology
from engine.runtime import dossiers as svc
from engine.runtime.counter import counter_slip_form, issue_counter_slip
from engine.runtime.forms import place_date_line
from engine.statistics.periods import parse_period
from engine.statistics.register import agency_register, counter_slip_counts
from models import CounterSlip, Dossier, DossierSequence, Officer
from tests.conftest import CSRF_FIELD, WebClient, at, open_items

VN = ZoneInfo("Asia/Ho_Chi_Minh")
PLACE = "Cao Bằng"
SONV = "000.00.12.H40"
APPLICANT = svc.Applicant(
    name="Nguyễn Văn An", id_number="001203004005", phone="0912345678", address="Số 5 Kim Đồng"
)
WORKERS = {
    "desk": "sonv.motcua",
    "head": "sonv.truongphong",
    "specialist": "sonv.chuyenvien1",
    "leader": "sonv.lanhdao",
    "clerk": "sonv.vanthu",
}
OUTCOMES = {"Task_Process": "forward", "Task_Review": "submit", "Task_Approve": "approve"}


@pytest.fixture
def app(make_ctx, clock, tmp_path):
    """The web app with a place name set, on the test's database."""
    from web import create_app

    yield create_app(
        ctx=make_ctx(place_name=PLACE, attachments_dir=str(tmp_path / "attachments")),
        test_config={
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "MOTCUA_CLOCK": clock,
            "RATELIMIT_ENABLED": False,
        },
    )


@pytest.fixture
def engine(app) -> Context:
    """The app's engine context."""
    return app.extensions["motcua"]


@pytest.fixture
def ids(engine: Context) -> dict[str, int]:
    """Officer ids by username."""
    with engine.uow() as uow:
        return {o.username: o.id for o in uow.session.scalars(select(Officer))}


def receive(
    engine: Context, ids: dict[str, int], when: str, *, desk: str = "sonv.motcua", code: str = "1.001806"
):
    """A dossier received at the desk at a local moment."""
    return svc.receive_dossier(
        engine,
        procedure_code=code,
        applicant=APPLICANT,
        channel="in_person",
        officer_id=ids[desk],
        now=at(when),
    )


def step(engine: Context, dossier_id: int):
    (item,) = open_items(engine, dossier_id)
    return item


def work_to(engine: Context, ids: dict[str, int], dossier_id: int, task_id: str, moments: list[str]):
    """Complete steps at the given local moments until the dossier waits at `task_id`."""
    for moment in moments:
        item = step(engine, dossier_id)
        if item.task_id == task_id:
            break
        svc.complete(
            engine, item.id, ids[WORKERS[item.role]], now=at(moment), outcome=OUTCOMES.get(item.task_id)
        )
    item = step(engine, dossier_id)
    assert item.task_id == task_id
    return item


def signed_in(app, username: str) -> WebClient:
    client = WebClient(app)
    client.login(username)
    return client


def date_line(html: str) -> str:
    found = re.search(r'id="place-date">([^<]*)<', html)
    assert found, "no date line on the form"
    return found.group(1)


def form_number(html: str) -> str:
    return re.search(r'id="form-number">([^<]*)<', html).group(1).strip()


def form_title(html: str) -> str:
    return re.search(r'id="form-title">([^<]*)<', html).group(1).strip()


# ---------------------------------------------------------------------------
# the date line


def test_date_line_writes_the_place_and_the_day_with_the_zeros_the_decree_asks_for() -> None:
    assert (
        place_date_line(PLACE, datetime(2026, 3, 5, 9, 0, tzinfo=VN), VN)
        == "Cao Bằng, ngày 05 tháng 3 năm 2026"
    )
    assert (
        place_date_line(PLACE, datetime(2026, 2, 14, 9, 0, tzinfo=VN), VN)
        == "Cao Bằng, ngày 14 tháng 02 năm 2026"
    )
    # A moment late in the evening in Vietnam is still that day, though it is the day before in UTC.
    evening = datetime(2026, 11, 30, 23, 30, tzinfo=VN).astimezone(UTC)
    assert place_date_line(PLACE, evening, VN) == "Cao Bằng, ngày 30 tháng 11 năm 2026"
    assert place_date_line("", evening, VN).startswith("……………, ngày 30")
    assert place_date_line(PLACE, None, VN) == "Cao Bằng, ngày …… tháng …… năm ………"


# ---------------------------------------------------------------------------
# forms 01 to 06: dated when issued, not when printed


def test_receipt_is_form_01_dated_the_day_received_even_when_printed_later(app, engine, ids, clock) -> None:
    receipt = receive(engine, ids, "2026-11-23 08:00")
    clock.moment = at("2026-12-10 09:00")
    html = signed_in(app, "sonv.motcua").get(f"/ho-so/{receipt.code}/in/01").get_data(as_text=True)
    assert form_number(html) == "Mẫu số 01"
    assert form_title(html) == "Giấy tiếp nhận hồ sơ và hẹn trả kết quả"
    assert date_line(html) == "Cao Bằng, ngày 23 tháng 11 năm 2026"
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in html and "Độc lập - Tự do - Hạnh phúc" in html
    assert "SỞ NỘI VỤ" in html and "Nguyễn Thị Hồng" in html  # the agency and the officer who received it


def test_supplement_slip_is_form_02_dated_when_requested_and_the_new_receipt_when_complete(
    app, engine, ids, clock
) -> None:
    receipt = receive(engine, ids, "2026-11-23 08:00")
    item = work_to(engine, ids, receipt.dossier_id, "Task_Process", ["2026-11-23 09:00", "2026-11-23 10:00"])
    svc.request_supplement(
        engine,
        item.id,
        ids["sonv.chuyenvien1"],
        missing=["Bản sao hợp đồng lao động", "Giấy xác nhận khuyết tật"],
        reason="Thiếu giấy tờ",
        now=at("2026-11-25 10:00"),
    )
    clock.moment = at("2026-12-02 09:00")
    desk = signed_in(app, "sonv.motcua")
    slip = desk.get(f"/ho-so/{receipt.code}/in/02").get_data(as_text=True)
    assert (form_number(slip), form_title(slip)) == ("Mẫu số 02", "Phiếu yêu cầu bổ sung, hoàn thiện hồ sơ")
    assert date_line(slip) == "Cao Bằng, ngày 25 tháng 11 năm 2026"
    assert "Giấy xác nhận khuyết tật" in slip and "Lê Thị Thu Hà" in slip

    svc.resume(engine, receipt.code, ids["sonv.motcua"], at("2026-11-30 14:00"))
    new_due = engine.calendar.due_time(at("2026-11-30 14:00"), days=10)
    again = desk.get(f"/ho-so/{receipt.code}/in/01").get_data(as_text=True)
    assert date_line(again) == "Cao Bằng, ngày 30 tháng 11 năm 2026"
    assert new_due.astimezone(VN).strftime("ngày %d/%m/%Y") in again
    # The slip printed after the supplement arrived is still the one issued on 25/11.
    assert date_line(desk.get(f"/ho-so/{receipt.code}/in/02").get_data(as_text=True)).endswith(
        "25 tháng 11 năm 2026"
    )


def test_refusal_slip_is_form_03_naming_the_refusing_agency_its_signer_and_the_day(
    app, engine, ids, clock
) -> None:
    receipt = receive(engine, ids, "2026-11-23 08:00")
    item = work_to(engine, ids, receipt.dossier_id, "Task_Process", ["2026-11-23 09:00", "2026-11-23 10:00"])
    svc.refuse(
        engine,
        item.id,
        ids["sonv.chuyenvien1"],
        reason="Không đủ 30% lao động khuyết tật",
        now=at("2026-11-26 15:00"),
    )
    clock.moment = at("2026-12-15 09:00")
    html = signed_in(app, "sonv.motcua").get(f"/ho-so/{receipt.code}/in/03").get_data(as_text=True)
    assert (form_number(html), form_title(html)) == ("Mẫu số 03", "Phiếu từ chối tiếp nhận giải quyết hồ sơ")
    assert date_line(html) == "Cao Bằng, ngày 26 tháng 11 năm 2026"
    assert re.search(r'id="refusing-agency">Sở Nội vụ<', html)
    assert "CHUYÊN VIÊN" in html and "Lê Thị Thu Hà" in html
    assert "Không đủ 30% lao động khuyết tật" in html


def test_stop_notice_is_form_05_dated_when_withdrawn(app, engine, ids, clock) -> None:
    receipt = receive(engine, ids, "2026-11-23 08:00")
    svc.withdraw(
        engine, receipt.code, ids["sonv.motcua"], reason="Công dân đổi ý", now=at("2026-11-25 10:00")
    )
    clock.moment = at("2027-01-05 09:00")
    desk = signed_in(app, "sonv.motcua")
    html = desk.get(f"/ho-so/{receipt.code}/in/05").get_data(as_text=True)
    assert (form_number(html), form_title(html)) == ("Mẫu số 05", "Thông báo dừng giải quyết hồ sơ")
    assert date_line(html) == "Cao Bằng, ngày 25 tháng 11 năm 2026"
    assert "Công dân đổi ý" in html
    # Links printed before the notice had its number still lead to it.
    assert form_number(desk.get(f"/ho-so/{receipt.code}/in/dung").get_data(as_text=True)) == "Mẫu số 05"


def test_forms_a_dossier_never_issued_are_not_printed(app, engine, ids) -> None:
    receipt = receive(engine, ids, "2026-11-23 08:00")
    desk = signed_in(app, "sonv.motcua")
    for form in ("02", "03", "05", "04", "07"):
        assert desk.get(f"/ho-so/{receipt.code}/in/{form}").status_code == 404


def test_control_sheet_is_form_06_dated_at_its_latest_entry(app, engine, ids, clock) -> None:
    receipt = receive(engine, ids, "2026-11-23 08:00")
    work_to(
        engine,
        ids,
        receipt.dossier_id,
        "Task_Review",
        ["2026-11-23 09:00", "2026-11-24 10:00", "2026-11-27 16:00"],
    )
    clock.moment = at("2026-12-20 09:00")
    html = signed_in(app, "sonv.motcua").get(f"/ho-so/{receipt.code}/in/06").get_data(as_text=True)
    assert (form_number(html), form_title(html)) == (
        "Mẫu số 06",
        "Phiếu kiểm soát quá trình giải quyết hồ sơ",
    )
    assert date_line(html) == "Cao Bằng, ngày 27 tháng 11 năm 2026"


def test_apology_is_form_04_under_its_current_title_dated_when_issued_a_draft_undated(
    app, engine, ids, clock
) -> None:
    receipt = receive(engine, ids, "2026-11-23 08:00")  # legal due 08/12 08:00, left at its first step
    letter = apology.create_draft_apology(engine, receipt.code, ids["sonv.lanhdao"], at("2026-12-07 10:00"))
    leader = signed_in(app, "sonv.lanhdao")
    draft = leader.get(f"/xin-loi/{letter}/in").get_data(as_text=True)
    assert form_number(draft).startswith("Mẫu số 04") and 'id="draft-mark">DỰ THẢO' in draft
    assert date_line(draft) == "Cao Bằng, ngày …… tháng …… năm ………"

    apology.issue_apology(engine, letter, ids["sonv.lanhdao"], at("2026-12-07 11:00"))
    clock.moment = at("2026-12-21 09:00")
    issued = leader.get(f"/xin-loi/{letter}/in").get_data(as_text=True)
    assert form_number(issued) == "Mẫu số 04" and "DỰ THẢO" not in issued
    assert form_title(issued) == "VĂN BẢN XIN LỖI VÀ ĐỀ NGHỊ GIA HẠN THỜI GIAN GIẢI QUYẾT"
    assert "HẸN LẠI NGÀY TRẢ KẾT QUẢ" not in issued
    assert date_line(issued) == "Cao Bằng, ngày 07 tháng 12 năm 2026"


# ---------------------------------------------------------------------------
# form 07, the register


def november(engine: Context, ids: dict[str, int]) -> dict[str, str]:
    """Dossiers of Sở Nội vụ in November 2026 in every state, one of the commune, one of December."""
    codes = {}
    done = receive(engine, ids, "2026-11-23 08:00")
    codes["returned"] = done.code
    work_to(
        engine,
        ids,
        done.dossier_id,
        "Task_Return",
        [
            "2026-11-23 09:00",
            "2026-11-23 10:00",
            "2026-11-25 10:00",
            "2026-11-25 14:00",
            "2026-11-26 09:00",
            "2026-11-26 10:00",
        ],
    )
    svc.return_result(
        engine,
        step(engine, done.dossier_id).id,
        ids["sonv.motcua"],
        collected_by="Nguyễn Văn An",
        now=at("2026-11-27 09:00"),
    )

    refused = receive(engine, ids, "2026-11-23 09:00")
    codes["refused"] = refused.code
    item = work_to(engine, ids, refused.dossier_id, "Task_Process", ["2026-11-23 09:30", "2026-11-23 10:30"])
    svc.refuse(
        engine, item.id, ids["sonv.chuyenvien1"], reason="Không đủ điều kiện", now=at("2026-11-25 11:00")
    )

    waiting = receive(engine, ids, "2026-11-23 10:00")
    codes["open"] = waiting.code

    withdrawn = receive(engine, ids, "2026-11-25 08:00")
    codes["withdrawn"] = withdrawn.code
    svc.withdraw(
        engine, withdrawn.code, ids["sonv.motcua"], reason="Công dân đổi ý", now=at("2026-11-26 10:00")
    )

    supplement = receive(engine, ids, "2026-11-25 09:00")
    codes["supplement"] = supplement.code
    item = work_to(
        engine, ids, supplement.dossier_id, "Task_Process", ["2026-11-25 09:30", "2026-11-25 10:30"]
    )
    svc.request_supplement(
        engine,
        item.id,
        ids["sonv.chuyenvien1"],
        missing=["Danh sách lao động"],
        reason="Thiếu",
        now=at("2026-11-26 10:00"),
    )
    codes["commune"] = receive(engine, ids, "2026-11-23 08:30", desk="xa.motcua", code="1.001193").code
    codes["december"] = receive(engine, ids, "2026-12-01 08:00").code
    return codes


def lines_by_code(register) -> dict[str, object]:
    return {line.dossier_code: line for line in register.lines}


def test_register_has_one_line_per_dossier_received_in_the_period_with_its_times_and_notes(
    engine, ids
) -> None:
    codes = november(engine, ids)
    register = agency_register(
        engine,
        agency_code=SONV,
        period=parse_period("2026-11"),
        officer_id=ids["sonv.lanhdao"],
        now=at("2026-12-15 09:00"),
    )
    lines = lines_by_code(register)
    assert list(lines) == [codes[k] for k in ("returned", "refused", "open", "withdrawn", "supplement")]
    assert [line.number for line in register.lines] == [1, 2, 3, 4, 5]
    returned = lines[codes["returned"]]
    assert returned.state == "Trước hạn" and returned.result_class == "early"
    assert returned.received_at == at("2026-11-23 08:00") and returned.legal_due_at == at("2026-12-08 08:00")
    assert returned.appointment_at == at("2026-12-08 08:00")
    assert returned.result_at == at("2026-11-26 10:00") and returned.returned_at == at("2026-11-27 09:00")
    assert returned.returned_to == "Nguyễn Văn An" and returned.procedure_code == "1.001806"
    assert lines[codes["refused"]].state == "Từ chối"
    assert lines[codes["refused"]].note == "Từ chối ngày 25/11/2026: Không đủ điều kiện"
    assert lines[codes["withdrawn"]].note == "Rút hồ sơ ngày 26/11/2026: Công dân đổi ý"
    assert lines[codes["supplement"]].state == "Chờ bổ sung"
    assert lines[codes["supplement"]].note == "Yêu cầu bổ sung ngày 26/11/2026"
    assert lines[codes["open"]].state == "Đang giải quyết"  # due 08/12: not yet due at the end of November
    # A closed period is dated its last day, with the place name.
    assert register.place_date == "Cao Bằng, ngày 30 tháng 11 năm 2026"
    assert (register.number, register.title) == ("Mẫu số 07", "Sổ theo dõi hồ sơ")


def test_register_of_a_closed_period_reads_the_same_when_printed_later(engine, ids) -> None:
    codes = november(engine, ids)
    period = parse_period("2026-11")
    before = agency_register(
        engine, agency_code=SONV, period=period, officer_id=None, now=at("2026-12-01 08:00")
    )
    svc.resume(engine, codes["supplement"], ids["sonv.motcua"], at("2026-12-02 09:00"))
    after = agency_register(
        engine, agency_code=SONV, period=period, officer_id=None, now=at("2027-02-01 08:00")
    )
    assert after.lines == before.lines
    assert after.place_date == before.place_date


def test_register_of_the_running_period_shows_overdue_dossiers_without_a_letter(engine, ids) -> None:
    codes = november(engine, ids)
    register = agency_register(
        engine, agency_code=SONV, period=parse_period("2026-12"), officer_id=None, now=at("2026-12-20 09:00")
    )
    (line,) = register.lines
    assert line.dossier_code == codes["december"]
    assert line.state == "Quá hạn (đang giải quyết)" and line.note == "Quá hạn, chưa có văn bản xin lỗi"
    assert register.place_date == "Cao Bằng, ngày 20 tháng 12 năm 2026" and not register.closed


def test_register_page_and_xlsx_for_the_agency_desk(app, engine, ids, clock) -> None:
    codes = november(engine, ids)
    clock.moment = at("2026-12-15 09:00")
    desk = signed_in(app, "sonv.motcua")
    page = desk.get("/so-theo-doi/?period=2026-11")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert (form_number(html), form_title(html)) == ("Mẫu số 07", "Sổ theo dõi hồ sơ")
    assert date_line(html) == "Cao Bằng, ngày 30 tháng 11 năm 2026"
    assert "Tình trạng hồ sơ tính đến hết ngày 30/11/2026" in html
    assert 'href="/static/register.css"' in html  # A4 landscape, in its own sheet (no inline style)
    assert "size: A4 landscape" in desk.get("/static/register.css").get_data(as_text=True)
    assert all(
        f'data-code="{codes[k]}"' in html for k in ("returned", "refused", "open", "withdrawn", "supplement")
    )
    assert codes["commune"] not in html and codes["december"] not in html

    download = desk.get("/so-theo-doi/so-theo-doi-ho-so.xlsx?period=2026-11")
    assert download.status_code == 200
    sheet = load_workbook(io.BytesIO(download.data)).active
    values = list(sheet.iter_rows(values_only=True))
    assert values[4][0] == "SỔ THEO DÕI HỒ SƠ" and values[3][0] == "Mẫu số 07"
    assert values[2][8] == "Cao Bằng, ngày 30 tháng 11 năm 2026"
    assert values[7][:3] == ("STT", "Mã hồ sơ", "Tên thủ tục hành chính")
    assert [row[1] for row in values[8:13]] == [
        codes[k] for k in ("returned", "refused", "open", "withdrawn", "supplement")
    ]
    assert values[8][11] == "Trước hạn"
    assert sheet.page_setup.orientation == "landscape"


def test_register_of_another_agency_is_refused(app, engine, ids) -> None:
    november(engine, ids)
    commune = signed_in(app, "xa.motcua")
    assert commune.get(f"/so-theo-doi/?period=2026-11&agency={SONV}").status_code == 403
    assert commune.get(f"/so-theo-doi/so-theo-doi-ho-so.xlsx?period=2026-11&agency={SONV}").status_code == 403
    # A specialist of the agency is neither its desk, a leader nor a supervisor.
    assert signed_in(app, "sonv.chuyenvien1").get("/so-theo-doi/?period=2026-11").status_code == 403
    with pytest.raises(Forbidden):
        agency_register(
            engine,
            agency_code=SONV,
            period=parse_period("2026-11"),
            officer_id=ids["xa.motcua"],
            now=at("2026-12-01 08:00"),
        )
    # The provincial office's approvers see any agency, as in the reports.
    approver = signed_in(app, "vp.pheduyet")
    assert approver.get(f"/so-theo-doi/?period=2026-11&agency={SONV}").status_code == 200


def test_register_command_prints_and_writes_xlsx(engine, ids, tmp_path, monkeypatch) -> None:
    from engine.cli import main

    codes = november(engine, ids)
    monkeypatch.setenv("MOTCUA_DATABASE_URL", engine.settings.database_url)
    monkeypatch.setenv("MOTCUA_PLACE_NAME", PLACE)
    target = tmp_path / "so.xlsx"
    result = CliRunner().invoke(
        main,
        [
            "register",
            "--agency",
            SONV,
            "--period",
            "2026-11",
            "--now",
            "2026-12-15T09:00",
            "--xlsx",
            str(target),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Cao Bằng, ngày 30 tháng 11 năm 2026" in result.output and codes["refused"] in result.output
    assert load_workbook(target).active.cell(row=9, column=2).value == codes["returned"]
    wrong = CliRunner().invoke(main, ["register", "--agency", SONV, "--period", "2026-13"])
    assert wrong.exit_code == 1 and "2026-13" in wrong.output


# ---------------------------------------------------------------------------
# forms 02 and 03 at the counter, before a dossier is accepted


def slip_form(**overrides: str) -> dict[str, str]:
    form = {
        "kind": "supplement",
        "procedure_code": "1.001806",
        "applicant_name": "Trần Thị Bình",
        "applicant_phone": "0987654321",
        "applicant_address": "Số 2 Hoàng Đình Giong",
        "missing": "Văn bản đề nghị công nhận\nDanh sách người lao động khuyết tật",
        "reason": "Hồ sơ thiếu thành phần theo quy định",
        "submission_key": "slip-1",
    }
    form.update(overrides)
    return form


def counts(engine: Context) -> tuple[int, int, int]:
    with engine.uow() as uow:
        s = uow.session
        return (
            s.scalar(select(func.count()).select_from(CounterSlip)),
            s.scalar(select(func.count()).select_from(Dossier)),
            s.scalar(select(func.count()).select_from(DossierSequence)),
        )


def test_desk_issues_a_supplement_slip_at_the_counter_recorded_printable_counted_and_no_code_used(
    app, engine, ids, clock
) -> None:
    desk = signed_in(app, "sonv.motcua")
    page = desk.get("/mot-cua/").get_data(as_text=True)
    assert 'id="counter-slip-form"' in page and CSRF_FIELD.search(page)
    response = desk.post("/mot-cua/phieu-tai-quay/", slip_form(), page="/mot-cua/")
    assert response.status_code == 302
    assert counts(engine) == (1, 0, 0)  # recorded; no dossier, no dossier number drawn

    clock.moment = at("2026-12-10 09:00")
    html = desk.get(response.location).get_data(as_text=True)
    assert (form_number(html), form_title(html)) == ("Mẫu số 02", "Phiếu yêu cầu bổ sung, hoàn thiện hồ sơ")
    assert date_line(html) == "Cao Bằng, ngày 23 tháng 11 năm 2026"
    assert (
        "Danh sách người lao động khuyết tật" in html
        and "Trần Thị Bình" in html
        and "Nguyễn Thị Hồng" in html
    )
    # A double submission of the same form finds the same slip.
    again = desk.post("/mot-cua/phieu-tai-quay/", slip_form(), page="/mot-cua/")
    assert again.location == response.location and counts(engine)[0] == 1

    with engine.uow() as uow:
        (count,) = counter_slip_counts(uow.session, parse_period("2026-11"), SONV)
    assert (count.supplement, count.refusal) == (1, 0)
    register = agency_register(
        engine, agency_code=SONV, period=parse_period("2026-11"), officer_id=None, now=at("2026-12-01 08:00")
    )
    assert register.counter_slips.supplement == 1
    # The next dossier received takes the agency's first number of the day.
    assert receive(engine, ids, "2026-11-23 09:00").code.endswith("-261123-0001")


def test_refusal_slip_at_the_counter_gives_the_reasons_and_is_form_03(app, engine, ids) -> None:
    issued = issue_counter_slip(
        engine,
        kind="refusal",
        procedure_code="1.001806",
        applicant=APPLICANT,
        missing=[],
        reason="Thủ tục không thuộc thẩm quyền giải quyết của Sở Nội vụ",
        officer_id=ids["sonv.motcua"],
        now=at("2026-11-24 15:30"),
    )
    html = signed_in(app, "sonv.motcua").get(f"/mot-cua/phieu-tai-quay/{issued.id}").get_data(as_text=True)
    assert (form_number(html), form_title(html)) == ("Mẫu số 03", "Phiếu từ chối tiếp nhận giải quyết hồ sơ")
    assert date_line(html) == "Cao Bằng, ngày 24 tháng 11 năm 2026"
    assert "không thuộc thẩm quyền" in html and "Nguyễn Thị Hồng" in html
    assert signed_in(app, "xa.motcua").get(f"/mot-cua/phieu-tai-quay/{issued.id}").status_code == 403
    with engine.uow() as uow:
        (count,) = counter_slip_counts(uow.session, parse_period("2026-11"))
    assert (count.agency_code, count.supplement, count.refusal) == (SONV, 0, 1)


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"missing": " \n "}, "missing", "Liệt kê đầy đủ một lần"),
        ({"reason": "  "}, "reason", "lý do yêu cầu bổ sung"),
        ({"kind": "refusal", "reason": ""}, "reason", "lý do từ chối"),
        ({"procedure_code": "9.999999"}, "procedure_code", "Thủ tục 9.999999"),
        ({"procedure_code": ""}, "procedure_code", "Chọn thủ tục hành chính"),
        ({"applicant_name": " "}, "applicant_name", "họ tên người nộp hồ sơ"),
        ({"applicant_phone": "12345"}, "applicant_phone", "Số điện thoại"),
        ({"kind": "receipt"}, "kind", "Chọn loại phiếu"),
    ],
)
def test_counter_slip_with_bad_input_is_refused_naming_the_field_and_nothing_is_written(
    app, engine, ids, overrides, field, words
) -> None:
    values = slip_form(**overrides)
    with pytest.raises(InvalidInput) as caught:
        issue_counter_slip(
            engine,
            kind=values["kind"],
            procedure_code=values["procedure_code"],
            applicant=svc.Applicant(name=values["applicant_name"], phone=values["applicant_phone"] or None),
            missing=values["missing"].splitlines(),
            reason=values["reason"],
            officer_id=ids["sonv.motcua"],
            now=at("2026-11-23 08:00"),
        )
    assert caught.value.field == field and words in caught.value.message
    response = signed_in(app, "sonv.motcua").post("/mot-cua/phieu-tai-quay/", values, page="/mot-cua/")
    assert response.status_code == 422
    assert caught.value.message in response.get_data(as_text=True)
    assert counts(engine) == (0, 0, 0)


def test_only_the_desk_issues_counter_slips(app, engine, ids) -> None:
    with pytest.raises(Forbidden):
        issue_counter_slip(
            engine,
            kind="refusal",
            procedure_code="1.001806",
            applicant=APPLICANT,
            missing=[],
            reason="Không thuộc thẩm quyền",
            officer_id=ids["sonv.chuyenvien1"],
            now=at("2026-11-23 08:00"),
        )
    specialist = signed_in(app, "sonv.chuyenvien1")
    assert specialist.post("/mot-cua/phieu-tai-quay/", slip_form(), page="/").status_code == 403
    # Without the form's CSRF token nothing is issued either.
    desk = signed_in(app, "sonv.motcua")
    assert desk.http.post("/mot-cua/phieu-tai-quay/", data=slip_form()).status_code == 400
    assert counts(engine) == (0, 0, 0)
    with pytest.raises(NotFound):
        counter_slip_form(engine, ids["sonv.motcua"], 1)
