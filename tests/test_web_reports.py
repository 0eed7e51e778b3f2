"""The report pages: Biểu 06 with linked numbers, the XLSX and CSV, indicators and the dashboard."""

from __future__ import annotations

import io
import re

from openpyxl import load_workbook

from tests.conftest import Officers, at
from tests.test_reports import History
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
    assert "QĐ 766" in quality and "18 × thủ tục công khai đủ thông tin" in quality
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


def report_table(page: str) -> str:
    """The Biểu 06 table of a report page."""
    return page[page.index('id="report"') : page.index("</table>")]


def test_the_current_month_is_judged_as_of_the_clock(web, app, clock) -> None:
    _, open_one, _ = some_dossiers(web, app, clock)  # open_one: received 23/11, due in December
    web.login("sonv.lanhdao")
    clock.moment = at("2026-12-01 09:00")
    december = web.get("/bao-cao/?period=2026-12&by=field").get_data(as_text=True)
    assert "Số liệu tính đến 09:00 ngày 01/12/2026" in december
    assert 'data-column="in_progress_not_due">1<' in december
    assert 'data-column="in_progress_overdue">' not in december  # zero: no link
    listing = web.get("/bao-cao/ho-so?period=2026-12&by=field&column=in_progress_not_due").get_data(
        as_text=True
    )
    assert open_one in listing and "Đang giải quyết, chưa đến hạn" in listing
    november = web.get("/bao-cao/?period=2026-11&by=field").get_data(as_text=True)
    assert "Số liệu tính đến hết ngày 30/11/2026" in november
    clock.moment = at("2026-12-10 09:00")
    later = web.get("/bao-cao/?period=2026-12&by=field").get_data(as_text=True)
    assert 'data-column="in_progress_overdue">1<' in later
    # November is closed: its numbers are the same on 10/12 as on 1/12.
    again = web.get("/bao-cao/?period=2026-11&by=field").get_data(as_text=True)
    assert (
        report_table(again) == report_table(november) and 'data-column="in_progress_not_due">1<' in november
    )


def late_dossiers(app) -> History:
    """Two dossiers of November resolved late: one with an apology letter issued, one without."""
    ctx = app.extensions["motcua"]
    h = History(ctx, Officers(ctx))
    h.receive("with", "1.001806", "2026-11-02 08:00")  # due 16/11
    h.steps("with", "2026-11-02 09:00", "2026-11-02 10:00")
    h.letter("with", "2026-11-13 09:00", new_due="2026-11-25 17:00")
    h.steps("with", "2026-11-19 09:00", "2026-11-19 10:00", "2026-11-19 11:00", "2026-11-20 09:00")
    h.receive("without", "1.001806", "2026-11-02 09:00")  # due 16/11
    h.steps("without", "2026-11-02 10:00", "2026-11-02 11:00", "2026-11-17 09:00", "2026-11-17 10:00")
    h.steps("without", "2026-11-17 11:00", "2026-11-18 09:00")
    return h


def test_late_dossiers_are_split_by_letter_on_the_page_the_lists_and_the_files(web, app, clock) -> None:
    h = late_dossiers(app)
    clock.moment = at("2026-11-30 09:00")
    web.login("sonv.lanhdao")
    page = web.get("/bao-cao/?period=2026-11&by=field").get_data(as_text=True)
    assert "Quá hạn, có văn bản xin lỗi" in page and "Quá hạn, không có văn bản xin lỗi" in page
    assert re.findall(r'data-column="resolved_late">(\d+)<', page)[-1] == "2"
    assert re.findall(r'data-column="resolved_late_letter">(\d+)<', page)[-1] == "1"
    assert re.findall(r'data-column="resolved_late_no_letter">(\d+)<', page)[-1] == "1"
    with_letter = web.get("/bao-cao/ho-so?period=2026-11&by=field&column=resolved_late_letter").get_data(
        as_text=True
    )
    assert h.codes["with"] in with_letter and h.codes["without"] not in with_letter
    assert "Đã ký 13/11/2026 09:00" in with_letter
    without = web.get("/bao-cao/ho-so?period=2026-11&by=field&column=resolved_late_no_letter").get_data(
        as_text=True
    )
    assert h.codes["without"] in without and h.codes["with"] not in without
    assert "Đã giải quyết quá hạn, không có văn bản xin lỗi" in without
    sheet = load_workbook(io.BytesIO(web.get("/bao-cao/bieu-06.xlsx?period=2026-11&by=field").data)).active
    rows = list(sheet.iter_rows(values_only=True))
    header = next(r for r in rows if r and "Quá hạn, có văn bản xin lỗi" in r)
    total = next(r for r in rows if r and "Tổng cộng" in r)
    assert total[header.index("Quá hạn, có văn bản xin lỗi")] == 1
    assert total[header.index("Quá hạn, không có văn bản xin lỗi")] == 1
    csv = web.get("/bao-cao/bieu-06.csv?period=2026-11&by=field").get_data(as_text=True)
    assert "Số hồ sơ đã giải quyết - Quá hạn, có văn bản xin lỗi" in csv
    quality = web.get("/bao-cao/chi-so?period=2026-11").get_data(as_text=True)
    assert 'data-count="late_with_letter">1<' in quality and 'data-count="late_without_letter">1<' in quality
    assert "Tử số: số hồ sơ đã giải quyết trước hạn và đúng hạn" in quality
    assert "Số liệu tính đến hết ngày 30/11/2026" not in quality  # November is not over on 30/11
    assert "Số liệu tính đến 09:00 ngày 30/11/2026" in quality
