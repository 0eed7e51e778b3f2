"""A process owner turns a step table (XLSX or CSV) into a draft: upload, preview, save, edit."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for

from engine.catalogue.table_drafts import draft_from_table, preview_table, upload_page
from engine.errors import DomainError, InvalidInput, InvalidStepTable
from web.helpers import end_request_uow, engine_ctx, now, officer, request_uow, roles_required

bp = Blueprint("step_tables", __name__, url_prefix="/quy-trinh")

# The preview sends the steps it read back as CSV with the English headers (nobody types it).
SAVED_TABLE_NAME = "bang-cac-buoc.csv"


@bp.get("/<code>/bang-cac-buoc")
@roles_required("process_owner")
def upload(code: str):
    """The upload form: which columns a table needs and how the responsible phrases are read."""
    page = upload_page(engine_ctx(), officer().id, code, uow=request_uow())
    return render_template("step_table.html", page=page, preview=None, error=None)


@bp.post("/<code>/bang-cac-buoc")
@roles_required("process_owner")
def preview(code: str):
    """The table read: its steps with roles and hours, every row's problem, and the diagram it makes."""
    page = upload_page(engine_ctx(), officer().id, code, uow=request_uow())
    chosen = request.files.get("file")
    if chosen is None or not chosen.filename:
        error = "Chọn tệp bảng các bước (.xlsx hoặc .csv) để xem trước."
        return render_template("step_table.html", page=page, preview=None, error=error), 422
    try:
        found = preview_table(
            engine_ctx(), officer().id, code, chosen.read(), chosen.filename, uow=request_uow()
        )
    except DomainError as exc:
        return render_template("step_table.html", page=page, preview=None, error=exc.message), exc.http_status
    status = 200 if found.ok else 422
    return render_template("step_table.html", page=page, preview=found, error=None), status


@bp.post("/<code>/bang-cac-buoc/luu")
@roles_required("process_owner")
def save(code: str):
    """Lưu thành bản nháp: the previewed steps become a new draft, opened in the editor."""
    table = request.form.get("table") or ""
    source = request.form.get("filename") or SAVED_TABLE_NAME
    end_request_uow()  # the write use case is its own transaction
    try:
        if not table.strip():
            raise InvalidInput("Chưa có bảng các bước để lưu; hãy tải tệp lên và xem trước.", "table")
        draft = draft_from_table(
            engine_ctx(),
            code,
            table.encode("utf-8"),
            SAVED_TABLE_NAME,
            now(),
            officer_id=officer().id,
            source=source,
        )
    except InvalidStepTable as exc:
        page = upload_page(engine_ctx(), officer().id, code, uow=request_uow())
        error = f"Bảng các bước có {len(exc.rows)} lỗi, chưa có gì được lưu:"
        rows = [str(row) for row in exc.rows]
        return render_template("step_table.html", page=page, preview=None, error=error, rows=rows), 422
    except DomainError as exc:
        flash(exc.message, "danger")
        return redirect(url_for("step_tables.upload", code=code))
    flash(f"Đã lưu bản nháp phiên bản {draft.number} từ bảng các bước {source}.", "success")
    return redirect(url_for("processes.editor", version_id=draft.version_id))
