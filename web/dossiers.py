"""The dossier page (status, appointment, control sheet, diagram, documents, events), its printed
forms, its documents and its BPMN, for officers of the agencies concerned."""

from __future__ import annotations

import segno
from flask import Blueprint, Response, abort, render_template, request, send_file
from flask_login import login_required
from markupsafe import Markup
from sqlalchemy import select

from engine.runtime.attachments import open_attachment
from engine.runtime.dossier_views import dossier_view, search_dossiers
from models import Officer, ProcessVersion
from web.helpers import engine_ctx, now
from web.inbox import me

bp = Blueprint("dossiers", __name__, url_prefix="/ho-so")

FORMS = {
    "01": "form_01.html",  # Giấy tiếp nhận hồ sơ và hẹn trả kết quả
    "02": "form_02.html",  # Phiếu yêu cầu bổ sung, hoàn thiện hồ sơ
    "03": "form_03.html",  # Phiếu từ chối tiếp nhận, giải quyết hồ sơ
    "dung": "form_stop.html",  # Phiếu xác nhận dừng giải quyết (rút hồ sơ)
    "06": "form_06.html",  # Phiếu kiểm soát quá trình giải quyết hồ sơ
}


@bp.get("/")
@login_required
def search():  # type: ignore[no-untyped-def]
    """Find a dossier of the agency by code, applicant name or phone."""
    text = request.args.get("q", "")
    with engine_ctx().uow() as uow:
        rows = search_dossiers(uow.session, me(uow.session), text)
        return render_template("search.html", rows=rows, q=text)


@bp.get("/<code>")
@login_required
def show(code: str):  # type: ignore[no-untyped-def]
    """Everything about one dossier."""
    ctx = engine_ctx()
    with ctx.uow() as uow:
        view = dossier_view(ctx, uow.session, me(uow.session), code)
        return render_template("dossier.html", d=view, now=now())


@bp.get("/<code>/quy-trinh.bpmn")
@login_required
def bpmn(code: str):  # type: ignore[no-untyped-def]
    """The BPMN of the dossier's own process version, as inert data."""
    ctx = engine_ctx()
    with ctx.uow() as uow:
        view = dossier_view(ctx, uow.session, me(uow.session), code)
        xml = uow.session.scalar(select(ProcessVersion.bpmn_xml).where(ProcessVersion.id == view.version.id))
    return xml_response(xml or "")


def xml_response(xml: str) -> Response:
    """Raw XML served so that a browser can never run anything inside it."""
    response = Response(xml, mimetype="application/xml")
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.get("/<code>/tai-lieu/<int:attachment_id>")
@login_required
def attachment(code: str, attachment_id: int):  # type: ignore[no-untyped-def]
    """Download one document of the dossier."""
    ctx = engine_ctx()
    with ctx.uow() as uow:
        view = dossier_view(ctx, uow.session, me(uow.session), code)
        found, path = open_attachment(ctx.settings, uow.session, attachment_id)
        if found.dossier_id != view.dossier.id or not path.exists():
            abort(404)
        name, media_type = found.file_name, found.media_type
    response = send_file(path, mimetype=media_type, as_attachment=True, download_name=name)
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
def print_form(code: str, form: str):  # type: ignore[no-untyped-def]
    """A printable form (A5) of the dossier."""
    template = FORMS.get(form)
    if template is None:
        abort(404)
    ctx = engine_ctx()
    with ctx.uow() as uow:
        view = dossier_view(ctx, uow.session, me(uow.session), code)
        receiver = (
            uow.session.get(Officer, view.dossier.received_by_id) if view.dossier.received_by_id else None
        )
        return render_template(
            template,
            d=view,
            receiver=receiver,
            qr=lookup_qr(code),
            today=now(),
            form=form,
            settings=ctx.settings,
        )
