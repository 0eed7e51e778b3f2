"""Front-end packages served from node_modules (installed from the npm registry by the set-up)."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, send_from_directory

bp = Blueprint("vendor", __name__, url_prefix="/vendor")

# Only the built distributions of the packages the pages use; nothing else of node_modules.
ALLOWED = ("bootstrap/dist/", "htmx.org/dist/", "bpmn-js/dist/", "chart.js/dist/")


@bp.get("/<path:filename>")
def asset(filename: str):
    """A file of an allowed package's distribution."""
    if not filename.startswith(ALLOWED) or ".." in filename:
        abort(404)
    return send_from_directory(current_app.config["NODE_MODULES"], filename, max_age=86400)
