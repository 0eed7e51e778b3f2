"""Deadlines that act by themselves, as officers see them: notifications, apology letters (form 04),
the list of overdue dossiers without an issued apology, and failed messages for the administrator."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from engine.deadlines.page_header import page_header
from engine.errors import DomainError, InvalidInput
from engine.notify import notifications
from engine.notify.notification_views import failed_messages, own_notifications
from engine.runtime import apology
from engine.runtime.apology_views import OVERDUE_READERS, late_again_list, letter_page, overdue_list
from engine.usecase import UnitOfWork
from web.helpers import end_request_uow, engine_ctx, now, officer, request_uow, roles_required
from web.redirects import redirect_back

bp = Blueprint("alerts", __name__)
READ_ONLY_METHODS = ("GET", "HEAD", "OPTIONS")


def wants_header() -> bool:
    """Pages show the header; the API, health probes, static files and vendor assets do not.

    A health probe must not hold the request's transaction (on SQLite a write lock) while it checks
    the database itself.
    """
    return (
        request.endpoint not in (None, "static", "vendor.asset")
        and request.blueprint != "health"
        and not request.path.startswith("/api/")
    )


def read_header_state(officer_id: int, uow: UnitOfWork) -> None:
    """Unread notifications and a stale scheduler for the page header, into `g`.

    The user loader usually reads it with the officer (`page_header.signed_in_page`); otherwise it
    is read here, in the request's unit of work, so a page costs no extra transaction for its header.
    """
    g.header_state = page_header(engine_ctx(), officer_id, now(), uow=uow)


def load_header_state() -> None:
    """Before the view: the header is read (the user loader usually did it), then a form post gives
    the request's unit of work up, since its use case writes in a transaction of its own."""
    try:
        if wants_header() and current_user.is_authenticated and "header_state" not in g:
            read_header_state(officer().id, request_uow())
    finally:
        if request.method not in READ_ONLY_METHODS:
            end_request_uow()


def header_state() -> dict:
    """What the header shows, as loaded before the view."""
    found = g.get("header_state")
    if found is None:
        return {}
    return {"unread_count": found.unread_count, "heartbeat": found.heartbeat}


@bp.get("/thong-bao")
@login_required
def inbox():
    """The officer's notifications, newest first."""
    rows = own_notifications(engine_ctx(), officer().id, uow=request_uow())
    return render_template("notifications.html", rows=rows)


@bp.post("/thong-bao/da-doc")
@login_required
def mark_read():
    """Mark some (or all) of the officer's notifications read."""
    ids = [int(i) for i in request.form.getlist("id") if i.isdigit()]
    notifications.mark_read(engine_ctx(), officer().id, ids or None, now())
    return redirect_back(request.form.get("next"), url_for("alerts.inbox"))


@bp.get("/xin-loi")
@roles_required(*OVERDUE_READERS)
def overdue():
    """Overdue dossiers of the agency (received or held) without an issued apology."""
    rows = overdue_list(engine_ctx(), officer().id, now(), uow=request_uow())
    again = late_again_list(engine_ctx(), officer().id, now(), uow=request_uow())
    return render_template("overdue.html", rows=rows, again=again)


@bp.post("/ho-so/<code>/xin-loi")
@login_required
def draft(code: str):
    """Draft the apology letter by hand (the watcher usually has)."""
    try:
        letter_id = apology.create_draft_apology(engine_ctx(), code, officer().id, now())
    except DomainError as exc:
        flash(exc.message, "danger")
        return redirect(url_for("dossiers.show", code=code))
    return redirect(url_for("alerts.letter", letter_id=letter_id))


def _parse_local(date_text: str, time_text: str) -> datetime:
    tz = engine_ctx().calendar.tz
    try:
        return datetime.strptime(f"{date_text} {time_text or '17:00'}", "%Y-%m-%d %H:%M").replace(tzinfo=tz)
    except ValueError as exc:
        raise InvalidInput("Ngày giờ hẹn mới không hợp lệ.", "new_due") from exc


@bp.route("/xin-loi/<int:letter_id>", methods=["GET", "POST"])
@login_required
def letter(letter_id: int):
    """A letter: edit the reason and the new appointment while it is a draft."""
    error, status = None, 200
    if request.method == "POST":
        try:
            new_due = _parse_local(request.form.get("new_due_date", ""), request.form.get("new_due_time", ""))
            # The use case refuses officers of other agencies in its own transaction.
            apology.edit_apology(
                engine_ctx(),
                letter_id,
                officer().id,
                reason=request.form.get("reason", ""),
                new_due=new_due,
                now=now(),
            )
        except DomainError as exc:
            error, status = exc.message, exc.http_status
        else:
            flash("Đã lưu phiếu xin lỗi.", "success")
            return redirect(url_for("alerts.letter", letter_id=letter_id))
    page = letter_page(engine_ctx(), officer().id, letter_id, uow=request_uow())
    html = render_template(
        "letter.html", form=page.form, dossier=page.dossier, error=error, values=request.form
    )
    return html, status


@bp.post("/xin-loi/<int:letter_id>/ky")
@login_required
def issue(letter_id: int):
    """The head of the agency at fault signs; the appointment moves once and the applicant is told."""
    try:
        # The use case refuses officers of other agencies and those who may not sign.
        apology.issue_apology(engine_ctx(), letter_id, officer().id, now())
    except DomainError as exc:
        flash(exc.message, "danger")
        return redirect(url_for("alerts.letter", letter_id=letter_id))
    flash("Đã ký phát hành phiếu xin lỗi; công dân đã được thông báo ngày hẹn mới.", "success")
    return redirect(url_for("alerts.print_letter", letter_id=letter_id))


@bp.get("/xin-loi/<int:letter_id>/in")
@login_required
def print_letter(letter_id: int):
    """Form 04 on A5."""
    page = letter_page(engine_ctx(), officer().id, letter_id, uow=request_uow())
    return render_template("form_04.html", form=page.form)


@bp.route("/quan-tri/thong-bao-loi", methods=["GET", "POST"])
@roles_required("admin")
def failed():
    """Messages the dispatcher gave up on; the administrator can send them again."""
    if request.method == "POST":
        count = notifications.retry_failed(
            engine_ctx(), [int(i) for i in request.form.getlist("id") if i.isdigit()], now()
        )
        flash(f"Đã đưa {count} thông báo vào hàng đợi gửi lại.", "success")
        return redirect(url_for("alerts.failed"))
    rows = failed_messages(engine_ctx(), officer().id, uow=request_uow())
    return render_template("failed_notifications.html", rows=rows)
