"""Bưu chính công ích at the desk: the result asked for by post after receipt, the hand-over of a result
to the post, and the desk's record of a delivery or a return to the sender (the carrier reports the
same through the API, web/api.py)."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, flash, redirect, render_template, request, url_for

from engine.errors import DomainError
from engine.runtime import postal
from engine.runtime.desk import desk_dossier
from models.postal import DEFAULT_CARRIER
from models.vocabulary import PostalStatus
from web.helpers import engine_ctx, now, officer, request_uow, roles_required

bp = Blueprint("postal", __name__, url_prefix="/mot-cua/ho-so/<code>/buu-chinh")


def _form(code: str, template: str, action: Callable[[], object], success: str):
    """Show a desk form for a dossier's postal item; on POST run `action` and go to the dossier."""
    error, field, status = None, None, 200
    if request.method == "POST":
        try:
            action()
        except DomainError as exc:
            error, field, status = exc.message, getattr(exc, "field", None), exc.http_status
        else:
            flash(success, "success")
            return redirect(url_for("dossiers.show", code=code))
    view = desk_dossier(engine_ctx(), officer().id, code, uow=request_uow())
    outbound = next((i for i in view.postal_items if i.direction == "outbound"), None)
    html = render_template(
        template,
        d=view,
        outbound=outbound,
        error=error,
        field=field,
        values=request.form,
        default_carrier=DEFAULT_CARRIER,
    )
    return html, status


@bp.route("/dang-ky", methods=["GET", "POST"])
@roles_required("desk")
def request_return(code: str):
    """The applicant asks for the result by post, to an address (after receipt)."""

    def action() -> None:
        postal.request_postal_return(
            engine_ctx(),
            code,
            officer().id,
            address=request.form.get("delivery_address", ""),
            carrier=request.form.get("postal_carrier") or None,
            now=now(),
        )

    return _form(code, "postal_request.html", action, f"Đã đăng ký trả kết quả hồ sơ {code} qua bưu chính.")


@bp.route("/giao", methods=["GET", "POST"])
@roles_required("desk")
def hand_over(code: str):
    """The desk hands the result to the post under an item number: the dossier is returned."""

    def action() -> None:
        postal.hand_to_post(
            engine_ctx(),
            code,
            officer().id,
            item_number=request.form.get("postal_item_number", ""),
            carrier=request.form.get("postal_carrier") or None,
            now=now(),
        )

    return _form(
        code,
        "postal_handover.html",
        action,
        f"Đã giao kết quả hồ sơ {code} cho bưu chính; hồ sơ được tính là đã trả kết quả.",
    )


@bp.post("/trang-thai")
@roles_required("desk")
def report(code: str):
    """The desk records what the post reported: delivered, or returned to the sender."""
    status = request.form.get("status", "")
    try:
        update = postal.record_delivery(
            engine_ctx(),
            officer().id,
            request.form.get("item_number", ""),
            status=status,
            now=now(),
            dossier_code=code,
        )
    except DomainError as exc:
        flash(exc.message, "danger")
    else:
        flash(f"Bưu gửi {update.item_number}: {PostalStatus.label_of(update.status)}.", "success")
    return redirect(url_for("dossiers.show", code=code))
