"""Process owners and approvers: the catalogue of internal procedures, versions, the BPMN editor,
validation on the server, submission and approval."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, Response, flash, jsonify, redirect, render_template, request, url_for
from sqlalchemy import select

from engine.catalogue import versions
from engine.catalogue.bpmn_check import check_bpmn
from engine.catalogue.procedure_model import STEP_ROLES
from engine.catalogue.procedures import procedure_catalogue
from engine.errors import DomainError, InvalidInput, NotFound
from models import Procedure
from web.dossiers import xml_response
from web.helpers import engine_ctx, now, officer, roles_required

bp = Blueprint("processes", __name__, url_prefix="/quy-trinh")
EDITORS = ("process_owner", "approver")


def _procedure(session, code: str) -> Procedure:  # type: ignore[no-untyped-def]
    found = session.scalars(select(Procedure).where(Procedure.code == code)).one_or_none()
    if found is None:
        raise NotFound(f"Không có thủ tục mã {code}.")
    return found


def _may_edit(procedure: Procedure) -> bool:
    return officer().has_role("process_owner") and officer().agency_id == procedure.owner_agency_id


@bp.get("/")
@roles_required(*EDITORS)
def index():  # type: ignore[no-untyped-def]
    """The catalogue: procedures with their running version."""
    with engine_ctx().uow() as uow:
        rows = procedure_catalogue(uow.session)
    return render_template("processes.html", rows=rows)


@bp.get("/<code>")
@roles_required(*EDITORS)
def procedure(code: str):  # type: ignore[no-untyped-def]
    """One procedure's versions, each with what changed against the previous one."""
    ctx = engine_ctx()
    with ctx.uow() as uow:
        proc = _procedure(uow.session, code)
        details = [
            versions.version_detail(uow.session, v.id, hours_per_day=ctx.settings.hours_per_day)
            for v in versions.versions_of(uow.session, code)
        ]
        html = render_template("procedure.html", procedure=proc, details=details, may_edit=_may_edit(proc))
    return html


@bp.post("/<code>/ban-nhap")
@roles_required("process_owner")
def new_draft(code: str):  # type: ignore[no-untyped-def]
    """A new draft copied from the active version."""
    try:
        result = versions.new_draft_from_active(engine_ctx(), code, officer().id, now())
    except DomainError as exc:
        flash(exc.message, "danger")
        return redirect(url_for("processes.procedure", code=code))
    return redirect(url_for("processes.editor", version_id=result.version_id))


@bp.post("/<code>/nhap-tep")
@roles_required("process_owner")
def import_file(code: str):  # type: ignore[no-untyped-def]
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
    return redirect(url_for("processes.version", version_id=result.version_id))


@bp.get("/phien-ban/<int:version_id>")
@roles_required(*EDITORS)
def version(version_id: int, error: str | None = None, status: int = 200):  # type: ignore[no-untyped-def]
    """A version: status, decision, problems, what changed, its history and the actions allowed."""
    ctx = engine_ctx()
    with ctx.uow() as uow:
        detail = versions.version_detail(uow.session, version_id, hours_per_day=ctx.settings.hours_per_day)
        proc = _procedure(uow.session, detail.version.procedure_code)
        html = render_template(
            "version.html",
            d=detail,
            procedure=proc,
            may_edit=_may_edit(proc),
            today=now(),
            error=error,
            values=request.form,
        )
    return html, status


@bp.get("/phien-ban/<int:version_id>/bpmn")
@roles_required(*EDITORS)
def xml(version_id: int):  # type: ignore[no-untyped-def]
    """The version's BPMN as inert XML (download with ?tai=1)."""
    with engine_ctx().uow() as uow:
        found = versions.version_xml(uow.session, version_id)
    response = xml_response(found.text)
    if request.args.get("tai"):
        response.headers["Content-Disposition"] = f'attachment; filename="{found.filename}"'
    return response


