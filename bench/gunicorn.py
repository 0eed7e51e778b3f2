"""The web app under gunicorn on a free loopback port, as production runs it (its settings,
web/gunicorn_conf.py; benchmarks, fault tests)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(
    database_url: str,
    *,
    workers: int = 2,
    threads: int = 2,
    env: dict[str, str] | None = None,
    root: Path = ROOT,
) -> tuple[subprocess.Popen, int]:
    """Start gunicorn (its own process group, so killpg reaches the workers); wait until it listens.

    `root` is the checkout whose app it serves (another one compares a change with its baseline).
    """
    port = free_port()
    environment = dict(
        os.environ,
        MOTCUA_DATABASE_URL=database_url,
        MOTCUA_SCHEDULER="off",
        MOTCUA_SECRET_KEY="local-run",
        MOTCUA_LOGIN_RATE_LIMIT="1000 per minute",
        **(env or {}),
    )
    command = [
        sys.executable, "-m", "gunicorn", "-c", "python:web.gunicorn_conf",
        "--workers", str(workers), "--threads", str(threads),
        "--bind", f"127.0.0.1:{port}", "--log-level", "warning", "web:create_app()",
    ]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=root, env=environment, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process, port
        except OSError:
            time.sleep(0.2)
    os.killpg(process.pid, 9)
    raise RuntimeError("gunicorn did not start listening within 60 s")
