"""The install's part of `/healthz`: templates, static and front-end files present, and the rate-limit
store reachable.

A wheel built without its front-end files, or a MOTCUA_ASSETS_DIR pointing at the wrong directory,
would serve pages without styles or scripts while the database answers: the missing paths are named
and the instance is reported down. A rate-limit store (Redis) that does not answer degrades the
instance: limits are then counted per process in memory (Flask-Limiter's fallback) until it is back.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Flask

from engine import storage
from web.extensions import limiter
from web.vendor import missing_assets

LOG = logging.getLogger(__name__)

# A few files every page needs: when these are there, the package was installed whole.
TEMPLATES = ("base.html", "login.html", "error.html")
STATIC = ("app.css", "app.js", "favicon.svg")


def missing_files(app: Flask) -> dict[str, list[str]]:
    """The missing templates, static files and front-end files, each as a full path."""
    root = Path(app.root_path)
    templates = root / (app.template_folder or "templates")
    static = Path(app.static_folder or root / "static")
    found = {
        "templates": [str(templates / name) for name in TEMPLATES if not (templates / name).is_file()],
        "static": [str(static / name) for name in STATIC if not (static / name).is_file()],
        "assets": missing_assets(Path(app.config["NODE_MODULES"])),
    }
    return {kind: paths for kind, paths in found.items() if paths}


def rate_limit_state(app: Flask) -> dict[str, Any]:
    """Which store counts the limits and whether it answers (a ping: Redis's PING)."""
    uri = str(app.config.get("RATELIMIT_STORAGE_URI") or "memory://")
    kind = uri.split(":", 1)[0]
    if kind == "memory":
        return {"storage": kind, "state": "ok", "shared": False}
    try:
        answers = bool(limiter.storage.check())
    except Exception as exc:  # the store's client failing is the answer, not a crash
        LOG.warning("health check: rate-limit store failed: %s", type(exc).__name__)
        answers = False
    if answers:
        return {"storage": kind, "state": "ok", "shared": True}
    return {
        "storage": kind,
        "state": "unreachable",
        "shared": False,
        "message": "MOTCUA_RATELIMIT_STORAGE_URI does not answer: limits are counted per process",
    }


def checks(app: Flask) -> tuple[dict[str, Any], str]:
    """The body's `files`, `rate_limit` and `document_store` entries, and the worst status they imply
    (ok, degraded, down). A document store that cannot be written makes the host down: receptions
    and downloads would fail."""
    missing = missing_files(app)
    limits = rate_limit_state(app)
    documents = storage.health(app.extensions["motcua"].settings)
    body: dict[str, Any] = {"files": missing or "ok", "rate_limit": limits, "document_store": documents}
    if missing or documents["state"] != "ok":
        return body, "down"
    return body, "degraded" if limits["state"] != "ok" else "ok"


__all__ = ["checks", "missing_files", "rate_limit_state"]
