"""Step tables to BPMN drafts, on SQLite and PostgreSQL: a commune's 6-step table becomes a diagram that
passes the check, is approved and runs a dossier with the table's allotments; Vietnamese and English
headers, XLSX, per-row errors with nothing stored, and a folder of tables in one command."""

from __future__ import annotations

import io
import re
from datetime import date
from html import unescape as html_unescape
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree
from openpyxl import Workbook
from sqlalchemy import func, select

from engine.catalogue import versions
from engine.catalogue.bpmn_check import check_bpmn
from engine.catalogue.bpmn_xml import BPMN_NS, BPMNDI_NS, DC_NS, MC_NS
from engine.catalogue.procedure_model import read_model
from engine.catalogue.step_table import RoleTable, parse_hours, read_step_table, role_table
from engine.catalogue.table_drafts import draft_from_table, drafts_from_folder, preview_table
from engine.cli import main
from engine.context import Context
from engine.errors import Forbidden, InvalidStepTable, NotFound
from engine.runtime import dossiers as svc
from models import Agency, Dossier, Procedure, ProcessVersion, ProcessVersionEvent
from tests.conftest import Officers, at, open_items

CODE = "1.004227"  # a commune procedure that is not among the samples
OWNER = "sonv.quytrinh"
APPROVER = "vp.pheduyet"
COMMUNE_TABLE = """Bước,Nội dung công việc,Trách nhiệm thực hiện,Thời gian thực hiện
1,"Tiếp nhận, kiểm tra, số hóa hồ sơ, chuyển công chức chuyên môn",Công chức Bộ phận Một cửa,"0,5 ngày"
2,"Thẩm định hồ sơ, dự thảo kết quả",Công chức chuyên môn (Văn hóa - Xã hội),1 ngày
3,Xem xét hồ sơ và trình ký,Công chức chuyên môn (Văn hóa - Xã hội),4 giờ
4,Phê duyệt và ký kết quả,Lãnh đạo UBND xã,"0,5 ngày"
5,"Vào số, đóng dấu, chuyển kết quả cho Bộ phận Một cửa",Văn thư UBND xã,"0,25 ngày"
6,Trả kết quả cho công dân,Công chức Bộ phận Một cửa,Không tính thời gian
"""
APPLICANT = svc.Applicant(name="Hà Thị Mai", id_number="001190012399", phone="0912345699")


def add_procedure(ctx: Context, code: str = CODE, days: float = 3) -> None:
    """A commune procedure in the catalogue, drafted by the department's process owner."""
    with ctx.uow() as uow:
        owner = uow.session.scalars(select(Agency).where(Agency.code == "000.00.12.H40")).one()
        uow.session.add(
            Procedure(
                code=code,
                name="Xác nhận thông tin hộ tịch",
                field="Hộ tịch",
                level="commune",
                legal_time_value=days,
                legal_time_unit="days",
                fee="Không",
                required_documents=["Tờ khai đề nghị xác nhận thông tin hộ tịch"],
                online_level="partial",
                owner_agency_id=owner.id,
            )
        )
        uow.commit()


def stored(ctx: Context) -> tuple[int, int]:
    """What a refused table must leave untouched: the versions and their audit rows."""
    with ctx.uow() as uow:
        return (
            uow.session.scalar(select(func.count()).select_from(ProcessVersion)),
            uow.session.scalar(select(func.count()).select_from(ProcessVersionEvent)),
        )


def version_text(ctx: Context, version_id: int) -> str:
    with ctx.uow() as uow:
        return versions.version_xml(uow.session, version_id).text


def shapes_and_edges(text: str) -> tuple[dict[str, tuple[float, float, float, float]], set[str], set[str]]:
    """The bounds of each flow node's shape, the elements with an edge, and the flow ids."""
    root = etree.fromstring(text.encode())
    bounds = {}
    for shape in root.iter(f"{{{BPMNDI_NS}}}BPMNShape"):
        box = shape.find(f"{{{DC_NS}}}Bounds")
        bounds[shape.get("bpmnElement")] = tuple(float(box.get(k)) for k in ("x", "y", "width", "height"))
    edges = {e.get("bpmnElement") for e in root.iter(f"{{{BPMNDI_NS}}}BPMNEdge")}
    flows = {f.get("id") for f in root.iter(f"{{{BPMN_NS}}}sequenceFlow")}
    return bounds, edges, flows


