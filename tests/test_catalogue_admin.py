"""The procedure catalogue written in the app, the CLI and from a province's spreadsheet: create, edit,
import with a per-row report, export, and a new procedure's road to its first dossier."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from engine.catalogue import versions
from engine.catalogue.catalogue_admin import (
    ProcedureInput,
    create_procedure,
    parse_legal_time,
    parse_level,
    update_procedure,
)
from engine.catalogue.catalogue_sheet import export_catalogue, import_catalogue
from engine.errors import Forbidden, InvalidFields, InvalidInput, NoActiveVersion
from engine.runtime.dossiers import Applicant, receive_dossier
from models import Officer, Procedure
from tests.conftest import at

BPMN = Path(__file__).resolve().parent.parent / "workflows" / "bpmn" / "1.001806.bpmn"
SO_NOI_VU = "000.00.12.H40"
XA = "000.01.25.H40"


def new_input(**changes) -> ProcedureInput:
    values = {
        "code": "1.000999",
        "name": "Thủ tục thử nghiệm cấp tỉnh",
        "field": "Việc làm",
        "level": "province",
        "legal_time_value": 10.0,
        "legal_time_unit": "days",
        "owner_agency": SO_NOI_VU,
        "fee": "Không",
        "required_documents": ("Đơn đề nghị", "Bản sao giấy tờ tùy thân"),
        "online_level": "partial",
        "receiving_agencies": (SO_NOI_VU,),
    }
    values.update(changes)
    return ProcedureInput(**values)


def procedure(ctx, code: str) -> Procedure | None:
    with ctx.uow() as uow:
        found = uow.session.scalars(select(Procedure).where(Procedure.code == code)).one_or_none()
        if found is not None:
            uow.session.expunge(found)
        return found


def procedure_count(ctx) -> int:
    with ctx.uow() as uow:
        return uow.session.scalar(select(func.count(Procedure.id)))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3 ngày làm việc", (3.0, "days")),
        ("03 ngày", (3.0, "days")),
        ("0,5 ngày", (0.5, "days")),
        ("8 giờ", (8.0, "hours")),
        ("96 giờ làm việc", (96.0, "hours")),
        ("12 ngày làm việc (96 giờ làm việc)", (96.0, "hours")),
        ("Trong ngày", (0.0, "days")),
        ("TRONG NGÀY", (0.0, "days")),
        ("15 ngày kể từ ngày nhận đủ hồ sơ hợp lệ", (15.0, "days")),
        ("10", (10.0, "days")),
        ("", None),
        ("sớm nhất có thể", None),
    ],
)
def test_legal_time_is_read_as_catalogues_write_it(text, expected) -> None:
    assert parse_legal_time(text) == expected


def test_levels_are_read_in_vietnamese_or_english() -> None:
    assert [parse_level(t) for t in ("Cấp tỉnh", "cấp xã", "commune", "Cấp huyện", "cấp trung ương")] == [
        "province",
        "commune",
        "commune",
        "district",
        None,
    ]


def test_a_new_procedure_has_no_active_version_until_its_internal_procedure_is_approved(
    ctx, officers
) -> None:
    saved = create_procedure(ctx, officers["sonv.quytrinh"], new_input(), at("2026-11-23 08:00"))
    assert saved.created and saved.code == "1.000999"
    applicant = Applicant(name="Nguyễn Văn An", phone="0912345678")
    with pytest.raises(NoActiveVersion):
        receive_dossier(
            ctx,
            procedure_code="1.000999",
            applicant=applicant,
            channel="in_person",
            officer_id=officers["sonv.motcua"],
            now=at("2026-11-23 09:00"),
            documents=["Đơn đề nghị"],
        )
    draft = versions.create_draft(
        ctx,
        "1.000999",
        officers["sonv.quytrinh"],
        BPMN.read_bytes(),
        at("2026-11-23 09:30"),
        filename="x.bpmn",
    )
    assert draft.problems == []
    versions.submit(ctx, draft.version_id, officers["sonv.quytrinh"], at("2026-11-23 10:00"))
    versions.approve(
        ctx,
        draft.version_id,
        officers["vp.pheduyet"],
        decision_number="99/QĐ-UBND",
        decision_date=date(2026, 11, 20),
        now=at("2026-11-23 10:30"),
    )
    receipt = receive_dossier(
        ctx,
        procedure_code="1.000999",
        applicant=applicant,
        channel="in_person",
        officer_id=officers["sonv.motcua"],
        now=at("2026-11-23 09:00").replace(hour=11),
        documents=["Đơn đề nghị"],
    )
    # Monday 23/11 11:00 + 10 working days (24/11 is a holiday from 2026) = Tuesday 8/12 11:00.
    assert receipt.due_at == ctx.calendar.add_working_hours(at("2026-11-23 11:00"), 80)
    assert receipt.code.startswith(SO_NOI_VU)


def test_every_bad_field_is_named_at_once_and_nothing_is_stored(ctx, officers) -> None:
    before = procedure_count(ctx)
    bad = new_input(code="", name=" ", level="planet", legal_time_value=None, owner_agency="Sở Không Có")
    with pytest.raises(InvalidFields) as caught:
        create_procedure(ctx, officers["sonv.quytrinh"], bad, at("2026-11-23 08:00"))
    assert set(caught.value.fields) == {"code", "name", "level", "legal_time", "owner_agency"}
    assert "Sở Không Có" in caught.value.fields["owner_agency"]
    assert procedure_count(ctx) == before


def test_a_code_already_in_the_catalogue_is_not_created_twice(ctx, officers) -> None:
    with pytest.raises(InvalidFields) as caught:
        create_procedure(ctx, officers["sonv.quytrinh"], new_input(code="1.001806"), at("2026-11-23 08:00"))
    assert "đã có trong danh mục" in caught.value.fields["code"]


def test_a_process_owner_writes_only_their_own_agencys_procedures(ctx, officers) -> None:
    with pytest.raises(Forbidden):
        create_procedure(
            ctx,
            officers["sonv.quytrinh"],
            new_input(level="commune", owner_agency=XA, receiving_agencies=()),
            at("2026-11-23 08:00"),
        )
    with pytest.raises(Forbidden):
        update_procedure(
            ctx,
            officers["sonv.quytrinh"],
            "1.001193",
            new_input(level="commune", owner_agency=XA),
            at("2026-11-23 08:00"),
        )
    with pytest.raises(Forbidden):
        create_procedure(ctx, officers["sonv.motcua"], new_input(), at("2026-11-23 08:00"))
    assert procedure(ctx, "1.000999") is None


def test_editing_changes_the_catalogue_but_never_the_code(ctx, officers) -> None:
    create_procedure(ctx, officers["sonv.quytrinh"], new_input(), at("2026-11-23 08:00"))
    saved = update_procedure(
        ctx,
        officers["sonv.quytrinh"],
        "1.000999",
        new_input(code="9.999", legal_time_value=96.0, legal_time_unit="hours", fee="50.000 đồng"),
        at("2026-11-23 09:00"),
    )
    assert set(saved.changed) == {"legal_time_value", "legal_time_unit", "fee"}
    stored = procedure(ctx, "1.000999")
    assert stored is not None and stored.legal_time_unit == "hours" and stored.fee == "50.000 đồng"
    assert procedure(ctx, "9.999") is None


def test_a_receiving_agency_must_sit_at_the_receiving_level(ctx, officers) -> None:
    with pytest.raises(InvalidFields) as caught:
        create_procedure(
            ctx, officers["sonv.quytrinh"], new_input(receiving_agencies=(XA,)), at("2026-11-23 08:00")
        )
    assert "không thuộc cấp tiếp nhận" in caught.value.fields["receiving_agencies"]


def sheet(rows: list[list[object]]) -> bytes:
    book = Workbook()
    page = book.active
    page.append(["DANH MỤC THỦ TỤC HÀNH CHÍNH TỈNH DEMO"])  # provinces put a title above the header
    page.append([])
    for row in rows:
        page.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


HEADER = [
    "STT",
    "Mã TTHC",
    "Tên TTHC",
    "Lĩnh vực",
    "Cấp thực hiện",
    "Thời hạn giải quyết",
    "Cơ quan thực hiện",
]


def test_a_provincial_spreadsheet_is_imported_row_by_row_and_again_without_change(ctx) -> None:
    content = sheet(
        [
            HEADER,
            [
                1,
                "2.000101",
                "Cấp giấy phép thử nghiệm",
                "Thương mại",
                "Cấp tỉnh",
                "15 ngày làm việc",
                "Sở Nội vụ",
            ],
            [2, "2.000102", "Chứng thực thử nghiệm", "Chứng thực", "Cấp xã", "Trong ngày", XA],
            [3, "2.000103", "Thủ tục sai cơ quan", "Tư pháp", "Cấp xã", "03 ngày", "UBND xã Không Có"],
            [4, "2.000104", "Thủ tục sai cấp", "Tư pháp", "Cấp vũ trụ", "8 giờ", XA],
            [5, "2.000101", "Dòng trùng mã", "Thương mại", "Cấp tỉnh", "15 ngày", SO_NOI_VU],
        ]
    )
    report = import_catalogue(ctx, content, "danh-muc.xlsx", at("2026-11-23 08:00"))
    by_code = {(r.row, r.code): r for r in report.rows}
    assert by_code[(4, "2.000101")].status == "created"
    assert by_code[(5, "2.000102")].status == "created"
    assert (
        by_code[(6, "2.000103")].status == "error" and "UBND xã Không Có" in by_code[(6, "2.000103")].message
    )
    assert by_code[(7, "2.000104")].status == "error" and "Cấp vũ trụ" in by_code[(7, "2.000104")].message
    assert (
        by_code[(8, "2.000101")].status == "error" and "trùng với dòng 4" in by_code[(8, "2.000101")].message
    )
    created = procedure(ctx, "2.000102")
    assert created is not None and created.level == "commune" and float(created.legal_time_value) == 0
    assert procedure(ctx, "2.000103") is None
    again = import_catalogue(ctx, content, "danh-muc.xlsx", at("2026-11-23 09:00"))
    assert [r.status for r in again.rows if r.status != "error"] == ["unchanged", "unchanged"]
    assert "thêm mới 0" in again.lines()[-1]


def test_english_headers_in_csv_and_a_dry_run_writes_nothing(ctx) -> None:
    content = (
        "code;name;field;level;legal_time;agency\n"
        "2.000201;Thủ tục CSV;Hộ tịch;commune;3 ngày làm việc;000.01.25.H40\n"
    ).encode()
    report = import_catalogue(ctx, content, "catalogue.csv", at("2026-11-23 08:00"), dry_run=True)
    assert [r.status for r in report.rows] == ["created"] and report.lines()[-1].startswith("Kiểm tra")
    assert procedure(ctx, "2.000201") is None
    import_catalogue(ctx, content, "catalogue.csv", at("2026-11-23 08:00"))
    stored = procedure(ctx, "2.000201")
    assert stored is not None and stored.receiving_level == "commune"


def test_a_file_without_the_required_columns_names_them(ctx) -> None:
    with pytest.raises(InvalidInput) as caught:
        import_catalogue(ctx, b"code,name\n1,x\n", "thieu.csv", at("2026-11-23 08:00"))
    assert "Lĩnh vực" in caught.value.message and "Thời hạn giải quyết" in caught.value.message


def test_the_export_goes_back_in_unchanged(ctx) -> None:
    content = export_catalogue(ctx)
    rows = list(load_workbook(io.BytesIO(content)).active.iter_rows(values_only=True))
    assert rows[0][:6] == (
        "Mã TTHC",
        "Tên TTHC",
        "Lĩnh vực",
        "Cấp thực hiện",
        "Thời hạn giải quyết",
        "Cơ quan thực hiện",
    )
    assert {r[0] for r in rows[1:]} >= {"1.001806", "NA.3854", "1.001193"}
    report = import_catalogue(ctx, content, "danh-muc.xlsx", at("2026-11-23 08:00"))
    assert {r.status for r in report.rows} == {"unchanged"}, report.lines()


def test_the_command_line_imports_and_reports_each_row(ctx, tmp_path, monkeypatch) -> None:
    from engine.cli import main

    path = tmp_path / "danh-muc.csv"
    path.write_text(
        "Mã TTHC,Tên TTHC,Lĩnh vực,Cấp thực hiện,Thời hạn giải quyết,Cơ quan thực hiện\n"
        "2.000301,Thủ tục dòng lệnh,Hộ tịch,Cấp xã,5 ngày,000.01.25.H40\n"
        "2.000302,Thủ tục lỗi,Hộ tịch,Cấp xã,không rõ,000.01.25.H40\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("MOTCUA_DATABASE_URL", ctx.settings.database_url)
    result = CliRunner().invoke(main, ["procedure", "import", str(path)])
    assert result.exit_code == 1, result.output
    assert "dòng 2: 2.000301: Thêm mới" in result.output
    assert "dòng 3: 2.000302: Lỗi: thời hạn giải quyết 'không rõ' không đọc được" in result.output
    assert procedure(ctx, "2.000301") is not None
    out = tmp_path / "xuat.xlsx"
    assert CliRunner().invoke(main, ["procedure", "export", str(out)]).exit_code == 0
    assert load_workbook(out).active.max_row == procedure_count(ctx) + 1


# ---------------------------------------------------------------------------
# pages


def test_the_process_owner_adds_a_procedure_in_the_app(web, app) -> None:
    web.login("sonv.quytrinh")
    page = web.get("/quy-trinh/").get_data(as_text=True)
    assert "Thêm thủ tục" in page and "Nhập danh mục" in page
    # A new procedure is the writer's own agency's unless they choose another.
    assert f'value="{SO_NOI_VU}" selected' in web.get("/quy-trinh/danh-muc/moi").get_data(as_text=True)
    form = {
        "code": "1.000888",
        "name": "Thủ tục thêm trên trang",
        "field": "Việc làm",
        "level": "province",
        "online_level": "full",
        "legal_time_value": "5",
        "legal_time_unit": "days",
        "owner_agency": SO_NOI_VU,
        "receiving_level": "",
        "receiving_agencies": SO_NOI_VU,
        "fee": "Không",
        "required_documents": "Đơn đề nghị\nBản sao CCCD",
    }
    response = web.post("/quy-trinh/danh-muc/moi", form, page="/quy-trinh/danh-muc/moi")
    assert response.status_code == 302 and response.location.endswith("/quy-trinh/1.000888")
    shown = web.get("/quy-trinh/1.000888").get_data(as_text=True)
    assert "5 ngày làm việc" in shown and "Sửa thông tin thủ tục" in shown
    edit = web.get("/quy-trinh/danh-muc/1.000888/sua").get_data(as_text=True)
    assert "Bản sao CCCD" in edit


def test_the_page_shows_every_error_next_to_its_field_and_keeps_what_was_typed(web) -> None:
    web.login("sonv.quytrinh")
    form = {"code": "1.000777", "name": "", "field": "", "level": "province", "online_level": "full"}
    form |= {"legal_time_value": "mười", "legal_time_unit": "days", "owner_agency": SO_NOI_VU}
    response = web.post("/quy-trinh/danh-muc/moi", form, page="/quy-trinh/danh-muc/moi")
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "có 3 thông tin cần sửa" in page
    assert (
        "Tên thủ tục bắt buộc" in page
        and "Lĩnh vực bắt buộc" in page
        and "Thời hạn giải quyết không hợp lệ" in page
    )
    assert 'value="1.000777"' in page


def test_officers_who_do_not_keep_the_catalogue_are_refused(web, app) -> None:
    web.login("sonv.motcua")
    assert web.get("/quy-trinh/danh-muc/moi").status_code == 403
    response = web.post("/quy-trinh/danh-muc/moi", {"code": "1.000666"}, page="/")
    assert response.status_code == 403
    web.login("sonv.quytrinh")
    assert web.get("/quy-trinh/danh-muc/1.001193/sua").status_code == 403  # the commune's procedure


def test_the_import_page_reports_each_row(web, app) -> None:
    web.login("sonv.quytrinh")
    content = sheet(
        [HEADER, [1, "2.000401", "Thủ tục trang nhập", "Việc làm", "Cấp tỉnh", "7 ngày", SO_NOI_VU]]
    )
    token = web.csrf("/quy-trinh/danh-muc/nhap")
    response = web.http.post(
        "/quy-trinh/danh-muc/nhap",
        data={"csrf_token": token, "file": (io.BytesIO(content), "danh-muc.xlsx")},
        content_type="multipart/form-data",
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "thêm mới 1" in page and "2.000401" in page
    export = web.get("/quy-trinh/danh-muc/xuat")
    assert export.status_code == 200 and export.mimetype.endswith("sheet")
    assert "2.000401" in {
        r[0] for r in load_workbook(io.BytesIO(export.data)).active.iter_rows(values_only=True)
    }


def test_an_administrator_may_keep_any_agencys_procedures(ctx, officers) -> None:
    with ctx.uow() as uow:
        admin = uow.session.get(Officer, officers["sonv.quytrinh"])
        admin.roles = ["admin"]
        uow.commit()
    saved = create_procedure(
        ctx,
        officers["sonv.quytrinh"],
        new_input(code="2.000501", level="commune", owner_agency=XA, receiving_agencies=()),
        at("2026-11-23 08:00"),
    )
    assert saved.created


# ---------------------------------------------------------------------------
# the demo catalogue file (`motcua load`)

ENTRY = """
[[procedure]]
code = "2.000601"
name = "Thủ tục chưa có quy trình"
field = "Hộ tịch"
level = "commune"
legal_time = { value = 3, unit = "days" }
owner_agency = "000.01.25.H40"
"""


def load_text(ctx, tmp_path, text: str):
    from engine.catalogue.loader import load_catalogue

    path = tmp_path / "catalogue.toml"
    path.write_text(text, encoding="utf-8")
    (tmp_path / "1.001806.bpmn").write_bytes(BPMN.read_bytes())
    with ctx.uow() as uow:
        report = load_catalogue(uow.session, path, at("2026-11-23 08:00"))
        uow.commit()
    return report


def test_a_catalogue_entry_without_bpmn_is_a_procedure_without_an_internal_procedure(ctx, tmp_path) -> None:
    report = load_text(ctx, tmp_path, ENTRY)
    assert report.procedures == 1 and report.versions_activated == []
    stored = procedure(ctx, "2.000601")
    assert stored is not None and stored.receiving_level == "commune"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            'bpmn = "1.001806.bpmn"\ndecision = "12/QĐ-UBND"\n',
            "cần số quyết định phê duyệt (decision) và ngày",
        ),
        (
            'bpmn = "khong-co.bpmn"\ndecision = "12/QĐ-UBND"\ndecision_date = "2026-11-01"\n',
            "không tìm thấy tệp",
        ),
        ('bpmn = "1.001806.bpmn"\ndecision = "12/QĐ-UBND"\ndecision_date = "1/11/2026"\n', "không phải ngày"),
    ],
)
def test_a_catalogue_entry_with_a_half_stated_decision_is_refused_by_name(
    ctx, tmp_path, extra, message
) -> None:
    with pytest.raises(InvalidInput) as caught:
        load_text(ctx, tmp_path, ENTRY + extra)
    assert "thủ tục 2.000601" in caught.value.message and message in caught.value.message
    assert procedure(ctx, "2.000601") is None


def test_a_catalogue_entry_missing_a_key_names_it_instead_of_a_traceback(ctx, tmp_path) -> None:
    with pytest.raises(InvalidInput) as caught:
        load_text(ctx, tmp_path, ENTRY.replace('field = "Hộ tịch"\n', ""))
    assert caught.value.message == "catalogue.toml: thủ tục thứ 1 (2.000601): thiếu field"


# ---------------------------------------------------------------------------
# the JSON API


@pytest.fixture
def api(app):
    """A token-signing client of the API (tests/test_api.py's)."""
    from tests.test_api import Api

    return Api(app)


API_BODY = {
    "code": "1.000555",
    "name": "Thủ tục thêm qua API",
    "field": "Việc làm",
    "level": "province",
    "legal_time": {"value": 15, "unit": "days"},
    "owner_agency": SO_NOI_VU,
    "required_documents": ["Đơn đề nghị"],
    "receiving_agencies": [SO_NOI_VU],
}


def test_the_api_adds_and_edits_a_procedure(api) -> None:
    created = api.post("/procedures", who="sonv.quytrinh", json=API_BODY)
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["legal_time"] == {"value": 15.0, "unit": "days"}
    assert created.get_json()["has_active_version"] is False
    again = api.post("/procedures", who="sonv.quytrinh", json=API_BODY)
    assert again.status_code == 422 and "đã có trong danh mục" in again.get_json()["fields"]["code"]
    changed = api.call(
        "PUT",
        "/procedures/1.000555",
        who="sonv.quytrinh",
        json=API_BODY | {"legal_time": {"value": 96, "unit": "hours"}},
    )
    assert changed.status_code == 200 and changed.get_json()["legal_time"]["unit"] == "hours"
    assert api.post("/procedures", who="sonv.motcua", json=API_BODY | {"code": "1.000556"}).status_code == 403
    assert api.call("PUT", "/procedures/9.999", who="sonv.quytrinh", json=API_BODY).status_code == 404


def test_the_api_names_every_bad_field_at_once(api) -> None:
    body = API_BODY | {
        "code": "1.000557",
        "owner_agency": "Sở Không Có",
        "receiving_agencies": ["000.01.25.H40"],
    }
    answer = api.post("/procedures", who="sonv.quytrinh", json=body)
    assert answer.status_code == 422
    assert set(answer.get_json()["fields"]) == {"owner_agency", "receiving_agencies"}
