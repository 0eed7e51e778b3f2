"""Fees on the web: the receipt prints the amount due, the desk records a payment on the dossier's fee
page, the gateway's callback endpoint refuses a forged callback; and in the browser, a citizen looks a
dossier up on /tra-cuu, pays online against the local fake gateway and sees the receipt.

Screenshots go to test-artifacts/ (payment-*.png)."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from engine.runtime import dossiers as svc
from models import DossierEvent, Payment, Procedure
from tests.conftest import Officers, at
from tests.fake_payment_gateway import FakeGateway
from tests.test_browser import ARTIFACTS, page, pytestmark, server  # noqa: F401 (fixtures)
from tests.test_payments import FEES

# The browser test needs chromium (pytestmark above); the others run anyway.
browser_only = pytestmark
pytestmark = []


@pytest.fixture
def gateway():
    fake = FakeGateway()
    yield fake
    fake.close()


@pytest.fixture
def app(make_ctx, clock, tmp_path, gateway):
    """The web app on the test's database, paying through the fake gateway; 1.001806 has two fees."""
    from web import create_app

    ctx = make_ctx(
        attachments_dir=str(tmp_path / "attachments"),
        payment_gateway_url=gateway.url,
        payment_merchant_id=gateway.merchant_id,
        payment_secret=gateway.secret,
    )
    with ctx.uow() as uow:
        uow.session.scalars(select(Procedure).where(Procedure.code == "1.001806")).one().fees = FEES
        uow.commit()
    return create_app(
        ctx=ctx,
        test_config={
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "MOTCUA_CLOCK": clock,
            "RATELIMIT_ENABLED": False,
        },
    )


def receive(app, when: str = "2026-11-23 08:00") -> str:
    ctx = app.extensions["motcua"]
    return svc.receive_dossier(
        ctx,
        procedure_code="1.001806",
        applicant=svc.Applicant(name="Nguyễn Thị Lan", phone="0912345678"),
        channel="in_person",
        officer_id=Officers(ctx)["sonv.motcua"],
        now=at(when),
    ).code


def test_the_receipt_prints_the_fee_and_the_desk_records_its_payment(app, web, gateway) -> None:
    code = receive(app)
    web.login("sonv.motcua")
    receipt = web.get(f"/ho-so/{code}/in/01").get_data(as_text=True)
    assert "Phí, lệ phí phải nộp: <strong>150.000 đồng</strong>" in receipt
    page_html = web.get(f"/ho-so/{code}").get_data(as_text=True)
    assert f'href="/ho-so/{code}/phi"' in page_html
    form = {"amount": "150000", "method": "transfer", "receipt_number": ""}
    refused = web.post(f"/ho-so/{code}/phi/thu", form, page=f"/ho-so/{code}/phi")
    assert refused.status_code == 422 and "Ghi số biên lai" in refused.get_data(as_text=True)
    done = web.post(
        f"/ho-so/{code}/phi/thu", {**form, "receipt_number": "BL-0042"}, page=f"/ho-so/{code}/phi"
    )
    assert done.status_code == 302
    fees = web.get(f"/ho-so/{code}/phi").get_data(as_text=True)
    assert "Đã nộp đủ" in fees and "BL-0042" in fees and 'id="desk-payment-form"' not in fees
    # The gateway's endpoint takes no CSRF token but a signature: a forged callback is refused.
    forged = web.http.post(
        "/thanh-toan/callback",
        data=b'{"merchant_id": "MOTCUA01", "reference": "TTX", "gateway_reference": "G", "amount": 1, "status": "paid"}',
        headers={"X-Timestamp": str(int(time.time())), "X-Nonce": "n1", "X-Signature": "00" * 32},
    )
    assert forged.status_code == 403 and forged.get_json()["error"].endswith("Chữ ký không đúng")


