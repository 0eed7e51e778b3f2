"""Health, metrics and structured logs as an operator sees them."""

from __future__ import annotations

import io
import json
import logging
import re
import time
from datetime import UTC, datetime

from sqlalchemy import func, select, text

from config import Settings
from engine.context import Context
from engine.deadlines import watcher
from engine.logs import DossierLogger, configure_logging, json_handler
from engine.runtime import dossiers as svc
from models import Notification, SlaAlert
from models.migrate import head_revision
from tests.conftest import Officers, at

APPLICANT = svc.Applicant(name="Nguyễn Văn An", id_number="001203004005", phone="0912345678")


def receive(ctx: Context, when: str) -> svc.Receipt:
    return svc.receive_dossier(
        ctx,
        procedure_code="1.001806",
        applicant=APPLICANT,
        channel="in_person",
        officer_id=Officers(ctx)["sonv.motcua"],
        now=at(when),
    )


def sample(metrics: str, name: str) -> float:
    """The value of one sample line (`name` includes its labels) of a Prometheus text page."""
    found = re.search(rf"^{re.escape(name)} (\S+)$", metrics, re.MULTILINE)
    assert found, f"{name} not in metrics"
    return float(found.group(1))


def test_healthz_is_ok_on_a_migrated_database_with_a_fresh_scheduler(app, clock):
    ctx = app.extensions["motcua"]
    http = app.test_client()
    clock.moment = datetime.now(UTC)
    body = http.get("/healthz").get_json()
    # Never ticked: the scheduler is stale, which degrades but does not fail the instance.
    assert (body["status"], body["scheduler"]["stale"]) == ("degraded", True)
    watcher.tick(ctx, clock.moment, holder="test")
    response = http.get("/healthz")
    body = response.get_json()
    assert response.status_code == 200
    assert (body["status"], body["database"], body["scheduler"]["stale"]) == ("ok", "ok", False)
    assert body["migrations"] == {"current": head_revision(), "head": head_revision()}
    assert body["scheduler"]["last_tick"] is not None
    assert http.get("/livez").get_data(as_text=True) == "ok\n"


def test_healthz_is_503_while_migrations_are_behind(app):
    ctx = app.extensions["motcua"]
    with ctx.db.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0003'"))
    try:
        response = app.test_client().get("/healthz")
        assert response.status_code == 503
        body = response.get_json()
        assert (body["status"], body["database"]) == ("down", "ok")
        assert body["migrations"] == {"current": "0003", "head": head_revision()}
    finally:
        with ctx.db.begin() as connection:
            connection.execute(
                text("UPDATE alembic_version SET version_num = :head"), {"head": head_revision()}
            )


def test_healthz_is_503_when_the_database_cannot_be_reached():
    from web import create_app

    settings = Settings().with_overrides(
        database_url="postgresql+psycopg://nobody@127.0.0.1:9/none?connect_timeout=2", secret_key="x"
    )
    app = create_app(settings, test_config={"TESTING": True})
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["status"] == "down"
    assert response.get_json()["database"] == "unreachable"


