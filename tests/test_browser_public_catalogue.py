"""The public catalogue in Debian's chromium at phone width (390 px) and on a desktop: the search, a
procedure with its steps and its diagram in the read-only viewer, no horizontal scrolling on the phone."""

from __future__ import annotations

from tests.test_browser import ARTIFACTS, CHROMIUM, FLAGS, page, pytestmark, server  # noqa: F401


def test_catalogue_and_procedure_page_at_phone_and_desktop_width(page, backend) -> None:  # noqa: F811
    for width, name in ((390, "phone"), (1366, "desktop")):
        page.set_viewport_size({"width": width, "height": 844 if width == 390 else 900})
        page.goto("/thu-tuc")
        page.fill("#q", "DANG KY khai sinh")
        page.get_by_role("button", name="Tìm thủ tục").click()
        page.wait_for_url("**/thu-tuc?*")
        assert page.locator("#procedures li").count() == 1
        page.screenshot(path=str(ARTIFACTS / f"public-catalogue-{backend}-{name}.png"), full_page=True)
        page.get_by_role("link", name="Thủ tục đăng ký khai sinh").click()
        page.wait_for_selector("#canvas[data-rendered=true]")
        assert page.locator("#steps tbody tr").count() >= 3
        assert page.locator("#canvas .djs-element").count() > 3
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{name}: the page scrolls sideways by {overflow}px"
        page.screenshot(path=str(ARTIFACTS / f"public-procedure-{backend}-{name}.png"), full_page=True)
