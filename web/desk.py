"""Bộ phận Một cửa: receive a dossier, record a supplement's arrival, a withdrawal, the return."""

from __future__ import annotations

import uuid

from flask import Blueprint, flash, redirect, render_template, request, url_for

from engine.documents.digitisation import reusable_for_applicant
from engine.errors import DomainError, InvalidFields
from engine.runtime import dossiers as svc
from engine.runtime.desk import appointment_preview, desk_checklist, desk_dossier, desk_page, receive_form
from engine.runtime.postal import PostalIntake
from models.dossier import CHANNEL_LABELS
from web.counter import counter_form
from web.helpers import engine_ctx, now, officer, request_uow, roles_required
from web.inbox import uploads_from_request

bp = Blueprint("desk", __name__, url_prefix="/mot-cua")


@bp.get("/")
@roles_required("desk")
def index():
    """The desk's worklist: results to hand over and dossiers waiting for a supplement."""
    page = desk_page(engine_ctx(), officer().id, uow=request_uow())
    return render_template("desk.html", ready=page.ready, waiting=page.waiting, **counter_form())


@bp.get("/thanh-phan-ho-so")
@roles_required("desk")
def checklist():
    """The chosen procedure's document checklist (loaded into the receive form by htmx)."""
    documents = desk_checklist(
        engine_ctx(), officer().id, request.args.get("procedure_code"), uow=request_uow()
    )
    return render_template("_checklist.html", documents=documents, checked=[], errors={})


@bp.get("/giay-to-da-so-hoa")
@roles_required("desk")
def reusable():
    """The applicant's earlier digitised documents, offered for the chosen procedure's checklist (htmx)."""
    ctx, uow = engine_ctx(), request_uow()
    found = reusable_for_applicant(ctx, officer().id, request.args.get("applicant_id_number"), uow=uow)
    documents = (
        desk_checklist(ctx, officer().id, request.args.get("procedure_code"), uow=uow) if found else []
    )
    return render_template(
        "_reusable.html", reusable=found if documents else [], documents=documents, values={}
    )


def _reuse_choices() -> list[tuple[int, str]]:
    """The earlier digitised documents chosen on the receiving form: (attachment id, checklist item)."""
    return [
        (int(key[6:]), value)
        for key, value in request.form.items()
        if key.startswith("reuse_") and key[6:].isdigit() and len(key) < 20 and value
    ]


@bp.get("/hen-tra")
@roles_required("desk")
def appointment():
    """The appointment a dossier of the chosen procedure would get if received now (htmx)."""
    preview = appointment_preview(
        engine_ctx(), officer().id, request.args.get("procedure_code"), now(), uow=request_uow()
    )
    return render_template("_appointment.html", preview=preview)


@bp.route("/tiep-nhan", methods=["GET", "POST"])
@roles_required("desk")
def receive():
    """Receive a dossier, or receive and forward it in one step ("Tiếp nhận và chuyển xử lý"); every
    field problem is shown at once next to its field; a repeated submission returns the first receipt."""
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
        forward = values.get("action") == "forward"
        try:
            receipt = svc.receive_dossier(
                engine_ctx(),
                procedure_code=values.get("procedure_code", ""),
                applicant=applicant,
                channel=values.get("channel", ""),
                officer_id=officer().id,
                now=now(),
                documents=checked,
                uploads=uploads_from_request(),
                submission_key=values.get("submission_key") or None,
                no_contact=bool(values.get("no_contact")),
                forward=forward,
                reuse=_reuse_choices(),
                postal=PostalIntake(
                    item_number=values.get("postal_item_number", "").strip() or None,
                    result_by_post=bool(values.get("result_by_post")),
                    delivery_address=values.get("delivery_address", "").strip() or None,
                ),
            )
        except InvalidFields as exc:
            status = exc.http_status
            errors.update(exc.fields)
        except DomainError as exc:
            status = exc.http_status if exc.http_status != 404 else 422
            errors[getattr(exc, "field", None) or "form"] = exc.message
        else:
            if receipt.repeated:
                flash(f"Biểu mẫu đã được gửi trước đó; hồ sơ {receipt.code} đã được tiếp nhận.", "info")
            elif receipt.forwarded:
                steps = ", ".join(f"“{name}”" for name in receipt.next_steps) or "bước tiếp theo"
                flash(f"Đã tiếp nhận hồ sơ {receipt.code} và chuyển xử lý: {steps}.", "success")
            else:
                flash(f"Đã tiếp nhận hồ sơ {receipt.code}.", "success")
            return redirect(url_for("dossiers.print_form", code=receipt.code, form="01"))
    form = receive_form(
        engine_ctx(), officer().id, values.get("procedure_code"), now=now(), uow=request_uow()
    )
    reusable = (
        reusable_for_applicant(
            engine_ctx(), officer().id, values.get("applicant_id_number"), uow=request_uow()
        )
        if form.documents
        else []
    )
    html = render_template(
        "receive.html",
        procedures=form.procedures,
        preview=form.preview,
        documents=form.documents,
        reusable=reusable,
        checked=checked,
        values=values,
        errors=errors,
        channels=CHANNEL_LABELS,
        # A fresh key per form shown, so a double submission is recognised.
        submission_key=values.get("submission_key") or uuid.uuid4().hex,
    )
    return html, status


def _dossier_form(code: str, template: str, action, success: str, next_url):
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
    view = desk_dossier(ctx, officer().id, code, uow=request_uow())
    html = render_template(template, d=view, error=error, values=request.form)
    return html, status


@bp.route("/ho-so/<code>/bo-sung", methods=["GET", "POST"])
@roles_required("desk")
def resume(code: str):
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
def withdraw(code: str):
    """The applicant withdraws: the dossier stops and the stop notice is printed."""

    def action() -> None:
        svc.withdraw(engine_ctx(), code, officer().id, reason=request.form.get("reason", ""), now=now())

    return _dossier_form(
        code,
        "desk_withdraw.html",
        action,
        f"Đã dừng giải quyết hồ sơ {code}.",
        url_for("dossiers.print_form", code=code, form="05"),
    )


@bp.route("/ho-so/<code>/tra-ket-qua", methods=["GET", "POST"])
@roles_required("desk")
def return_result(code: str):
    """Hand the result over: who collected it, when."""

    def action() -> None:
        svc.return_dossier_result(
            engine_ctx(), code, officer().id, collected_by=request.form.get("collected_by", ""), now=now()
        )

    return _dossier_form(
        code, "desk_return.html", action, f"Đã trả kết quả hồ sơ {code}.", url_for("dossiers.show", code=code)
    )
