"""Sign-in and sign-out of officers (username and password, rate limited)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from engine.accounts import sign_in, signed_in_officer
from engine.errors import Forbidden, Unauthenticated
from web.alerts import read_header_state, wants_header
from web.extensions import limiter, login_manager
from web.helpers import OfficerUser, engine_ctx, request_uow

bp = Blueprint("auth", __name__)

login_manager.login_view = "auth.login"
login_manager.login_message = "Vui lòng đăng nhập để tiếp tục."
login_manager.login_message_category = "warning"
login_manager.session_protection = "strong"


class LoginForm(FlaskForm):
    username = StringField("Tên đăng nhập", validators=[DataRequired("Nhập tên đăng nhập."), Length(max=80)])
    password = PasswordField("Mật khẩu", validators=[DataRequired("Nhập mật khẩu."), Length(max=200)])


@login_manager.user_loader
def load_officer(user_id: str) -> OfficerUser | None:
    """Reload the officer each request: a disabled account loses access at once.

    Read in the request's unit of work, with the page header, so a page's own read adds no
    transaction.
    """
    uow = request_uow()
    found = signed_in_officer(engine_ctx(), int(user_id), uow=uow)
    if found is None:
        return None
    if wants_header():
        read_header_state(found.id, uow)
    return OfficerUser(found)


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
def login():
    """The sign-in form."""
    form = LoginForm()
    error = None
    status = 200
    if form.validate_on_submit():
        try:
            user = OfficerUser(sign_in(engine_ctx(), form.username.data or "", form.password.data or ""))
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
def logout():
    """Sign out (a POST with the CSRF token, so a link elsewhere cannot sign anyone out)."""
    logout_user()
    session.clear()
    flash("Đã đăng xuất.", "info")
    return redirect(url_for("auth.login"))