def test_metrics_count_open_and_overdue_work_alerts_and_notifications(app, clock):
    ctx = app.extensions["motcua"]
    for when in ("2026-11-23 08:00", "2026-11-23 09:00", "2026-11-23 10:00"):
        receive(ctx, when)
    moment = at("2026-11-23 16:00")  # each first step had 4 working hours
    watcher.tick(ctx, moment, holder="test")
    clock.moment = moment
    http = app.test_client()
    assert http.get("/livez").status_code == 200
    page = http.get("/metrics")
    assert page.status_code == 200 and page.mimetype == "text/plain"
    metrics = page.get_data(as_text=True)
    assert sample(metrics, 'motcua_open_dossiers{status="processing"}') == 3
    assert sample(metrics, 'motcua_open_dossiers{status="supplement"}') == 0
    assert sample(metrics, "motcua_overdue_open_dossiers") == 0
    # 08:00 + 4 h = 13:30 and 09:00 + 4 h = 14:30 are past; 10:00 + 4 h = 15:30 too.
    assert sample(metrics, "motcua_overdue_open_work_items") == 3
    with ctx.uow() as uow:
        overdue_alerts = uow.session.scalar(
            select(func.count()).select_from(SlaAlert).where(SlaAlert.kind == "overdue")
        )
        outbox = dict(
            uow.session.execute(select(Notification.status, func.count()).group_by(Notification.status)).all()
        )
    assert overdue_alerts == 3
    assert sample(metrics, 'motcua_sla_alerts{kind="overdue"}') == 3
    assert outbox["pending"] > 0 and outbox["sent"] > 0  # e-mail/SMS wait; in-app rows are delivered
    assert sample(metrics, 'motcua_notifications{status="pending"}') == outbox["pending"]
    assert sample(metrics, 'motcua_notifications{status="sent"}') == outbox["sent"]
    assert sample(metrics, 'motcua_notifications{status="failed"}') == 0
    assert sample(metrics, "motcua_scheduler_last_tick_age_seconds") >= 0
    assert (
        sample(
            metrics,
            'motcua_http_request_duration_seconds_count{blueprint="health",endpoint="health.livez",status="200"}',
        )
        == 1
    )
    clock.moment = at("2026-12-15 08:00")  # past the ten-working-day appointments
    metrics = http.get("/metrics").get_data(as_text=True)
    assert sample(metrics, "motcua_overdue_open_dossiers") == 3


def test_metrics_need_the_token_when_set_and_loopback_otherwise(make_ctx, tmp_path):
    from web import create_app

    config = {"TESTING": True, "SECRET_KEY": "test-secret"}
    open_app = create_app(ctx=make_ctx(), test_config=config)
    http = open_app.test_client()
    assert http.get("/metrics").status_code == 200
    assert http.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 403
    assert http.get("/metrics", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200
    guarded = create_app(ctx=make_ctx(metrics_token="s3cret"), test_config=config).test_client()
    remote = {"REMOTE_ADDR": "10.1.2.3"}
    assert guarded.get("/metrics").status_code == 401
    assert guarded.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    response = guarded.get("/metrics", headers={"Authorization": "Bearer s3cret"}, environ_base=remote)
    assert response.status_code == 200
    assert "motcua_open_dossiers" in response.get_data(as_text=True)


def test_json_log_lines_carry_the_dossier_code(ctx):
    stream = io.StringIO()
    handler = json_handler(stream)
    logger = logging.getLogger("motcua")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        receipt = receive(ctx, "2026-11-23 08:00")
        DossierLogger(logging.getLogger("motcua.test"), "ABC-1").warning("xem %s", "lại")
        logging.getLogger("motcua.test").info("no dossier here")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    received = next(line for line in lines if line["message"] == "Tiếp nhận hồ sơ")
    assert (received["dossier"], received["level"], received["logger"]) == (
        receipt.code,
        "INFO",
        "motcua.dossiers",
    )
    assert received["time"].endswith("+00:00")
    assert {"message": "xem lại", "dossier": "ABC-1"}.items() <= lines[-2].items()
    assert "dossier" not in lines[-1]


def test_configure_logging_writes_json_at_the_configured_level():
    stream = io.StringIO()
    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    try:
        configure_logging(Settings().with_overrides(log_level="WARNING"), stream)
        logging.getLogger("motcua.test").info("hidden")
        logging.getLogger("motcua.test").warning("shown")
    finally:
        root.handlers[:] = before[0]
        root.setLevel(before[1])
    (line,) = stream.getvalue().splitlines()
    assert {"level": "WARNING", "logger": "motcua.test", "message": "shown"}.items() <= json.loads(
        line
    ).items()


def test_a_signed_in_health_probe_answers_at_once_on_the_request_transaction(web) -> None:
    # The page header's read must not hold the request's transaction while /healthz checks the database.
    web.login("sonv.motcua")
    started = time.perf_counter()
    response = web.get("/healthz")
    assert response.status_code in (200, 503) and time.perf_counter() - started < 10
    assert response.get_json()["database"] == "ok"
