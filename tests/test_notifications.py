"""Notifications: the applicant's messages, officers' in-app list, and dispatch to real local SMTP and SMS servers."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from engine.context import Context
from engine.notify.notifications import (
    UNREAD_CAP,
    Message,
    dispatch,
    enqueue,
    failed_notifications,
    mark_read,
    notify_officers,
    officer_notifications,
    retry_failed,
    unread_count,
)
from engine.runtime import dossiers as svc
from models import Notification, Officer
from tests.conftest import Officers, at, open_items

APPLICANT = svc.Applicant(name="Phạm Thị Dung", phone="0901234567", email="dung@example.vn")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mailbox:
    """aiosmtpd handler keeping every message it accepts."""

    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content, policy=policy.default)))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, Mailbox]]:
    """A real SMTP server on a free local port."""
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, mailbox
    finally:
        controller.stop()


class Gateway:
    """A local HTTP SMS gateway: records the posts, answers with `status` after `delay` seconds."""

    def __init__(self, delay: float = 0.0) -> None:
        self.status = 200
        self.posts: list[tuple[dict, str | None]] = []
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                gateway.posts.append((json.loads(body), self.headers.get("Authorization")))
                time.sleep(delay)  # a slow gateway lets a dispatcher be killed while it sends
                self.send_response(gateway.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sms"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def messages(self) -> list[tuple[str, str]]:
        """(phone, text) of every post, in arrival order."""
        return [(payload["to"], payload["text"]) for payload, _ in self.posts]


@pytest.fixture
def sms_gateway() -> Iterator[Gateway]:
    """A real HTTP server standing in for the SMS gateway."""
    gateway = Gateway()
    try:
        yield gateway
    finally:
        gateway.close()


def receive(ctx: Context, officers: Officers, when: str = "2026-11-23 08:00", applicant=APPLICANT, **kw):
    return svc.receive_dossier(
        ctx,
        procedure_code="1.001193",
        applicant=applicant,
        channel="in_person",
        officer_id=officers["xa.motcua"],
        now=at(when),
        **kw,
    )


def step(ctx: Context, officers: Officers, dossier_id: int, who: str, when: str, outcome: str | None = None):
    (item,) = open_items(ctx, dossier_id)
    return svc.complete(ctx, item.id, officers[who], now=at(when), outcome=outcome)


def outbox(ctx: Context, **where) -> list[Notification]:
    with ctx.uow() as uow:
        stmt = select(Notification).order_by(Notification.id)
        for name, value in where.items():
            stmt = stmt.where(getattr(Notification, name) == value)
        return list(uow.session.scalars(stmt))


# --- what the applicant is told ----------------------------------------------------------------


def test_the_applicant_is_told_of_receipt_and_result_naming_the_receiving_office(ctx, officers):
    receipt = receive(ctx, officers)
    sms, email = outbox(ctx, kind="applicant_received")
    assert (sms.channel, sms.address, email.channel, email.address) == (
        "sms",
        "0901234567",
        "email",
        "dung@example.vn",
    )
    assert sms.body == (
        f"Uy ban nhan dan xa Demo: da tiep nhan ho so {receipt.code}. Hen tra ket qua 17:00 23/11/2026."
    )
    assert sms.body.isascii() and len(sms.body) <= 160
    assert email.subject == f"Đã tiếp nhận hồ sơ {receipt.code}"
    assert "Ủy ban nhân dân xã Demo đã tiếp nhận hồ sơ" in email.body
    assert "Thời gian hẹn trả kết quả: 17:00 ngày 23/11/2026" in email.body

    step(ctx, officers, receipt.dossier_id, "xa.motcua", "2026-11-23 08:30")
    step(ctx, officers, receipt.dossier_id, "xa.chuyenvien", "2026-11-23 09:00", "forward")
    assert outbox(ctx, kind="applicant_result_ready") == []
    step(ctx, officers, receipt.dossier_id, "xa.lanhdao", "2026-11-23 09:30")
    sms, email = outbox(ctx, kind="applicant_result_ready")
    assert sms.body == (
        f"Uy ban nhan dan xa Demo: ho so {receipt.code} da co ket qua. "
        "Moi Ong/Ba den Bo phan Mot cua Uy ban nhan dan xa Demo de nhan."
    )
    assert email.subject == f"Hồ sơ {receipt.code} đã có kết quả"


def test_a_supplement_request_lists_the_missing_documents_for_the_applicant(ctx, officers):
    receipt = receive(ctx, officers)
    step(ctx, officers, receipt.dossier_id, "xa.motcua", "2026-11-23 08:30")
    (item,) = open_items(ctx, receipt.dossier_id)
    svc.request_supplement(
        ctx,
        item.id,
        officers["xa.chuyenvien"],
        missing=["Giấy chứng sinh", "Giấy chứng nhận kết hôn của cha, mẹ"],
        reason="Thiếu giấy tờ bắt buộc",
        now=at("2026-11-23 09:00"),
    )
    sms, email = outbox(ctx, kind="applicant_supplement")
    assert sms.body == (
        f"Uy ban nhan dan xa Demo: ho so {receipt.code} can bo sung giay to. "
        "Xin lien he Bo phan Mot cua Uy ban nhan dan xa Demo."
    )
    assert "Lý do: Thiếu giấy tờ bắt buộc" in email.body
    assert "- Giấy chứng sinh\n- Giấy chứng nhận kết hôn của cha, mẹ" in email.body


def test_an_applicant_without_contacts_gets_no_message(ctx, officers):
    receive(ctx, officers, applicant=svc.Applicant(name="Nguyễn Văn Bình"), no_contact=True)
    assert outbox(ctx) == []


def test_a_failed_use_case_queues_nothing(ctx, officers):
    with pytest.raises(svc.Forbidden):
        svc.receive_dossier(
            ctx,
            procedure_code="1.001193",
            applicant=APPLICANT,
            channel="in_person",
            officer_id=officers["xa.chuyenvien"],
            now=at("2026-11-23 08:00"),
        )
    assert outbox(ctx) == []


# --- officers' in-app notifications -------------------------------------------------------------


def test_officers_read_their_own_notifications_and_the_unread_count_follows(ctx, officers):
    now = at("2026-11-23 08:00")
    with ctx.uow() as uow:
        s = uow.session
        people = [s.get(Officer, officers["sonv.lanhdao"]), s.get(Officer, officers["sonv.motcua"])]
        for n in range(3):
            notify_officers(
                s, people, key=f"test:{n}", kind="test", message=Message(f"Tin {n}", "Nội dung"), now=now
            )
        # The same key again is not queued twice.
        notify_officers(s, people, key="test:0", kind="test", message=Message("Tin 0", "Nội dung"), now=now)
        uow.commit()
    leader, desk = officers["sonv.lanhdao"], officers["sonv.motcua"]
    with ctx.uow() as uow:
        listed = officer_notifications(uow.session, leader)
        assert [n.subject for n in listed] == ["Tin 2", "Tin 1", "Tin 0"]
        assert unread_count(uow.session, leader) == 3
    # Marking another officer's notification read changes nothing.
    assert mark_read(ctx, desk, [listed[0].id], now) == 0
    assert mark_read(ctx, leader, [listed[0].id], now) == 1
    with ctx.uow() as uow:
        assert unread_count(uow.session, leader) == 2
        assert unread_count(uow.session, desk) == 3
        assert [n.unread for n in officer_notifications(uow.session, leader)] == [False, True, True]
    assert mark_read(ctx, leader, None, now) == 2
    with ctx.uow() as uow:
        assert unread_count(uow.session, leader) == 0


def test_the_unread_count_stops_at_its_cap(ctx, officers):
    now = at("2026-11-23 08:00")
    with ctx.uow() as uow:
        leader = uow.session.get(Officer, officers["sonv.lanhdao"])
        for n in range(UNREAD_CAP + 5):
            notify_officers(
                uow.session, [leader], key=f"cap:{n}", kind="test", message=Message("x", "y"), now=now
            )
        uow.commit()
    with ctx.uow() as uow:
        assert unread_count(uow.session, officers["sonv.lanhdao"]) == UNREAD_CAP


# --- dispatch ----------------------------------------------------------------------------------


def test_email_reaches_a_real_smtp_server_once(make_ctx, officers, smtp_server):
    port, mailbox = smtp_server
    ctx = make_ctx(smtp_host="127.0.0.1", smtp_port=port, smtp_from="motcua@demo.gov.vn")
    receipt = receive(ctx, officers)
    report = dispatch(ctx, at("2026-11-23 08:01"))
    assert len(report.sent) == 2  # e-mail and SMS (the SMS goes to the log: no gateway configured)
    ((recipients, message),) = mailbox.messages
    assert recipients == ["dung@example.vn"]
    assert message["Subject"] == f"Đã tiếp nhận hồ sơ {receipt.code}"
    assert message["From"] == "motcua@demo.gov.vn"
    assert "Ủy ban nhân dân xã Demo đã tiếp nhận hồ sơ" in message.get_content()
    assert dispatch(ctx, at("2026-11-23 08:02")).total == 0
    assert dispatch(ctx, at("2026-11-24 08:02")).total == 0
    assert len(mailbox.messages) == 1
    assert {n.status for n in outbox(ctx)} == {"sent"}


def test_sms_reaches_the_http_gateway_once(make_ctx, officers, sms_gateway):
    ctx = make_ctx(sms_gateway_url=sms_gateway.url, sms_gateway_token="secret-token", sms_sender="UBNDXA")
    receipt = receive(ctx, officers)
    dispatch(ctx, at("2026-11-23 08:01"))
    dispatch(ctx, at("2026-11-23 08:05"))
    ((payload, auth),) = sms_gateway.posts
    assert payload == {
        "to": "0901234567",
        "sender": "UBNDXA",
        "text": f"Uy ban nhan dan xa Demo: da tiep nhan ho so {receipt.code}. Hen tra ket qua 17:00 23/11/2026.",
    }
    assert auth == "Bearer secret-token"


def test_a_failing_gateway_is_retried_with_backoff_then_marked_failed(make_ctx, officers, sms_gateway):
    ctx = make_ctx(sms_gateway_url=sms_gateway.url, dispatch_backoff_seconds=60, dispatch_max_attempts=3)
    sms_gateway.status = 503
    receive(ctx, officers)
    t0 = at("2026-11-23 08:00")
    (sms,) = outbox(ctx, channel="sms")
    assert dispatch(ctx, t0).retried == [sms.id]
    # 60 s after the first failure, then 120 s after the second, then it gives up.
    assert dispatch(ctx, t0 + timedelta(seconds=59)).total == 0
    assert dispatch(ctx, t0 + timedelta(seconds=60)).retried == [sms.id]
    assert dispatch(ctx, t0 + timedelta(seconds=179)).total == 0
    assert dispatch(ctx, t0 + timedelta(seconds=180)).failed == [sms.id]
    assert dispatch(ctx, t0 + timedelta(days=1)).total == 0
    assert len(sms_gateway.posts) == 3
    with ctx.uow() as uow:
        (failed,) = failed_notifications(uow.session)
    assert (failed.id, failed.channel, failed.attempts) == (sms.id, "sms", 3)
    assert failed.last_error == "SMS gateway answered 503 Service Unavailable"

    # The administrator fixes the gateway and sends it again: it goes out exactly once more.
    sms_gateway.status = 200
    assert retry_failed(ctx, [sms.id], t0 + timedelta(days=1)) == 1
    assert dispatch(ctx, t0 + timedelta(days=1)).sent == [sms.id]
    assert dispatch(ctx, t0 + timedelta(days=2)).total == 0
    assert len(sms_gateway.posts) == 4


class SlowCounter:
    """A channel that counts deliveries per address and takes a little time over each."""

    name = "sms"

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.lock = threading.Lock()

    def send(self, address: str | None, subject: str, body: str) -> None:
        time.sleep(0.01)
        with self.lock:
            self.sent.append(address or "")


def test_two_dispatchers_at_once_never_send_a_row_twice(make_ctx, officers):
    first, second = make_ctx(), make_ctx()
    now = at("2026-11-23 08:00")
    with first.uow() as uow:
        for n in range(40):
            enqueue(
                uow.session,
                dedupe_key=f"bulk:{n}",
                channel="sms",
                kind="test",
                subject="s",
                body="b",
                now=now,
                address=f"09000000{n:02d}",
            )
        uow.commit()
    counter = SlowCounter()
    barrier = threading.Barrier(2)

    def run(ctx: Context) -> None:
        barrier.wait()
        for _ in range(5):
            dispatch(ctx, now, limit=7, channels={"sms": counter})

    threads = [threading.Thread(target=run, args=(c,)) for c in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(counter.sent) == sorted(f"09000000{n:02d}" for n in range(40))
    with first.uow() as uow:
        assert uow.session.scalar(select(func.count()).where(Notification.status == "sent")) == 40


def test_a_dispatcher_that_died_while_sending_leaves_the_row_failed_not_resent(ctx, officers):
    from engine.notify.notifications import CLAIM_SECONDS, claim_batch

    receive(ctx, officers)
    now = at("2026-11-23 08:00")
    claimed, _ = claim_batch(ctx, now, 10)  # the dispatcher claims and then dies
    assert len(claimed) == 2
    counter = SlowCounter()
    assert dispatch(ctx, now + timedelta(seconds=CLAIM_SECONDS - 1), channels={"sms": counter}).total == 0
    report = dispatch(ctx, now + timedelta(seconds=CLAIM_SECONDS + 1), channels={"sms": counter})
    assert sorted(report.interrupted) == sorted(c.id for c in claimed)
    assert counter.sent == []
    with ctx.uow() as uow:
        errors = {f.last_error for f in failed_notifications(uow.session)}
    assert errors == {"Bộ gửi dừng giữa chừng; không rõ tin đã được gửi hay chưa"}


def test_a_claim_takes_exactly_as_many_rows_as_it_returns(ctx, officers):
    from engine.notify.notifications import claim_batch

    for n in range(3):
        receive(ctx, officers, applicant=svc.Applicant(name=f"Người nộp {n}", phone=f"09130000{n:02d}"))
    claimed, _ = claim_batch(ctx, at("2026-11-23 09:00"), 1)
    assert len(claimed) == 1
    assert [n.status for n in outbox(ctx, channel="sms")].count("sending") == 1


def test_the_log_channel_never_writes_a_citizens_address(caplog) -> None:
    from engine.notify.channels import LogChannel

    with caplog.at_level("INFO", logger="motcua.notifications"):
        LogChannel("sms").send("0912345678", "Đã tiếp nhận hồ sơ", "Hẹn trả kết quả 17:00 10/12/2026")
        LogChannel("email").send(None, "Kết quả", "Đã có kết quả")
    assert "0912345678" not in caplog.text
    assert "sms to *******678: Đã tiếp nhận hồ sơ" in caplog.text and "email to -: Kết quả" in caplog.text
