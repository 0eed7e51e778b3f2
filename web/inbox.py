"""The officer's inbox and the task page: claim, release, complete with an outcome, assign."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import login_required
from jinja2.filters import do_truncate

from engine import formatting
from engine.errors import DomainError
from engine.feedback.handling import feedback_data, feedback_panel
from engine.runtime import dossiers as svc
from engine.runtime.attachments import Upload
from engine.runtime.dossier_views import next_task, task_page
from engine.runtime.inbox import InboxRow, officer_inbox
from models.vocabulary import Urgency
from web.helpers import engine_ctx, now, officer, request_uow
from web.redirects import redirect_back, same_site

bp = Blueprint("inbox", __name__)
PAGE_SIZE = 50


def uploads_from_request(name: str = "files") -> list[Upload]:
    """The files of a multipart form field."""
    return [Upload(f.filename or "", f.read()) for f in request.files.getlist(name) if f and f.filename]


@bp.get("/")
@login_required
def index():
    """Hộp việc: own items and the pool, most urgent first, with filters and counts."""
    scope = request.args.get("scope", "all")
    status = request.args.get("status") or None
    procedure_id = request.args.get("procedure", type=int)
    page = max(1, request.args.get("page", 1, type=int))
    result = officer_inbox(
        engine_ctx(),
        officer().id,
        now=now(),
        scope=scope,
        procedure_id=procedure_id,
        status=status,
        limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE,
        uow=request_uow(),
    )
    pages = max(1, -(-result.total // PAGE_SIZE))
    template = "inbox_rows.html" if request.headers.get("HX-Request") else "inbox.html"
    return render_template(
        template,
        page=result,
        scope=scope,
        status=status,
        procedure_id=procedure_id,
        procedures=result.procedures,
        page_number=page,
        pages=pages,
        page_links=page_links(page, pages),
        lines=inbox_lines(result.rows),
    )


# The urgency badge's colour (macros.html's urgency_badge, written out in inbox_rows.html).
BADGE_COLOURS = {"overdue": "danger", "soon": "warning", "ok": "success", "paused": "secondary"}
BADGE_TITLES = Urgency.labels()


def inbox_lines(rows: list[InboxRow]) -> list[tuple]:
    """What each row of the table shows, formatted once here as the `local`, `working_time` and
    `truncate` filters would (the office's time zone and working day read once, not per cell), as
    tuples the template unpacks: urgency, the item's id when it is in the pool (its checkbox), the
    task's link, the dossier's code, the procedure's name in full and cut to 48 characters, the
    step, received, due, the badge's colour, title and text, and the assignee."""
    calendar = current_app.extensions["motcua"].calendar
    tz, hours_per_day, environment = calendar.tz, calendar.hours_per_day, current_app.jinja_env
    task_base = url_for("inbox.task", item_id=1)[:-1]
    in_zone, working_time = formatting.in_zone, formatting.working_time
    return [
        (
            row.urgency,
            None if row.assignee_id else row.work_item_id,
            f"{task_base}{row.work_item_id}",
            row.dossier_code,
            row.procedure_name,
            do_truncate(environment, row.procedure_name, 48),
            row.step,
            in_zone(row.received_at, tz),
            in_zone(row.due_at, tz) if row.due_at else "—",
            BADGE_COLOURS[row.urgency],
            BADGE_TITLES.get(row.urgency, ""),
            working_time(row.remaining_hours, hours_per_day),
            row.assignee_name or "Chưa có",
        )
        for row in rows
    ]


def page_links(page: int, pages: int) -> list[int]:
    """The pages the pager links to: the first three, the last two and the current one with its
    neighbours; none when there is one page. Chosen here rather than by looping over every page."""
    if pages <= 1:
        return []
    return sorted(n for n in {1, 2, 3, pages - 1, pages, page - 1, page, page + 1} if 1 <= n <= pages)


@bp.post("/viec/<int:item_id>/nhan")
@login_required
def claim(item_id: int):
    """Take a pool item."""
    try:
        svc.claim(engine_ctx(), item_id, officer().id, now())
        flash("Đã nhận xử lý.", "success")
    except DomainError as exc:
        flash(exc.message, "danger")
    return redirect_back(request.form.get("next"), url_for("inbox.task", item_id=item_id))


@bp.post("/viec/<int:item_id>/tra-lai")
@login_required
def release(item_id: int):
    """Give an own item back to the pool."""
    try:
        svc.unclaim(engine_ctx(), item_id, officer().id, now())
        flash("Đã trả lại danh sách chung.", "info")
    except DomainError as exc:
        flash(exc.message, "danger")
    return redirect(url_for("inbox.index"))


@bp.post("/viec/nhan-nhieu")
@login_required
def bulk_claim():
    """Take several pool items at once; each is its own transaction, failures are listed."""
    ids = [int(i) for i in request.form.getlist("item") if i.isdigit()]
    if not ids:
        flash("Chưa chọn hồ sơ nào.", "warning")
        return redirect(url_for("inbox.index"))
    taken, failed = 0, []
    for item_id in ids:
        try:
            svc.claim(engine_ctx(), item_id, officer().id, now())
            taken += 1
        except DomainError as exc:
            failed.append(exc.message)
    flash(f"Đã nhận {taken}/{len(ids)} hồ sơ.", "success" if not failed else "warning")
    for message in sorted(set(failed)):
        flash(message, "danger")
    return redirect(url_for("inbox.index", scope="mine"))


def _render_task(item_id: int, status: int = 200, errors: dict | None = None, values: dict | None = None):
    page = task_page(engine_ctx(), officer().id, item_id, uow=request_uow(), now=now())
    html = render_template(
        "task.html",
        view=page.view,
        d=page.view.dossier,
        item=page.view.item,
        step=page.view.step,
        outcomes=page.outcomes,
        can_supplement=page.can_supplement,
        can_refuse=page.can_refuse,
        supplement_late=page.supplement_late,
        colleagues=page.colleagues,
        can_work=page.can_work,
        assign_candidates=page.assign_candidates,
        handover=page.handover,
        sent_back=page.sent_back,
        feedback=feedback_panel(engine_ctx(), officer().id, item_id, uow=request_uow()),
        errors=errors or {},
        values=values or {},
    )
    return html, status


@bp.get("/viec/<int:item_id>")
@login_required
def task(item_id: int):
    """The task page: the dossier, its documents and history, and the step's outcomes."""
    return _render_task(item_id)


def _after_completion(item_id: int, message: str):
    flash(message, "success")
    following = next_task(engine_ctx(), officer().id, after_id=item_id, uow=request_uow())
    return redirect(url_for("inbox.task", item_id=following) if following else url_for("inbox.index"))


@bp.post("/viec/<int:item_id>/hoan-thanh")
@login_required
def complete(item_id: int):
    """Complete the step with the chosen outcome, then open the next item of the inbox."""
    outcome = request.form.get("outcome") or None
    comment = (request.form.get("comment") or "").strip() or None
    assign_to = request.form.get("assign_to", type=int)
    try:
        result = svc.complete(
            engine_ctx(),
            item_id,
            officer().id,
            now=now(),
            outcome=outcome,
            comment=comment,
            uploads=uploads_from_request(),
            assign_to=assign_to,
            data=feedback_data(request.form),
        )
    except DomainError as exc:
        if exc.http_status == 409:
            flash(exc.message, "danger")
            return redirect(url_for("inbox.index"))
        return _render_task(
            item_id,
            exc.http_status,
            {getattr(exc, "field", None) or "form": exc.message},
            {"comment": comment or "", "assign_to": assign_to, **(feedback_data(request.form) or {})},
        )
    if result.sent_back:
        message = f"Đã trả lại hồ sơ {result.dossier_code} để xử lý lại."
    elif result.assigned_to:
        message = f"Đã hoàn thành bước xử lý hồ sơ {result.dossier_code} và giao cho {result.assigned_to}."
    else:
        message = f"Đã hoàn thành bước xử lý hồ sơ {result.dossier_code}."
    return _after_completion(item_id, message)


@bp.post("/viec/<int:item_id>/yeu-cau-bo-sung")
@login_required
def supplement(item_id: int):
    """Request every missing document at once (form 02 is printed next)."""
    missing = [line.strip() for line in (request.form.get("missing") or "").splitlines() if line.strip()]
    reason = (request.form.get("reason") or "").strip()
    late_reason = (request.form.get("late_reason") or "").strip() or None
    try:
        result = svc.request_supplement(
            engine_ctx(),
            item_id,
            officer().id,
            missing=missing,
            reason=reason,
            now=now(),
            late_reason=late_reason,
        )
    except DomainError as exc:
        return _render_task(
            item_id,
            exc.http_status,
            {getattr(exc, "field", None) or "form": exc.message},
            {"missing": request.form.get("missing", ""), "reason": reason, "late_reason": late_reason or ""},
        )
    flash("Đã yêu cầu bổ sung hồ sơ; in phiếu yêu cầu bổ sung để gửi công dân.", "success")
    return redirect(url_for("dossiers.print_form", code=result.dossier_code, form="02"))


@bp.post("/viec/<int:item_id>/tu-choi")
@login_required
def refuse(item_id: int):
    """Refuse with reasons (form 03 is printed next)."""
    reason = (request.form.get("refusal_reason") or "").strip()
    try:
        result = svc.refuse(engine_ctx(), item_id, officer().id, reason=reason, now=now())
    except DomainError as exc:
        return _render_task(
            item_id, exc.http_status, {"refusal_reason": exc.message}, {"refusal_reason": reason}
        )
    flash("Đã từ chối; hồ sơ chuyển về Bộ phận Một cửa để trả cho công dân.", "success")
    return redirect(url_for("dossiers.print_form", code=result.dossier_code, form="03"))


@bp.post("/viec/<int:item_id>/phan-cong")
@bp.post("/viec/<int:item_id>/chuyen", endpoint="reassign")
@login_required
def assign(item_id: int):
    """A head or supervisor assigns an open step to a named officer (from the pool or from another).

    Field `to` is the officer's id; `next` (a path on this site) is where to go back to, so the
    supervisor's list can post here too.
    """
    to = request.form.get("to", type=int)
    try:
        if to is None:
            raise svc.InvalidInput("Chọn cán bộ được phân công.", "to")
        if svc.assign(engine_ctx(), item_id, officer().id, to, now()):
            flash("Đã phân công xử lý.", "success")
        else:
            flash("Cán bộ này đang xử lý bước này.", "info")
    except DomainError as exc:
        back = same_site(request.form.get("next"))
        if back is None or exc.http_status == 404:
            # From the task page itself: the page again, with the message at the select and its status.
            return _render_task(item_id, exc.http_status, {"assign": exc.message}, {"to": to})
        flash(exc.message, "danger")
        return redirect(back)
    return redirect_back(request.form.get("next"), url_for("inbox.task", item_id=item_id))
