"""Sign-in and sign-out of officers (username and password, rate limited).

The session cookie carries the officer's session version, the sign-in time and the time of the last
request; the user loader refuses it once the version is not the officer's any more (signed out
anywhere, new password, account disabled), after the idle timeout, and after the absolute one.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime, timedelta

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from engine.accounts import change_password as change_password_of
from engine.accounts import session_expired, sign_in, sign_out, signed_in_officer
from engine.deadlines.page_header import signed_in_page
from engine.errors import Forbidden, InvalidFields, Unauthenticated
from web.alerts import wants_header
from web.extensions import limiter, login_manager
from web.helpers import OfficerUser, engine_ctx, now, officer, request_uow
from web.redirects import redirect_back

bp = Blueprint("auth", __name__)
LOG = logging.getLogger(__name__)

login_manager.login_view = "auth.login"
login_manager.login_message = "Vui lòng đăng nhập để tiếp tục."
login_manager.login_message_category = "warning"
login_manager.session_protection = "strong"

# What the session cookie carries besides Flask-Login's own keys (times in epoch seconds).
SESSION_VERSION = "motcua_version"
SIGNED_IN_AT = "motcua_signed_in_at"
LAST_SEEN_AT = "motcua_seen_at"
EXPIRED = "Phiên làm việc đã hết hạn; vui lòng đăng nhập lại."
# How far the last request's time moves before the cookie records the new one.
SEEN_AT_STEP = timedelta(seconds=1)


class LoginForm(FlaskForm):
    username = StringField("Tên đăng nhập", validators=[DataRequired("Nhập tên đăng nhập."), Length(max=80)])
    password = PasswordField("Mật khẩu", validators=[DataRequired("Nhập mật khẩu."), Length(max=200)])


def _moment(stamp: object) -> datetime | None:
    return datetime.fromtimestamp(stamp, UTC) if isinstance(stamp, int | float) else None


def _forget(reason: str | None = None) -> None:
    """Drop the sign-in from the cookie; the sign-in page then says why, when there is a reason."""
    for key in ("_user_id", "_fresh", "_id", SESSION_VERSION, SIGNED_IN_AT, LAST_SEEN_AT):
        session.pop(key, None)
    if reason:
        g.motcua_session_ended = reason


def _login_message(message: str) -> str:
    """The message of the sign-in page: why the session ended, when it did."""
    return g.get("motcua_session_ended", message)


login_manager.localize_callback = _login_message


def _browser_fingerprint() -> str:
    """What strong session protection compares: the client's address and user agent.

    Flask-Login's own reads the first X-Forwarded-For entry as sent, which a thief holding a copied
    cookie can set to the victim's address; `remote_addr` is the address the trusted proxies vouch for.
    """
    seen = f"{request.remote_addr}|{request.headers.get('User-Agent', '')}"
    return hashlib.sha512(seen.encode()).hexdigest()


login_manager._session_identifier_generator = _browser_fingerprint


@login_manager.user_loader
def load_officer(user_id: str) -> OfficerUser | None:
    """Reload the officer each request: a disabled account, a signed-out or an expired session loses
    access at once.

    Read in the request's unit of work, with the page header (`alerts.header_state`) in the same
    statement, so a page's own read adds no transaction.
    """
    version, signed_in_at, seen_at = (
        session.get(SESSION_VERSION),
        _moment(session.get(SIGNED_IN_AT)),
        _moment(session.get(LAST_SEEN_AT)),
    )
    if not isinstance(version, int) or signed_in_at is None or seen_at is None or not user_id.isdigit():
        _forget()
        return None
    moment = now()
    if session_expired(engine_ctx(), signed_in_at, seen_at, moment):
        _forget(EXPIRED)
        return None
    uow = request_uow()
    if wants_header():
        # A page: the officer and its header in one statement.
        both = signed_in_page(engine_ctx(), int(user_id), moment, session_version=version, uow=uow)
        found = None if both is None else both[0]
        if both is not None:
            g.header_state = both[1]
    else:
        found = signed_in_officer(engine_ctx(), int(user_id), session_version=version, uow=uow)
    if found is None:
        _forget()
        return None
    if moment - seen_at >= SEEN_AT_STEP:
        # Requests within a second of the last one leave the cookie as it is: it is then neither
        # signed again nor sent back (the idle timeout may count from up to a second earlier).
        session[LAST_SEEN_AT] = moment.timestamp()
    return OfficerUser(found)


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
            found = sign_in(engine_ctx(), form.username.data or "", form.password.data or "")
            user = OfficerUser(found)
        except (Unauthenticated, Forbidden) as exc:
            error, status = exc.message, exc.http_status
            # Who tried and from where, never what password: an operator's trail of guessing.
            LOG.warning(
                "sign-in refused",
                extra={
                    "event": "sign_in_failed",
                    "username": (form.username.data or "")[:80],
                    "address": request.remote_addr,
                    "reason": type(exc).__name__,
                },
            )
        else:
            session.clear()
            login_user(user)
            moment = now().timestamp()
            session.update(
                {SESSION_VERSION: found.session_version, SIGNED_IN_AT: moment, LAST_SEEN_AT: moment}
            )
            flash(f"Xin chào {user.full_name}.", "success")
            return redirect_back(request.args.get("next"), url_for("inbox.index"))
    elif request.method == "POST":
        status = 422
    return render_template("login.html", form=form, error=error), status


class PasswordForm(FlaskForm):
    current_password = PasswordField("Mật khẩu hiện tại", validators=[Length(max=200)])
    new_password = PasswordField("Mật khẩu mới (ít nhất 10 ký tự)", validators=[Length(max=200)])
    repeat_password = PasswordField("Nhập lại mật khẩu mới", validators=[Length(max=200)])


# What an officer with a one-time password may still reach: this page, signing out, the public pages,
# the token-authenticated API, health probes and assets.
OPEN_WITH_ONE_TIME_PASSWORD = {"auth.change_password", "auth.logout", "auth.login", "static", "favicon"}
OPEN_BLUEPRINTS = {"public", "api", "health", "vendor"}


@bp.before_app_request
def require_own_password():
    """An officer signed in with a one-time password chooses their own before any other page."""
    endpoint = request.endpoint or ""
    if endpoint in OPEN_WITH_ONE_TIME_PASSWORD or endpoint.split(".")[0] in OPEN_BLUEPRINTS:
        return None
    if current_user.is_authenticated and getattr(current_user, "must_change_password", False):
        flash("Mật khẩu hiện tại là mật khẩu dùng một lần; vui lòng đặt mật khẩu của riêng mình.", "warning")
        return redirect(url_for("auth.change_password"))
    return None


@bp.route("/doi-mat-khau", methods=["GET", "POST"])
@login_required
@limiter.limit(_login_limit, methods=["POST"])
def change_password():
    """Đổi mật khẩu: the officer's own password; other sessions end, this one goes on."""
    form = PasswordForm()
    status = 200
    if form.validate_on_submit():
        try:
            found = change_password_of(
                engine_ctx(),
                officer().id,
                form.current_password.data or "",
                form.new_password.data or "",
                form.repeat_password.data or "",
            )
        except InvalidFields as exc:
            status = exc.http_status
            for name, message in exc.fields.items():
                form[name].errors = [message]
        else:
            session[SESSION_VERSION] = found.session_version
            flash("Đã đổi mật khẩu; các phiên đăng nhập khác đã kết thúc.", "success")
            return redirect(url_for("inbox.index"))
    elif request.method == "POST":
        status = 422
    return render_template("password.html", form=form), status


@bp.post("/dang-xuat")
@login_required
def logout():
    """Sign out of every browser (a POST with the CSRF token, so a link elsewhere cannot sign anyone out)."""
    sign_out(engine_ctx(), officer().id)
    logout_user()
    session.clear()
    flash("Đã đăng xuất.", "info")
    return redirect(url_for("auth.login"))