def assert_laid_out(text: str) -> None:
    """Every node has a shape inside its lane, every flow an edge, and no two node shapes overlap."""
    root = etree.fromstring(text.encode())
    bounds, edges, flows = shapes_and_edges(text)
    assert edges == flows
    lanes = {lane.get("id"): lane for lane in root.iter(f"{{{BPMN_NS}}}lane")}
    nodes = []
    for lane_id, lane in lanes.items():
        lx, ly, lw, lh = bounds[lane_id]
        for ref in lane.iter(f"{{{BPMN_NS}}}flowNodeRef"):
            x, y, w, h = bounds[ref.text]
            assert lx < x and x + w < lx + lw and ly < y and y + h < ly + lh, f"{ref.text} outside {lane_id}"
            nodes.append((ref.text, x, y, w, h))
    assert len(nodes) == len({n[0] for n in nodes}) > 0
    for i, (a, ax, ay, aw, ah) in enumerate(nodes):
        for b, bx, by, bw, bh in nodes[i + 1 :]:
            assert ax + aw <= bx or bx + bw <= ax or ay + ah <= by or by + bh <= ay, f"{a} overlaps {b}"


# ----- the commune's table, from table to a returned dossier -------------------------------------


def test_a_commune_table_becomes_an_approved_procedure_whose_dossier_runs_on_its_allotments(ctx, officers):
    add_procedure(ctx)
    draft = draft_from_table(
        ctx,
        CODE,
        COMMUNE_TABLE.encode(),
        "qd-1234-xac-nhan.csv",
        at("2026-11-20 09:00"),
        officer_id=officers[OWNER],
    )
    assert (draft.number, draft.status, draft.problems) == (1, "draft", [])
    assert (draft.counted_hours, draft.legal_hours) == (22.0, 24.0)
    text = version_text(ctx, draft.version_id)
    assert check_bpmn(text, legal_hours=24).ok
    assert_laid_out(text)
    model = read_model(etree.fromstring(text.encode()))
    steps = list(model.steps.values())
    # One lane per role in the order the table names them; the phrase as written names the lane.
    assert [(s.lane, s.role) for s in steps if s.id.startswith("Task_Step")] == [
        ("Công chức Bộ phận Một cửa", "desk"),
        ("Công chức chuyên môn (Văn hóa - Xã hội)", "specialist"),
        ("Công chức chuyên môn (Văn hóa - Xã hội)", "specialist"),
        ("Lãnh đạo UBND xã", "leader"),
        ("Văn thư UBND xã", "clerk"),
        ("Công chức Bộ phận Một cửa", "desk"),
    ]
    by_id = model.steps
    assert [(by_id[f"Task_Step{n}"].hours, by_id[f"Task_Step{n}"].counted) for n in range(1, 7)] == [
        (4, True),
        (8, True),
        (4, True),
        (4, True),
        (2, True),
        (4, False),
    ]
    # The check step offers the supplement and the refusal; the leader's approval offers rework.
    assert by_id["Task_Step2"].outcome_values() == ["forward", "supplement", "refuse"]
    assert by_id["Task_Step4"].outcome_values() == ["approve", "rework"]
    assert (by_id["Task_Step6"].kind, by_id["Task_WaitSupplement"].kind) == ("return", "supplement")
    assert by_id["Task_ReturnRefusal"].kind == "return"

    versions.submit(ctx, draft.version_id, officers[OWNER], at("2026-11-20 10:00"))
    approved = versions.approve(
        ctx,
        draft.version_id,
        officers[APPROVER],
        decision_number="1234/QĐ-UBND",
        decision_date=date(2026, 11, 20),
        now=at("2026-11-20 11:00"),
    )
    assert (approved.status, approved.decision_number) == ("active", "1234/QĐ-UBND")

    # Monday 23/11 08:00; 24/11 is a day off in the calendar (Ngày Văn hóa Việt Nam).
    receipt = svc.receive_dossier(
        ctx,
        procedure_code=CODE,
        applicant=APPLICANT,
        channel="in_person",
        officer_id=officers["xa.motcua"],
        now=at("2026-11-23 08:00"),
    )
    assert receipt.due_at == ctx.calendar.due_time(at("2026-11-23 08:00"), days=3) == at("2026-11-27 08:00")
    plan = [
        # (who completes, when, outcome, the next step, its due time)
        ("xa.motcua", "2026-11-23 10:00", None, "Task_Step2", "2026-11-25 10:00"),
        ("xa.chuyenvien", "2026-11-25 09:00", "forward", "Task_Step3", "2026-11-25 14:30"),
        ("xa.chuyenvien", "2026-11-25 14:00", None, "Task_Step4", "2026-11-26 08:30"),
        ("xa.lanhdao", "2026-11-26 08:00", "approve", "Task_Step5", "2026-11-26 10:00"),
        ("xa.vanthu", "2026-11-26 09:00", None, "Task_Step6", "2026-11-26 14:30"),
    ]
    (first,) = open_items(ctx, receipt.dossier_id)
    assert (first.task_id, first.due_at) == ("Task_Step1", at("2026-11-23 13:30"))
    for who, when, outcome, next_step, due in plan:
        (item,) = open_items(ctx, receipt.dossier_id)
        svc.complete(ctx, item.id, officers[who], now=at(when), outcome=outcome)
        (opened,) = open_items(ctx, receipt.dossier_id)
        assert (opened.task_id, opened.due_at) == (next_step, at(due)), who
        assert opened.due_at == ctx.calendar.add_working_hours(at(when), float(opened.allotted_hours))
    svc.return_result(
        ctx, opened.id, officers["xa.motcua"], collected_by="Hà Thị Mai", now=at("2026-11-26 10:00")
    )
    with ctx.uow() as uow:
        dossier = uow.session.get(Dossier, receipt.dossier_id)
        assert (dossier.status, dossier.result_class) == ("returned", "early")


