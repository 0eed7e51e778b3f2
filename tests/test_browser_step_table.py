"""A process owner turns a step table into a draft in a real browser: upload, preview with the
diagram, save, and the editor opens on it with every shape placed. Screenshots go to test-artifacts/."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import expect

# The journey's fixtures: one server and one browser per test, as there.
from tests.test_browser import ARTIFACTS, csp_violations, page, pytestmark, server, sign_in  # noqa: F401
from tests.test_step_tables import CODE, COMMUNE_TABLE, add_procedure


def shot(tab, name: str, backend: str) -> None:
    tab.screenshot(path=str(ARTIFACTS / f"step-table-{backend}-{name}.png"), full_page=True)


def test_the_process_owner_previews_a_table_and_opens_its_draft_in_the_editor(
    page,  # noqa: F811
    app,
    backend,
    tmp_path: Path,
    csp_violations,  # noqa: F811
) -> None:
    add_procedure(app.extensions["motcua"])
    table = tmp_path / "QĐ 1234 xác nhận hộ tịch.csv"
    table.write_text(COMMUNE_TABLE, encoding="utf-8")

    sign_in(page, "sonv.quytrinh")
    page.goto(f"/quy-trinh/{CODE}")
    page.click("#from-table")
    page.set_input_files("#table-file", str(table))
    page.get_by_role("button", name="Xem trước").click()
    page.wait_for_selector("#canvas[data-rendered=true]")
    rows = page.locator("#table-steps tbody tr")
    expect(rows).to_have_count(6)
    expect(rows.nth(1)).to_contain_text("Chuyên viên")
    expect(rows.nth(1)).to_contain_text("Kiểm tra: yêu cầu bổ sung hoặc từ chối")
    expect(rows.nth(5)).to_contain_text("Trả kết quả (không tính thời gian)")
    expect(page.locator("#counted-hours")).to_have_text("22")
    assert page.locator("#canvas .djs-element[data-element-id='Task_WaitSupplement']").count() == 1
    shot(page, "01-preview", backend)

    page.get_by_role("button", name="Lưu thành bản nháp").click()
    page.wait_for_url(re.compile(r".*/quy-trinh/phien-ban/\d+/sua$"))
    page.wait_for_selector("#canvas[data-ready=true]")
    assert "Đã lưu bản nháp phiên bản 1 từ bảng các bước QĐ 1234 xác nhận hộ tịch.csv" in page.content()
    expect(page.locator("#problem-count")).to_have_text("0")
    placed = page.evaluate(
        """() => {
        const registry = window.motcuaEditor.modeler.get('elementRegistry');
        const shapes = registry.filter(e => e.type !== 'label' && !e.waypoints && e.type !== 'bpmn:Collaboration');
        const nodes = shapes.filter(e => !['bpmn:Participant', 'bpmn:Lane'].includes(e.type));
        const overlaps = [];
        nodes.forEach((a, i) => nodes.slice(i + 1).forEach(b => {
          if (a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height)
            overlaps.push(a.id + '/' + b.id);
        }));
        const flows = registry.filter(e => e.type === 'bpmn:SequenceFlow');
        return {
          nodes: nodes.length,
          lanes: shapes.filter(e => e.type === 'bpmn:Lane').map(e => e.businessObject.name),
          unplaced: nodes.filter(e => !(e.width > 0 && e.height > 0)).map(e => e.id),
          flows: flows.length,
          routed: flows.filter(e => e.waypoints.length >= 2).length,
          overlaps,
        };
      }"""
    )
    # 6 steps, the supplement and refusal steps, 2 gateways, the start and 2 ends.
    assert placed["nodes"] == 13 and placed["unplaced"] == [] and placed["overlaps"] == []
    assert placed["flows"] == placed["routed"] == 14
    assert placed["lanes"] == [
        "Công chức Bộ phận Một cửa",
        "Công chức chuyên môn (Văn hóa - Xã hội)",
        "Lãnh đạo UBND xã",
        "Văn thư UBND xã",
    ]
    shot(page, "02-editor", backend)
    assert csp_violations == []
