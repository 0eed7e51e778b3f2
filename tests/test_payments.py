"""Fees and payments: the fees of a procedure in the catalogue and on the receipt, payment at the desk,
the waiver, the hand-over refused while the fee is unpaid, and online payment against a local fake
gateway: forged, stale, replayed, repeated, late and mismatched callbacks, and the reconciliation of a
payment whose callback never came."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from engine.catalogue.catalogue_admin import input_of, update_procedure
from engine.catalogue.catalogue_sheet import fees_from_text
from engine.cli import main
from engine.deadlines.scheduler import Scheduler
from engine.errors import Conflict, Forbidden, InvalidFields, InvalidInput
from engine.payments.desk import record_desk_payment, waive_fee
from engine.payments.online import handle_callback, reconcile, start_online_payment
from engine.runtime import dossiers as svc
from engine.statistics.indicators import qd766_scores
from engine.statistics.periods import parse_period
from models import Dossier, DossierEvent, Payment, PaymentNonce, Procedure
from tests.conftest import Officers, at
from tests.fake_payment_gateway import FakeGateway
from tests.test_finish import received, work_until

FEES = [
    {"name": "Phí thẩm định hồ sơ", "amount": 100000, "exempt": "Cơ sở do người khuyết tật làm chủ"},
    {"name": "Lệ phí cấp giấy chứng nhận", "amount": 50000, "exempt": ""},
]
DUE = 150000
CODE, OWNER = "1.001806", "000.00.12.H40"
RETURN_URL = "http://127.0.0.1/tra-cuu/thanh-toan/ket-qua?ref=REF"
CALLBACK_URL = "http://127.0.0.1/thanh-toan/callback"


@pytest.fixture
def gateway():
    fake = FakeGateway()
    yield fake
    fake.close()


@pytest.fixture
def pctx(make_ctx, gateway):
    """A context whose settings name the fake gateway, 1.001806 carrying two fees."""
    ctx = make_ctx(
        payment_gateway_url=gateway.url,
        payment_merchant_id=gateway.merchant_id,
        payment_secret=gateway.secret,
        payment_pending_minutes=15,
        payment_timeout_seconds=3.0,
    )
    with ctx.uow() as uow:
        uow.session.scalars(select(Procedure).where(Procedure.code == "1.001806")).one().fees = FEES
        uow.commit()
    return ctx


def paid_online(ctx, dossier_id: int, now) -> str:
    """A payment made online for the dossier (as the gateway's callback leaves it); its reference."""
    with ctx.uow() as uow:
        payment = Payment(
            dossier_id=dossier_id,
            amount=DUE,
            method="online",
            status="paid",
            reference="TT0123456789ABCDEF",
            receipt_number="GW000042",
            gateway_reference="GW000042",
            created_at=now,
            paid_at=now,
        )
        uow.session.add(payment)
        uow.commit()
        return payment.reference


def events(ctx, code: str, kind: str) -> list[DossierEvent]:
    with ctx.uow() as uow:
        dossier_id = uow.session.scalar(select(Dossier.id).where(Dossier.code == code))
        return list(
            uow.session.scalars(
                select(DossierEvent).where(DossierEvent.dossier_id == dossier_id, DossierEvent.kind == kind)
            )
        )


def status_of(ctx, code: str) -> str:
    with ctx.uow() as uow:
        return uow.session.scalars(select(Dossier.status).where(Dossier.code == code)).one()


def hand_over(ctx, code: str, when: str = "2026-11-27 15:00") -> None:
    svc.return_dossier_result(
        ctx, code, Officers(ctx)["sonv.motcua"], collected_by="Nguyễn Thị Lan", now=at(when)
    )


# --- at the desk --------------------------------------------------------------------------------


def test_the_result_is_not_handed_over_until_the_fee_is_paid_at_the_desk(pctx) -> None:
    officers = Officers(pctx)
    receipt = received(pctx)
    work_until(pctx, receipt.dossier_id, "Task_Return")
    with pytest.raises(Conflict, match=r"chưa nộp phí, lệ phí: còn phải nộp 150\.000 đồng") as refused:
        hand_over(pctx, receipt.code)
    assert refused.value.http_status == 409
    assert status_of(pctx, receipt.code) == "result_ready" and not events(pctx, receipt.code, "returned")
    pay = {"method": "cash", "receipt_number": "0001234", "now": at("2026-11-27 14:00")}
    with pytest.raises(InvalidInput, match=r"100\.000 đồng không khớp với số còn phải nộp 150\.000 đồng"):
        record_desk_payment(pctx, receipt.code, officers["sonv.motcua"], amount=100000, **pay)
    with pytest.raises(InvalidFields) as bad:
        record_desk_payment(
            pctx,
            receipt.code,
            officers["sonv.motcua"],
            amount="abc",
            method="card",
            receipt_number="",
            now=pay["now"],
        )
    assert set(bad.value.fields) == {"amount", "method", "receipt_number"}
    with pytest.raises(Forbidden):
        record_desk_payment(pctx, receipt.code, officers["sonv.chuyenvien1"], amount=DUE, **pay)
    with pctx.uow() as uow:
        assert uow.session.scalar(select(func.count(Payment.id))) == 0
    record_desk_payment(pctx, receipt.code, officers["sonv.motcua"], amount="150.000", **pay)
    (event,) = events(pctx, receipt.code, "payment_recorded")
    assert event.payload == {"amount": DUE, "method": "cash", "receipt_number": "0001234"}
    with pytest.raises(Conflict, match="không còn phí"):
        record_desk_payment(pctx, receipt.code, officers["sonv.motcua"], amount=DUE, **pay)
    hand_over(pctx, receipt.code)
    assert status_of(pctx, receipt.code) == "returned"
    # The agency's receipt book: a number already written for a payment is refused for another dossier.
    other = received(pctx)
    with pytest.raises(
        InvalidInput, match=f"Số biên lai 0001234 đã được ghi cho hồ sơ {receipt.code}"
    ) as reused:
        record_desk_payment(pctx, other.code, officers["sonv.motcua"], amount=DUE, **pay)
    assert reused.value.field == "receipt_number" and not events(pctx, other.code, "payment_recorded")
    record_desk_payment(
        pctx, other.code, officers["sonv.motcua"], amount=DUE, **(pay | {"receipt_number": "0001235"})
    )
    assert len(events(pctx, other.code, "payment_recorded")) == 1


def test_a_head_or_leader_waives_a_fee_with_a_reason_and_fees_are_checked_catalogue_data(pctx) -> None:
    officers = Officers(pctx)
    receipt = received(pctx)
    work_until(pctx, receipt.dossier_id, "Task_Return")
    when = at("2026-11-27 14:00")
    with pytest.raises(Forbidden, match="Chỉ lãnh đạo"):
        waive_fee(pctx, receipt.code, officers["sonv.motcua"], reason="Người khuyết tật", now=when)
    with pytest.raises(InvalidInput, match="lý do"):
        waive_fee(pctx, receipt.code, officers["sonv.lanhdao"], reason="  ", now=when)
    assert not events(pctx, receipt.code, "fee_waived")
    waive_fee(
        pctx, receipt.code, officers["sonv.lanhdao"], reason="Cơ sở do người khuyết tật làm chủ", now=when
    )
    (event,) = events(pctx, receipt.code, "fee_waived")
    assert (event.officer_id, event.payload["reason"], event.payload["amount"]) == (
        officers["sonv.lanhdao"],
        "Cơ sở do người khuyết tật làm chủ",
        DUE,
    )
    hand_over(pctx, receipt.code)
    assert status_of(pctx, receipt.code) == "returned"
    # The fees are catalogue data, checked line by line (and read from a spreadsheet's text).
    editor, when = Officers(pctx)["sonv.quytrinh"], at("2026-11-23 08:00")
    with pctx.uow() as uow:
        data = input_of(uow.session.scalars(select(Procedure).where(Procedure.code == CODE)).one(), OWNER)
    assert [dict(line) for line in data.fees] == FEES
    bad = ({"name": "", "amount": "50.000 đồng"}, {"name": "Lệ phí", "amount": -1})
    with pytest.raises(InvalidFields) as refused:
        update_procedure(pctx, editor, CODE, replace(data, fees=bad), when)
    assert (
        "dòng phí 1: thiếu tên" in refused.value.fields["fees"]
        and "dòng phí 2" in refused.value.fields["fees"]
    )
    typed = ({"name": "Lệ phí cấp giấy chứng nhận", "amount": "80.000 đồng", "exempt": "Hộ nghèo"},)
    assert update_procedure(pctx, editor, CODE, replace(data, fees=typed), when).changed == ("fees",)
    with pctx.uow() as uow:
        stored = uow.session.scalars(select(Procedure.fees).where(Procedure.code == CODE)).one()
    assert stored == [{"name": "Lệ phí cấp giấy chứng nhận", "amount": 80000, "exempt": "Hộ nghèo"}]
    assert fees_from_text("Lệ phí cấp giấy phép: 50.000 đồng; Phí thẩm định: 1.000.000 đồng") == [
        {"name": "Lệ phí cấp giấy phép", "amount": 50000, "exempt": ""},
        {"name": "Phí thẩm định", "amount": 1000000, "exempt": ""},
    ]
    assert fees_from_text("Miễn lệ phí") == [] and fees_from_text("50.000 đồng/bản, 20.000 đ/bản sao") == []


# --- online -------------------------------------------------------------------------------------


def start(pctx, gateway, code: str, when: str = "2026-11-23 09:00"):
    return start_online_payment(
        pctx, code, "5678", now=at(when), return_url=RETURN_URL, callback_url=CALLBACK_URL
    )


def test_only_a_signed_fresh_unseen_matching_callback_marks_a_payment_paid(pctx, gateway, caplog) -> None:
    receipt = received(pctx)
    checkout = start(pctx, gateway, receipt.code)
    assert checkout.amount == DUE and checkout.checkout_url.startswith(gateway.url)
    assert start(pctx, gateway, receipt.code).reference == checkout.reference  # the same checkout again
    ref, when = checkout.reference, at("2026-11-23 09:05")
    stamp = int(when.timestamp())

    def refused(error: type, message: str, body: bytes, headers: dict[str, str]) -> None:
        with pytest.raises(error, match=message):
            handle_callback(pctx, body, headers, when)

    refused(Forbidden, "Chữ ký không đúng", *gateway.callback(ref, secret="khoa-gia-mao", timestamp=stamp))
    body, headers = gateway.callback(ref, timestamp=stamp)
    refused(Forbidden, "Chữ ký không đúng", body.replace(b"paid", b"paid "), headers)  # body altered
    stale = int((when - timedelta(minutes=10)).timestamp())
    refused(Forbidden, "quá cũ", *gateway.callback(ref, timestamp=stale))
    refused(Forbidden, "mã đơn vị", *gateway.callback(ref, merchant_id="KHAC", timestamp=stamp))
    refused(InvalidInput, r"1\.000 đồng không khớp", *gateway.callback(ref, amount=1000, timestamp=stamp))
    with pctx.uow() as uow:
        assert uow.session.scalars(select(Payment.status)).all() == ["pending"]
        assert uow.session.scalar(select(func.count()).select_from(PaymentNonce)) == 0
    assert "payment callback" in caplog.text and "refused" in caplog.text
    body, headers = gateway.callback(ref, timestamp=stamp)
    assert handle_callback(pctx, body, headers, when) == "paid"
    refused(Conflict, "nonce", body, headers)  # the same callback replayed
    again = gateway.callback(ref, timestamp=stamp)  # the gateway repeats it, freshly signed
    assert handle_callback(pctx, *again, when) == "unchanged"
    (event,) = events(pctx, receipt.code, "payment_recorded")
    assert event.payload["method"] == "online" and event.payload["receipt_number"] == "GW000001"
    with pctx.uow() as uow:
        payment = uow.session.scalars(select(Payment)).one()
        assert (payment.status, payment.paid_at, payment.receipt_number) == ("paid", when, "GW000001")
    with pytest.raises(Conflict, match="không còn phí"):
        start(pctx, gateway, receipt.code)


def test_the_reconciliation_settles_a_payment_whose_callback_never_came(pctx, gateway, monkeypatch) -> None:
    from bench.payments import add_payments

    receipt = received(pctx)
    checkout = start(pctx, gateway, receipt.code, "2026-11-23 09:00")
    gateway.send_callbacks = False  # the citizen paid and closed the tab
    gateway.pay(checkout.reference)
    assert reconcile(pctx, at("2026-11-23 09:10")).lines == []  # not pending long enough yet
    # The scheduler's leader reconciles at every run when the gateway is set.
    lines: list[str] = []
    Scheduler(pctx, holder="t", echo=lines.append, clock=lambda: at("2026-11-23 09:20")).run_once()
    assert "payments t: asked 1, paid 1" in lines
    assert len(events(pctx, receipt.code, "payment_recorded")) == 1
    # And the command line, for another payment whose callback never came.
    checkout = start(pctx, gateway, received(pctx).code, "2026-11-23 09:25")
    gateway.pay(checkout.reference)
    for name, value in {
        "MOTCUA_DATABASE_URL": pctx.settings.database_url,
        "MOTCUA_PAYMENT_GATEWAY_URL": gateway.url,
        "MOTCUA_PAYMENT_MERCHANT_ID": gateway.merchant_id,
        "MOTCUA_PAYMENT_SECRET": gateway.secret,
    }.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(main, ["payment", "reconcile", "--now", "2026-11-23T09:45:00+07:00"])
    assert result.exit_code == 0, result.output
    assert f"{checkout.reference} paid" in result.output and "paid 1" in result.output
    assert gateway.secret not in result.output
    late = gateway.callback(checkout.reference, timestamp=int(at("2026-11-23 09:50").timestamp()))
    assert handle_callback(pctx, *late, at("2026-11-23 09:50")) == "unchanged"  # the late callback
    assert reconcile(pctx, at("2026-11-23 10:00")).lines == []
    # QĐ 766: the online-payment half counts the dossiers whose fee was paid online.
    with pctx.uow() as uow:
        province = qd766_scores(uow.session, parse_period("2026-11"), now=at("2026-11-30 17:00"))[-1]
    online = next(g for g in province.groups if g.key == "online")
    assert online.formula.endswith("= 11 × 0 / 2 + 11 × 2 / 2 = 11,00")
    assert online.points_with_data == 22 and online.score == 11
    # The generator pays the fees of the dossiers not paid yet, once.
    codes = [received(pctx, phone=f"091234567{n}").code for n in range(1, 3)]
    assert add_payments(pctx, random.Random(7), at("2026-11-30 17:00")) == 2
    assert add_payments(pctx, random.Random(7), at("2026-11-30 17:00")) == 0  # once per dossier
    with pctx.uow() as uow:
        rows = uow.session.execute(select(Payment.amount, Payment.method, Payment.status)).all()
    assert {amount for amount, _, _ in rows} == {DUE} and {status for _, _, status in rows} == {"paid"}
    assert len(rows) == 4  # the two online payments above and the two generated
    assert {method for _, method, _ in rows} <= {"cash", "transfer", "online"}
    assert all(len(events(pctx, code, "payment_recorded")) == 1 for code in codes)