def test_the_procedure_form_edits_fee_rows_and_adds_one(app, web) -> None:
    web.login("sonv.quytrinh")
    url = "/quy-trinh/danh-muc/1.001806/sua"
    assert 'value="Phí thẩm định hồ sơ"' in web.get(url).get_data(as_text=True)
    form = {
        "name": "Công nhận cơ sở sản xuất, kinh doanh sử dụng từ 30% tổng số lao động trở lên là người khuyết tật",
        "field": "Việc làm",
        "level": "province",
        "online_level": "full",
        "legal_time_value": "10",
        "legal_time_unit": "days",
        "owner_agency": "000.00.12.H40",
        "receiving_agencies": "000.00.12.H40",
        "fee": "Phí thẩm định: 100.000 đồng",
        "fee_name": ["Phí thẩm định hồ sơ", ""],
        "fee_amount": ["100.000", ""],
        "fee_exempt": ["", ""],
    }
    more = web.post(url, {**form, "action": "add_fee_row"}, page=url).get_data(as_text=True)
    assert more.count('name="fee_name"') == 3  # the typed row and two blank ones; nothing stored
    bad = web.post(url, {**form, "fee_amount": ["một trăm nghìn", ""]}, page=url)
    assert bad.status_code == 422 and "số tiền phải là số nguyên không âm" in bad.get_data(as_text=True)
    assert web.post(url, form, page=url).status_code == 302
    with app.extensions["motcua"].uow() as uow:
        stored = uow.session.scalars(select(Procedure.fees).where(Procedure.code == "1.001806")).one()
    assert stored == [{"name": "Phí thẩm định hồ sơ", "amount": 100000, "exempt": ""}]


@browser_only
def test_a_citizen_looks_a_dossier_up_pays_online_and_sees_the_receipt(
    app,
    page,  # noqa: F811
    gateway,
    backend,
) -> None:
    code = receive(app)
    # The gateway calls back late, and twice: the return page asks it first; the callbacks change nothing.
    gateway.callback_delay, gateway.repeat_callbacks = 0.5, 2
    page.goto("/tra-cuu")
    page.fill("#code", code)
    page.fill("#last4", "5678")
    page.click("#lookup-form button[type=submit]")
    page.wait_for_selector("#fees")
    assert "Còn phải nộp 150.000 đồng" in page.inner_text("#fee-state")
    page.screenshot(path=str(ARTIFACTS / f"payment-{backend}-1-lookup.png"), full_page=True)
    with page.expect_navigation():
        page.click("#pay-online-form button[type=submit]")
    assert page.locator("#checkout-qr svg").count() == 1
    page.screenshot(path=str(ARTIFACTS / f"payment-{backend}-2-checkout.png"), full_page=True)
    with page.expect_navigation():
        page.click("#checkout-link")
    assert "150000 đồng" in page.inner_text("#amount")
    with page.expect_navigation(url="**/tra-cuu/thanh-toan/ket-qua?ref=*"):
        page.click("#pay")
    page.wait_for_selector("#payment-receipt")
    assert page.inner_text("#payment-status") == "Đã thanh toán"
    assert page.inner_text("#receipt-number") == "GW000001"
    page.screenshot(path=str(ARTIFACTS / f"payment-{backend}-3-receipt.png"), full_page=True)
    deadline = time.monotonic() + 5
    while len(gateway.callbacks_sent) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [status for _, _, status in gateway.callbacks_sent] == [200, 200]  # accepted, idempotent
    with app.extensions["motcua"].uow() as uow:
        assert uow.session.scalars(select(Payment.status)).all() == ["paid"]
        assert (
            uow.session.scalar(
                select(func.count()).select_from(DossierEvent).where(DossierEvent.kind == "payment_recorded")
            )
            == 1
        )
    page.goto(f"/tra-cuu?ma={code}")
    page.fill("#last4", "5678")
    page.click("#lookup-form button[type=submit]")
    page.wait_for_selector("#fees")
    assert page.inner_text("#fee-state") == "Đã nộp đủ"
    assert "biên lai số GW000001" in page.inner_text("#fees")
