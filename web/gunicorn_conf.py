"""gunicorn's settings for the web processes: every line JSON, Prometheus counted across workers.

    gunicorn -c python:web.gunicorn_conf --workers 4 --bind 127.0.0.1:8000 'web:create_app()'

Options on the command line win over these. gunicorn's own lines (gunicorn.error) and its access
lines (gunicorn.access, one per request: method, path, status, bytes, duration) are written to stderr
as JSON objects in the format of the app's lines (engine/logs.py), so one `jq` reads them all.

With PROMETHEUS_MULTIPROC_DIR set (an empty directory writable by the service, e.g. systemd's
RuntimeDirectory), each worker writes its request histogram there and `/metrics` adds up every
worker's (prometheus-client's multiprocess mode): the directory is emptied when gunicorn starts and a
dead worker's live gauges are dropped when it exits.
"""

from __future__ import annotations

import gc
import logging
import os
from pathlib import Path
from typing import Any

from engine.logs import JsonFormatter

accesslog = "-"
# No control socket: its default path is one per user, which a second instance on the host would share.
control_socket_disable = True
# The app's own lines go to the root logger's JSON handler (engine.logs.configure_logging, run by
# create_app in each worker); gunicorn's two loggers get one of their own and do not propagate.
logconfig_dict: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "root": {"level": "INFO", "handlers": []},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["error"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": ["access"], "propagate": False},
    },
    "handlers": {
        "error": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"},
        "access": {"class": "logging.StreamHandler", "formatter": "access", "stream": "ext://sys.stderr"},
    },
    "formatters": {
        "json": {"()": "engine.logs.JsonFormatter"},
        "access": {"()": "web.gunicorn_conf.AccessFormatter"},
    },
}


class AccessFormatter(JsonFormatter):
    """gunicorn's access line as JSON: the request's fields, never its query string (it may carry a
    citizen's identity number) nor its cookies."""

    def format(self, record: logging.LogRecord) -> str:
        """The request's method, path, status, size, duration, client and user agent."""
        atoms = record.args if isinstance(record.args, dict) else {}
        record.msg = "%s %s %s"
        record.args = (atoms.get("m"), atoms.get("U"), atoms.get("s"))
        record.method = atoms.get("m")
        record.path = atoms.get("U")
        record.status = _number(atoms.get("s"))
        record.bytes = _number(atoms.get("B"))
        record.duration_ms = _number(atoms.get("M"))
        record.address = atoms.get("h")
        record.user_agent = atoms.get("a")
        return super().format(record)


def _number(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


def on_starting(server: object) -> None:
    """Empty the Prometheus multiprocess directory: values of an earlier run must not be added in."""
    found = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if found:
        directory = Path(found)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink()


def post_worker_init(worker: object) -> None:
    """The app is loaded: set its objects (about 200,000: modules, the ORM's mappings, compiled
    procedures, templates) apart from the cyclic garbage collector. They live as long as the worker,
    and a full collection walked all of them to free nothing, 125 ms with every request of the
    worker waiting; the objects requests make are collected as before."""
    gc.freeze()


def child_exit(server: object, worker: Any) -> None:
    """A worker ended: drop its live gauges (its counters and histograms stay counted)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