def test_rework_and_supplement_return_to_the_check_step_and_a_refusal_ends_at_the_desk(ctx, officers):
    add_procedure(ctx)
    draft = draft_from_table(ctx, CODE, COMMUNE_TABLE.encode(), "bang.csv", at("2026-11-20 09:00"))
    versions.submit(ctx, draft.version_id, officers[OWNER], at("2026-11-20 10:00"))
    versions.approve(
        ctx,
        draft.version_id,
        officers[APPROVER],
        decision_number="1235/QĐ-UBND",
        decision_date=date(2026, 11, 20),
        now=at("2026-11-20 11:00"),
    )
    receipt = svc.receive_dossier(
        ctx,
        procedure_code=CODE,
        applicant=APPLICANT,
        channel="in_person",
        officer_id=officers["xa.motcua"],
        now=at("2026-11-23 08:00"),
        forward=True,  # the desk's receipt step completed with the receipt
    )
    assert receipt.next_steps == ["Thẩm định hồ sơ, dự thảo kết quả"]
    steps = [
        ("xa.chuyenvien", "forward"),
        ("xa.chuyenvien", None),
        ("xa.lanhdao", "rework"),
    ]
    for n, (who, outcome) in enumerate(steps):
        (item,) = open_items(ctx, receipt.dossier_id)
        svc.complete(
            ctx,
            item.id,
            officers[who],
            now=at(f"2026-11-25 0{8 + n // 2}:{30 * (n % 2):02d}"),
            outcome=outcome,
            comment="Cần xác minh thêm nơi cư trú" if outcome == "rework" else None,
        )
    (item,) = open_items(ctx, receipt.dossier_id)
    assert item.task_id == "Task_Step2"
    svc.request_supplement(
        ctx,
        item.id,
        officers["xa.chuyenvien"],
        missing=["Giấy xác nhận nơi cư trú"],
        reason="Thiếu giấy tờ",
        now=at("2026-11-25 10:00"),
    )
    (item,) = open_items(ctx, receipt.dossier_id)
    assert (item.task_id, item.kind, item.due_at) == ("Task_WaitSupplement", "supplement", None)
    svc.resume(ctx, receipt.code, officers["xa.motcua"], at("2026-11-25 11:00"))
    (item,) = open_items(ctx, receipt.dossier_id)
    assert item.task_id == "Task_Step2"
    svc.refuse(
        ctx, item.id, officers["xa.chuyenvien"], reason="Không đủ điều kiện", now=at("2026-11-25 14:00")
    )
    (item,) = open_items(ctx, receipt.dossier_id)
    assert (item.task_id, item.kind, item.role) == ("Task_ReturnRefusal", "return", "desk")


