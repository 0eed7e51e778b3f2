"""Digitisation in a real browser (Debian's chromium through Playwright): the desk attaches the scan
of a required document as a PDF, it is signed with the agency's test certificate, and the dossier
page shows the verified signature (who signed, when). Screenshot in test-artifacts/."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.test_browser import ARTIFACTS, page, pytestmark, server, sign_in  # noqa: F401 (fixtures)
from tests.test_digitisation import PASSWORD, _officers, _receive, pdf, pki  # noqa: F401 (fixtures)


@pytest.fixture
def app(make_ctx, clock, tmp_path, pki):  # noqa: F811 (the signing install instead of the default app)
    from web import create_app

    return create_app(
        ctx=make_ctx(
            attachments_dir=str(tmp_path / "attachments"),
            signing_pkcs12=pki["valid"],
            signing_password=PASSWORD,
        ),
        test_config={
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "MOTCUA_CLOCK": clock,
            "RATELIMIT_ENABLED": False,
        },
    )


def test_the_dossier_page_shows_a_valid_signature(app, page, backend, tmp_path) -> None:  # noqa: F811
    ctx = app.extensions["motcua"]
    receipt, _ = _receive(ctx, _officers(ctx)["sonv.motcua"], when="2026-11-23 07:45")
    scan = tmp_path / "van-ban-de-nghi.pdf"
    scan.write_bytes(pdf("Van ban de nghi"))
    sign_in(page, "sonv.motcua")
    page.goto(f"/ho-so/{receipt.code}")
    first = page.locator("#digitisation li[data-document='1']")
    expect(first).to_contain_text("Chưa số hóa")
    first.locator("input[type=file]").set_input_files(str(scan))
    first.get_by_role("button", name="Số hóa").click()
    expect(page.locator("body")).to_contain_text("Đã số hóa và ký số")
    first = page.locator("#digitisation li[data-document='1']")
    expect(first.locator(".signature-valid")).to_have_text("Chữ ký số hợp lệ")
    expect(first).to_contain_text("Ký bởi Nguyễn Văn Ký (SỞ NỘI VỤ), lúc")
    expect(page.locator("#digitised-count")).to_contain_text("1/4 thành phần đã số hóa")
    page.locator("#digitisation").scroll_into_view_if_needed()
    page.locator("#digitisation").screenshot(path=str(ARTIFACTS / f"digitisation-{backend}-signed.png"))
