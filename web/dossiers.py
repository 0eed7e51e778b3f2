"""The dossier page (status, appointment, control sheet, diagram, documents, events), its printed
forms, its documents and its BPMN, for officers of the agencies concerned."""

from __future__ import annotations

import segno
from flask import Blueprint, Response, abort, render_template, request, send_file
from flask_login import login_required
from markupsafe import Markup

from engine.runtime.dossier_views import (
    dossier_attachment,
    dossier_bpmn,
    dossier_page,
    dossier_search,
)
from engine.runtime.forms import printed_dossier_form
from web.helpers import engine_ctx, officer, request_uow

bp = Blueprint("dossiers", __name__, url_prefix="/ho-so")

# The forms of a dossier by number (TT 03/2025, Phụ lục I); titles in engine.runtime.forms.
FORMS = {form: f"form_{form}.html" for form in ("01", "02", "03", "05", "06")}
FORM_ALIASES = {"dung": "05"}  # links printed before the stop notice had its number


@bp.get("/")
@login_required
def search():
    """Find a dossier of the agency by code, applicant name or phone."""
    text = request.args.get("q", "")
    rows = dossier_search(engine_ctx(), officer().id, text, uow=request_uow())
    return render_template("search.html", rows=rows, q=text)


@bp.get("/<code>")
@login_required
def show(code: str):
    """Everything about one dossier."""
    view = dossier_page(engine_ctx(), officer().id, code, uow=request_uow())
    return render_template("dossier.html", d=view)


@bp.get("/<code>/quy-trinh.bpmn")
@login_required
def bpmn(code: str):
    """The BPMN of the dossier's own process version, as inert data."""
    return xml_response(dossier_bpmn(engine_ctx(), officer().id, code, uow=request_uow()))


def xml_response(xml: str) -> Response:
    """Raw XML served so that a browser can never run anything inside it."""
    response = Response(xml, mimetype="application/xml")
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.get("/<code>/tai-lieu/<int:attachment_id>")
@login_required
def attachment(code: str, attachment_id: int):
    """Download one document of the dossier."""
    found = dossier_attachment(engine_ctx(), officer().id, code, attachment_id, uow=request_uow())
    response = send_file(
        found.path, mimetype=found.media_type, as_attachment=True, download_name=found.file_name
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


def lookup_qr(code: str) -> Markup:
    """An inline SVG QR code of the citizen's lookup link for this dossier."""
    base = engine_ctx().settings.public_base_url.rstrip("/")
    qr = segno.make(f"{base}/tra-cuu?ma={code}", error="m")
    return Markup(qr.svg_inline(scale=3, border=1, omitsize=False))


@bp.get("/<code>/in/<form>")
@login_required
def print_form(code: str, form: str):
    """A printable form (A5) of the dossier."""
    form = FORM_ALIASES.get(form, form)
    template = FORMS.get(form)
    if template is None:
        abort(404)
    ctx = engine_ctx()
    view, head = printed_dossier_form(ctx, officer().id, code, form, uow=request_uow())
    return render_template(template, d=view, head=head, qr=lookup_qr(code), settings=ctx.settings)
