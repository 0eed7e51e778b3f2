"""Production install and operations: health of the install, the rate-limit store, JSON logs,
Prometheus across gunicorn workers, demo data kept out of real databases, secret rotation."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from config import load_settings
from engine.demo_data import dossier_count, load_demo, real_officers
from engine.errors import Conflict
from engine.logs import configure_logging
from models import Agency, Officer
from tests.conftest import WebClient, at

ROOT = Path(__file__).resolve().parent.parent
CLOSED_PORT = "redis://127.0.0.1:1/0?socket_connect_timeout=1&socket_timeout=1"


def _app(make_ctx, clock, **config):
    from web import create_app

    test_config = {"TESTING": True, "SECRET_KEY": "t", "MOTCUA_CLOCK": clock, "RATELIMIT_ENABLED": True}
    return create_app(ctx=make_ctx(login_rate_limit="3 per minute"), test_config=test_config | config)


@pytest.fixture
def fresh_limiter():
    """The limiter is one object for every app of the process: leave it as a fresh one finds it."""
    from web.extensions import limiter

    yield limiter
    limiter._storage_dead = False
    limiter._key_prefix = ""  # read again from the next app's config only while empty


def test_healthz_names_the_missing_templates_and_front_end_files(app, tmp_path) -> None:
    http = app.test_client()
    assert http.get("/healthz").get_json()["files"] == "ok"
    app.config["NODE_MODULES"] = str(tmp_path / "assets")
    app.template_folder = str(tmp_path / "templates")
    response = http.get("/healthz")
    body = response.get_json()
    assert (response.status_code, body["status"]) == (503, "down")
    assert str(tmp_path / "assets" / "bpmn-js/dist/assets/bpmn-js.css") in body["files"]["assets"]
    assert body["files"]["templates"][0] == str(tmp_path / "templates" / "base.html")


def test_sign_in_degrades_to_limits_in_memory_when_redis_is_away(make_ctx, clock, fresh_limiter) -> None:
    app = _app(make_ctx, clock, RATELIMIT_STORAGE_URI=CLOSED_PORT)
    web = WebClient(app)
    stream = io.StringIO()
    configure_logging(load_settings({}), stream)
    try:
        refused = web.login("sonv.motcua", "not-the-password-x1")
        assert web.login("sonv.motcua").status_code == 302  # signed in, not a 500
    finally:
        logging.getLogger().handlers = [
            h for h in logging.getLogger().handlers if not getattr(h, "_motcua", 0)
        ]
    assert refused.status_code in (401, 403)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    failed = [line for line in lines if line.get("event") == "sign_in_failed"]
    assert failed and failed[0]["username"] == "sonv.motcua" and failed[0]["address"] == "127.0.0.1"
    assert "not-the-password-x1" not in stream.getvalue()
    # Still limited, per process: the third sign-in of the minute was the last.
    statuses = [web.login("sonv.motcua", "wrong-password-x2").status_code for _ in range(2)]
    assert statuses == [401, 429]
    body = web.get("/healthz").get_json()
    assert body["rate_limit"]["state"] == "unreachable"
    assert "MOTCUA_RATELIMIT_STORAGE_URI" in body["rate_limit"]["message"]
    assert body["status"] in ("degraded", "down")


def test_sign_in_limits_are_shared_through_redis(make_ctx, clock, fresh_limiter) -> None:
    pytest.importorskip("redis")
    prefix = f"motcua-test-{uuid.uuid4().hex}"
    apps = [
        _app(make_ctx, clock, RATELIMIT_STORAGE_URI="redis://127.0.0.1:6379/0", RATELIMIT_KEY_PREFIX=prefix)
        for _ in range(2)
    ]
    # Two apps stand for two hosts; their limiter counts in the one Redis.
    first, second = WebClient(apps[0]), WebClient(apps[1])
    statuses = [first.login("sonv.motcua", "wrong-password-x1").status_code for _ in range(2)]
    statuses.append(second.login("sonv.motcua", "wrong-password-x1").status_code)
    statuses.append(second.login("sonv.motcua", "wrong-password-x1").status_code)
    assert statuses[-1] == 429 and 429 not in statuses[:3]
    assert second.get("/healthz").get_json()["rate_limit"] == {
        "storage": "redis",
        "state": "ok",
        "shared": True,
    }


def test_secret_key_fallbacks_keep_sessions_through_a_rotation(make_ctx, clock) -> None:
    from web import create_app

    config = {"TESTING": True, "MOTCUA_CLOCK": clock, "RATELIMIT_ENABLED": False}
    before = WebClient(create_app(ctx=make_ctx(secret_key="old-key-" + "x" * 32), test_config=config))
    assert before.login("sonv.motcua").status_code == 302
    cookie = before.http.get_cookie("session")
    assert cookie is not None
    rotated = load_settings(
        {
            "MOTCUA_SECRET_KEY": "new-key-" + "y" * 32,
            "MOTCUA_SECRET_KEY_FALLBACKS": " old-key-" + "x" * 32 + ", ",
        }
    )
    assert rotated.secret_key_fallbacks == ("old-key-" + "x" * 32,)
    for fallbacks, expected in (((), 302), (rotated.secret_key_fallbacks, 200)):
        ctx = make_ctx(secret_key=rotated.secret_key, secret_key_fallbacks=fallbacks)
        after = create_app(ctx=ctx, test_config=config).test_client()
        after.set_cookie("session", cookie.value)
        assert after.get("/").status_code == expected


def test_demo_data_only_into_a_demo_database(ctx) -> None:
    lines: list[str] = []
    done = load_demo(ctx, at("2026-11-23 10:00"), count=2, seed=1, echo=lines.append)
    assert done.dossiers_added >= 1 and dossier_count(ctx) == done.dossiers_added
    again = load_demo(ctx, at("2026-11-23 11:00"), count=2, seed=1, echo=lines.append)
    assert (again.dossiers_added, again.dossiers_before) == (0, done.dossiers_added)
    with ctx.uow() as uow:
        agency = uow.session.scalars(select(Agency).order_by(Agency.id)).first()
        uow.session.add(Officer(username="thu.tran", full_name="Trần Thu", agency_id=agency.id, roles=[]))
        uow.commit()
    assert real_officers(ctx) == ["thu.tran"]
    with pytest.raises(Conflict, match=r"thu\.tran"):
        load_demo(ctx, at("2026-11-23 12:00"), count=2, seed=1, echo=lines.append)
    assert dossier_count(ctx) == done.dossiers_added


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.timeout(90)
def test_gunicorn_writes_json_lines_and_counts_requests_across_workers(sqlite_template, tmp_path) -> None:
    shutil.copy(sqlite_template, tmp_path / "motcua.db")
    port = _free_port()
    env = dict(
        os.environ,
        MOTCUA_DATABASE_URL=f"sqlite:///{tmp_path / 'motcua.db'}",
        MOTCUA_SECRET_KEY="k" * 40,
        MOTCUA_SCHEDULER="off",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
    )
    log = (tmp_path / "gunicorn.log").open("w+")
    args = [
        "-c",
        "python:web.gunicorn_conf",
        # One worker that is replaced after 15 requests: the later requests and the scrapes are served
        # by a second worker process, deterministically (two live workers may share them any way).
        "--workers",
        "1",
        "--max-requests",
        "15",
        "--bind",
        f"127.0.0.1:{port}",
        "web:create_app()",
    ]
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), *args],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 40
        while True:
            try:
                urllib.request.urlopen(url + "/livez", timeout=5).read()
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, log.read()
                time.sleep(0.2)
        for _ in range(20):  # a request waits while the replacement worker boots
            urllib.request.urlopen(url + "/livez", timeout=60).read()
        counts = set()
        for _ in range(4):  # the second worker's scrapes: the sum of both workers', every time
            page = urllib.request.urlopen(url + "/metrics", timeout=60).read().decode()
            found = re.search(
                r'^motcua_http_request_duration_seconds_count\{[^}]*endpoint="health.livez"[^}]*\} (\S+)$',
                page,
                re.M,
            )
            assert found, page[:2000]
            counts.add(float(found.group(1)))
    finally:
        server.terminate()
        server.wait(20)
    log.seek(0)  # the file's offset is shared with gunicorn's
    lines = [json.loads(line) for line in log.read().splitlines() if line.strip()]  # every line JSON
    access = [line for line in lines if line["logger"] == "gunicorn.access" and line.get("path") == "/livez"]
    assert len(access) >= 21 and access[0]["status"] == 200 and access[0]["method"] == "GET"
    # Every request counted once, whichever worker process served it, the one gone included.
    assert counts == {float(len(access))}
    assert len(list((tmp_path / "metrics").glob("histogram_*.db"))) == 2
    assert any(line["logger"] == "gunicorn.error" and "Booting worker" in line["message"] for line in lines)


def test_every_setting_is_in_the_deployment_guide() -> None:
    from dataclasses import fields

    from config import Settings

    guide = (ROOT / "docs" / "deploy.md").read_text()
    missing = []
    for f in fields(Settings):
        name = f"MOTCUA_{f.name.upper()}"
        if f.name == "extra" or f"`{name}`" in guide:
            continue
        # A row may group a family: `MOTCUA_SMTP_HOST`, `_PORT`, ...
        parts = name.split("_")
        grouped = any(
            "_".join(parts[:i]) in guide and f"`_{'_'.join(parts[i:])}`" in guide
            for i in range(2, len(parts))
        )
        if not grouped:
            missing.append(name)
    assert not missing, f"add to the settings table of docs/deploy.md: {missing}"


def test_a_worker_sets_the_loaded_app_apart_from_the_garbage_collector() -> None:
    import gc

    from web import gunicorn_conf

    before = gc.get_freeze_count()
    try:
        gunicorn_conf.post_worker_init(object())
        assert gc.get_freeze_count() > before
        # What a full collection walks is only what was made since.
        assert len(gc.get_objects()) < gc.get_freeze_count()
    finally:
        gc.unfreeze()
    assert gc.get_freeze_count() == 0
