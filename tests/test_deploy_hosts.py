"""Two hosts and a scheduler, as docs/deploy.md deploys them: two web processes on their own ports
share PostgreSQL, Redis (the sign-in limits) and the object store (the documents), and one
`motcua scheduler` runs beside them. A document uploaded through one host is served by the other;
sign-in attempts are counted across both; a backup restored into a new database passes `motcua check`
with its documents."""

from __future__ import annotations

import base64
import http.cookiejar
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy.engine import make_url

from engine.accounts import issue_token
from tests.conftest import at
from tests.s3_server import S3Server, free_port, running_s3_server
from web.cli import main

pytestmark = pytest.mark.serial
ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PDF = b"%PDF-1.4\n" + b"giay to " * 500 + b"\n%%EOF\n"


def _redis_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with running_s3_server(tmp_path_factory.mktemp("s3")) as server:
        yield server


class Host:
    """One web process (`motcua serve --no-scheduler`) and a browser's cookies for it."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log.open("w")
        self.proc = subprocess.Popen(
            [str(BIN / "motcua"), "serve", "--no-scheduler", "--port", str(self.port)],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.browser = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _NoRedirect()
        )

    def wait(self, deadline: float) -> None:
        while True:
            try:
                urllib.request.urlopen(self.url + "/livez", timeout=2).read()
                return
            except OSError:
                assert self.proc.poll() is None and time.monotonic() < deadline, (
                    "the web process did not start"
                )
                time.sleep(0.1)

    def request(self, path: str, data: dict | None = None, headers: dict | None = None) -> tuple[int, bytes]:
        body = None
        if data is not None:
            body = urllib.parse.urlencode(data).encode()
        req = urllib.request.Request(self.url + path, data=body, headers=headers or {})
        try:
            with self.browser.open(req, timeout=30) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def sign_in(self, username: str, password: str) -> int:
        page = self.request("/dang-nhap")[1].decode()
        token = re.search(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"', page)
        assert token, page[:500]
        return self.request(
            "/dang-nhap", {"csrf_token": token.group(1), "username": username, "password": password}
        )[0]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # the status of a sign-in is its redirect
        return None


@pytest.mark.skipif(not os.environ.get("MOTCUA_TEST_DATABASE_URL"), reason="needs PostgreSQL")
@pytest.mark.parametrize("backend", ["postgresql"])
@pytest.mark.timeout(90)
def test_two_hosts_share_documents_limits_and_a_restorable_backup(
    backend, make_ctx, s3: S3Server, tmp_path: Path
) -> None:
    if not _redis_answers() or not shutil.which("pg_dump"):
        pytest.skip("needs Redis on 127.0.0.1:6379 and the PostgreSQL client tools")
    ctx = make_ctx(**s3.settings())
    database_url = ctx.settings.database_url
    token = issue_token(ctx, "sonv.motcua", "hai máy chủ", at("2026-11-23 08:00"))
    env = {
        **os.environ,
        **s3.environment(),
        "MOTCUA_DATABASE_URL": database_url,
        "MOTCUA_SECRET_KEY": "s" * 40,
        "MOTCUA_SCHEDULER": "off",
        "MOTCUA_SCHEDULER_INTERVAL_SECONDS": "1",
        "MOTCUA_RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/0?socket_connect_timeout=1&socket_timeout=1",
        "MOTCUA_RATELIMIT_KEY_PREFIX": f"motcua-deploy-{uuid.uuid4().hex}",
        "MOTCUA_LOGIN_RATE_LIMIT": "3 per minute",
        "MOTCUA_LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }
    first, second = Host(env, tmp_path / "web1.log"), Host(env, tmp_path / "web2.log")
    scheduler_log = (tmp_path / "scheduler.log").open("w")
    scheduler = subprocess.Popen(
        [str(BIN / "motcua"), "scheduler"], cwd=ROOT, env=env, stdout=scheduler_log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 30
        first.wait(deadline)
        second.wait(deadline)

        # A dossier with a scan received through the first host's API.
        payload = {
            "procedure_code": "1.001806",
            "channel": "in_person",
            "applicant": {"name": "Trần Thị Bình", "id_number": "001203004006", "phone": "0912345679"},
            "files": [{"name": "don.pdf", "content_base64": base64.b64encode(PDF).decode()}],
        }
        request = urllib.request.Request(
            first.url + "/api/v1/dossiers",
            data=json.dumps(payload).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            code = json.loads(answer.read())["code"]

        # Served by the second host, from the shared store; its sign-in is the limit's first attempt.
        assert second.sign_in("sonv.motcua", "motcua-demo") == 302
        status, page = second.request(f"/ho-so/{code}")
        assert status == 200
        link = re.search(rb'href="(/ho-so/[^"]+/tai-lieu/\d+)"', page)
        assert link, page[:500]
        assert second.request(link.group(1).decode()) == (200, PDF)

        # Three attempts a minute from one address, counted in Redis by both hosts together.
        statuses = [
            first.sign_in("sonv.motcua", "sai-mat-khau"),
            second.sign_in("sonv.motcua", "sai-mat-khau"),
        ]
        statuses.append(first.sign_in("sonv.motcua", "sai-mat-khau"))
        assert 429 not in statuses[:2] and statuses[2] == 429, statuses

        # Both hosts report the shared stores, and the scheduler's ticks.
        for host in (first, second):
            health = json.loads(host.request("/healthz")[1])
            assert health["document_store"] == {"backend": "s3", "state": "ok"}
            assert health["rate_limit"]["shared"] is True
        deadline = time.monotonic() + 15
        while json.loads(first.request("/healthz")[1])["scheduler"]["last_tick"] is None:
            assert time.monotonic() < deadline and scheduler.poll() is None, "the scheduler never ticked"
            time.sleep(0.3)
    finally:
        for host in (first, second):
            host.stop()
        scheduler.terminate()
        scheduler.wait(15)
        scheduler_log.close()

    # The nightly backup, restored into a new database and checked against the store.
    backup = subprocess.run(
        ["bash", str(ROOT / "scripts" / "backup.sh"), str(tmp_path / "backup")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert backup.returncode == 0, backup.stderr
    (dump,) = (tmp_path / "backup").glob("*.dump")
    url = make_url(database_url)
    restored = f"motcua_restored_{uuid.uuid4().hex[:8]}"
    libpq = {
        **env,
        "PGHOST": url.host or "127.0.0.1",
        "PGPORT": str(url.port or 5432),
        "PGUSER": url.username or "",
    }
    if url.password:
        libpq["PGPASSWORD"] = url.password
    subprocess.run(["createdb", restored], env=libpq, check=True, timeout=30)
    try:
        subprocess.run(
            [
                "pg_restore",
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                f"--dbname={restored}",
                str(dump),
            ],
            env=libpq,
            check=True,
            timeout=60,
        )
        restored_url = url.set(database=restored).render_as_string(hide_password=False)
        check = CliRunner().invoke(
            main, ["check"], env={**s3.environment(), "MOTCUA_DATABASE_URL": restored_url}
        )
        assert check.exit_code == 0, check.output
        assert re.search(r"Đã kiểm tra [1-9]\d* tài liệu, 0 tài liệu lỗi", check.output), check.output
    finally:
        subprocess.run(["dropdb", "--if-exists", restored], env=libpq, check=False, timeout=30)
