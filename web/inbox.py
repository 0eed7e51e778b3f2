"""The officer's inbox and the task page: claim, release, complete with an outcome, assign."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import login_required
from jinja2.filters import do_truncate
from markupsafe import Markup, escape

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
    links = inbox_urls()
    if request.headers.get("HX-Request"):
        return render_template("inbox_rows.html", page=result, lines=inbox_lines(result.rows, links))
    return render_template(
        "inbox.html",
        page=result,
        scope=scope,
        status=status,
        procedure_id=procedure_id,
        procedures=result.procedures,
        page_number=page,
        pages=pages,
        page_links=page_links(page, pages),
        lines=inbox_lines(result.rows, links),
        url_for=links,  # the page's and the layout's links, kept
    )


# The inbox page's links by what url_for builds them from, per app (`inbox_urls`).
_URLS = "motcua.inbox_urls"
_URLS_MAX = 4096


def inbox_urls() -> Callable[..., str]:
    """`url_for` for this request, each link kept per app by the request's host, scheme, script root
    and blueprint (what a URL is built from besides its arguments): the inbox page and its layout
    build the same two dozen links at every view (the menu, the assets, the scopes, the pager, the
    forms), and building one costs more than looking it up."""
    prefix = (request.host, request.scheme, request.script_root, request.blueprint)
    urls: dict[tuple, str] = current_app.extensions.setdefault(_URLS, {})

    def kept_url_for(endpoint: str, **values: Any) -> str:
        key = (*prefix, endpoint, *values.items())
        try:
            found = urls.get(key)
        except TypeError:  # an argument that is not hashable (a list of values): built every time
            return url_for(endpoint, **values)
        if found is None:
            if len(urls) >= _URLS_MAX:
                urls.clear()
            found = urls[key] = url_for(endpoint, **values)
        return found

    return kept_url_for


def html_text(value: str) -> str:
    """`value` escaped as the templates' autoescape escapes text (markupsafe's own `escape`)."""
    return str(escape(value))


# The urgency badge's colour and title (macros.html's urgency_badge, written out in each row).
BADGE_COLOURS = {"overdue": "danger", "soon": "warning", "ok": "success", "paused": "secondary"}
BADGE_TITLES = Urgency.labels()
# Each urgency as a row's class, and its badge's opening tag, escaped once.
BADGE_URGENCIES = {urgency: html_text(urgency) for urgency in BADGE_COLOURS}
BADGE_OPENINGS = {
    urgency: f'<span class="badge text-bg-{colour} remaining remaining-{BADGE_URGENCIES[urgency]}"'
    f' title="{html_text(BADGE_TITLES.get(urgency, ""))}">'
    for urgency, colour in BADGE_COLOURS.items()
}


def local_minute(moment: datetime, tz: tzinfo) -> str:
    """`moment` in the office's time zone as the `local` filter shows it ('25/02/2026 10:00',
    formatting.DATE_TIME), without strftime, which costs twice as much."""
    at = moment.astimezone(tz)
    return f"{at.day:02d}/{at.month:02d}/{at.year} {at.hour:02d}:{at.minute:02d}"


def inbox_lines(rows: list[InboxRow], links: Callable[..., str] = url_for) -> Markup:
    """The table's rows, written here instead of by a loop in inbox_rows.html: the same markup byte
    for byte (tests/test_inbox_rows.py renders both), at a fraction of the cost, since a template
    escapes and yields every value of every row apart. Each row's cells are formatted as the `local`,
    `working_time` and `truncate` filters would (the office's time zone and working day read once per
    page); text read from the database is escaped (a procedure's name, a step or an assignee once per
    page), while the link, the dates, the hours left and the badge are made of digits, fixed words
    and the page's own escaped prefix.

    Each row: the urgency, the item's checkbox when it is in the pool, the task's link, the
    dossier's code, the procedure's name in full (title) and cut to 48 characters, the step,
    received, due, the badge's colour, title and text, and the assignee."""
    calendar = current_app.extensions["motcua"].calendar
    tz, hours_per_day, environment = calendar.tz, calendar.hours_per_day, current_app.jinja_env
    task_base = html_text(links("inbox.task", item_id=1)[:-1])
    working_time = formatting.working_time
    procedures: dict[str, str] = {}  # a procedure's name -> its cell (in full as the title, cut as the text)
    texts: dict[str, str] = {}  # a step's or an assignee's name -> escaped
    lines = []
    for row in rows:
        item_id, urgency, code = row.work_item_id, row.urgency, html_text(row.dossier_code)
        procedure = procedures.get(row.procedure_name)
        if procedure is None:
            name = row.procedure_name
            procedure = procedures[name] = (
                f'<td title="{html_text(name)}">{html_text(do_truncate(environment, name, 48))}</td>'
            )
        step = texts.get(row.step)
        if step is None:
            step = texts[row.step] = html_text(row.step)
        assignee_name = row.assignee_name or "Chưa có"
        assignee = texts.get(assignee_name)
        if assignee is None:
            assignee = texts[assignee_name] = html_text(assignee_name)
        checkbox = (
            ""
            if row.assignee_id
            else f'<input class="form-check-input" type="checkbox" name="item" value="{item_id}"'
            f' aria-label="Chọn {code}">'
        )
        lines.append(
            f'\n    <tr class="urgency-{BADGE_URGENCIES[urgency]}">\n'
            f"      <td>{checkbox}</td>\n"
            f'      <td><a href="{task_base}{item_id}" class="font-monospace">{code}</a></td>\n'
            f"      {procedure}\n"
            f"      <td>{step}</td>\n"
            f"      <td>{local_minute(row.received_at, tz)}</td>\n"
            f"      <td>{local_minute(row.due_at, tz) if row.due_at else '—'}</td>\n"
            "      <td>\n"
            f"{BADGE_OPENINGS[urgency]}{working_time(row.remaining_hours, hours_per_day)}</span></td>\n"
            f"      <td>{assignee}</td>\n"
            '      <td class="text-end">\n'
            f'        <a class="btn btn-sm btn-primary" href="{task_base}{item_id}">Xử lý</a>\n'
            "      </td>\n"
            "    </tr>\n  "
        )
    return Markup("".join(lines))


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
