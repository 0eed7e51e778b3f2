"""Health and metrics: `/livez` (static), `/healthz` (database, migrations, scheduler, installed files,
rate-limit store), `/metrics`.

`/metrics` speaks the Prometheus text format. The gauges are counted when Prometheus scrapes,
with index-backed COUNT queries, never per request; request latency is a histogram recorded
around every request by the hooks `register(app)` installs.
"""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Iterator
from datetime import datetime

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from prometheus_client import CollectorRegistry, Histogram, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

from engine.context import Context
from engine.statistics import health
from web import install_health
from web.extensions import limiter

bp = Blueprint("health", __name__)
LOOPBACK = ("127.0.0.1", "::1")
HISTORY_TTL = 300.0
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@bp.get("/livez")
def livez() -> Response:
    """The process answers."""
    return Response("ok\n", mimetype="text/plain")


def _ctx() -> Context:
    return current_app.extensions["motcua"]


def _now() -> datetime:
    return current_app.config["MOTCUA_CLOCK"]()


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """Readiness: 200 when the database answers, migrations are current and the templates and front-end
    files are installed; 503 otherwise."""
    found = health.readiness(_ctx(), _now())
    beat = found.scheduler
    body: dict = {
        "status": found.status,
        "database": "ok" if found.database_ok else "unreachable",
        "migrations": {"current": found.current_revision, "head": found.head_revision},
        # Judged by the leader's own interval; stale makes the status "degraded" (200), not 503: the
        # web process itself serves, the operator's alert fires on status != ok (docs/deploy.md).
        "scheduler": {
            "last_tick": beat.ran_at.isoformat() if beat and beat.ran_at else None,
            "stale": beat.stale if beat else None,
            "holder": beat.holder if beat else None,
            "interval_seconds": beat.interval_seconds if beat else None,
        },
    }
    installed, install_status = install_health.checks(current_app)
    body.update(installed)
    ranks = ("ok", "degraded", "down")
    body["status"] = max(body["status"], install_status, key=ranks.index)
    return jsonify(body), 503 if body["status"] == "down" else 200


class DossierCollector(Collector):
    """The gauges read from the database at scrape time."""

    def __init__(self, ctx: Context, clock: object) -> None:
        self.ctx = ctx
        self.clock = clock
        self._cached: tuple[float, health.History] | None = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """Count open dossiers, overdue work, alerts and notifications with index-backed queries."""
        now: datetime = self.clock()  # type: ignore[operator]
        by_status = GaugeMetricFamily("motcua_open_dossiers", "Open dossiers by status", labels=["status"])
        overdue = GaugeMetricFamily(
            "motcua_overdue_open_dossiers", "Dossiers being processed (clock running) past their due time"
        )
        overdue_items = GaugeMetricFamily(
            "motcua_overdue_open_work_items", "Open work items past their due time"
        )
        alerts = GaugeMetricFamily(
            "motcua_sla_alerts", "Alerts raised by the SLA watcher, by kind", labels=["kind"]
        )
        outbox = GaugeMetricFamily(
            "motcua_notifications", "Notifications in the outbox by status", labels=["status"]
        )
        tick_age = GaugeMetricFamily(
            "motcua_scheduler_last_tick_age_seconds", "Seconds since the last watcher tick"
        )
        portal = GaugeMetricFamily(
            "motcua_portal_messages_unsent",
            "Messages for the national portal not sent yet, by status (failed: waiting for an administrator)",
            labels=["status"],
        )
        tick_ms = GaugeMetricFamily(
            "motcua_scheduler_last_tick_duration_seconds", "Duration of the last watcher tick"
        )
        # Alerts and sent messages grow with history: counted at most every HISTORY_TTL seconds.
        moment = time.monotonic()
        stale = self._cached is None or moment - self._cached[0] > HISTORY_TTL
        found = health.gauges(self.ctx, now, with_history=stale)
        if found.history is not None:
            self._cached = (moment, found.history)
        history = self._cached[1]  # type: ignore[index]
        for status, count in found.open_dossiers.items():
            by_status.add_metric([status], count)
        overdue.add_metric([], found.overdue_dossiers)
        overdue_items.add_metric([], found.overdue_work_items)
        for status, count in found.outbox.items():
            outbox.add_metric([status], count)
        outbox.add_metric(["sent"], history.sent)
        for kind, count in history.alerts.items():
            alerts.add_metric([kind], count)
        if found.tick_age_seconds is not None:
            tick_age.add_metric([], found.tick_age_seconds)
        if found.tick_duration_seconds is not None:
            tick_ms.add_metric([], found.tick_duration_seconds)
        for status, count in (found.portal or {}).items():
            portal.add_metric([status], count)
        yield from (by_status, overdue, overdue_items, alerts, outbox, tick_age, tick_ms, portal)


def _registry() -> tuple[CollectorRegistry, Histogram]:
    """One registry per app, so two apps in a process (tests) never share series."""
    found = current_app.extensions.get("motcua_metrics")
    if found is None:
        found = _build_registry(current_app)
    return found


def _build_registry(app: Flask) -> tuple[CollectorRegistry, Histogram]:
    """The app's registry. Under gunicorn with PROMETHEUS_MULTIPROC_DIR (web/gunicorn_conf.py) every
    worker writes its histogram to that directory and a scrape adds up all workers' files, so the
    counts never go backwards when the scrape lands on another worker."""
    registry = CollectorRegistry(auto_describe=False)
    shared = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
    latency = Histogram(
        "motcua_http_request_duration_seconds",
        "HTTP request latency by blueprint, endpoint and status",
        ["blueprint", "endpoint", "status"],
        registry=None if shared else registry,
        buckets=LATENCY_BUCKETS,
    )
    if shared:
        multiprocess.MultiProcessCollector(registry)
    registry.register(DossierCollector(app.extensions["motcua"], app.config["MOTCUA_CLOCK"]))
    app.extensions["motcua_metrics"] = (registry, latency)
    return registry, latency


@bp.get("/metrics")
def metrics() -> Response:
    """The Prometheus scrape: bearer token when configured, else loopback clients only (none behind a
    trusted proxy, which may itself be the loopback client)."""
    token = _ctx().settings.metrics_token
    if token:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return Response(
                "unauthorized\n", status=401, mimetype="text/plain", headers={"WWW-Authenticate": "Bearer"}
            )
    elif _ctx().settings.trusted_proxies or request.remote_addr not in LOOPBACK:
        return Response("forbidden\n", status=403, mimetype="text/plain")
    registry, _ = _registry()
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


def _start_timer() -> None:
    g.motcua_started = time.perf_counter()


def _observe(response: Response) -> Response:
    started = g.pop("motcua_started", None)
    if started is not None:
        _, latency = _registry()
        endpoint = request.endpoint or "unknown"
        latency.labels(request.blueprint or "", endpoint, str(response.status_code)).observe(
            time.perf_counter() - started
        )
    return response


def register(app: Flask) -> None:
    """Install the latency hooks and exempt the probes from rate limits."""
    _build_registry(app)
    app.before_request(_start_timer)
    app.after_request(_observe)
    limiter.exempt(bp)


__all__ = ["DossierCollector", "bp", "register"]