# ----- headers, time, roles ----------------------------------------------------------------------


def test_english_headers_with_role_and_agency_columns(ctx, officers):
    add_procedure(ctx)
    table = (
        "step,content,responsible,time,role,agency\n"
        "1,Receive,Tổ tiếp nhận liên thông,0.5,desk,000.01.25.H40\n"
        "2,Appraise,Phòng Tư pháp,1,specialist,Ủy ban nhân dân xã Demo\n"
        "3,Sign,Chủ tịch UBND xã,4 giờ,,000.01.25.H40\n"
        "4,Trả kết quả,Bộ phận Một cửa,Không tính,,000.01.25.H40\n"
    )
    draft = draft_from_table(ctx, CODE, table.encode(), "english.csv", at("2026-11-20 09:00"))
    assert (draft.problems, draft.counted_hours) == ([], 16.0)
    root = etree.fromstring(version_text(ctx, draft.version_id).encode())
    lanes = [
        (lane.get("name"), ext.get("role"), ext.get("agency"))
        for lane in root.iter(f"{{{BPMN_NS}}}lane")
        for ext in lane.iter(f"{{{MC_NS}}}lane")
    ]
    assert lanes == [
        ("Tổ tiếp nhận liên thông", "desk", "000.01.25.H40"),
        ("Phòng Tư pháp", "specialist", "000.01.25.H40"),
        ("Chủ tịch UBND xã", "leader", "000.01.25.H40"),
    ]


def test_vietnamese_headers_match_ignoring_case_diacritics_and_spaces_under_a_title_row(ctx):
    table = (
        "QUY TRÌNH NỘI BỘ GIẢI QUYẾT THỦ TỤC HÀNH CHÍNH,,,\n"
        "  BƯỚC ,Noi dung  cong viec,TRÁCH   NHIỆM THỰC HIỆN,Thời gian thực hiện (ngày)\n"
        "B1,Tiếp nhận hồ sơ,Bộ phận tiếp nhận và trả kết quả,0.25\n"
        "Bước 2,Thẩm định,Cán bộ địa chính,02 ngày\n"
        "3,Ký duyệt,Phó Chủ tịch UBND xã,0.5\n"
        "4,Trả kết quả,Bộ phận tiếp nhận và trả kết quả,Không tính\n"
    )
    report = read_step_table(
        table.encode("utf-8-sig"), "vn.csv", roles=role_table(ctx.settings.workflows_dir)
    )
    assert report.errors == []
    assert [(s.row, s.number, s.role, s.hours, s.counted) for s in report.steps] == [
        (3, 1, "desk", 2.0, True),
        (4, 2, "specialist", 16.0, True),
        (5, 3, "leader", 4.0, True),
        (6, 4, "desk", 4.0, False),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0,25 ngày", (2.0, True)),
        ("0.5", (4.0, True)),
        ("4 giờ", (4.0, True)),
        ("02 ngày", (16.0, True)),
        ("1/2 ngày làm việc", (4.0, True)),
        ("8h", (8.0, True)),
        ("Không tính", (0.0, False)),
        ("không tính thời gian", (0.0, False)),
    ],
)
def test_time_is_read_as_working_hours(text, expected):
    assert parse_hours(text) == expected


