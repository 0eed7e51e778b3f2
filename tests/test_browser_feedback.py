"""The feedback form in Debian's chromium: fill it in, attach a PNG, send, see the tracking code."""

from __future__ import annotations

import pytest

from tests.test_browser import ARTIFACTS, CHROMIUM, FLAGS, csp_violations, page, pytestmark, server  # noqa: F401

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture(autouse=True)
def _sqlite_only(backend) -> None:
    """Before the browser starts: the form is the same on both databases (the engine and web tests
    cover PostgreSQL)."""
    if backend == "postgresql":
        pytest.skip("one browser run is enough")


def test_citizen_sends_a_feedback_and_sees_its_code(page, backend, csp_violations) -> None:  # noqa: F811
    page.goto("/")
    page.get_by_role("link", name="Phản ánh, kiến nghị").click()
    page.wait_for_url("**/phan-anh")
    page.fill("#name", "Trần Thị Bình")
    page.fill("#phone", "0912345678")
    page.select_option("#procedure_code", "1.001806")
    page.fill("#content", "Hồ sơ của tôi quá hạn mà chưa nhận được văn bản xin lỗi.")
    page.set_input_files("#files", files=[{"name": "anh.png", "mimeType": "image/png", "buffer": PNG}])
    page.check("#consent_publish")
    page.screenshot(path=str(ARTIFACTS / f"feedback-{backend}-form.png"), full_page=True)
    page.get_by_role("button", name="Gửi phản ánh").click()
    page.wait_for_url("**/phan-anh/*")
    code = page.locator("#feedback-code strong").inner_text()
    assert code.startswith("000.00.01.H40-")
    assert "Đã tiếp nhận" in page.locator("#feedback-state").inner_text()
    page.screenshot(path=str(ARTIFACTS / f"feedback-{backend}-code.png"), full_page=True)
    page.fill("#contact", "0912 345 678")
    page.get_by_role("button", name="Xem chi tiết").click()
    assert "quá hạn mà chưa nhận" in page.locator("#feedback-content").inner_text()
    page.screenshot(path=str(ARTIFACTS / f"feedback-{backend}-sent.png"), full_page=True)
    assert csp_violations == []
