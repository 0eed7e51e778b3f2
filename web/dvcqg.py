"""The administrator's page of the national portal sync: the queue, failures with their reasons,
re-queueing, and the mappings of our codes to the portal's."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from engine.errors import DomainError
from engine.integrations.dvcqg.mappings import KIND_LABELS, mapping_rows, set_mapping
from engine.integrations.dvcqg.sync import failed_messages, queue_status, requeue
from web.helpers import engine_ctx, now, officer, request_uow, roles_required

bp = Blueprint("dvcqg", __name__, url_prefix="/quan-tri/cong-dvcqg")
STATUS_LABELS = {
    "queued": "Chờ gửi",
    "sending": "Đang gửi",
    "uncertain": "Chưa rõ đã tới (sẽ tra cứu trước khi gửi lại)",
    "retrying": "Chờ gửi lại",
    "failed": "Lỗi, chờ quản trị xử lý",
    "sent": "Đã gửi",
}


@bp.get("/")
@roles_required("admin")
def index() -> ResponseReturnValue:
    """The queue by status, the failed messages and the mappings."""
    ctx = engine_ctx()
    return render_template(
        "dvcqg.html",
        enabled=bool(ctx.settings.dvcqg_url),
        status=queue_status(ctx, admin_id=officer().id, uow=request_uow()),
        failed=failed_messages(ctx, admin_id=officer().id, uow=request_uow()),
        mappings=mapping_rows(ctx, admin_id=officer().id, uow=request_uow()),
        status_labels=STATUS_LABELS,
        kind_labels=KIND_LABELS,
    )


@bp.post("/gui-lai")
@roles_required("admin")
def resend() -> ResponseReturnValue:
    """Re-queue the chosen failed messages; each dossier's later messages follow in order."""
    ids = [int(i) for i in request.form.getlist("id") if i.isdigit()]
    if not ids:
        flash("Chưa chọn thông điệp nào.", "warning")
        return redirect(url_for("dvcqg.index"))
    try:
        moved = requeue(engine_ctx(), ids, now(), admin_id=officer().id)
    except DomainError as exc:
        flash(exc.message, "danger")
    else:
        flash(f"Đã đưa {moved} thông điệp vào hàng đợi gửi lại.", "success")
    return redirect(url_for("dvcqg.index"))


@bp.post("/anh-xa")
@roles_required("admin")
def mapping() -> ResponseReturnValue:
    """Set (or, with an empty value, remove) one mapping."""
    try:
        set_mapping(
            engine_ctx(),
            request.form.get("kind", ""),
            request.form.get("local", ""),
            request.form.get("portal", ""),
            admin_id=officer().id,
        )
    except DomainError as exc:
        flash(exc.message, "danger")
        return redirect(url_for("dvcqg.index"))
    flash("Đã lưu ánh xạ; các thông điệp mới dùng ngay.", "success")
    return redirect(url_for("dvcqg.index"))