def test_the_longest_phrase_wins_and_diacritics_do_not_matter():
    roles = RoleTable.from_mapping(
        {
            "roles": {
                "desk": ["Bộ phận Một cửa"],
                "specialist": ["Công chức", "Cán bộ"],
                "head": ["Lãnh đạo phòng"],
                "leader": ["Chủ tịch"],
                "clerk": ["Văn thư"],
            }
        }
    )
    assert roles.role_of("Công chức Bộ phận Một cửa") == "desk"
    assert roles.role_of("CONG CHUC bo phan mot cua") == "desk"
    assert roles.role_of("Cán bộ Văn thư") == "clerk"
    assert roles.role_of("Phó Chủ tịch UBND xã") == "leader"
    assert roles.role_of("Lãnh đạo phòng Tư pháp") == "head"
    assert roles.role_of("Tổ công tác") is None


# ----- bad input: every row's problem, nothing stored ---------------------------------------------

HEADER = "Bước,Nội dung công việc,Trách nhiệm thực hiện,Thời gian thực hiện\n"


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (
            "1,Tiếp nhận,Bộ phận Một cửa,\n2,Thẩm định,Chuyên viên,1 ngày\n",
            ["Dòng 2: chưa ghi thời gian thực hiện"],
        ),
        (
            "1,Tiếp nhận,Bộ phận Một cửa,0.5\n2,Thẩm định,Tổ công tác liên ngành,1\n",
            ["Dòng 3: không xác định được vai trò của 'Tổ công tác liên ngành'"],
        ),
        (
            "1,Tiếp nhận,Bộ phận Một cửa,0.5\n2,Thẩm định,Chuyên viên,1\n2,Ký,Chủ tịch,0.5\n",
            ["Dòng 4: bước 2 trùng với bước ở dòng 3"],
        ),
        (
            "1,Tiếp nhận,Bộ phận Một cửa,0.5\n2,Thẩm định,Chuyên viên,nửa ngày\n",
            ["Dòng 3: thời gian 'nửa ngày' không đọc được"],
        ),
        (
            "1,Tiếp nhận,Bộ phận Một cửa,0.5\n2,Thẩm định,Chuyên viên,2\n3,Ký,Chủ tịch,1\n4,Trả kết quả,Bộ phận Một cửa,Không tính\n",
            ["Dòng 4: cộng dồn đến bước 3 là 28 giờ làm việc, vượt thời hạn giải quyết 24 giờ (3 ngày)"],
        ),
    ],
    ids=["missing-time", "unknown-responsible", "duplicate-step", "non-numeric-time", "over-legal-time"],
)
def test_a_bad_table_names_each_row_and_stores_nothing(ctx, officers, rows, expected):
    add_procedure(ctx)
    before = stored(ctx)
    with pytest.raises(InvalidStepTable) as raised:
        draft_from_table(
            ctx, CODE, (HEADER + rows).encode(), "bad.csv", at("2026-11-20 09:00"), officer_id=officers[OWNER]
        )
    lines = [str(row) for row in raised.value.rows]
    assert len(lines) == len(expected)
    for line, start in zip(lines, expected, strict=True):
        assert line.startswith(start), line
    assert raised.value.message.startswith("Bảng các bước bad.csv có")
    assert "chưa có gì được lưu" in raised.value.message
    assert stored(ctx) == before


def test_every_problem_of_every_row_is_reported_at_once(ctx, officers):
    add_procedure(ctx)
    rows = "1,Tiếp nhận,Bộ phận Một cửa,\n2,Thẩm định,Tổ công tác,abc\n2,,Chuyên viên,1\nx,Ký,Chủ tịch,0.5\n"
    preview = preview_table(ctx, officers[OWNER], CODE, (HEADER + rows).encode(), "all.csv")
    assert not preview.ok and preview.bpmn is None
    assert [(e.row, e.column) for e in preview.errors] == [
        (2, "time"),
        (3, "responsible"),
        (3, "time"),
        (4, "step"),
        (4, "content"),
        (5, "step"),
    ]


