"""Danh mục thủ tục: create and edit a procedure, import the province's catalogue, export it."""

from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for

from engine.catalogue.catalogue_admin import (
    CATALOGUE_EDITORS,
    ONLINE_LEVEL_LABELS,
    PROCEDURE_LEVELS,
    ProcedureInput,
    create_procedure,
    parse_legal_time,
    procedure_form,
    update_procedure,
)
from engine.catalogue.catalogue_sheet import export_catalogue, import_catalogue
from engine.errors import DomainError, InvalidFields, InvalidInput
from web.helpers import engine_ctx, now, officer, request_uow, roles_required

bp = Blueprint("catalogue_admin", __name__, url_prefix="/quy-trinh/danh-muc")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _lines(name: str) -> tuple[str, ...]:
    return tuple(line.strip() for line in (request.form.get(name) or "").splitlines() if line.strip())


def _fee_rows() -> tuple[dict[str, object], ...]:
    """The fee rows typed in the form (name, amount, exempt), blank rows left out."""
    rows = zip(
        request.form.getlist("fee_name"),
        request.form.getlist("fee_amount"),
        request.form.getlist("fee_exempt"),
        strict=False,
    )
    return tuple(
        {"name": name, "amount": amount.strip(), "exempt": exempt}
        for name, amount, exempt in rows
        if name.strip() or amount.strip() or exempt.strip()
    )


def _posted(code: str | None = None) -> ProcedureInput:
    """The form's fields as the engine takes them; the legal time is typed the way catalogues write it."""
    unit = request.form.get("legal_time_unit", "days")
    raw = (request.form.get("legal_time_value") or "").strip()
    parsed = parse_legal_time(raw if unit == "days" or not raw else f"{raw} giờ")
    value = parsed[0] if parsed else None
    if parsed and raw and not raw.replace(",", "").replace(".", "").isdigit():
        unit = parsed[1]  # "Trong ngày", "8 giờ" typed in the box say their own unit
    return ProcedureInput(
        code=code or (request.form.get("code") or "").strip(),
        name=request.form.get("name") or "",
        field=request.form.get("field") or "",
        level=request.form.get("level") or "",
        legal_time_value=value,
        legal_time_unit=unit,
        owner_agency=request.form.get("owner_agency") or "",
        fee=request.form.get("fee") or "",
        fees=_fee_rows(),
        required_documents=_lines("required_documents"),
        online_level=request.form.get("online_level") or "",
        receiving_level=request.form.get("receiving_level") or None,
        receiving_agencies=_lines("receiving_agencies"),
    )


def _render(
    code: str | None,
    values: ProcedureInput | None,
    errors: dict[str, str],
    status: int = 200,
    blank_fee_rows: int = 1,
):
    form = procedure_form(engine_ctx(), officer().id, code, uow=request_uow())
    return (
        render_template(
            "procedure_form.html",
            code=code,
            values=values or form.values,
            agencies=form.agencies,
            has_versions=form.has_versions,
            errors=errors,
            levels=PROCEDURE_LEVELS,
            online_levels=ONLINE_LEVEL_LABELS,
            blank_fee_rows=blank_fee_rows,
        ),
        status,
    )


def _errors(exc: DomainError) -> dict[str, str]:
    if isinstance(exc, InvalidFields):
        return exc.fields
    return {getattr(exc, "field", None) or "form": exc.message}


@bp.get("/moi")
@roles_required(*CATALOGUE_EDITORS)
def new():
    """The form of a new procedure."""
    return _render(None, None, {})


@bp.post("/moi")
@roles_required(*CATALOGUE_EDITORS)
def create():
    """Add the procedure; its internal procedure is drafted next on the procedure's page."""
    data = _posted()
    if request.form.get("action") == "add_fee_row":
        return _render(None, data, {}, blank_fee_rows=2)
    try:
        saved = create_procedure(engine_ctx(), officer().id, data, now())
    except DomainError as exc:
        if exc.http_status == 403:
            raise
        return _render(None, data, _errors(exc), exc.http_status)
    flash(
        f"Đã thêm thủ tục {saved.code}. Thủ tục chưa có quy trình nội bộ: tạo bản nháp, trình và phê duyệt "
        "(kèm số và ngày quyết định) trước khi tiếp nhận hồ sơ.",
        "success",
    )
    return redirect(url_for("processes.procedure", code=saved.code))


@bp.get("/<code>/sua")
@roles_required(*CATALOGUE_EDITORS)
def edit(code: str):
    """The form of an existing procedure."""
    return _render(code, None, {})


@bp.post("/<code>/sua")
@roles_required(*CATALOGUE_EDITORS)
def update(code: str):
    """Save the procedure's catalogue data ("Thêm dòng phí" shows the form again with one more row)."""
    data = _posted(code)
    if request.form.get("action") == "add_fee_row":
        return _render(code, data, {}, blank_fee_rows=2)
    try:
        saved = update_procedure(engine_ctx(), officer().id, code, data, now())
    except DomainError as exc:
        if exc.http_status in (403, 404):
            raise
        return _render(code, data, _errors(exc), exc.http_status)
    flash(f"Đã lưu thủ tục {saved.code}." if saved.changed else "Không có thay đổi.", "success")
    return redirect(url_for("processes.procedure", code=saved.code))


@bp.get("/nhap")
@roles_required(*CATALOGUE_EDITORS)
def import_form():
    """The upload form of a catalogue spreadsheet."""
    return render_template("catalogue_import.html", report=None, error=None)


@bp.post("/nhap")
@roles_required(*CATALOGUE_EDITORS)
def import_upload():
    """Import (or only check) a catalogue spreadsheet; every row is reported."""
    upload = request.files.get("file")
    dry_run = request.form.get("dry_run") == "1"
    try:
        if upload is None or not upload.filename:
            raise InvalidInput("Chọn tệp danh mục (.xlsx hoặc .csv) để nhập.", "file")
        report = import_catalogue(
            engine_ctx(), upload.read(), upload.filename, now(), officer_id=officer().id, dry_run=dry_run
        )
    except DomainError as exc:
        if exc.http_status == 403:
            raise
        return render_template("catalogue_import.html", report=None, error=exc.message), exc.http_status
    return render_template("catalogue_import.html", report=report, error=None)


@bp.get("/xuat")
@roles_required(*CATALOGUE_EDITORS, "approver")
def export():
    """The catalogue as XLSX, in the columns the import reads."""
    content = export_catalogue(engine_ctx(), uow=request_uow())
    return Response(
        content,
        mimetype=XLSX,
        headers={"Content-Disposition": 'attachment; filename="danh-muc-thu-tuc.xlsx"'},
    )
