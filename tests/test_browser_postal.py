"""A dossier received by post whose result goes back by post, in a real browser: the desk receives it
with its item number and the delivery address, hands the result to the post, records the delivery,
and the citizen's lookup shows both items. Screenshots go to test-artifacts/."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from models import Dossier
from tests.conftest import Officers
from tests.test_browser import ARTIFACTS, page, pytestmark, server, sign_in  # noqa: F401 (fixtures)
from tests.test_runtime import run_to_return
from tests.test_web import ctx_of

INBOUND = "EB123456785VN"
OUTBOUND = "RR987654326VN"


def shot(tab, name: str) -> None:
    tab.screenshot(path=str(ARTIFACTS / f"postal-{name}.png"), full_page=True)


def test_the_desk_hands_a_result_to_the_post_and_the_lookup_shows_it(app, clock, backend, request) -> None:
    if backend != "sqlite":
        pytest.skip("the screens are the same on both databases; the engine tests cover PostgreSQL")
    tab = request.getfixturevalue("page")  # the browser only for the run that uses it
    sign_in(tab, "sonv.motcua")
    tab.goto("/mot-cua/tiep-nhan")
    tab.select_option("#procedure_code", "1.001806")
    tab.wait_for_selector("#checklist input[type=checkbox]")
    tab.locator("#checklist input[type=checkbox]").first.check()
    tab.select_option("#channel", "postal")
    tab.fill("#applicant_name", "Hoàng Thị Mai")
    tab.fill("#applicant_phone", "0912345678")
    # Received by post without the item number: refused, named beside its box.
    tab.click("button[value=receive]")
    expect(tab.locator("#postal_item_number + .form-text + .invalid-feedback")).to_contain_text(
        "Nhập số hiệu bưu gửi"
    )
    shot(tab, "receive-refused")
    tab.fill("#postal_item_number", "eb 123456785 vn")
    tab.check("#result_by_post")
    tab.fill("#delivery_address", "Số 5 Hoàng Đình Giong, phường Thục Phán, Cao Bằng")
    tab.click("button[value=receive]")
    tab.wait_for_url("**/in/01")
    ctx = ctx_of(app)
    with ctx.uow() as uow:
        dossier = uow.session.scalars(select(Dossier)).one()
        code, dossier_id = dossier.code, dossier.id

    class Receipt:  # what run_to_return reads
        pass

    receipt = Receipt()
    receipt.dossier_id = dossier_id  # type: ignore[attr-defined]
    clock.moment = run_to_return(ctx, Officers(ctx), receipt, clock.moment) + timedelta(hours=1)

    tab.goto(f"/ho-so/{code}")
    tab.click("#postal-handover")
    tab.fill("#postal_item_number", "RR987654321VN")  # a wrong check digit
    tab.click("#postal-handover-form button[type=submit]")
    expect(tab.locator("#postal-error")).to_contain_text("chữ số kiểm tra")
    tab.fill("#postal_item_number", OUTBOUND)
    tab.click("#postal-handover-form button[type=submit]")
    expect(tab.locator(".alert-success")).to_contain_text("đã trả kết quả")
    outbound = tab.locator("#postal .postal-item[data-direction=outbound]")
    expect(outbound).to_contain_text("Đã giao bưu chính")
    expect(outbound).to_contain_text(OUTBOUND)
    clock.moment += timedelta(days=1)
    outbound.get_by_role("button", name="Bưu chính đã phát").click()
    expect(tab.locator("#postal .postal-item[data-direction=outbound]")).to_contain_text("Đã phát thành công")
    shot(tab, "dossier")

    tab.goto("/tra-cuu")
    tab.fill("#code", code)
    tab.fill("#last4", "5678")
    tab.click("#lookup-form button[type=submit]")
    result = tab.locator("#lookup-result")
    expect(result).to_contain_text("Đã trả kết quả qua bưu chính.")
    expect(result.locator(".postal-item[data-direction=inbound]")).to_contain_text(INBOUND)
    expect(result.locator(".postal-item[data-direction=outbound]")).to_contain_text("Đã phát thành công")
    expect(result).not_to_contain_text("Hoàng Đình Giong")  # the address stays off the lookup
    shot(tab, "lookup")