def test_a_table_for_a_procedure_not_in_the_catalogue_or_by_another_agency_is_refused(ctx, officers):
    with pytest.raises(NotFound, match=r"không có trong danh mục.*thêm thủ tục vào danh mục"):
        draft_from_table(ctx, "9.999999", COMMUNE_TABLE.encode(), "x.csv", at("2026-11-20 09:00"))
    add_procedure(ctx)
    before = stored(ctx)
    with pytest.raises(Forbidden):
        draft_from_table(
            ctx,
            CODE,
            COMMUNE_TABLE.encode(),
            "x.csv",
            at("2026-11-20 09:00"),
            officer_id=officers["xa.motcua"],
        )
    assert stored(ctx) == before


# ----- XLSX, a folder of tables, the command -----------------------------------------------------


def xlsx(rows: list[list[object]]) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(["Quy trình nội bộ thủ tục xác nhận thông tin hộ tịch"])
    sheet.append([])
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_an_xlsx_table_with_numeric_cells_becomes_the_same_draft(ctx):
    add_procedure(ctx)
    data = xlsx(
        [
            [
                "Bước",
                "Nội dung công việc",
                "Trách nhiệm thực hiện",
                "Thời gian thực hiện",
                "Biểu mẫu/Kết quả",
            ],
            [
                1,
                "Tiếp nhận, kiểm tra, số hóa hồ sơ, chuyển công chức chuyên môn",
                "Công chức Bộ phận Một cửa",
                0.5,
                "Mẫu 01",
            ],
            [2, "Thẩm định hồ sơ, dự thảo kết quả", "Công chức chuyên môn (Văn hóa - Xã hội)", 1, ""],
            [3, "Xem xét hồ sơ và trình ký", "Công chức chuyên môn (Văn hóa - Xã hội)", "4 giờ", ""],
            [4, "Phê duyệt và ký kết quả", "Lãnh đạo UBND xã", "0,5 ngày", ""],
            [5, "Vào số, đóng dấu, chuyển kết quả cho Bộ phận Một cửa", "Văn thư UBND xã", 0.25, ""],
            [6, "Trả kết quả cho công dân", "Công chức Bộ phận Một cửa", "Không tính", ""],
        ]
    )
    draft = draft_from_table(ctx, CODE, data, "QĐ 1234.xlsx", at("2026-11-20 09:00"))
    assert (draft.problems, draft.counted_hours) == ([], 22.0)
    from_csv = draft_from_table(ctx, CODE, COMMUNE_TABLE.encode(), "QĐ 1234.xlsx.csv", at("2026-11-20 09:00"))
    model_xlsx = read_model(etree.fromstring(version_text(ctx, draft.version_id).encode()))
    model_csv = read_model(etree.fromstring(version_text(ctx, from_csv.version_id).encode()))
    assert [(s.id, s.role, s.hours, s.counted) for s in model_xlsx.steps.values()] == [
        (s.id, s.role, s.hours, s.counted) for s in model_csv.steps.values()
    ]
    bad = xlsx(
        [
            ["Bước", "Nội dung công việc", "Trách nhiệm thực hiện", "Thời gian thực hiện"],
            [1, "Tiếp nhận", "Ban chỉ đạo", None],
        ]
    )
    with pytest.raises(InvalidStepTable) as raised:
        draft_from_table(ctx, CODE, bad, "bad.xlsx", at("2026-11-20 09:00"))
    assert [str(r)[:7] for r in raised.value.rows] == ["Dòng 4:", "Dòng 4:"]


