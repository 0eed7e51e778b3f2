"""Deadlines that act by themselves, as officers see them: notifications, apology letters (form 04),
the list of overdue dossiers without an issued apology, and failed messages for the administrator."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from engine.deadlines import watcher
from engine.errors import DomainError, InvalidInput
from engine.notify import notifications
from engine.runtime import apology
from engine.runtime.access import require_view
from models import ApologyLetter, Dossier
from web.helpers import engine_ctx, now, officer, roles_required
from web.inbox import me

bp = Blueprint("alerts", __name__)


def wants_header() -> bool:
    """Pages show the header; the API, static files and vendor assets do not."""
    return request.endpoint not in (None, "static", "vendor.asset") and not request.path.startswith("/api/")


def read_header_state(session, officer_id: int) -> None:  # type: ignore[no-untyped-def]
    """Unread notifications and a stale scheduler for the page header, into `g`.

    Called by the user loader inside its own transaction, so a page costs no extra one, and
    before the view runs, so no page opens a second transaction while its own is open (on
    SQLite every transaction takes the write lock).
    """
    ctx = engine_ctx()
    g.header_state = {
        "unread_count": notifications.unread_count(session, officer_id),
        "heartbeat": watcher.heartbeat(
            session,
            now(),
            interval_seconds=ctx.settings.scheduler_interval_seconds,
            lease_seconds=ctx.settings.scheduler_lease_seconds,
        ),
    }


def load_header_state() -> None:
    """Make sure the header state is read before the view (the user loader usually did it)."""
    if not wants_header() or not current_user.is_authenticated or "header_state" in g:
        return
    with engine_ctx().uow() as uow:
        read_header_state(uow.session, officer().id)


def header_state() -> dict:
    """What the header shows, as loaded before the view."""
    return g.get("header_state", {})


@bp.get("/thong-bao")
@login_required
def inbox():  # type: ignore[no-untyped-def]
    """The officer's notifications, newest first."""
    with engine_ctx().uow() as uow:
        rows = notifications.officer_notifications(uow.session, officer().id, limit=200)
    return render_template("notifications.html", rows=rows)


@bp.post("/thong-bao/da-doc")
@login_required
def mark_read():  # type: ignore[no-untyped-def]
    """Mark some (or all) of the officer's notifications read."""
    ids = [int(i) for i in request.form.getlist("id") if i.isdigit()]
    notifications.mark_read(engine_ctx(), officer().id, ids or None, now())
    return redirect(request.form.get("next") or url_for("alerts.inbox"))


@bp.get("/xin-loi")
@roles_required("leader", "desk", "head", "supervisor")
def overdue():  # type: ignore[no-untyped-def]
    """Overdue dossiers of the agency (received or held) without an issued apology."""
    ctx = engine_ctx()
    with ctx.uow() as uow:
        rows = apology.overdue_without_apology(uow.session, officer().agency_id, now(), calendar=ctx.calendar)
    return render_template("overdue.html", rows=rows)


@bp.post("/ho-so/<code>/xin-loi")
@login_required
def draft(code: str):  # type: ignore[no-untyped-def]
    """Draft the apology letter by hand (the watcher usually has)."""
    try:
        letter_id = apology.create_draft_apology(engine_ctx(), code, officer().id, now())
    except DomainError as exc:
        flash(exc.message, "danger")
        return redirect(url_for("dossiers.show", code=code))
    return redirect(url_for("alerts.letter", letter_id=letter_id))


def _letter_dossier(session, letter_id: int) -> Dossier:  # type: ignore[no-untyped-def]
    letter = session.get(ApologyLetter, letter_id)
    if letter is None:
        abort(404)
    dossier = session.get(Dossier, letter.dossier_id)
    require_view(session, me(session), dossier)
    return dossier


def _parse_local(date_text: str, time_text: str) -> datetime:
    tz = engine_ctx().calendar.tz
    try:
        return datetime.strptime(f"{date_text} {time_text or '17:00'}", "%Y-%m-%d %H:%M").replace(tzinfo=tz)
    except ValueError as exc:
        raise InvalidInput("Ngày giờ hẹn mới không hợp lệ.", "new_due") from exc


@bp.route("/xin-loi/<int:letter_id>", methods=["GET", "POST"])
@login_required
def letter(letter_id: int):  # type: ignore[no-untyped-def]
    """A letter: edit the reason and the new appointment while it is a draft."""
    ctx = engine_ctx()
    error, status = None, 200
    if request.method == "POST":
        try:
            with ctx.uow() as uow:
                _letter_dossier(uow.session, letter_id)
            new_due = _parse_local(request.form.get("new_due_date", ""), request.form.get("new_due_time", ""))
            apology.edit_apology(
                ctx,
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
    with ctx.uow() as uow:
        dossier = _letter_dossier(uow.session, letter_id)
        form = apology.letter_form(uow.session, letter_id, ctx.calendar.tz)
        html = render_template("letter.html", form=form, dossier=dossier, error=error, values=request.form)
    return html, status


@bp.post("/xin-loi/<int:letter_id>/ky")
@login_required
def issue(letter_id: int):  # type: ignore[no-untyped-def]
    """The head of the agency at fault signs; the appointment moves once and the applicant is told."""
    ctx = engine_ctx()
    with ctx.uow() as uow:
        _letter_dossier(uow.session, letter_id)
    try:
        apology.issue_apology(ctx, letter_id, officer().id, now())
    except DomainError as exc:
        flash(exc.message, "danger")
        return redirect(url_for("alerts.letter", letter_id=letter_id))
    flash("Đã ký phát hành phiếu xin lỗi; công dân đã được thông báo ngày hẹn mới.", "success")
    return redirect(url_for("alerts.print_letter", letter_id=letter_id))


@bp.get("/xin-loi/<int:letter_id>/in")
@login_required
def print_letter(letter_id: int):  # type: ignore[no-untyped-def]
    """Form 04 on A5."""
    ctx = engine_ctx()
    with ctx.uow() as uow:
        _letter_dossier(uow.session, letter_id)
        form = apology.letter_form(uow.session, letter_id, ctx.calendar.tz)
        return render_template("form_04.html", form=form)


@bp.route("/quan-tri/thong-bao-loi", methods=["GET", "POST"])
@roles_required("admin")
def failed():  # type: ignore[no-untyped-def]
    """Messages the dispatcher gave up on; the administrator can send them again."""
    if request.method == "POST":
        count = notifications.retry_failed(
            engine_ctx(), [int(i) for i in request.form.getlist("id") if i.isdigit()], now()
        )
        flash(f"Đã đưa {count} thông báo vào hàng đợi gửi lại.", "success")
        return redirect(url_for("alerts.failed"))
    with engine_ctx().uow() as uow:
        rows = notifications.failed_notifications(uow.session)
    return render_template("failed_notifications.html", rows=rows)
