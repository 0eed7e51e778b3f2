"""Front-end packages (Bootstrap, htmx, bpmn-js, Chart.js) at /vendor/.

In a checkout they are served from node_modules (installed from the npm registry by the set-up); an
installed wheel carries the files the pages use in web/vendor_assets (setup.py copies them at build
time); MOTCUA_ASSETS_DIR points elsewhere (a directory laid out like node_modules).
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, abort, current_app, send_from_directory

from config import PROJECT_ROOT, Settings
from web.vendor_files import FILES, PACKAGES

bp = Blueprint("vendor", __name__, url_prefix="/vendor")

# Only the built distributions of the packages the pages use; nothing else of node_modules.
ALLOWED = PACKAGES
PACKAGED = Path(__file__).resolve().parent / "vendor_assets"


def assets_dir(settings: Settings) -> Path:
    """Where the front-end files are read from: the setting, else the wheel's copy, else node_modules."""
    if settings.assets_dir:
        return Path(settings.assets_dir)
    if PACKAGED.is_dir():
        return PACKAGED
    return PROJECT_ROOT / "node_modules"


def missing_assets(root: Path) -> list[str]:
    """The files the pages link to that are not under `root` (checked by /healthz)."""
    return [str(root / name) for name in FILES if not (root / name).is_file()]


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