@bp.get("/phien-ban/<int:version_id>/sua")
@roles_required(*EDITORS)
def editor(version_id: int):  # type: ignore[no-untyped-def]
    """The bpmn-js modeler with the step form (read-only once the version is no longer a draft)."""
    ctx = engine_ctx()
    with ctx.uow() as uow:
        detail = versions.version_detail(uow.session, version_id, hours_per_day=ctx.settings.hours_per_day)
        proc = _procedure(uow.session, detail.version.procedure_code)
        found = versions.version_xml(uow.session, version_id)
        html = render_template(
            "editor.html",
            d=detail,
            procedure=proc,
            sha256=found.sha256,
            editable=detail.version.editable and _may_edit(proc),
            step_roles=STEP_ROLES,
        )
    return html


def _problems_json(problems, counted: float | None, legal: float, **extra: object) -> Response:  # type: ignore[no-untyped-def]
    return jsonify(
        {
            "problems": [p.as_dict() for p in problems],
            "counted_hours": counted,
            "legal_hours": legal,
            **extra,
        }
    )


@bp.post("/phien-ban/<int:version_id>/kiem-tra")
@roles_required(*EDITORS)
def validate(version_id: int):  # type: ignore[no-untyped-def]
    """Check a diagram without saving it (the editor's running total and problem list)."""
    ctx = engine_ctx()
    # Runs on every edit (debounced): only the procedure's budget is read, not the version's detail.
    with ctx.uow() as uow:
        code = versions.version_xml(uow.session, version_id).procedure_code
        legal = _procedure(uow.session, code).legal_hours(ctx.settings.hours_per_day)
    result = check_bpmn(
        request.get_data(), filename=code + ".bpmn", legal_hours=legal, max_bytes=ctx.settings.bpmn_max_bytes
    )
    counted = result.model.longest_counted_hours if result.model else None
    return _problems_json(result.problems, counted, legal)


@bp.post("/phien-ban/<int:version_id>/luu")
@roles_required("process_owner")
def save(version_id: int):  # type: ignore[no-untyped-def]
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
        result.problems, result.counted_hours, result.legal_hours, saved=True, sha256=result.sha256
    )


def _transition(version_id: int, action, success: str):  # type: ignore[no-untyped-def]
    """Run a transition; on success back to the version, on refusal the page again with the reason."""
    try:
        action()
    except DomainError as exc:
        return version(version_id, error=exc.message, status=exc.http_status)
    flash(success, "success")
    return redirect(url_for("processes.version", version_id=version_id))


@bp.post("/phien-ban/<int:version_id>/trinh")
@roles_required("process_owner")
def submit(version_id: int):  # type: ignore[no-untyped-def]
    """Submit a valid draft for approval."""
    return _transition(
        version_id,
        lambda: versions.submit(engine_ctx(), version_id, officer().id, now()),
        "Đã trình phê duyệt.",
    )


@bp.post("/phien-ban/<int:version_id>/rut")
@roles_required(*EDITORS)
def withdraw(version_id: int):  # type: ignore[no-untyped-def]
    """Take a submission back to draft (its owner) or return it (an approver)."""
    return _transition(
        version_id,
        lambda: versions.withdraw_submission(
            engine_ctx(), version_id, officer().id, now(), note=request.form.get("note") or None
        ),
        "Đã chuyển về bản nháp.",
    )


@bp.post("/phien-ban/<int:version_id>/phe-duyet")
@roles_required("approver")
def approve(version_id: int):  # type: ignore[no-untyped-def]
    """Record the chairman's decision and activate; the previous active version retires."""

    def action() -> None:
        raw = (request.form.get("decision_date") or "").strip()
        try:
            decided = date.fromisoformat(raw) if raw else None
        except ValueError as exc:
            raise InvalidInput("Ngày ký quyết định không hợp lệ.", "decision_date") from exc
        versions.approve(
            engine_ctx(),
            version_id,
            officer().id,
            decision_number=request.form.get("decision_number"),
            decision_date=decided,
            now=now(),
        )

    return _transition(
        version_id, action, "Đã phê duyệt và áp dụng phiên bản; hồ sơ mới chạy theo phiên bản này."
    )
