"""Dossiers received by post and results returned by post (bưu chính công ích): the item numbers, the
receipt, the hand-over to the post, the carrier's reports through the API, and where it shows (the
register, Biểu 06, the national portal's HinhThuc, the lookup)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from engine.accounts import issue_token
from engine.errors import Conflict, Forbidden, InvalidFields, InvalidInput, NotFound
from engine.integrations.dvcqg.mappings import set_mapping
from engine.integrations.dvcqg.messages import Mappings, dossier_payload
from engine.runtime import dossiers as svc
from engine.runtime import postal
from engine.runtime.lookup import public_status
from engine.statistics.periods import parse_period
from engine.statistics.register import agency_register, line_cells
from engine.statistics.reports import identity_problems, statistics_report
from models import Dossier, DossierEvent, Officer, PostalItem
from tests.conftest import LOADED_AT, Officers, at
from tests.test_runtime import APPLICANT, run_to_return
from tests.test_web import ctx_of

INBOUND = "EB123456785VN"  # S10, check digit 5
OUTBOUND = "RR987654326VN"
ADDRESS = "Số 5 đường Hoàng Đình Giong, phường Thục Phán, Cao Bằng"


def test_item_numbers_are_s10_with_their_check_digit_or_a_carriers_plain_number():
    assert postal.s10_check_digit("12345678") == 5 and postal.s10_check_digit("98765432") == 6
    assert postal.check_item_number(" eb 123-456-785 vn ") == INBOUND
    assert postal.item_number_problem("EB123456789VN") is not None  # wrong check digit
    assert "chữ số kiểm tra" in (postal.item_number_problem("EB123456789VN") or "")
    assert postal.item_number_problem("838120014590") is None  # a carrier's own waybill number
    for bad in ("", "EB12345VN", "ABCDEFGH", "12345", "X" * 30 + "1", "EB123456785V<"):
        assert postal.item_number_problem(bad) is not None, bad


def _receive(ctx, officers: Officers, **intake) -> svc.Receipt:
    return svc.receive_dossier(
        ctx,
        procedure_code="1.001806",
        applicant=APPLICANT,
        channel=intake.pop("channel", "postal"),
        officer_id=officers["sonv.motcua"],
        now=at("2026-11-23 08:00"),
        postal=postal.PostalIntake(**intake),
    )


def _items(ctx, dossier_id: int) -> dict[str, PostalItem]:
    with ctx.uow() as uow:
        return {i.direction: i for i in postal.items_of(uow.session, dossier_id)}


def _count(ctx, model) -> int:
    with ctx.uow() as uow:
        return uow.session.scalar(select(func.count()).select_from(model))


def test_a_dossier_by_post_needs_its_item_number_and_a_result_by_post_its_address(ctx, officers):
    before = _count(ctx, Dossier)
    with pytest.raises(InvalidFields) as refused:
        _receive(ctx, officers, result_by_post=True)
    assert set(refused.value.fields) == {"postal_item_number", "delivery_address"}
    with pytest.raises(InvalidFields, match="chữ số kiểm tra"):
        _receive(ctx, officers, item_number="EB123456789VN")
    assert _count(ctx, Dossier) == before and _count(ctx, PostalItem) == 0

    receipt = _receive(
        ctx, officers, item_number=INBOUND.lower(), result_by_post=True, delivery_address=ADDRESS
    )
    items = _items(ctx, receipt.dossier_id)
    assert (items["inbound"].item_number, items["inbound"].status, items["inbound"].carrier) == (
        INBOUND,
        "received",
        "Bưu điện Việt Nam",
    )
    assert (items["outbound"].status, items["outbound"].address, items["outbound"].item_number) == (
        "prepared",
        ADDRESS,
        None,
    )
    with ctx.uow() as uow:
        event = uow.session.scalars(select(DossierEvent).where(DossierEvent.kind == "received")).one()
    assert event.payload["postal_item"] == INBOUND and event.payload["result_by_post"] is True
    # One item number is one envelope: a second dossier under it is refused.
    with pytest.raises(Conflict, match=receipt.code):
        _receive(ctx, officers, item_number=INBOUND)


def test_the_result_handed_to_the_post_is_returned_then_delivered_once(ctx, officers):
    receipt = _receive(ctx, officers, item_number=INBOUND)
    desk = officers["sonv.motcua"]
    with pytest.raises(Conflict, match="chưa đăng ký"):
        postal.hand_to_post(ctx, receipt.code, desk, item_number=OUTBOUND, now=at("2026-11-23 09:00"))
    postal.request_postal_return(ctx, receipt.code, desk, address=ADDRESS, now=at("2026-11-23 09:00"))
    with pytest.raises(Forbidden):
        postal.request_postal_return(
            ctx, receipt.code, officers["xa.motcua"], address=ADDRESS, now=at("2026-11-23 09:00")
        )
    with pytest.raises(Conflict, match="chưa có kết quả"):
        postal.hand_to_post(ctx, receipt.code, desk, item_number=OUTBOUND, now=at("2026-11-23 09:30"))
    now = run_to_return(ctx, officers, receipt, at("2026-11-23 09:30"))
    with pytest.raises(InvalidInput, match="Số hiệu bưu gửi"):
        postal.hand_to_post(ctx, receipt.code, desk, item_number="RR987654321VN", now=now)
    with ctx.uow() as uow:
        assert uow.session.get(Dossier, receipt.dossier_id).status == "result_ready"

    handed = now + timedelta(hours=1)
    done = postal.hand_to_post(ctx, receipt.code, desk, item_number=OUTBOUND, now=handed)
    assert done.status == "returned"
    with ctx.uow() as uow:
        d = uow.session.get(Dossier, receipt.dossier_id)
        assert (d.returned_at, d.returned_to) == (
            handed,
            f"Bưu điện Việt Nam, số hiệu bưu gửi {OUTBOUND}",
        )
        returned = uow.session.scalars(select(DossierEvent).where(DossierEvent.kind == "returned")).one()
        assert returned.payload["postal_item"] == OUTBOUND
    assert _items(ctx, receipt.dossier_id)["outbound"].status == "handed_over"

    # The desk reports the delivery (the dossier page's button); the same report again changes nothing.
    delivered = handed + timedelta(days=1)
    first = postal.record_delivery(ctx, desk, OUTBOUND, status="delivered", now=delivered)
    events = _count(ctx, DossierEvent)
    again = postal.record_delivery(
        ctx, desk, OUTBOUND, status="delivered", now=delivered + timedelta(hours=2)
    )
    assert (first.changed, again.changed, again.closed_at) == (True, False, delivered)
    assert _count(ctx, DossierEvent) == events
    with pytest.raises(Conflict, match="Đã phát thành công"):
        postal.record_delivery(ctx, desk, OUTBOUND, status="returned_to_sender", now=delivered)
    with pytest.raises(NotFound):
        postal.record_delivery(ctx, desk, "RR000000005VN", status="delivered", now=delivered)
    assert _items(ctx, receipt.dossier_id)["outbound"].status == "delivered"

    # Where it shows: the register (form 07), Biểu 06, the portal's HinhThuc, the citizen's lookup.
    month = parse_period("2026-11")
    register = agency_register(
        ctx, agency_code="000.00.12.H40", period=month, officer_id=None, now=at("2026-12-10 08:00")
    )
    (line,) = register.lines
    cells = line_cells(line)
    assert cells[5] == f"Qua bưu chính công ích (số hiệu {INBOUND})"
    assert OUTBOUND in cells[10] and "Bưu chính đã phát kết quả" in line.note
    with ctx.uow() as uow:
        report = statistics_report(uow.session, month, "000.00.12.H40", now=at("2026-12-10 08:00"))
        assert (report.total.counts["received_in_person"], report.total.counts["received_total"]) == (1, 1)
        assert identity_problems(report.total) == []
        d = uow.session.get(Dossier, receipt.dossier_id)
        assert dossier_payload(uow.session, d, d.status, Mappings(uow.session))["HinhThuc"] == "1"
        found = public_status(uow.session, receipt.code, APPLICANT.phone[-4:])
    assert [(p.direction, p.item_number, p.status_label) for p in found.postal] == [
        ("inbound", INBOUND, "Đã nhận từ bưu chính"),
        ("outbound", OUTBOUND, "Đã phát thành công"),
    ]
    assert found.plain == "Đã trả kết quả qua bưu chính."
    assert "Số 5" not in repr(found)  # no address in the lookup


def test_hinhthuc_follows_the_result_not_the_receiving_channel_and_its_mapping_is_editable(ctx, officers):
    by_post = _receive(ctx, officers, channel="in_person", result_by_post=True, delivery_address=ADDRESS)
    at_desk = _receive(ctx, officers, item_number=INBOUND)

    def hinhthuc(dossier_id: int) -> str:
        with ctx.uow() as uow:
            d = uow.session.get(Dossier, dossier_id)
            return dossier_payload(uow.session, d, d.status, Mappings(uow.session))["HinhThuc"]

    assert (hinhthuc(by_post.dossier_id), hinhthuc(at_desk.dossier_id)) == ("1", "0")
    set_mapping(ctx, "result_delivery", "post", "2")
    assert hinhthuc(by_post.dossier_id) == "2"
    # Collected at the desk after all: the request by post is cancelled, HinhThuc goes back to "0".
    now = run_to_return(ctx, officers, by_post, at("2026-11-23 08:00"))
    svc.return_dossier_result(
        ctx, by_post.code, officers["sonv.motcua"], collected_by="Nguyễn Văn An", now=now
    )
    assert _items(ctx, by_post.dossier_id)["outbound"].status == "cancelled"
    assert hinhthuc(by_post.dossier_id) == "0"


def test_the_carrier_reports_through_the_api_idempotently_and_wrong_reports_change_nothing(app, clock):
    ctx = ctx_of(app)
    officers = Officers(ctx)
    with ctx.uow() as uow:
        agency_id = uow.session.get(Officer, officers["vp.pheduyet"]).agency_id
        uow.session.add(
            Officer(username="vnpost", full_name="Bưu điện tỉnh", agency_id=agency_id, roles=["postal"])
        )
        uow.commit()
    token = issue_token(ctx, "vnpost", "bưu chính", LOADED_AT)
    outsider = issue_token(ctx, "xa.motcua", "kiểm thử", LOADED_AT)
    receipt = _receive(ctx, officers, item_number=INBOUND, result_by_post=True, delivery_address=ADDRESS)
    now = run_to_return(ctx, officers, receipt, at("2026-11-23 08:00"))
    postal.hand_to_post(ctx, receipt.code, officers["sonv.motcua"], item_number=OUTBOUND, now=now)
    clock.moment = now + timedelta(days=2)
    http = app.test_client()

    def report(number: str, body: dict, who: str = token):
        return http.post(
            f"/api/v1/postal-items/{number}/status", json=body, headers={"Authorization": f"Bearer {who}"}
        )

    events = _count(ctx, DossierEvent)
    for number, body, status in (
        ("RR000000005VN", {"status": "delivered"}, 404),
        ("RR987654321VN", {"status": "delivered"}, 422),
        (OUTBOUND, {"status": "lost"}, 422),
        (OUTBOUND, {"status": "delivered", "at": "2030-01-01T08:00:00+07:00"}, 422),
        (INBOUND, {"status": "delivered"}, 404),  # an inbound item is never delivered by us
    ):
        answer = report(number, body)
        assert answer.status_code == status, (number, body, answer.get_json())
        assert answer.get_json()["message"]
    assert report(OUTBOUND, {"status": "delivered"}, outsider).status_code == 403
    desk = issue_token(ctx, "sonv.motcua", "kiểm thử", LOADED_AT)
    by_post = {"procedure_code": "1.001806", "applicant": {"name": "Hoàng Thị Mai", "phone": "0912345678"}}
    refused = http.post(
        "/api/v1/dossiers", json=by_post | {"channel": "postal"}, headers={"Authorization": f"Bearer {desk}"}
    )
    assert refused.status_code == 422 and "postal_item_number" in refused.get_json()["fields"]
    assert _count(ctx, DossierEvent) == events

    body = {
        "status": "returned_to_sender",
        "at": (now + timedelta(days=1)).isoformat(),
        "note": "Không có người nhận",
    }
    first, again = report(OUTBOUND, body), report(OUTBOUND, body)
    assert (first.status_code, again.status_code) == (200, 200)
    assert (first.get_json()["changed"], again.get_json()["changed"]) == (True, False)
    assert first.get_json()["status_label"] == "Chuyển hoàn (không phát được)"
    assert _count(ctx, DossierEvent) == events + 1
    conflict = report(OUTBOUND, {"status": "delivered"})
    assert conflict.status_code == 409 and "Chuyển hoàn" in conflict.get_json()["message"]
    assert _items(ctx, receipt.dossier_id)["outbound"].status == "returned_to_sender"
