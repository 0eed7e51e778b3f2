"""Faults: the web process killed with SIGKILL in the middle of a burst of completions.

Each use case is one transaction, so whatever moment the process dies, every completion is
either wholly applied or not at all: `motcua check` finds nothing broken, and after a restart
the officers finish the rest.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from bench.gunicorn import start_gunicorn
from engine.accounts import issue_token
from engine.runtime import dossiers as svc
from engine.runtime.consistency import check_all
from models import Dossier, WorkItem
from tests.test_notifications import Gateway

ROOT = Path(__file__).resolve().parent.parent
# Serial: these start multi-process servers and must act at a moment of a burst, which a busy CPU
# shifts, and one restarts PostgreSQL under every connection; `make test` runs them alone.
pytestmark = pytest.mark.serial


def _start_web(url: str) -> tuple[subprocess.Popen, int]:
    return start_gunicorn(url, workers=2, threads=4, env={"MOTCUA_LOG_LEVEL": "WARNING"})


def _complete(port: int, token: str, item_id: int) -> int:
    import http.client

    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        conn.request(
            "POST",
            f"/api/v1/work-items/{item_id}/complete",
            body="{}",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        status = conn.getresponse().status
        conn.close()
        return status
    except OSError:
        return 0  # the process died under this request


def _first_steps(ctx, codes: list[str]) -> dict[str, int]:
    with ctx.uow() as uow:
        rows = uow.session.execute(
            select(Dossier.code, WorkItem.id)
            .join(WorkItem, WorkItem.dossier_id == Dossier.id)
            .where(
                Dossier.code.in_(codes), WorkItem.completed_at.is_(None), WorkItem.task_id == "Task_Receive"
            )
        )
        return {code: item_id for code, item_id in rows}


@pytest.mark.timeout(240)
def test_sigkill_of_the_web_process_mid_burst_leaves_nothing_half_applied(make_ctx, officers) -> None:
    ctx = make_ctx()
    desk = officers["sonv.motcua"]
    codes = [
        svc.receive_dossier(
            ctx,
            procedure_code="1.001806",
            applicant=svc.Applicant(name=f"Người nộp {n}"),
            no_contact=True,
            channel="online",
            officer_id=desk,
            now=datetime.now(UTC),  # the web process completes on the wall clock
        ).code
        for n in range(120)
    ]
    token = issue_token(ctx, "sonv.motcua", "fault-test", datetime.now(UTC))
    items = _first_steps(ctx, codes)
    assert len(items) == 120

    process, port = _start_web(ctx.settings.database_url)
    answered: list[int] = []
    killed = threading.Event()

    def kill_after_some() -> None:
        while len([s for s in answered if s == 200]) < 15 and not killed.is_set():
            time.sleep(0.005)
        os.killpg(process.pid, signal.SIGKILL)
        killed.set()

    killer = threading.Thread(target=kill_after_some)
    killer.start()
    with ThreadPoolExecutor(max_workers=8) as pool:
        # Count answers as they come, not in submission order: a slow first answer must not hide the rest.
        for future in as_completed([pool.submit(_complete, port, token, i) for i in items.values()]):
            answered.append(future.result())
    killed.set()
    killer.join()
    process.wait(timeout=30)

    done = sum(1 for s in answered if s == 200)
    assert 15 <= done < 120, f"the kill did not land mid-burst ({done} completed)"
    report = check_all(ctx)
    assert report.ok, "\n".join(report.lines())

    # After a restart the rest completes, and every dossier is exactly one step further.
    process, port = _start_web(ctx.settings.database_url)
    try:
        remaining = _first_steps(ctx, codes)
        assert len(remaining) <= 120 - done
        statuses = [_complete(port, token, i) for i in remaining.values()]
        assert set(statuses) <= {200}
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    assert _first_steps(ctx, codes) == {}
    with ctx.uow() as uow:
        assigned = uow.session.scalars(
            select(WorkItem.task_id)
            .join(Dossier, Dossier.id == WorkItem.dossier_id)
            .where(Dossier.code.in_(codes), WorkItem.completed_at.is_(None))
        ).all()
    assert sorted(set(assigned)) == ["Task_Assign"] and len(assigned) == 120
    assert check_all(ctx).ok


RESTART_POSTGRES = os.environ.get("MOTCUA_FAULT_RESTART_POSTGRES") == "1"


def _restart_postgres() -> None:
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],
        check=True,
        timeout=120,
        capture_output=True,
    )


@pytest.mark.skipif(not RESTART_POSTGRES, reason="set MOTCUA_FAULT_RESTART_POSTGRES=1 (as .ci/run does)")
@pytest.mark.timeout(300)
def test_postgres_restart_mid_burst_answers_503_then_recovers(make_ctx, backend, officers) -> None:
    if backend != "postgresql":
        pytest.skip("restarts the local PostgreSQL")
    ctx = make_ctx()
    codes = [
        svc.receive_dossier(
            ctx,
            procedure_code="1.001806",
            applicant=svc.Applicant(name=f"Người nộp {n}"),
            no_contact=True,
            channel="online",
            officer_id=officers["sonv.motcua"],
            now=datetime.now(UTC),
        ).code
        for n in range(60)
    ]
    token = issue_token(ctx, "sonv.motcua", "fault-test", datetime.now(UTC))
    pending = list(_first_steps(ctx, codes).values())
    process, port = _start_web(ctx.settings.database_url)
    statuses: list[int] = []
    try:
        restarted = False
        deadline = time.monotonic() + 180
        while pending and time.monotonic() < deadline:
            item = pending.pop(0)
            status = _complete(port, token, item)
            statuses.append(status)
            if status not in (200, 409):  # 409: a retry of a completion whose answer was lost
                pending.append(item)  # refused cleanly: the officer tries again later
                time.sleep(0.2)
            if not restarted and statuses.count(200) >= 10:
                threading.Thread(target=_restart_postgres, daemon=True).start()
                restarted = True
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    assert restarted and not pending, f"{len(pending)} completions never succeeded"
    assert set(statuses) <= {200, 409, 503}, statuses
    assert statuses.count(409) <= 1
    ctx.db.dispose()
    assert check_all(ctx).ok


def _start_scheduler(url: str, gateway: str) -> subprocess.Popen:
    env = dict(
        os.environ,
        MOTCUA_DATABASE_URL=url,
        MOTCUA_SMS_GATEWAY_URL=gateway,
        MOTCUA_SCHEDULER_INTERVAL_SECONDS="1",
        MOTCUA_SCHEDULER_LEASE_SECONDS="3",
        MOTCUA_LOG_LEVEL="WARNING",
    )
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "motcua"), "scheduler"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.timeout(240)
def test_sigkill_of_the_scheduler_mid_dispatch_never_sends_a_message_twice(make_ctx, officers) -> None:
    from models import Notification

    ctx = make_ctx()
    for n in range(30):
        svc.receive_dossier(
            ctx,
            procedure_code="1.001193",
            applicant=svc.Applicant(name=f"Người nộp {n}", phone=f"09120000{n:02d}"),
            channel="in_person",
            officer_id=officers["xa.motcua"],
            now=datetime.now(UTC),
        )
    # Messages to citizens wait for office hours; these are all due now, whatever the hour of the run.
    with ctx.uow() as uow:
        uow.session.execute(
            update(Notification)
            .where(Notification.channel == "sms")
            .values(next_attempt_at=datetime.now(UTC))
        )
        uow.commit()
    gateway = Gateway(delay=0.1)
    try:
        scheduler = _start_scheduler(ctx.settings.database_url, gateway.url)
        deadline = time.monotonic() + 90
        while len(gateway.posts) < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        os.killpg(scheduler.pid, signal.SIGKILL)
        scheduler.wait(timeout=30)
        sent_before = len(gateway.posts)
        assert 5 <= sent_before < 30, f"the kill did not land mid-dispatch ({sent_before} sent)"

        # After the lease expires a new scheduler takes over and sends the rest, once each.
        scheduler = _start_scheduler(ctx.settings.database_url, gateway.url)
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                with ctx.uow() as uow:
                    pending, sending = (
                        uow.session.scalar(
                            select(func.count(Notification.id)).where(
                                Notification.channel == "sms", Notification.status == status
                            )
                        )
                        for status in ("pending", "sending")
                    )
                # Done when nothing waits and only the message in doubt since the kill is left.
                if not pending and sending <= 1:
                    break
                time.sleep(0.5)
            assert not pending, f"{pending} SMS still pending after the restart"
        finally:
            os.killpg(scheduler.pid, signal.SIGKILL)
            scheduler.wait(timeout=30)
    finally:
        gateway.close()
    messages = gateway.messages()
    assert len(messages) == len(set(messages)), "a message reached the gateway twice"
    with ctx.uow() as uow:
        rows = uow.session.execute(
            select(Notification.status, func.count())
            .where(Notification.channel == "sms")
            .group_by(Notification.status)
        ).all()
    by_status = dict(rows)
    sent, in_doubt = by_status.get("sent", 0), by_status.get("sending", 0) + by_status.get("failed", 0)
    # Every SMS was sent exactly once, except at most the one in flight when the process died:
    # that one is left for a person to check ("sending" until its claim expires, then "failed").
    assert sent + in_doubt == 30
    assert in_doubt <= 1
    assert sent <= len(gateway.posts) <= sent + in_doubt
    assert check_all(ctx).ok
