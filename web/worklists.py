"""Điều hành: the worklists of leaders, supervisors and approvers, and the menu's count of what waits."""

from __future__ import annotations

import logging

from flask import Blueprint, g, render_template
from flask_login import current_user

from engine.runtime.worklists import WORKLIST_ROLES, worklist_page, worklist_waiting
from web.alerts import wants_header
from web.helpers import engine_ctx, now, officer, request_uow, roles_required

bp = Blueprint("worklists", __name__)
LOG = logging.getLogger("motcua.web")


@bp.get("/dieu-hanh")
@roles_required(*WORKLIST_ROLES)
def index():
    """The sections of the officer's roles: late work, letters to sign, open work by officer, versions."""
    page = worklist_page(engine_ctx(), officer().id, now(), uow=request_uow())
    g.worklist_waiting = page.waiting  # the menu shows the same count as the page
    return render_template("worklist.html", page=page)


@bp.app_context_processor
def waiting_count() -> dict[str, int]:
    """The count beside "Điều hành" in the menu, for the officers who have a worklist."""
    if "worklist_waiting" in g:
        return {"worklist_waiting": g.worklist_waiting}
    if not (wants_header() and current_user.is_authenticated and current_user.has_role(*WORKLIST_ROLES)):
        return {}
    try:
        g.worklist_waiting = worklist_waiting(engine_ctx(), officer().id, now(), uow=request_uow())
    except Exception:  # an error page must still render when the database is what failed
        LOG.warning("worklist count unavailable", exc_info=True)
        g.worklist_waiting = 0
    return {"worklist_waiting": g.worklist_waiting}
