"""The dossier list in a real browser: a state of the menu, a search without diacritics, the export.

Debian's chromium driven by Playwright, as in tests/test_browser.py; screenshots go to test-artifacts/.
"""

from __future__ import annotations

import io

from openpyxl import load_workbook

from engine.runtime import dossiers as svc
from tests.conftest import Officers, at, open_items
from tests.test_browser import ARTIFACTS, page, pytestmark, server, sign_in  # noqa: F401


def _receive(ctx, officers: Officers, name: str, phone: str, when: str):
    return svc.receive_dossier(
        ctx,
        procedure_code="1.001806",
        applicant=svc.Applicant(name=name, id_number="001203004005", phone=phone),
        channel="in_person",
        officer_id=officers["sonv.motcua"],
        now=at(when),
    )


def test_an_officer_picks_a_state_searches_without_diacritics_and_exports(app, page, backend, clock) -> None:  # noqa: F811
    ctx = app.extensions["motcua"]
    officers = Officers(ctx)
    waiting = _receive(ctx, officers, "Nguyễn Thị Hòa Bình", "0912345678", "2026-11-23 08:00")
    forwarded = _receive(ctx, officers, "Trần Văn Hoà", "0912000002", "2026-11-23 08:10")
    (item,) = open_items(ctx, forwarded.dossier_id)
    svc.complete(ctx, item.id, officers["sonv.motcua"], now=at("2026-11-23 09:00"))
    other = _receive(ctx, officers, "Lê Văn Cường", "0912000003", "2026-11-23 08:20")
    clock.moment = at("2026-11-23 10:00")

    sign_in(page, "sonv.motcua")
    page.get_by_role("link", name="Tra cứu hồ sơ").click()
    page.wait_for_selector("#state-menu")
    assert page.locator("[data-count=new]").inner_text() == "2"
    page.locator("#state-menu a[data-state=new]").click()
    page.wait_for_url("**state=new**")
    rows = page.locator("#dossier-list tbody tr")
    assert rows.count() == 2
    assert forwarded.code not in page.locator("#dossier-list").inner_text()
    page.screenshot(path=str(ARTIFACTS / f"lists-{backend}-01-state-new.png"), full_page=True)

    page.fill("#q", "hoa binh")
    page.locator("#list-filters button[type=submit]").click()
    page.wait_for_url("**q=hoa+binh**")
    table = page.locator("#dossier-list").inner_text()
    assert waiting.code in table and other.code not in table
    assert "Nguyễn Thị Hòa Bình" in table
    assert page.locator("#state-menu a[data-state=new]").get_attribute("aria-current") == "true"
    page.screenshot(path=str(ARTIFACTS / f"lists-{backend}-02-search.png"), full_page=True)

    with page.expect_download() as download:
        page.locator("#export").click()
    saved = download.value.path()
    sheet = load_workbook(io.BytesIO(saved.read_bytes())).active
    codes = [row[1] for row in sheet.iter_rows(values_only=True) if row and row[0] == 1]
    assert codes == [waiting.code]
    assert download.value.suggested_filename.startswith("danh-sach-ho-so-")
