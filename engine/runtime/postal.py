"""Dossiers received by post and results returned by post (bưu chính công ích, QĐ 45/2016/QĐ-TTg).

Inbound: a dossier received with channel "postal" records the item number it came under (required).
Outbound: the applicant asks for the result by post at receipt or later (an item "prepared" with the
delivery address); at the hand-over the desk records handing it to the post with the item number,
which returns the dossier; the carrier (through the API) or the desk then reports it delivered or
returned to the sender. Every change is one transaction with its event in the dossier's history.

Item numbers (số hiệu bưu gửi): an S10 number of the Universal Postal Union, two letters, eight
digits, a check digit and the country's two letters (`EB123456785VN`), whose check digit must be
right; or a carrier's plain number of 6 to 20 letters and digits with at least one digit, not
shaped like an S10 number (two letters, digits, two letters). Spaces and hyphens typed inside
are dropped, letters upper-cased.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.context import Context
from engine.errors import Conflict, Forbidden, InvalidInput, NotFound
from engine.runtime import dossiers as svc
from engine.usecase import active_officer, require_aware, use_case
from models import Dossier, Officer, WorkItem
from models.dossier import OPEN_STATUSES
from models.postal import DEFAULT_CARRIER, PostalItem
from models.vocabulary import PostalStatus

S10 = re.compile(r"^[A-Z]{2}(\d{8})(\d)[A-Z]{2}$")
S10_SHAPE = re.compile(r"^[A-Z]{2}\d{9}[A-Z]{2}$")
# Letters, digits, letters: an S10 number with digits missing or too many.
S10_LIKE = re.compile(r"^[A-Z]{2}\d+[A-Z]{2}$")
PLAIN = re.compile(r"^(?=.*\d)[A-Z0-9]{6,20}$")
S10_WEIGHTS = (8, 6, 4, 2, 3, 5, 9, 7)
CARRIER_LIMIT = PostalItem.carrier.type.length
ADDRESS_LIMIT = 1000
# The role of a carrier's service account: reports deliveries of any agency's results.
CARRIER_ROLE = "postal"
# What the carrier reports about an item handed to it, and the event each one records.
CARRIER_STATUSES = {
    PostalStatus.DELIVERED.value: "postal_delivered",
    PostalStatus.RETURNED_TO_SENDER.value: "postal_returned",
}
# A carrier's clock may run a little ahead of ours.
CLOCK_SKEW = timedelta(minutes=5)
ITEM_FORMAT = (
    "Số hiệu bưu gửi không hợp lệ: dùng số hiệu 13 ký tự theo chuẩn S10 (2 chữ cái, 9 chữ số, 2 chữ cái, "
    "ví dụ EB123456785VN) hoặc số vận đơn của doanh nghiệp bưu chính (6–20 chữ cái và chữ số)"
)


def s10_check_digit(serial: str) -> int:
    """The S10 check digit of an eight-digit serial number."""
    total = sum(int(digit) * weight for digit, weight in zip(serial, S10_WEIGHTS, strict=True))
    check = 11 - total % 11
    return {10: 0, 11: 5}.get(check, check)


def normalise_item_number(value: str | None) -> str:
    """An item number as typed, without spaces or hyphens, in upper case."""
    return re.sub(r"[\s\-]", "", value or "").upper()


def item_number_problem(value: str | None) -> str | None:
    """What is wrong with an item number (None when it is a valid one)."""
    number = normalise_item_number(value)
    if not number:
        return "Nhập số hiệu bưu gửi (in trên phiếu gửi của bưu chính)"
    if S10_SHAPE.match(number):
        found = S10.match(number)
        assert found is not None
        if s10_check_digit(found.group(1)) != int(found.group(2)):
            return (
                f"Số hiệu bưu gửi {number} sai chữ số kiểm tra (chữ số thứ 11); "
                "vui lòng đối chiếu lại phiếu gửi"
            )
        return None
    return None if PLAIN.match(number) and not S10_LIKE.match(number) else ITEM_FORMAT


def check_item_number(value: str | None, field: str = "postal_item_number") -> str:
    """The item number normalised, or InvalidInput naming what is wrong."""
    problem = item_number_problem(value)
    if problem is not None:
        raise InvalidInput(problem, field)
    return normalise_item_number(value)


def _carrier(value: str | None) -> str:
    carrier = " ".join((value or "").split()) or DEFAULT_CARRIER
    svc.check_text(carrier, "carrier")
    if len(carrier) > CARRIER_LIMIT:
        raise InvalidInput(f"Tên doanh nghiệp bưu chính dài quá {CARRIER_LIMIT} ký tự", "carrier")
    return carrier


def _address(value: str | None) -> str:
    address = " ".join((value or "").split())
    if not address:
        raise InvalidInput("Nhập địa chỉ nhận kết quả qua bưu chính", "delivery_address")
    svc.check_text(address, "delivery_address")
    if len(address) > ADDRESS_LIMIT:
        raise InvalidInput(f"Địa chỉ dài quá {ADDRESS_LIMIT} ký tự", "delivery_address")
    return address


# ---------------------------------------------------------------------------
# at receipt


@dataclass(frozen=True)
class PostalIntake:
    """What the receiving form says about the post: the item the dossier came under (channel
    "postal"), and whether the result goes back by post, to which address."""

    item_number: str | None = None
    carrier: str | None = None
    result_by_post: bool = False
    delivery_address: str | None = None


def intake_problems(channel: str, intake: PostalIntake | None) -> dict[str, str]:
    """The receiving form's postal fields that are wrong, by field, in the form's order.

    The desk's form and the API always give an intake, so a dossier received there by post needs its
    item number; a caller that gives none (the scenario runner, the demo data, the benchmark's replay)
    records no postal item and receives as before.
    """
    problems: dict[str, str] = {}
    if intake is None:
        return problems
    if channel == "postal" or intake.item_number:
        problem = item_number_problem(intake.item_number)
        if problem is not None:
            problems["postal_item_number"] = problem
    if intake.carrier and len(intake.carrier.strip()) > CARRIER_LIMIT:
        problems["postal_carrier"] = f"Tên doanh nghiệp bưu chính dài quá {CARRIER_LIMIT} ký tự"
    if intake.result_by_post:
        address = " ".join((intake.delivery_address or "").split())
        if not address:
            problems["delivery_address"] = "Nhập địa chỉ nhận kết quả qua bưu chính"
        elif len(address) > ADDRESS_LIMIT:
            problems["delivery_address"] = f"Địa chỉ dài quá {ADDRESS_LIMIT} ký tự"
    return problems


def intake_note(channel: str, intake: PostalIntake | None) -> dict[str, object]:
    """What the receipt's event says about the post: the inbound item number, the result by post."""
    note: dict[str, object] = {}
    if intake is None:
        return note
    if channel == "postal" and intake.item_number:
        note["postal_item"] = normalise_item_number(intake.item_number)
    if intake.result_by_post:
        note["result_by_post"] = True
    return note


def record_intake(
    session: Session,
    dossier: Dossier,
    intake: PostalIntake | None,
    officer_id: int | None,
    now: datetime,
) -> None:
    """Inside the receipt's transaction: the inbound item, and the outbound one when asked for."""
    if intake is None:
        return
    carrier = _carrier(intake.carrier)
    if dossier.channel == "postal" and intake.item_number:
        number = check_item_number(intake.item_number)
        _refuse_taken(session, carrier, number)
        session.add(
            PostalItem(
                dossier_id=dossier.id,
                direction="inbound",
                item_number=number,
                carrier=carrier,
                status="received",
                address=dossier.applicant_address,
                created_at=now,
                officer_id=officer_id,
                handed_at=now,
                updated_at=now,
            )
        )
    if intake.result_by_post:
        # The receipt's own event says so (intake_note): the portal hears of one new dossier.
        _prepare(session, dossier, _address(intake.delivery_address), carrier, officer_id, now, event=False)


def _refuse_taken(session: Session, carrier: str, number: str) -> None:
    taken = session.scalar(
        select(Dossier.code)
        .join(PostalItem, PostalItem.dossier_id == Dossier.id)
        .where(PostalItem.carrier == carrier, PostalItem.item_number == number)
    )
    if taken is not None:
        raise Conflict(
            f"Số hiệu bưu gửi {number} của {carrier} đã được ghi cho hồ sơ {taken}; "
            "vui lòng kiểm tra lại phiếu gửi"
        )


def _outbound(session: Session, dossier_id: int) -> PostalItem | None:
    return session.scalars(
        select(PostalItem).where(PostalItem.dossier_id == dossier_id, PostalItem.direction == "outbound")
    ).one_or_none()


def _prepare(
    session: Session,
    dossier: Dossier,
    address: str,
    carrier: str,
    officer_id: int | None,
    now: datetime,
    *,
    event: bool = True,
) -> PostalItem:
    item = _outbound(session, dossier.id)
    if item is None:
        item = PostalItem(
            dossier_id=dossier.id, direction="outbound", carrier=carrier, created_at=now, status="prepared"
        )
        session.add(item)
    elif item.status not in ("prepared", "cancelled"):
        raise Conflict(
            f"Kết quả hồ sơ {dossier.code} đã giao bưu chính ({PostalStatus.label_of(item.status)}); "
            "không đăng ký lại được"
        )
    item.status, item.address, item.carrier = "prepared", address, carrier
    item.officer_id, item.updated_at = officer_id, now
    session.flush()
    if event:
        svc.record_event(session, dossier, "postal_requested", officer_id, now, carrier=carrier)
    return item


# ---------------------------------------------------------------------------
# the desk's use cases


def _receiving_desk(session: Session, officer_id: int, dossier: Dossier) -> Officer:
    officer = active_officer(session, officer_id)
    if not officer.has_role("desk"):
        raise Forbidden("Chỉ cán bộ Bộ phận Một cửa mới ghi nhận việc gửi, nhận qua bưu chính")
    if officer.agency_id != dossier.agency_id:
        raise Forbidden(
            f"Hồ sơ {dossier.code} do cơ quan khác tiếp nhận; "
            "chỉ Bộ phận Một cửa nơi tiếp nhận mới trả kết quả hồ sơ này"
        )
    return officer


def request_postal_return(
    ctx: Context,
    dossier_code: str,
    officer_id: int,
    *,
    address: str,
    now: datetime,
    carrier: str | None = None,
) -> None:
    """The applicant asks (after receipt) for the result by post, to this address."""
    require_aware(now)
    address, carrier = _address(address), _carrier(carrier)
    with use_case(ctx, "Đăng ký trả kết quả qua bưu chính") as uow:
        session = uow.session
        dossier = svc.dossier_by_code(session, dossier_code)
        officer = _receiving_desk(session, officer_id, dossier)
        if dossier.status not in OPEN_STATUSES:
            raise Conflict(f"Hồ sơ {dossier.code} đã kết thúc; không đăng ký trả kết quả qua bưu chính được")
        _prepare(session, dossier, address, carrier, officer.id, now)
        uow.commit()


def hand_to_post(
    ctx: Context,
    dossier_code: str,
    officer_id: int,
    *,
    item_number: str,
    now: datetime,
    carrier: str | None = None,
) -> svc.Completion:
    """The desk hands the result to the post under this item number: the dossier is returned.

    The hand-over to the post is the moment of return (the agency's part ends there; the carrier's
    transit is not the agency's time), so it is also the moment a procedure that counts the
    hand-over step is judged at.
    """
    require_aware(now)
    number = check_item_number(item_number)
    with use_case(ctx, "Trả kết quả qua bưu chính") as uow:
        session = uow.session
        dossier = svc.dossier_by_code(session, dossier_code)
        officer = _receiving_desk(session, officer_id, dossier)
        item = _outbound(session, dossier.id)
        if item is None or item.status == "cancelled":
            raise Conflict(
                f"Hồ sơ {dossier.code} chưa đăng ký nhận kết quả qua bưu chính; "
                "đăng ký trước (kèm địa chỉ nhận) hoặc trả kết quả trực tiếp"
            )
        if item.status != "prepared":
            raise Conflict(
                f"Kết quả hồ sơ {dossier.code} đã giao bưu chính, số hiệu {item.item_number} "
                f"({PostalStatus.label_of(item.status)})"
            )
        carrier_name = _carrier(carrier) if carrier else item.carrier
        step = session.scalars(
            select(WorkItem).where(
                WorkItem.dossier_id == dossier.id, WorkItem.kind == "return", WorkItem.completed_at.is_(None)
            )
        ).first()
        if step is None:
            raise Conflict(f"Hồ sơ {dossier.code} chưa có kết quả để trả.")
        _refuse_taken(session, carrier_name, number)
        item.item_number, item.carrier, item.status = number, carrier_name, "handed_over"
        item.handed_at, item.updated_at, item.officer_id = now, now, officer.id
        session.flush()
        result = svc._return_in(
            ctx,
            session,
            officer,
            step,
            f"{carrier_name}, số hiệu bưu gửi {number}",
            now,
            note={"postal_item": number, "carrier": carrier_name},
        )
        uow.commit()
    return result


def cancel_unsent(session: Session, dossier: Dossier, now: datetime) -> bool:
    """A result handed over at the desk after all: a prepared outbound item is cancelled (True).

    Read without flushing, so the hand-over writes the dossier exactly as it did before."""
    with session.no_autoflush:
        item = _outbound(session, dossier.id)
    if item is None or item.status != "prepared":
        return False
    item.status, item.updated_at = "cancelled", now
    return True


# ---------------------------------------------------------------------------
# the carrier's reports


@dataclass(frozen=True)
class PostalUpdate:
    """The item after a carrier's report; `changed` is False for a report already recorded."""

    item_number: str
    carrier: str
    dossier_code: str
    status: str
    handed_at: datetime | None
    closed_at: datetime | None
    changed: bool


def record_delivery(
    ctx: Context,
    officer_id: int,
    item_number: str,
    *,
    status: str,
    now: datetime,
    at: datetime | None = None,
    carrier: str | None = None,
    note: str | None = None,
    dossier_code: str | None = None,
) -> PostalUpdate:
    """The carrier (its service account, role "postal") or the receiving desk reports an outbound item
    delivered or returned to the sender.

    Idempotent: the same report again changes nothing. An unknown item number is NotFound, a
    malformed one or a moment in the future or before the hand-over InvalidInput, and any other
    change of a reported item (delivered then returned, or an item not handed over yet) Conflict.
    With `dossier_code` (the dossier page's button), the item must be that dossier's.
    """
    require_aware(now)
    if status not in CARRIER_STATUSES:
        raise InvalidInput(
            f"Trạng thái {status!r} không hợp lệ; chọn một trong: {', '.join(CARRIER_STATUSES)}", "status"
        )
    number = check_item_number(item_number, "item_number")
    moment = require_aware(at, "at") if at is not None else now
    svc.check_text(note, "note")
    with use_case(ctx, "Cập nhật trạng thái bưu gửi") as uow:
        session = uow.session
        officer = active_officer(session, officer_id)
        query = select(PostalItem).where(PostalItem.item_number == number, PostalItem.direction == "outbound")
        if carrier:
            query = query.where(PostalItem.carrier == _carrier(carrier))
        items = list(session.scalars(query))
        if len(items) != 1:
            if items:
                raise Conflict(
                    f"Số hiệu {number} có ở nhiều doanh nghiệp bưu chính; gửi kèm tên doanh nghiệp"
                )
            raise NotFound(f"Không có bưu gửi kết quả số hiệu {number}")
        item = items[0]
        dossier = session.get_one(Dossier, item.dossier_id)
        if dossier_code is not None and dossier.code != dossier_code:
            raise NotFound(f"Hồ sơ {dossier_code} không có bưu gửi kết quả số hiệu {number}")
        if not officer.has_role(CARRIER_ROLE):
            _receiving_desk(session, officer.id, dossier)
        result = PostalUpdate(
            number, item.carrier, dossier.code, item.status, item.handed_at, item.closed_at, False
        )
        if item.status == status:
            return result
        if item.status != "handed_over":
            raise Conflict(
                f"Bưu gửi {number} đang ở trạng thái “{PostalStatus.label_of(item.status)}”; "
                f"không chuyển sang “{PostalStatus.label_of(status)}” được"
            )
        assert item.handed_at is not None
        if moment > now + CLOCK_SKEW or moment < item.handed_at:
            raise InvalidInput(
                "Thời điểm phát hoặc chuyển hoàn phải sau lúc giao bưu chính và không ở tương lai", "at"
            )
        item.status, item.closed_at, item.updated_at = status, moment, now
        item.note = (note or "").strip() or item.note
        svc.record_event(
            session,
            dossier,
            CARRIER_STATUSES[status],
            officer.id,
            now,
            postal_item=number,
            at=moment.isoformat(),
            **({"comment": note.strip()} if note and note.strip() else {}),
        )
        uow.commit()
        return PostalUpdate(number, item.carrier, dossier.code, status, item.handed_at, moment, True)


# ---------------------------------------------------------------------------
# reads


@dataclass(frozen=True)
class PublicPostal:
    """What the citizen's lookup shows of an item: no address, no names."""

    direction: str
    item_number: str | None
    carrier: str
    status: str
    status_label: str
    handed_at: datetime | None
    closed_at: datetime | None


def items_of(session: Session, dossier_id: int) -> list[PostalItem]:
    """A dossier's postal items, inbound first."""
    return list(
        session.scalars(
            select(PostalItem).where(PostalItem.dossier_id == dossier_id).order_by(PostalItem.direction)
        )
    )


def public_items(session: Session, dossier_id: int) -> list[PublicPostal]:
    """A dossier's postal items as the lookup shows them (a cancelled request is left out)."""
    return [
        PublicPostal(
            i.direction,
            i.item_number,
            i.carrier,
            i.status,
            PostalStatus.label_of(i.status),
            i.handed_at,
            i.closed_at,
        )
        for i in items_of(session, dossier_id)
        if i.status != "cancelled"
    ]


def result_by_post(session: Session, dossier_id: int) -> bool:
    """Whether the dossier's result goes (or went) back by post."""
    item = _outbound(session, dossier_id)
    return item is not None and item.status != "cancelled"
