"""Sign-in and sign-out of officers (username and password, rate limited)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from engine.accounts import authenticate
from engine.errors import Forbidden, Unauthenticated
from models import Agency, Officer
from web.alerts import read_header_state, wants_header
from web.extensions import limiter, login_manager
from web.helpers import OfficerUser, engine_ctx

bp = Blueprint("auth", __name__)

login_manager.login_view = "auth.login"
login_manager.login_message = "Vui lòng đăng nhập để tiếp tục."
login_manager.login_message_category = "warning"
login_manager.session_protection = "strong"


class LoginForm(FlaskForm):
    username = StringField("Tên đăng nhập", validators=[DataRequired("Nhập tên đăng nhập."), Length(max=80)])
    password = PasswordField("Mật khẩu", validators=[DataRequired("Nhập mật khẩu."), Length(max=200)])


def snapshot(officer: Officer, agency: Agency) -> OfficerUser:
    """The request's view of an officer."""
    return OfficerUser(officer, agency.name, agency.code)


@login_manager.user_loader
def load_officer(user_id: str) -> OfficerUser | None:
    """Reload the officer each request: a disabled account loses access at once."""
    with engine_ctx().uow() as uow:
        officer = uow.session.get(Officer, int(user_id))
        if officer is None or not officer.active:
            return None
        if wants_header():
            read_header_state(uow.session, officer.id)
        return snapshot(officer, uow.session.get(Agency, officer.agency_id))


def _safe_next(target: str | None) -> str | None:
    """Only same-site relative redirects after sign-in."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def _login_limit() -> str:
    return engine_ctx().settings.login_rate_limit


@bp.route("/dang-nhap", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def login():  # type: ignore[no-untyped-def]
    """The sign-in form."""
    form = LoginForm()
    error = None
    status = 200
    if form.validate_on_submit():
        try:
            with engine_ctx().uow() as uow:
                found = authenticate(uow.session, form.username.data or "", form.password.data or "")
                user = snapshot(found, uow.session.get(Agency, found.agency_id))
        except (Unauthenticated, Forbidden) as exc:
            error, status = exc.message, exc.http_status
        else:
            session.clear()
            login_user(user)
            flash(f"Xin chào {user.full_name}.", "success")
            return redirect(_safe_next(request.args.get("next")) or url_for("inbox.index"))
    elif request.method == "POST":
        status = 422
    return render_template("login.html", form=form, error=error), status


@bp.post("/dang-xuat")
@login_required
def logout():  # type: ignore[no-untyped-def]
    """Sign out (a POST with the CSRF token, so a link elsewhere cannot sign anyone out)."""
    logout_user()
    session.clear()
    flash("Đã đăng xuất.", "info")
    return redirect(url_for("auth.login"))
