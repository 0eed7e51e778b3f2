"""The administrator's pages: the API tokens of officers and service accounts, and their revocation."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from engine.accounts import api_tokens, revoke_token_by_id
from engine.errors import DomainError
from web.helpers import engine_ctx, now, officer, request_uow, roles_required

bp = Blueprint("admin", __name__, url_prefix="/quan-tri")


@bp.get("/ma-truy-cap")
@roles_required("admin")
def tokens() -> ResponseReturnValue:
    """Every API token: name, officer, created, and whether it was revoked."""
    rows = api_tokens(engine_ctx(), admin_id=officer().id, uow=request_uow())
    return render_template("api_tokens.html", rows=rows)


@bp.post("/ma-truy-cap/<int:token_id>/thu-hoi")
@roles_required("admin")
def revoke(token_id: int) -> ResponseReturnValue:
    """Revoke one token; it stops working at once."""
    try:
        line = revoke_token_by_id(engine_ctx(), token_id, now(), admin_id=officer().id)
    except DomainError as exc:
        flash(exc.message, "danger")
    else:
        flash(f"Đã thu hồi mã truy cập “{line.name}” của {line.full_name}.", "success")
    return redirect(url_for("admin.tokens"))
