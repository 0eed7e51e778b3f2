"""Check a production install the way a host gets it (`make install-check`).

Builds the wheel from this checkout (`pip install .` into a fresh virtual environment in a
temporary directory outside the checkout), then, from that directory and with production-like
settings: no test tooling installed, `motcua db upgrade`, gunicorn with web/gunicorn_conf.py, and
requests for /healthz, a page, the static files and the front-end files (bpmn-js's font included).
Every line gunicorn and the app write must be JSON. Exits 1 naming what failed.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FILES = (
    "/static/app.css",
    "/vendor/bootstrap/dist/css/bootstrap.min.css",
    "/vendor/htmx.org/dist/htmx.min.js",
    "/vendor/bpmn-js/dist/bpmn-navigated-viewer.production.min.js",
    "/vendor/bpmn-js/dist/assets/bpmn-font/font/bpmn.woff2",
    "/vendor/chart.js/dist/chart.umd.js",
)


def run(*args: str | Path, **kwargs) -> subprocess.CompletedProcess:
    print("$", " ".join(str(a) for a in args), flush=True)
    return subprocess.run([str(a) for a in args], check=True, **kwargs)


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="motcua-install-") as tmp:
        base = Path(tmp)
        venv = base / "venv"
        started = time.monotonic()
        run(sys.executable, "-m", "venv", venv)
        run(venv / "bin" / "python", "-m", "pip", "install", "--quiet", ROOT)
        print(f"installed in {time.monotonic() - started:.0f} s", flush=True)
        for tool in ("pytest", "hypothesis", "playwright", "mypy"):
            probe = subprocess.run([venv / "bin" / "python", "-c", f"import {tool}"], capture_output=True)
            if probe.returncode == 0:
                failures.append(f"test tooling installed: {tool}")
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("MOTCUA_", "PROMETHEUS_", "VIRTUAL_ENV", "PYTHON"))
        }
        env.update(
            MOTCUA_DATABASE_URL=f"sqlite:///{base / 'motcua.db'}",
            MOTCUA_ATTACHMENTS_DIR=str(base / "documents"),
            MOTCUA_SECRET_KEY="install-check-" + os.urandom(16).hex(),
            MOTCUA_SCHEDULER="off",
            PROMETHEUS_MULTIPROC_DIR=str(base / "metrics"),
            PATH=f"{venv / 'bin'}:{env.get('PATH', '')}",
        )
        run(venv / "bin" / "motcua", "db", "upgrade", cwd=base, env=env)
        port = free_port()
        log = (base / "gunicorn.log").open("w+")
        server = subprocess.Popen(
            [venv / "bin" / "gunicorn", "-c", "python:web.gunicorn_conf", "--workers", "2",
             "--bind", f"127.0.0.1:{port}", "web:create_app()"],
            cwd=base, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    status, body = get(url + "/healthz")
                    break
                except OSError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise SystemExit("gunicorn did not start; its log:\n" + log.read()) from None
                    time.sleep(0.3)
            health = json.loads(body)
            print("/healthz", status, json.dumps(health, ensure_ascii=False), flush=True)
            if status != 200 or health.get("files") != "ok":
                failures.append(f"/healthz {status}: {health}")
            status, body = get(url + "/dang-nhap")
            if status != 200 or "Đăng nhập".encode() not in body:
                failures.append(f"/dang-nhap answered {status}")
            for path in FILES:
                status, body = get(url + path)
                print(path, status, len(body), "bytes", flush=True)
                if status != 200 or not body:
                    failures.append(f"{path} answered {status}")
        finally:
            server.terminate()
            server.wait(20)
        log.seek(0)
        lines = [line for line in log.read().splitlines() if line.strip()]
        for line in lines:
            try:
                json.loads(line)
            except ValueError:
                failures.append(f"not a JSON log line: {line[:200]}")
        print(f"{len(lines)} log lines, all JSON" if lines and not failures else f"{len(lines)} log lines")
    for failure in failures:
        print("FAILED:", failure)
    print("install check:", "failed" if failures else "ok")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
