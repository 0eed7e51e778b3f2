"""Every dossier in step with the national portal (DVCQG): messages queued with the change they
report, sent in order per dossier and in parallel across dossiers, retried without blocking others,
never sent twice, never lost; against a strict local fake of the adapter."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import delete, select

from engine.errors import InvalidInput
from engine.integrations.dvcqg import sync as portal
from engine.integrations.dvcqg.client import AdapterClient
from engine.integrations.dvcqg.sync import _take
from engine.runtime import dossiers as svc
from models import Dossier, Officer, PortalMapping, PortalMessage
from tests.conftest import at, open_items
from tests.fake_dvcqg import FakeAdapter
from tests.test_runtime import APPLICANT

NOW = at("2026-11-23 08:00")


@pytest.fixture
def adapter():
    fake = FakeAdapter()
    yield fake
    fake.close()


@pytest.fixture
def pctx(make_ctx, adapter):
    """A context whose settings name the fake adapter."""
    return make_ctx(
        dvcqg_url=adapter.url,
        dvcqg_username=adapter.username,
        dvcqg_password=adapter.password,
        dvcqg_madonvi="000.00.00.H40",
        dvcqg_timeout_seconds=2.0,
        dvcqg_max_attempts=3,
        dvcqg_backoff_seconds=60,
    )


def receive(ctx, officers, when=NOW, applicant=APPLICANT) -> svc.Receipt:
    return svc.receive_dossier(
        ctx,
        procedure_code="1.001806",
        applicant=applicant,
        channel="in_person",
        officer_id=officers["sonv.motcua"],
        now=when,
    )


def forward(ctx, officers, dossier_id: int, when) -> None:
    (item,) = open_items(ctx, dossier_id)
    svc.complete(ctx, item.id, officers["sonv.motcua"], now=when)


def messages(ctx, stream: str | None = None) -> list[PortalMessage]:
    with ctx.uow() as uow:
        query = select(PortalMessage).order_by(PortalMessage.stream, PortalMessage.seq)
        if stream is not None:
            query = query.where(PortalMessage.stream == stream)
        return list(uow.session.scalars(query))


def test_receipt_and_each_step_reach_the_portal_in_order(pctx, officers, adapter) -> None:
    receipt = receive(pctx, officers)
    forward(pctx, officers, receipt.dossier_id, NOW + timedelta(hours=1))
    queued = messages(pctx, receipt.code)
    assert [m.service for m in queued] == ["DongBoHoSoMC", "CapNhatTienDoHoSoMC", "DongBoHoSoMC"]
    assert [m.status for m in queued] == ["queued"] * 3
    report = portal.sync(pctx, NOW + timedelta(hours=2))
    assert [line.outcome for line in report.lines] == ["sent", "sent", "sent"]
    assert adapter.services(receipt.code) == ["DongBoHoSoMC", "CapNhatTienDoHoSoMC", "DongBoHoSoMC"]
    first, progress, update = (item for _, code, item in adapter.accepted if code == receipt.code)
    assert first["TrangThaiHoSo"] == "2" and update["TrangThaiHoSo"] == "4"
    assert first["NgayTiepNhan"] == "20261123080000" and first["NgayHenTra"] == update["NgayHenTra"]
    assert progress["NguoiXuLy"] == "Nguyễn Thị Hồng" and progress["PhongBanXuLy"] == "Sở Nội vụ"
    assert progress["ThoiDiemXuLy"] == "20261123090000"
    assert [b.get("isUpdating") for b in adapter.bodies if b["service"] == "DongBoHoSoMC"] == [
        "False",
        "True",
    ]
    assert {m.status for m in messages(pctx, receipt.code)} == {"sent"}
    assert portal.sync(pctx, NOW + timedelta(hours=3)).lines == []  # nothing is sent twice


def test_nothing_is_queued_while_the_portal_is_not_configured(ctx, officers) -> None:
    receive(ctx, officers)
    assert messages(ctx) == []
    assert portal.sync(ctx, NOW).lines == []


def test_a_use_case_that_fails_queues_nothing(pctx, officers) -> None:
    receipt = receive(pctx, officers)
    (item,) = open_items(pctx, receipt.dossier_id)
    with pytest.raises(InvalidInput):
        svc.complete(pctx, item.id, officers["sonv.motcua"], now=NOW, outcome="supplement")
    assert len(messages(pctx, receipt.code)) == 1


def test_a_failing_dossier_retries_with_backoff_without_holding_up_the_others(
    pctx, officers, adapter
) -> None:
    stuck = receive(pctx, officers)
    other = receive(pctx, officers, when=NOW + timedelta(minutes=5))
    adapter.refuse_codes = {stuck.code}
    report = portal.sync(pctx, NOW + timedelta(hours=1))
    outcomes = {(line.stream, line.outcome) for line in report.lines}
    assert outcomes == {(stuck.code, "retrying"), (other.code, "sent")}
    (waiting,) = messages(pctx, stuck.code)
    assert waiting.status == "retrying" and waiting.attempts == 1
    assert waiting.next_attempt_at == NOW + timedelta(hours=1, seconds=60)
    assert "error_code 500" in waiting.last_error and stuck.code in waiting.last_error
    assert portal.sync(pctx, NOW + timedelta(hours=1, seconds=30)).lines == []  # not yet due


def test_after_the_last_attempt_the_dossier_waits_for_an_administrator_then_goes_in_order(
    pctx, officers, adapter
) -> None:
    receipt = receive(pctx, officers)
    adapter.refuse_codes = {receipt.code}
    moment = NOW
    for _ in range(3):
        moment += timedelta(hours=5)
        portal.sync(pctx, moment)
    forward(pctx, officers, receipt.dossier_id, moment)
    assert [m.status for m in messages(pctx, receipt.code)] == ["failed", "queued", "queued"]
    assert portal.sync(pctx, moment + timedelta(hours=1)).lines == []  # the later ones wait
    (failed,) = portal.failed_messages(pctx)
    assert failed.stream == receipt.code and "error_code 500" in failed.last_error
    adapter.refuse_codes = set()
    assert portal.requeue(pctx, [failed.id], moment) == 1
    report = portal.sync(pctx, moment + timedelta(hours=1))
    assert [line.outcome for line in report.lines] == ["sent", "sent", "sent"]
    assert adapter.services(receipt.code) == ["DongBoHoSoMC", "CapNhatTienDoHoSoMC", "DongBoHoSoMC"]


def test_a_sender_that_died_after_sending_never_sends_twice(pctx, officers, adapter) -> None:
    receipt = receive(pctx, officers)
    (message,) = messages(pctx, receipt.code)
    taken = _take(pctx, message.id, NOW)  # a sender took it ...
    assert taken is not None
    AdapterClient(pctx.settings).call(
        "DongBoHoSoMC", "000.00.00.H40", {"data": taken.payload["data"], "isUpdating": "False"}
    )
    # ... sent it, and was killed before recording: the message stays "sending" past the lease.
    assert portal.sync(pctx, NOW + timedelta(seconds=30)).lines == []
    report = portal.sync(pctx, NOW + timedelta(minutes=5))
    assert report.recovered == 1 and [line.outcome for line in report.lines] == ["confirmed"]
    assert adapter.services(receipt.code) == ["DongBoHoSoMC"]


def test_an_answer_lost_on_the_way_back_is_looked_up_before_sending_again(pctx, officers, adapter) -> None:
    receipt = receive(pctx, officers)
    adapter.drop_after_store = 1
    first = portal.sync(pctx, NOW)
    assert [line.outcome for line in first.lines] == ["retrying"]
    assert messages(pctx, receipt.code)[0].status == "uncertain"
    second = portal.sync(pctx, NOW + timedelta(minutes=5))
    assert [line.outcome for line in second.lines] == ["confirmed"]
    assert adapter.services(receipt.code) == ["DongBoHoSoMC"]


def test_a_refused_session_is_renewed_once_and_no_credential_is_logged(
    pctx, officers, adapter, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    receive(pctx, officers)
    receive(pctx, officers, when=NOW + timedelta(minutes=1))
    client = AdapterClient(pctx.settings)
    portal.sync(pctx, NOW + timedelta(hours=1), portal=client, workers=1, limit=1)
    adapter.expire_sessions()
    report = portal.sync(pctx, NOW + timedelta(hours=1), portal=client, workers=1)
    assert [line.outcome for line in report.lines] == ["sent"]
    assert adapter.logins == 2
    assert adapter.password not in caplog.text and "s-1" not in caplog.text


def test_a_refused_login_is_a_reason_the_administrator_can_read(pctx, officers, adapter) -> None:
    receipt = receive(pctx, officers)
    adapter.refuse_logins = True
    portal.sync(pctx, NOW)
    (message,) = messages(pctx, receipt.code)
    assert message.status == "retrying" and "sai tài khoản" in message.last_error


def test_a_missing_mapping_names_the_dossier_and_the_value(make_ctx, adapter, officers) -> None:
    ctx = make_ctx(dvcqg_url=adapter.url, dvcqg_username=adapter.username, dvcqg_password=adapter.password)
    receipt = receive(ctx, officers)  # no madonvi for the Sở Nội vụ, and no province-wide one
    (failed,) = portal.failed_messages(ctx)
    assert receipt.code in failed.last_error and "'000.00.12.H40'" in failed.last_error
    with ctx.uow() as uow:
        uow.session.add(PortalMapping(kind="agency", local="000.00.12.H40", portal="000.00.12.H40"))
        uow.commit()
    assert portal.requeue(ctx, [failed.id], NOW + timedelta(hours=1)) == 1
    assert [line.outcome for line in portal.sync(ctx, NOW + timedelta(hours=1)).lines] == ["sent"]
    assert adapter.records[receipt.code]["TrangThaiHoSo"] == "2"


def test_a_bad_mapping_is_refused_by_the_portal_naming_the_dossier_and_the_field(
    pctx, officers, adapter
) -> None:
    with pctx.uow() as uow:
        uow.session.execute(delete(PortalMapping).where(PortalMapping.kind == "status"))
        uow.session.add(PortalMapping(kind="status", local="received", portal="99"))
        uow.commit()
    receipt = receive(pctx, officers)
    portal.sync(pctx, NOW)
    (message,) = messages(pctx, receipt.code)
    assert message.status == "retrying"
    assert receipt.code in message.last_error and "TrangThaiHoSo không hợp lệ: '99'" in message.last_error


def test_a_working_day_outage_during_a_burst_loses_nothing_and_repeats_nothing(
    pctx, officers, adapter
) -> None:
    # One real dossier's three messages, copied to 500 dossiers' streams: the sender sees a burst of
    # 1,500 messages the way the outbox holds them, without 500 receipts to arrange.
    from engine.integrations.dvcqg.outbox import queue

    receipt = receive(pctx, officers)
    forward(pctx, officers, receipt.dossier_id, NOW + timedelta(minutes=1))
    with pctx.uow() as uow:
        template = [
            (m.service, m.payload)
            for m in uow.session.scalars(select(PortalMessage).order_by(PortalMessage.seq))
        ]
        for n in range(1, 500):
            code = f"{receipt.code[:-4]}{n + 1:04d}"
            for service, payload in template:
                record = dict(payload["data"][0], MaHoSo=code)
                queue(
                    uow.session, code, service, {"madonvi": payload["madonvi"], "data": [record]}, NOW, None
                )
        uow.commit()
    codes = [receipt.code] + [f"{receipt.code[:-4]}{n + 1:04d}" for n in range(1, 500)]
    adapter.down = True
    moment = NOW + timedelta(hours=1)
    for _ in range(2):  # down for the working day: every dossier's first message fails twice
        portal.sync(pctx, moment, workers=4)
        moment += timedelta(hours=4)
    assert portal.queue_status(pctx).counts["sent"] == 0
    adapter.down = False
    moment += timedelta(hours=4)
    report = portal.sync(pctx, moment, workers=4)
    assert report.count("sent") == 1500 and portal.queue_status(pctx).counts["sent"] == 1500
    for code in codes:
        assert adapter.services(code) == ["DongBoHoSoMC", "CapNhatTienDoHoSoMC", "DongBoHoSoMC"]


def make_admin(ctx, officers, username: str = "vp.pheduyet") -> None:
    with ctx.uow() as uow:
        uow.session.get(Officer, officers[username]).roles = ["admin"]
        uow.commit()


@pytest.fixture
def papp(pctx, clock, tmp_path):
    from web import create_app

    return create_app(
        ctx=pctx,
        test_config={"TESTING": True, "SECRET_KEY": "t", "MOTCUA_CLOCK": clock, "RATELIMIT_ENABLED": False},
    )


def test_the_administrator_sees_failures_with_their_reason_and_sends_them_again(
    pctx, officers, adapter, papp
) -> None:
    from tests.conftest import WebClient

    receipt = receive(pctx, officers)
    adapter.refuse_codes = {receipt.code}
    for hours in (1, 6, 12):
        portal.sync(pctx, NOW + timedelta(hours=hours))
    make_admin(pctx, officers)
    web = WebClient(papp)
    web.login("sonv.motcua")
    assert web.get("/quan-tri/cong-dvcqg/").status_code == 403
    web.login("vp.pheduyet")
    page = web.get("/quan-tri/cong-dvcqg/").get_data(as_text=True)
    assert receipt.code in page and "error_code 500" in page and "Lỗi, chờ quản trị xử lý" in page
    (failed,) = portal.failed_messages(pctx)
    response = web.post("/quan-tri/cong-dvcqg/gui-lai", {"id": str(failed.id)}, page="/quan-tri/cong-dvcqg/")
    assert response.status_code == 302
    assert messages(pctx, receipt.code)[0].status == "queued"
    bad = web.post(
        "/quan-tri/cong-dvcqg/anh-xa",
        {"kind": "planet", "local": "x", "portal": "1"},
        page="/quan-tri/cong-dvcqg/",
    )
    assert bad.status_code == 302
    assert "Loại ánh xạ &#39;planet&#39; không có" in web.get("/quan-tri/cong-dvcqg/").get_data(as_text=True)
    web.post(
        "/quan-tri/cong-dvcqg/anh-xa",
        {"kind": "status", "local": "processing", "portal": "4"},
        page="/quan-tri/cong-dvcqg/",
    )
    with pctx.uow() as uow:
        stored = uow.session.scalars(select(PortalMapping).where(PortalMapping.local == "processing")).one()
        assert stored.portal == "4"


def test_the_command_line_syncs_and_reports_the_queue(pctx, officers, adapter, monkeypatch) -> None:
    from click.testing import CliRunner

    from engine.cli import main

    receipt = receive(pctx, officers)
    for name, value in {
        "MOTCUA_DATABASE_URL": pctx.settings.database_url,
        "MOTCUA_DVCQG_URL": adapter.url,
        "MOTCUA_DVCQG_USERNAME": adapter.username,
        "MOTCUA_DVCQG_PASSWORD": adapter.password,
        "MOTCUA_DVCQG_MADONVI": "000.00.00.H40",
    }.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(main, ["dvcqg", "sync", "--now", "2026-11-23T10:00:00+07:00"])
    assert result.exit_code == 0, result.output
    assert f"{receipt.code} #1 DongBoHoSoMC: sent" in result.output
    status = CliRunner().invoke(main, ["dvcqg", "status"])
    assert "queued 0" in status.output and "sent 1" in status.output
    assert adapter.password not in result.output + status.output


def test_a_months_satisfaction_is_sent_once_per_agency(pctx, officers, adapter) -> None:
    from datetime import date

    from engine.integrations.dvcqg.ratings import queue_month_ratings
    from models import Rating

    first, second = receive(pctx, officers), receive(pctx, officers, when=NOW + timedelta(minutes=1))
    with pctx.uow() as uow:
        uow.session.add(Rating(dossier_id=first.dossier_id, satisfied=True, rated_at=NOW + timedelta(days=2)))
        uow.session.add(
            Rating(
                dossier_id=second.dossier_id,
                satisfied=False,
                reason="Chờ lâu",
                rated_at=NOW + timedelta(days=3),
            )
        )
        uow.commit()
    december = at("2026-12-01 08:00")
    queued = queue_month_ratings(pctx, date(2026, 11, 1), december)
    assert queued.queued == ["000.00.12.H40"] and queued.already == []
    assert queue_month_ratings(pctx, date(2026, 11, 1), december).already == ["000.00.12.H40"]
    portal.sync(pctx, december)
    (rating,) = [item for service, _, item in adapter.accepted if service == "DongBoDanhGia"]
    assert rating == {
        "MaDonVi": "000.00.00.H40",
        "Thang": "11",
        "Nam": "2026",
        "TongSoDanhGia": "2",
        "HaiLong": "1",
        "KhongHaiLong": "1",
    }


def test_kill_9_of_the_sender_mid_send_never_sends_twice(pctx, officers, adapter) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    receipt = receive(pctx, officers)
    adapter.delay = 3.0  # the adapter stores at once and answers late; the sender is killed while it waits
    env = dict(
        os.environ,
        MOTCUA_DATABASE_URL=pctx.settings.database_url,
        MOTCUA_DVCQG_URL=adapter.url,
        MOTCUA_DVCQG_USERNAME=adapter.username,
        MOTCUA_DVCQG_PASSWORD=adapter.password,
        MOTCUA_DVCQG_MADONVI="000.00.00.H40",
    )
    sender = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from web.cli import main; main()",
            "dvcqg",
            "sync",
            "--now",
            "2026-11-23T10:00+07:00",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while "DongBoHoSoMC" not in adapter.arrived and time.monotonic() < deadline:
        time.sleep(0.05)
    sender.send_signal(signal.SIGKILL)
    sender.wait(timeout=30)
    while not adapter.services(receipt.code) and time.monotonic() < deadline:
        time.sleep(0.05)  # the adapter has stored what it received
    adapter.delay = 0.0
    (message,) = messages(pctx, receipt.code)
    assert message.status == "sending"
    report = portal.sync(pctx, at("2026-11-23 10:05"))
    assert report.recovered == 1 and [line.outcome for line in report.lines] == ["confirmed"]
    assert adapter.services(receipt.code) == ["DongBoHoSoMC"]


def test_the_portal_hears_the_appointment_and_each_supplements_due_times(pctx, officers, adapter) -> None:
    """NgayHenTra is the appointment; each supplement carries the legal due before and after it."""
    receipt = receive(pctx, officers)
    forward(pctx, officers, receipt.dossier_id, at("2026-11-23 09:00"))
    (assign,) = open_items(pctx, receipt.dossier_id)
    svc.complete(pctx, assign.id, officers["sonv.truongphong"], now=at("2026-11-23 10:00"))
    (work,) = open_items(pctx, receipt.dossier_id)
    svc.request_supplement(
        pctx,
        work.id,
        officers["sonv.chuyenvien1"],
        missing=["Bản sao hợp đồng lao động"],
        reason="Thiếu hợp đồng",
        now=at("2026-11-24 09:00"),
    )
    portal.sync(pctx, at("2026-11-24 09:05"))
    assert adapter.records[receipt.code]["TrangThaiHoSo"] == "5"
    svc.resume(pctx, receipt.code, officers["sonv.motcua"], at("2026-11-26 09:00"))
    svc.move_appointment(
        pctx,
        receipt.code,
        officers["sonv.motcua"],
        new_due=at("2026-12-23 16:00"),
        reason="Cần xác minh tại cơ sở",
        now=at("2026-11-27 09:00"),
    )
    portal.sync(pctx, at("2026-11-27 09:05"))
    record = adapter.records[receipt.code]
    with pctx.uow() as uow:
        dossier = uow.session.get(Dossier, receipt.dossier_id)
    assert record["TrangThaiHoSo"] == "4"
    assert record["NgayHenTra"] == "20261223160000"  # the moved appointment, not the legal due time
    assert dossier.due_at != dossier.appointment_at
    (supplement,) = record["DanhSachHoSoBoSung"]
    assert supplement["NgayHenTraTruoc"] == messages_time(receipt.due_at)
    assert supplement["NgayHenTraMoi"] == messages_time(dossier.due_at)
    assert supplement["NgayTiepNhanBoSung"] == "20261126090000"


def messages_time(moment) -> str:
    from engine.integrations.dvcqg.messages import portal_time

    return portal_time(moment)


def test_the_mappings_name_our_states_in_vietnamese(pctx) -> None:
    from engine.integrations.dvcqg.mappings import mapping_rows

    rows = {row.local: row for row in mapping_rows(pctx) if row.kind == "status"}
    assert rows["received"].local_label == "Mới tiếp nhận" and rows["received"].portal == "2"
    assert rows["supplement"].local_label == "Chờ bổ sung"
