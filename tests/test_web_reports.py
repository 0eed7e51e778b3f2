"""The report pages: Biểu 06 with linked numbers, the XLSX and CSV, indicators and the dashboard."""

from __future__ import annotations

import io
import re

from openpyxl import load_workbook

from tests.conftest import at
from tests.test_web import _work_to, receive


def some_dossiers(web, app, clock) -> list[str]:
    """Three dossiers at Sở Nội vụ: one returned, one in progress, one withdrawn."""
    done = receive(web, key="a")
    _work_to(web, app, done, "Task_Return")
    web.login("sonv.motcua")
    web.post(f"/mot-cua/ho-so/{done}/tra-ket-qua", {"collected_by": "Nguyễn Thị Lan"}, page="/")
    open_one = receive(web, key="b", channel="online")
    gone = receive(web, key="c")
    web.post(f"/mot-cua/ho-so/{gone}/rut-ho-so", {"reason": "Công dân đổi ý"}, page="/")
    clock.moment = at("2026-11-30 09:00")
    return [done, open_one, gone]


def test_leader_sees_report_06_with_every_number_linked_to_its_dossiers(web, app, clock) -> None:
    done, open_one, gone = some_dossiers(web, app, clock)
    web.login("sonv.lanhdao")
    page = web.get("/bao-cao/?period=2026-11&by=field").get_data(as_text=True)
    assert "TÌNH HÌNH, KẾT QUẢ GIẢI QUYẾT THỦ TỤC HÀNH CHÍNH" in page
    links = re.findall(r'href="(/bao-cao/ho-so\?[^"]+)" data-column="([a-z_]+)">(\d+)<', page)
    assert {c for _, c, _ in links} >= {"received_total", "resolved_total", "in_progress_total", "withdrawn"}
    for href, _, number in links:
        listing = web.get(href.replace("&amp;", "&")).get_data(as_text=True)
        assert f'id="cell-total">{number}<' in listing
    total_row = re.findall(r'data-column="received_total">(\d+)<', page)
    assert total_row[-1] == "3"
    withdrawn = web.get("/bao-cao/ho-so?period=2026-11&by=field&column=withdrawn").get_data(as_text=True)
    assert gone in withdrawn and done not in withdrawn and open_one not in withdrawn
    in_progress = web.get("/bao-cao/ho-so?period=2026-11&by=field&column=in_progress_total").get_data(
        as_text=True
    )
    assert open_one in in_progress


def test_xlsx_holds_the_numbers_of_the_page(web, app, clock) -> None:
    some_dossiers(web, app, clock)
    web.login("sonv.lanhdao")
    page = web.get("/bao-cao/?period=2026-11&by=level").get_data(as_text=True)
    response = web.get("/bao-cao/bieu-06.xlsx?period=2026-11&by=level")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).active
    cells = [c for row in sheet.iter_rows(values_only=True) for c in row if isinstance(c, int)]
    assert "Biểu số 06/VPCP/KSTT" in " ".join(
        str(c) for row in sheet.iter_rows(values_only=True) for c in row if c
    )
    assert 3 in cells  # the total received, as on the page
    assert sheet.merged_cells.ranges
    assert 'data-column="received_total">3<' in page
    csv = web.get("/bao-cao/bieu-06.csv?period=2026-11&by=level").get_data(as_text=True)
    assert csv.startswith("\ufeff") and "Trực tuyến" in csv


def test_reports_are_for_leaders_of_their_own_agency(web, app, clock) -> None:
    some_dossiers(web, app, clock)
    web.login("sonv.chuyenvien1")
    assert web.get("/bao-cao/").status_code == 403
    web.login("xa.lanhdao")
    assert web.get("/bao-cao/?agency=000.00.12.H40").status_code == 403
    page = web.get("/bao-cao/?period=2026-11").get_data(as_text=True)
    assert "Ủy ban nhân dân xã Demo" in page and 'data-column="received_total">3<' not in page


def test_approver_sees_the_province_and_the_indicators_and_dashboard_render(web, app, clock) -> None:
    some_dossiers(web, app, clock)
    web.login("vp.pheduyet")
    page = web.get("/bao-cao/?period=2026-11&by=agency").get_data(as_text=True)
    assert "Toàn tỉnh" in page and "Sở Nội vụ" in page
    quality = web.get("/bao-cao/chi-so?period=2026-11").get_data(as_text=True)
    assert "QĐ 766" in quality and "Chưa có dữ liệu" in quality
    dashboard = web.get("/bao-cao/tong-quan")
    assert dashboard.status_code == 200
    assert "chart.umd.js" in dashboard.get_data(as_text=True)


def test_bad_period_is_named(web) -> None:
    web.login("sonv.lanhdao")
    response = web.get("/bao-cao/?period=2026-13")
    assert response.status_code == 422


def test_province_wide_cell_lists_hide_names_of_other_agencies_dossiers(web, app, clock) -> None:
    done, open_one, gone = some_dossiers(web, app, clock)
    web.login("vp.pheduyet")
    listing = web.get("/bao-cao/ho-so?period=2026-11&by=agency&column=received_total").get_data(as_text=True)
    assert 'id="cell-total">3<' in listing
    assert done in listing and open_one in listing and gone in listing
    assert "Nguyễn Thị Lan" not in listing and "(cơ quan khác)" in listing
    assert f'href="/ho-so/{done}"' not in listing
    web.login("sonv.lanhdao")
    own = web.get("/bao-cao/ho-so?period=2026-11&by=agency&column=received_total").get_data(as_text=True)
    assert "Nguyễn Thị Lan" in own and f'href="/ho-so/{done}"' in own
