"""Health and metrics: `/livez` (static), `/healthz` (database, migrations, scheduler), `/metrics`.

`/metrics` speaks the Prometheus text format. The gauges are counted when Prometheus scrapes,
with index-backed COUNT queries, never per request; request latency is a histogram recorded
around every request by the hooks `register(app)` installs.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Iterator
from datetime import datetime
from functools import lru_cache

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from engine.context import Context
from engine.deadlines import watcher
from models import Dossier, Notification, SchedulerHeartbeat, SlaAlert, WorkItem
from models.dossier import OPEN_STATUSES
from models.migrate import current_revision, head_revision
from models.sla import ALERT_KINDS
from web.extensions import limiter

bp = Blueprint("health", __name__)
LOG = logging.getLogger("motcua.web")
LOOPBACK = ("127.0.0.1", "::1")
HISTORY_TTL = 300.0
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@bp.get("/livez")
def livez() -> Response:
    """The process answers."""
    return Response("ok\n", mimetype="text/plain")


@lru_cache(maxsize=1)
def _head() -> str | None:
    # The newest revision shipped with the code never changes while the process runs.
    return head_revision()


def _ctx() -> Context:
    return current_app.extensions["motcua"]


def _now() -> datetime:
    return current_app.config["MOTCUA_CLOCK"]()


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """Readiness: 200 when the database answers and migrations are current; 503 otherwise."""
    ctx = _ctx()
    head = _head()
    body: dict = {
        "status": "ok",
        "database": "ok",
        "migrations": {"current": None, "head": head},
        "scheduler": {"last_tick": None, "stale": None},
    }
    try:
        with ctx.db.connect() as connection:
            connection.execute(text("SELECT 1"))
        current = current_revision(ctx.db)
        body["migrations"]["current"] = current
        if current == head:
            with ctx.uow() as uow:
                beat = watcher.heartbeat(
                    uow.session,
                    _now(),
                    interval_seconds=ctx.settings.scheduler_interval_seconds,
                    lease_seconds=ctx.settings.scheduler_lease_seconds,
                )
            body["scheduler"] = {
                "last_tick": beat.ran_at.isoformat() if beat.ran_at else None,
                "stale": beat.stale,
            }
    except Exception as exc:  # any failure to reach the database is the answer, not a crash
        LOG.warning("health check: database unreachable: %s", type(exc).__name__)
        body["status"], body["database"] = "down", "unreachable"
        return jsonify(body), 503
    if body["migrations"]["current"] != head:
        body["status"] = "down"
        return jsonify(body), 503
    if body["scheduler"]["stale"]:
        body["status"] = "degraded"
    return jsonify(body), 200


class DossierCollector(Collector):
    """The gauges read from the database at scrape time."""

    def __init__(self, ctx: Context, clock: object) -> None:
        self.ctx = ctx
        self.clock = clock
        self._cached: tuple[float, dict] | None = None

    def _history(self, session: Session, moment: float) -> dict:
        if self._cached is None or moment - self._cached[0] > HISTORY_TTL:
            raised = dict(session.execute(select(SlaAlert.kind, func.count()).group_by(SlaAlert.kind)).all())
            sent = session.scalar(
                select(func.count()).select_from(Notification).where(Notification.status == "sent")
            )
            self._cached = (moment, {"alerts": raised, "sent": sent or 0})
        return self._cached[1]

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
        tick_ms = GaugeMetricFamily(
            "motcua_scheduler_last_tick_duration_seconds", "Duration of the last watcher tick"
        )
        with self.ctx.uow() as uow:
            s = uow.session
            # ix_dossier_status_due serves both dossier counts; the partial ix_work_item_open_due the items.
            counts = dict(
                s.execute(
                    select(Dossier.status, func.count())
                    .where(Dossier.status.in_(OPEN_STATUSES))
                    .group_by(Dossier.status)
                ).all()
            )
            for status in OPEN_STATUSES:
                by_status.add_metric([status], counts.get(status, 0))
            overdue.add_metric(
                [],
                s.scalar(
                    select(func.count())
                    .select_from(Dossier)
                    .where(Dossier.status == "processing", Dossier.due_at < now)
                ),
            )
            overdue_items.add_metric(
                [],
                s.scalar(
                    select(func.count())
                    .select_from(WorkItem)
                    .where(WorkItem.completed_at.is_(None), WorkItem.due_at < now)
                ),
            )
            # The outbox's live states each have a partial index; sent rows and alerts grow with
            # history, so their counts are refreshed at most every HISTORY_TTL seconds.
            for status in ("pending", "sending", "failed"):
                outbox.add_metric(
                    [status],
                    s.scalar(
                        select(func.count()).select_from(Notification).where(Notification.status == status)
                    ),
                )
            history = self._history(s, time.monotonic())
            outbox.add_metric(["sent"], history["sent"])
            for kind in ALERT_KINDS:
                alerts.add_metric([kind], history["alerts"].get(kind, 0))
            beat = s.get(SchedulerHeartbeat, watcher.HEARTBEAT)
            if beat is not None and beat.ticks:
                tick_age.add_metric([], max(0.0, (now - beat.ran_at).total_seconds()))
                if beat.duration_ms is not None:
                    tick_ms.add_metric([], beat.duration_ms / 1000)
        yield from (by_status, overdue, overdue_items, alerts, outbox, tick_age, tick_ms)


def _registry() -> tuple[CollectorRegistry, Histogram]:
    """One registry per app, so two apps in a process (tests) never share series."""
    found = current_app.extensions.get("motcua_metrics")
    if found is None:
        found = _build_registry(current_app)
    return found


def _build_registry(app: Flask) -> tuple[CollectorRegistry, Histogram]:
    registry = CollectorRegistry(auto_describe=False)
    latency = Histogram(
        "motcua_http_request_duration_seconds",
        "HTTP request latency by blueprint, endpoint and status",
        ["blueprint", "endpoint", "status"],
        registry=registry,
        buckets=LATENCY_BUCKETS,
    )
    registry.register(DossierCollector(app.extensions["motcua"], app.config["MOTCUA_CLOCK"]))
    app.extensions["motcua_metrics"] = (registry, latency)
    return registry, latency


@bp.get("/metrics")
def metrics() -> Response:
    """The Prometheus scrape: bearer token when configured, else loopback clients only."""
    token = _ctx().settings.metrics_token
    if token:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return Response(
                "unauthorized\n", status=401, mimetype="text/plain", headers={"WWW-Authenticate": "Bearer"}
            )
    elif request.remote_addr not in LOOPBACK:
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
