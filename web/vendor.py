"""Front-end packages served from node_modules (installed from the npm registry by the set-up)."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, abort, current_app, send_from_directory

bp = Blueprint("vendor", __name__, url_prefix="/vendor")

# Only the built distributions of the packages the pages use; nothing else of node_modules.
ALLOWED = ("bootstrap/dist/", "htmx.org/dist/", "bpmn-js/dist/", "chart.js/dist/")


@bp.get("/<path:filename>")
def asset(filename: str):
    """A file of an allowed package's distribution."""
    if not filename.startswith(ALLOWED) or ".." in filename:
        abort(404)
    return send_from_directory(current_app.config["NODE_MODULES"], filename, max_age=86400)


def favicon() -> Response:
    """The site icon at /favicon.ico, where browsers ask for it unprompted: the SVG in web/static."""
    static = Path(current_app.root_path) / "static"
    return send_from_directory(static, "favicon.svg", mimetype="image/svg+xml", max_age=86400)
