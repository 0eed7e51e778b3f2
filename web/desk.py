"""Bộ phận Một cửa: receive a dossier, record a supplement's arrival, a withdrawal, the return."""

from __future__ import annotations

import uuid

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from engine.catalogue.procedures import procedure_catalogue
from engine.errors import DomainError, InvalidInput
from engine.runtime import dossiers as svc
from engine.runtime.dossier_views import desk_worklist, dossier_view, result_to_return
from models import Procedure
from models.dossier import CHANNEL_LABELS
from web.helpers import engine_ctx, now, officer, roles_required
from web.inbox import me, uploads_from_request

bp = Blueprint("desk", __name__, url_prefix="/mot-cua")


@bp.get("/")
@roles_required("desk")
def index():  # type: ignore[no-untyped-def]
    """The desk's worklist: results to hand over and dossiers waiting for a supplement."""
    with engine_ctx().uow() as uow:
        agency_id = officer().agency_id
        html = render_template(
            "desk.html",
            ready=desk_worklist(uow.session, agency_id, "result_ready"),
            waiting=desk_worklist(uow.session, agency_id, "supplement"),
        )
    return html


def _checklist(session, code: str | None) -> list[str]:  # type: ignore[no-untyped-def]
    if not code:
        return []
    procedure = session.scalars(select(Procedure).where(Procedure.code == code)).one_or_none()
    return list(procedure.required_documents or []) if procedure else []


@bp.get("/thanh-phan-ho-so")
@roles_required("desk")
def checklist():  # type: ignore[no-untyped-def]
    """The chosen procedure's document checklist (loaded into the receive form by htmx)."""
    with engine_ctx().uow() as uow:
        documents = _checklist(uow.session, request.args.get("procedure_code"))
    return render_template("_checklist.html", documents=documents, checked=[])


@bp.route("/tiep-nhan", methods=["GET", "POST"])
@roles_required("desk")
def receive():  # type: ignore[no-untyped-def]
    """Receive a dossier; a repeated submission of the same form returns the first receipt."""
    errors: dict[str, str] = {}
    values = request.form.to_dict() if request.method == "POST" else {"channel": "in_person"}
    checked = request.form.getlist("documents")
    status = 200
    if request.method == "POST":
        applicant = svc.Applicant(
            name=values.get("applicant_name", "").strip(),
            id_number=values.get("applicant_id_number", "").strip() or None,
            phone=values.get("applicant_phone", "").replace(" ", "").strip() or None,
            email=values.get("applicant_email", "").strip() or None,
            address=values.get("applicant_address", "").strip() or None,
        )
        try:
            if not values.get("procedure_code"):
                raise InvalidInput("Chọn thủ tục hành chính.", "procedure_code")
            receipt = svc.receive_dossier(
                engine_ctx(),
                procedure_code=values["procedure_code"],
                applicant=applicant,
                channel=values.get("channel", ""),
                officer_id=officer().id,
                now=now(),
                documents=checked,
                uploads=uploads_from_request(),
                submission_key=values.get("submission_key") or None,
            )
        except DomainError as exc:
            status = exc.http_status if exc.http_status != 404 else 422
            errors[getattr(exc, "field", None) or "form"] = exc.message
        else:
            if receipt.repeated:
                flash(f"Biểu mẫu đã được gửi trước đó; hồ sơ {receipt.code} đã được tiếp nhận.", "info")
            else:
                flash(f"Đã tiếp nhận hồ sơ {receipt.code}.", "success")
            return redirect(url_for("dossiers.print_form", code=receipt.code, form="01"))
    with engine_ctx().uow() as uow:
        html = render_template(
            "receive.html",
            procedures=procedure_catalogue(uow.session),
            documents=_checklist(uow.session, values.get("procedure_code")),
            checked=checked,
            values=values,
            errors=errors,
            channels=CHANNEL_LABELS,
            # A fresh key per form shown, so a double submission is recognised.
            submission_key=values.get("submission_key") or uuid.uuid4().hex,
        )
    return html, status


def _dossier_form(code: str, template: str, action, success: str, next_url):  # type: ignore[no-untyped-def]
    """Show a one-field desk form for a dossier; on POST run `action` and redirect."""
    ctx = engine_ctx()
    error, status = None, 200
    if request.method == "POST":
        try:
            action()
        except DomainError as exc:
            error, status = exc.message, exc.http_status
        else:
            flash(success, "success")
            return redirect(next_url)
    with ctx.uow() as uow:
        view = dossier_view(ctx, uow.session, me(uow.session), code)
        if view.dossier.agency_id != officer().agency_id:
            abort(403)
        html = render_template(template, d=view, error=error, values=request.form)
    return html, status


@bp.route("/ho-so/<code>/bo-sung", methods=["GET", "POST"])
@roles_required("desk")
def resume(code: str):  # type: ignore[no-untyped-def]
    """The applicant brought the missing documents: the clock restarts (or resumes)."""

    def action() -> None:
        svc.resume(
            engine_ctx(), code, officer().id, now(), note=(request.form.get("note") or "").strip() or None
        )

    return _dossier_form(
        code,
        "desk_resume.html",
        action,
        f"Đã tiếp nhận hồ sơ bổ sung của {code}; thời hạn được tính lại.",
        url_for("dossiers.print_form", code=code, form="01"),
    )


@bp.route("/ho-so/<code>/rut-ho-so", methods=["GET", "POST"])
@roles_required("desk")
def withdraw(code: str):  # type: ignore[no-untyped-def]
    """The applicant withdraws: the dossier stops and the stop notice is printed."""

    def action() -> None:
        svc.withdraw(engine_ctx(), code, officer().id, reason=request.form.get("reason", ""), now=now())

    return _dossier_form(
        code,
        "desk_withdraw.html",
        action,
        f"Đã dừng giải quyết hồ sơ {code}.",
        url_for("dossiers.print_form", code=code, form="dung"),
    )


@bp.route("/ho-so/<code>/tra-ket-qua", methods=["GET", "POST"])
@roles_required("desk")
def return_result(code: str):  # type: ignore[no-untyped-def]
    """Hand the result over: who collected it, when."""

    def action() -> None:
        with engine_ctx().uow() as uow:
            item_id = result_to_return(uow.session, code)
        svc.return_result(
            engine_ctx(), item_id, officer().id, collected_by=request.form.get("collected_by", ""), now=now()
        )

    return _dossier_form(
        code, "desk_return.html", action, f"Đã trả kết quả hồ sơ {code}.", url_for("dossiers.show", code=code)
    )
