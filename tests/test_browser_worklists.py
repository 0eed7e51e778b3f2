"""Điều hành in a real browser: the leader's late work and letter to sign, the supervisor's open work
by officer with a hand-over from the list. Screenshots go to test-artifacts/."""

from __future__ import annotations

from playwright.sync_api import expect

from tests import test_browser as browser
from tests.test_browser import ARTIFACTS, sign_in

# The journey's fixtures: the app served on a loopback port, Debian's chromium, CSP reports.
pytestmark = browser.pytestmark
server = browser.server
page = browser.page
csp_violations = browser.csp_violations


def shot(page, name: str, backend: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"worklists-{backend}-{name}.png"), full_page=True)


def test_leader_and_supervisor_worklists_in_the_browser(page, backend, app, clock, csp_violations) -> None:
    from engine.runtime import dossiers as svc
    from tests.conftest import Officers, at, open_items
    from tests.test_worklists import LATE, left_late, receive

    ctx = app.extensions["motcua"]
    officers = Officers(ctx)
    department, commune = left_late(ctx, officers)
    fresh = receive(ctx, officers, "1.001806", "sonv.motcua", "2026-12-08 09:00")
    claimed = receive(ctx, officers, "1.001806", "sonv.motcua", "2026-12-08 09:00")
    svc.claim(ctx, open_items(ctx, claimed.dossier_id)[0].id, officers["sonv.motcua"], at("2026-12-08 09:30"))
    clock.moment = at(LATE)

    sign_in(page, "sonv.lanhdao")
    page.locator("#nav-worklist").click()
    page.wait_for_selector("#leader")
    assert department in page.locator("#late-steps").inner_text()
    assert commune not in page.content()
    assert page.locator("#worklist-count").inner_text().isdigit()
    shot(page, "01-leader", backend)
    page.locator("#letters tr", has_text=department).get_by_role("link", name="Xem và ký").click()
    page.wait_for_selector("text=Ký phát hành", timeout=15000)
    assert department in page.content()

    sign_in(page, "sonv.giamsat")
    page.goto("/dieu-hanh")
    pool = page.locator("#pool-desk")
    assert pool.get_attribute("data-open") == "2"
    pool.get_by_role("button").click()
    items = page.locator("#pool-desk-items")
    items.wait_for(state="visible")
    assert fresh.code in items.inner_text() and department in items.inner_text()
    shot(page, "02-supervisor", backend)
    row = items.locator("tr", has_text=fresh.code)
    row.locator("select[name=to]").select_option(label="Nguyễn Thị Hồng")
    row.get_by_role("button", name="Chuyển").click()
    page.wait_for_load_state()
    page.goto("/dieu-hanh")
    desk = page.locator(f"#officer-{officers['sonv.motcua']}")
    assert desk.get_attribute("data-open") == "2"
    assert page.locator("#pool-desk").get_attribute("data-open") == "1"
    desk.get_by_role("button").click()
    page.locator(f"#officer-{officers['sonv.motcua']}-items").wait_for(state="visible")
    shot(page, "03-supervisor-after-handover", backend)
    assert csp_violations == []


def test_approver_finds_the_submitted_version_and_confirms_before_activation(
    page, backend, app, clock, csp_violations
) -> None:
    from engine.catalogue import versions as v
    from tests.conftest import Officers, at

    ctx = app.extensions["motcua"]
    owner = Officers(ctx)["sonv.quytrinh"]
    draft = v.new_draft_from_active(ctx, "1.001806", owner, at("2026-11-20 08:00"))
    v.submit(ctx, draft.version_id, owner, at("2026-11-20 10:00"))

    sign_in(page, "vp.pheduyet")
    assert page.locator("#worklist-count").inner_text() == "1"
    page.goto("/thong-bao")
    assert f"Quy trình 1.001806 phiên bản {draft.number} chờ phê duyệt" in page.content()
    page.locator("#nav-worklist").click()
    shot(page, "04-approver", backend)
    page.locator("#versions tr", has_text="1.001806").get_by_role("link", name="Xem và phê duyệt").click()
    page.fill("#decision_number", "125/QĐ-UBND")
    page.fill("#decision_date", "2026-11-20")
    page.get_by_role("button", name="Phê duyệt và áp dụng").click()
    page.wait_for_selector("#confirm-form")
    assert "đang áp dụng sẽ ngừng áp dụng" in page.locator("#confirm-summary").inner_text()
    shot(page, "05-approval-confirmation", backend)
    page.get_by_role("button", name="Xác nhận phê duyệt và áp dụng").click()
    expect(page.locator("body")).to_contain_text("Đã phê duyệt")
    assert page.locator("#version-status").inner_text() == "Đang áp dụng"
    assert page.locator("#worklist-count").count() == 0
    assert csp_violations == []