def test_a_folder_of_tables_becomes_drafts_one_by_one_with_a_report(ctx, monkeypatch, tmp_path: Path):
    add_procedure(ctx)
    add_procedure(ctx, "1.004228", days=0.5)
    folder = tmp_path / "tables"
    folder.mkdir()
    (folder / f"{CODE} Xác nhận hộ tịch.csv").write_text(COMMUNE_TABLE, encoding="utf-8")
    (folder / "1.004228.csv").write_text(COMMUNE_TABLE, encoding="utf-8")  # 22 hours over a half day
    (folder / "9.999999.csv").write_text(COMMUNE_TABLE, encoding="utf-8")
    (folder / "1.001806.xlsx").write_bytes(b"not a workbook")
    (folder / "ghi-chu.txt").write_text("bỏ qua", encoding="utf-8")
    entries = drafts_from_folder(ctx, folder, at("2026-11-20 09:00"))
    assert [(e.filename, e.procedure_code, e.ok) for e in entries] == [
        ("1.001806.xlsx", "1.001806", False),
        ("1.004227 Xác nhận hộ tịch.csv", CODE, True),
        ("1.004228.csv", "1.004228", False),
        ("9.999999.csv", "9.999999", False),
    ]
    assert entries[0].messages == ["Không đọc được tệp Excel (.xlsx); hãy lưu lại bằng Excel rồi thử lại"]
    assert entries[2].messages[0].startswith("Dòng 3: cộng dồn đến bước 2 là 12 giờ làm việc, vượt")
    assert "không có trong danh mục" in entries[3].messages[0]
    assert entries[1].version_number == 1

    monkeypatch.setenv("MOTCUA_DATABASE_URL", ctx.settings.database_url)
    runner = CliRunner()
    result = runner.invoke(main, ["procedure", "from-table", str(folder), "--codes-from-filenames"])
    assert result.exit_code == 1
    assert f"1.004227 Xác nhận hộ tịch.csv: {CODE} version 2 draft" in result.output
    assert "1.004228.csv: 1.004228 not stored\n  Dòng 3: cộng dồn" in result.output
    assert "1 of 4 tables stored as drafts" in result.output

    out = tmp_path / "commune.bpmn"
    single = tmp_path / "bang.csv"
    single.write_text(COMMUNE_TABLE, encoding="utf-8")
    result = runner.invoke(main, ["procedure", "from-table", str(single), "--code", CODE, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"bang.csv: {CODE} version 3 draft, 22 of 24 counted hours, written to {out}" in result.output
    assert check_bpmn(out.read_bytes(), legal_hours=24).ok
    result = runner.invoke(main, ["procedure", "from-table", str(single), "--code", "9.999999"])
    assert result.exit_code == 1 and "Thủ tục 9.999999 không có trong danh mục" in result.output
    assert "Traceback" not in result.output


# ----- the page: upload, preview, save, for the owner agency's process owner only ------------------


def upload(web, rows: str, name: str = "bang.csv"):
    return web.post(
        f"/quy-trinh/{CODE}/bang-cac-buoc",
        {"file": (io.BytesIO(rows.encode()), name)},
        page="/",
        content_type="multipart/form-data",
    )


def test_the_page_previews_a_table_then_saves_it_as_a_draft_and_opens_the_editor(web, app):
    ctx = app.extensions["motcua"]
    add_procedure(ctx)
    web.login(OWNER)
    page = web.get(f"/quy-trinh/{CODE}").get_data(as_text=True)
    assert f'href="/quy-trinh/{CODE}/bang-cac-buoc"' in page
    assert "Lãnh đạo UBND" in web.get(f"/quy-trinh/{CODE}/bang-cac-buoc").get_data(as_text=True)
    before = stored(ctx)
    response = upload(web, COMMUNE_TABLE, "QĐ 1234.csv")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'id="canvas" class="bpmn-canvas mb-3" data-bpmn="&lt;?xml' in html
    assert "Kiểm tra: yêu cầu bổ sung hoặc từ chối" in html and "Lưu thành bản nháp" in html
    assert stored(ctx) == before  # a preview stores nothing
    table = re.search(r'<textarea name="table" hidden aria-hidden="true">(.*?)</textarea>', html, re.S).group(
        1
    )
    saved = web.post(
        f"/quy-trinh/{CODE}/bang-cac-buoc/luu",
        {"table": html_unescape(table), "filename": "QĐ 1234.csv"},
        page=f"/quy-trinh/{CODE}/bang-cac-buoc",
    )
    assert saved.status_code == 302 and re.search(r"/quy-trinh/phien-ban/\d+/sua$", saved.headers["Location"])
    editor = web.get(saved.headers["Location"]).get_data(as_text=True)
    assert "Đã lưu bản nháp phiên bản 1 từ bảng các bước QĐ 1234.csv." in editor
    owner = Officers(ctx)[OWNER]
    with ctx.uow() as uow:
        version = uow.session.scalars(select(ProcessVersion).order_by(ProcessVersion.id.desc())).first()
        assert (version.status, version.check_ok, version.created_by_id) == ("draft", True, owner)


def test_the_page_lists_every_row_error_and_refuses_other_officers(web, app):
    ctx = app.extensions["motcua"]
    add_procedure(ctx)
    web.login(OWNER)
    before = stored(ctx)
    response = upload(web, HEADER + "1,Tiếp nhận,Bộ phận Một cửa,\n2,Thẩm định,Tổ công tác,1\n")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Dòng 2: chưa ghi thời gian thực hiện" in html
    assert "Dòng 3: không xác định được vai trò của &#39;Tổ công tác&#39;" in html
    assert "Lưu thành bản nháp" not in html
    forged = web.post(
        f"/quy-trinh/{CODE}/bang-cac-buoc/luu",
        {"table": "step,content,responsible,time\n1,X,Ai đó,1\n", "filename": "x.csv"},
        page=f"/quy-trinh/{CODE}/bang-cac-buoc",
    )
    assert forged.status_code == 422 and "Dòng 2: không xác định được vai trò" in forged.get_data(
        as_text=True
    )
    no_file = web.post(f"/quy-trinh/{CODE}/bang-cac-buoc", {}, page="/")
    assert no_file.status_code == 422
    web.login("xa.motcua")
    assert web.get(f"/quy-trinh/{CODE}/bang-cac-buoc").status_code == 403
    assert upload(web, COMMUNE_TABLE).status_code == 403
    web.login(APPROVER)
    assert upload(web, COMMUNE_TABLE).status_code == 403
    no_csrf = web.http.post(f"/quy-trinh/{CODE}/bang-cac-buoc/luu", data={"table": COMMUNE_TABLE})
    assert no_csrf.status_code in (400, 403)
    assert stored(ctx) == before


@pytest.mark.parametrize(
    "rows",
    [
        "1,Tiếp nhận và giải quyết ngay,Bộ phận Một cửa,2 giờ\n",
        "1,Thẩm định,Chuyên viên,2 giờ\n2,Ký,Giám đốc Sở,1 giờ\n",
        "1,Trả kết quả,Bộ phận Một cửa,Không tính\n",
        "1,Tiếp nhận,Bộ phận Một cửa,1 giờ\n2,Trả kết quả hoặc văn bản từ chối,Bộ phận Một cửa,Không tính\n",
        "1,Tiếp nhận,Bộ phận Một cửa,1 giờ\n2,Phân công,Trưởng phòng,1 giờ\n3,Xem xét,Trưởng phòng,1 giờ\n"
        "4,Thẩm định,Chuyên viên,2 giờ\n5,Xem xét,Trưởng phòng,1 giờ\n6,Trả kết quả,Bộ phận Một cửa,Không tính\n",
    ],
    ids=["desk-only", "no-desk-no-return", "return-only", "return-named-refusal", "heads-around-specialist"],
)
def test_tables_of_other_shapes_still_make_a_valid_laid_out_diagram(rows):
    from engine.catalogue.bpmn_writer import table_bpmn

    report = read_step_table((HEADER + rows).encode(), "x.csv", roles=role_table("workflows"))
    assert report.errors == []
    text = table_bpmn(
        report.steps, procedure_code="1.000001", procedure_name="X", legal_text="", source="x.csv"
    )
    result = check_bpmn(text, legal_hours=40)
    assert result.problems == []
    assert_laid_out(text)
    assert [s.kind for s in result.model.steps.values()].count("return") >= 1


def test_bare_numbers_under_an_hours_header_are_hours():
    table = "Bước,Nội dung công việc,Trách nhiệm thực hiện,Thời gian thực hiện (giờ)\n1,Tiếp nhận,Bộ phận Một cửa,4\n"
    report = read_step_table(table.encode(), "gio.csv", roles=role_table("workflows"))
    assert [(s.hours, s.counted) for s in report.steps] == [(4.0, True)]
    days = table.replace(" (giờ)", " (ngày)")
    assert [
        s.hours for s in read_step_table(days.encode(), "ngay.csv", roles=role_table("workflows")).steps
    ] == [32.0]
