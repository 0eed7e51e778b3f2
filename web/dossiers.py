"""The dossier page (status, appointment, control sheet, diagram, documents, events), its printed
forms, its documents and its BPMN, for officers of the agencies concerned."""

from __future__ import annotations

from datetime import date

import segno
from flask import Blueprint, Response, abort, flash, redirect, render_template, request, send_file, url_for
from flask_login import login_required
from markupsafe import Markup

from engine.documents.digitisation import digitisation_panel
from engine.errors import InvalidInput
from engine.runtime.dossier_lists import (
    DEFAULT_SORT,
    EXPORT_LIMIT,
    SORTS,
    STATES,
    ListQuery,
    dossier_list,
    dossier_list_export,
)
from engine.runtime.dossier_views import dossier_attachment, dossier_bpmn, dossier_page
from engine.runtime.forms import printed_dossier_form
from web.helpers import engine_ctx, now, officer, request_uow

bp = Blueprint("dossiers", __name__, url_prefix="/ho-so")

# The forms of a dossier by number (TT 03/2025, Phụ lục I); titles in engine.runtime.forms.
FORMS = {form: f"form_{form}.html" for form in ("01", "02", "03", "05", "06")}
FORM_ALIASES = {"dung": "05"}  # links printed before the stop notice had its number


PAGE_SIZE = 50
# The list's parameters as the page names them, and the label an error message gives each.
LIST_PARAMETERS = {
    "state": "Trạng thái",
    "q": "Tìm kiếm",
    "procedure": "Thủ tục",
    "field": "Lĩnh vực",
    "channel": "Hình thức nộp",
    "received_from": "Tiếp nhận từ ngày",
    "received_to": "Tiếp nhận đến ngày",
    "sort": "Sắp xếp",
    "page": "Trang",
}


def _date(name: str) -> date | None:
    value = (request.args.get(name) or "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{LIST_PARAMETERS[name]}: ngày không hợp lệ (ngày/tháng/năm).", name) from None


def _integer(name: str) -> int | None:
    value = (request.args.get(name) or "").strip()
    if not value:
        return None
    if not value.isdigit() or len(value) > 9:
        raise InvalidInput(f"{LIST_PARAMETERS[name]} không hợp lệ.", name)
    return int(value)


def list_query() -> ListQuery:
    """The list's query from the URL, or InvalidInput naming the parameter at fault."""
    args = request.args
    return ListQuery(
        state=args.get("state") or None,
        q=(args.get("q") or "").strip(),
        procedure_id=_integer("procedure"),
        field=args.get("field") or None,
        channel=args.get("channel") or None,
        received_from=_date("received_from"),
        received_to=_date("received_to"),
        sort=args.get("sort") or DEFAULT_SORT,
        page=_integer("page") or 1,
        per_page=PAGE_SIZE,
    )


def _without(name: str | None):
    """Back to the list without the parameter at fault (all of them when it cannot be told)."""
    if name is None:
        return redirect(url_for("dossiers.search"))
    kept = {k: v for k, v in request.args.items() if k in LIST_PARAMETERS and k != name}
    return redirect(url_for("dossiers.search", **kept))


@bp.get("/")
@login_required
def search():
    """Danh sách hồ sơ: the states with counts, filters, search, sorting, paging (the old search URL)."""
    try:
        page = dossier_list(engine_ctx(), officer().id, list_query(), now=now(), uow=request_uow())
    except InvalidInput as exc:
        flash(exc.message, "warning")
        return _without(exc.field)
    args = {k: v for k, v in request.args.items() if k in LIST_PARAMETERS and v}
    return render_template(
        "dossier_list.html",
        page=page,
        query=page.query,
        args=args,
        states=STATES,
        sorts=SORTS,
        export_limit=EXPORT_LIMIT,
    )


@bp.get("/xuat-excel")
@login_required
def export():
    """The filtered list as an XLSX file (every matching dossier up to the export limit)."""
    try:
        found = dossier_list_export(engine_ctx(), officer().id, list_query(), now=now(), uow=request_uow())
    except InvalidInput as exc:
        flash(exc.message, "warning")
        return _without(exc.field)
    response = Response(
        found.content, mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    response.headers["Content-Disposition"] = f'attachment; filename="{found.file_name}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/<code>")
@login_required
def show(code: str):
    """Everything about one dossier."""
    view = dossier_page(engine_ctx(), officer().id, code, uow=request_uow())
    panel = digitisation_panel(engine_ctx(), officer().id, code, uow=request_uow())
    return render_template("dossier.html", d=view, digitisation=panel)


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
        found.stream, mimetype=found.media_type, as_attachment=True, download_name=found.file_name
    )
    response.content_length = found.size
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
