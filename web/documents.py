"""Digitisation on the dossier page: attach the scan of a required document (signed when a PDF and the
install signs), reuse an earlier digitised document of the same applicant, sign an attached PDF."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import login_required

from engine.documents import digitisation as dg
from engine.errors import DomainError, InvalidInput
from engine.runtime.dossier_views import dossier_page
from web.helpers import engine_ctx, now, officer, request_uow
from web.inbox import uploads_from_request

bp = Blueprint("documents", __name__, url_prefix="/ho-so")


def _page_with_error(code: str, exc: DomainError):
    """The dossier page again with the message, under the error's status; nothing was changed."""
    flash(exc.message, "danger")
    ctx = engine_ctx()
    view = dossier_page(ctx, officer().id, code, uow=request_uow())
    panel = dg.digitisation_panel(ctx, officer().id, code, uow=request_uow())
    return render_template("dossier.html", d=view, digitisation=panel), exc.http_status


def _back(code: str):
    return redirect(url_for("dossiers.show", code=code) + "#digitisation")


@bp.post("/<code>/so-hoa")
@login_required
def digitise(code: str):
    """Attach the scan of one required document, marked digitised."""
    uploads = uploads_from_request("file")
    try:
        if len(uploads) != 1:
            raise InvalidInput("Chọn đúng một tệp bản quét cho thành phần hồ sơ.", "file")
        attachment = dg.digitise_document(
            engine_ctx(),
            officer().id,
            code,
            request.form.get("document", ""),
            uploads[0],
            now(),
            sign=bool(request.form.get("sign")),
        )
    except DomainError as exc:
        return _page_with_error(code, exc)
    signed = " và ký số" if attachment.signature_status == "valid" and request.form.get("sign") else ""
    flash(f"Đã số hóa{signed} “{attachment.document_name}”.", "success")
    return _back(code)


@bp.post("/<code>/so-hoa/su-dung-lai")
@login_required
def reuse(code: str):
    """Attach an earlier digitised document of the applicant instead of asking for it again."""
    raw = request.form.get("id", "")
    try:
        if not raw.isdigit():
            raise InvalidInput("Chọn giấy tờ đã số hóa cần sử dụng lại.", "id")
        copy = dg.reuse_document(
            engine_ctx(), officer().id, code, int(raw), request.form.get("document", ""), now()
        )
    except DomainError as exc:
        return _page_with_error(code, exc)
    flash(f"Đã sử dụng lại giấy tờ đã số hóa cho “{copy.document_name}”.", "success")
    return _back(code)


@bp.post("/<code>/tai-lieu/<int:attachment_id>/ky-so")
@login_required
def sign(code: str, attachment_id: int):
    """Sign an attached PDF with the agency's certificate."""
    try:
        attachment = dg.sign_document(engine_ctx(), officer().id, code, attachment_id, now())
    except DomainError as exc:
        return _page_with_error(code, exc)
    flash(f"Đã ký số “{attachment.file_name}”.", "success")
    return _back(code)
