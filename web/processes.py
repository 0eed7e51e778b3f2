"""Process owners and approvers: the catalogue of internal procedures, versions, the BPMN editor,
validation on the server, submission and approval."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, Response, flash, jsonify, redirect, render_template, request, url_for

from engine.catalogue import versions
from engine.catalogue.procedure_model import STEP_ROLES
from engine.catalogue.version_views import (
    approval_preview,
    catalogue_page,
    editor_page,
    procedure_page,
    version_file,
    version_page,
)
from engine.catalogue.versions import VERSION_READERS
from engine.errors import DomainError, InvalidInput
from engine.publication.completeness import MISSING_LABELS, catalogue_completeness
from engine.publication.forms import owned_forms
from web.dossiers import xml_response
from web.helpers import engine_ctx, now, officer, request_uow, roles_required

bp = Blueprint("processes", __name__, url_prefix="/quy-trinh")


@bp.get("/")
@roles_required(*VERSION_READERS)
def index():
    """The catalogue: procedures with their running version."""
    rows = catalogue_page(engine_ctx(), officer().id, uow=request_uow())
    missing = catalogue_completeness(engine_ctx(), officer().id, uow=request_uow())
    lacking = request.args.get("thieu", "")
    if lacking == "all":
        rows = [r for r in rows if missing.get(r.code)]
    elif lacking in MISSING_LABELS:
        rows = [r for r in rows if lacking in missing.get(r.code, [])]
    return render_template(
        "processes.html", rows=rows, missing=missing, missing_labels=MISSING_LABELS, lacking=lacking
    )


@bp.get("/<code>")
@roles_required(*VERSION_READERS)
def procedure(code: str):
    """One procedure's versions, each with what changed against the previous one."""
    page = procedure_page(engine_ctx(), officer().id, code, uow=request_uow(), now=now())
    return render_template(
        "procedure.html",
        procedure=page.procedure,
        details=page.details,
        may_edit=page.may_edit,
        forms=owned_forms(engine_ctx(), code, uow=request_uow()),
        missing=catalogue_completeness(engine_ctx(), officer().id, code=code, uow=request_uow()).get(code),
        missing_labels=MISSING_LABELS,
    )


@bp.post("/<code>/ban-nhap")
@roles_required("process_owner")
def new_draft(code: str):
    """A new draft copied from the active version."""
    try:
        result = versions.new_draft_from_active(engine_ctx(), code, officer().id, now())
    except DomainError as exc:
        flash(exc.message, "danger")
        return redirect(url_for("processes.procedure", code=code))
    return redirect(url_for("processes.editor", version_id=result.version_id))


@bp.post("/<code>/nhap-tep")
@roles_required("process_owner")
def import_file(code: str):
    """Import a .bpmn file as a draft; its problems are listed on the version page."""
    upload = request.files.get("file")
    try:
        if upload is None or not upload.filename:
            raise InvalidInput("Chọn tệp .bpmn để nhập.", "file")
        result = versions.create_draft(
            engine_ctx(), code, officer().id, upload.read(), now(), filename=upload.filename
        )
    except DomainError as exc:
        flash(exc.message, "danger")
        return redirect(url_for("processes.procedure", code=code)), 302
    if result.problems:
        flash(
            f"Đã nhập bản nháp phiên bản {result.number}; còn {len(result.problems)} lỗi cần sửa.", "warning"
        )
    else:
        flash(f"Đã nhập bản nháp phiên bản {result.number}.", "success")
    for note in result.notes:
        flash(note, "info")
    return redirect(url_for("processes.version", version_id=result.version_id))


@bp.get("/phien-ban/<int:version_id>")
@roles_required(*VERSION_READERS)
def version(version_id: int, error: str | None = None, status: int = 200):
    """A version: status, decision, problems, what changed, its history and the actions allowed."""
    page = version_page(engine_ctx(), officer().id, version_id, uow=request_uow(), now=now())
    html = render_template(
        "version.html",
        d=page.detail,
        procedure=page.procedure,
        may_edit=page.may_edit,
        today=now(),
        error=error,
        values=request.form,
    )
    return html, status


@bp.get("/phien-ban/<int:version_id>/bpmn")
@roles_required(*VERSION_READERS)
def xml(version_id: int):
    """The version's BPMN as inert XML (download with ?tai=1)."""
    found = version_file(engine_ctx(), officer().id, version_id, uow=request_uow())
    response = xml_response(found.text)
    if request.args.get("tai"):
        response.headers["Content-Disposition"] = f'attachment; filename="{found.filename}"'
    return response


@bp.get("/phien-ban/<int:version_id>/sua")
@roles_required(*VERSION_READERS)
def editor(version_id: int):
    """The bpmn-js modeler with the step form (read-only once the version is no longer a draft)."""
    page = editor_page(engine_ctx(), officer().id, version_id, uow=request_uow(), now=now())
    return render_template(
        "editor.html",
        d=page.detail,
        procedure=page.procedure,
        sha256=page.sha256,
        editable=page.editable,
        step_roles=STEP_ROLES,
    )


def _problems_json(problems, counted: float | None, legal: float, **extra: object) -> Response:
    return jsonify(
        {
            "problems": [p.as_dict() for p in problems],
            "counted_hours": counted,
            "legal_hours": legal,
            **extra,
        }
    )


@bp.post("/phien-ban/<int:version_id>/kiem-tra")
@roles_required(*VERSION_READERS)
def validate(version_id: int):
    """Check a diagram without saving it (the editor's running total and problem list)."""
    checked = versions.check_diagram(engine_ctx(), officer().id, version_id, request.get_data())
    return _problems_json(checked.problems, checked.counted_hours, checked.legal_hours)


@bp.post("/phien-ban/<int:version_id>/luu")
@roles_required("process_owner")
def save(version_id: int):
    """Save the draft (valid or not); the answer lists every problem with line, id and name."""
    try:
        result = versions.save_draft(
            engine_ctx(),
            version_id,
            officer().id,
            request.get_data(),
            now(),
            base_sha256=request.headers.get("X-Base-Sha256") or None,
        )
    except DomainError as exc:
        problems = [p.as_dict() for p in getattr(exc, "problems", [])]
        return jsonify({"error": exc.code, "message": exc.message, "problems": problems}), exc.http_status
    return _problems_json(
        result.problems,
        result.counted_hours,
        result.legal_hours,
        saved=True,
        sha256=result.sha256,
        notes=result.notes,
    )


def _transition(version_id: int, action, success: str):
    """Run a transition; on success back to the version, on refusal the page again with the reason."""
    try:
        action()
    except DomainError as exc:
        return version(version_id, error=exc.message, status=exc.http_status)
    flash(success, "success")
    return redirect(url_for("processes.version", version_id=version_id))


@bp.post("/phien-ban/<int:version_id>/trinh")
@roles_required("process_owner")
def submit(version_id: int):
    """Submit a valid draft for approval."""
    return _transition(
        version_id,
        lambda: versions.submit(engine_ctx(), version_id, officer().id, now()),
        "Đã trình phê duyệt.",
    )


@bp.post("/phien-ban/<int:version_id>/rut")
@roles_required(*VERSION_READERS)
def withdraw(version_id: int):
    """Take a submission back to draft (its owner) or return it (an approver)."""
    return _transition(
        version_id,
        lambda: versions.withdraw_submission(
            engine_ctx(), version_id, officer().id, now(), note=request.form.get("note") or None
        ),
        "Đã chuyển về bản nháp.",
    )


def _decision_date() -> date | None:
    raw = (request.form.get("decision_date") or "").strip()
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError as exc:
        raise InvalidInput("Ngày ký quyết định không hợp lệ.", "decision_date") from exc


@bp.post("/phien-ban/<int:version_id>/phe-duyet")
@roles_required("approver")
def approve(version_id: int):
    """Record the chairman's decision and activate; the previous active version retires.

    The first post only shows what would change; the version is activated by a second post that
    carries `confirm=1`, so a slip of the mouse never changes which version new dossiers run.
    """
    if request.form.get("confirm") != "1":
        try:
            preview = approval_preview(
                engine_ctx(),
                officer().id,
                version_id,
                decision_number=request.form.get("decision_number"),
                decision_date=_decision_date(),
                now=now(),
                uow=request_uow(),
            )
        except DomainError as exc:
            return version(version_id, error=exc.message, status=exc.http_status)
        return render_template("version_confirm.html", p=preview)

    def action() -> None:
        versions.approve(
            engine_ctx(),
            version_id,
            officer().id,
            decision_number=request.form.get("decision_number"),
            decision_date=_decision_date(),
            now=now(),
        )

    return _transition(
        version_id, action, "Đã phê duyệt và áp dụng phiên bản; hồ sơ mới chạy theo phiên bản này."
    )
