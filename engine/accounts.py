"""Officers' credentials: password sign-in and its sessions, and API tokens (only their sha256 is stored).

A session carries the officer's session version from sign-in; sign-out, a new password and disabling
the account raise the version, which ends every session of that officer at once.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import BindParameter, Select, select, update
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from engine.context import Context
from engine.errors import Conflict, Forbidden, InvalidFields, InvalidInput, NotFound, Unauthenticated
from engine.usecase import active_officer, reading, require_aware
from models import Agency, ApiToken, Officer, UnitOfWork


@cache
def _dummy_hash() -> str:
    """Compared against when the username is unknown, so both failures take the same time.

    Made on first use: a scrypt hash at import time would slow every process start.
    """
    return generate_password_hash("not-a-password")


TOKEN_PREFIX = "mc_"


def authenticate(session: Session, username: str, password: str) -> Officer:
    """The officer with these credentials; a disabled account is refused by name."""
    officer = session.scalars(select(Officer).where(Officer.username == username.strip())).one_or_none()
    if officer is None or not officer.password_hash:
        check_password_hash(_dummy_hash(), password)
        raise Unauthenticated("Tên đăng nhập hoặc mật khẩu không đúng.")
    if not check_password_hash(officer.password_hash, password):
        raise Unauthenticated("Tên đăng nhập hoặc mật khẩu không đúng.")
    if not officer.active:
        raise Forbidden(
            f"Tài khoản {officer.username} đã bị khóa. Vui lòng liên hệ quản trị hệ thống của cơ quan."
        )
    return officer


@dataclass(frozen=True)
class SignedIn:
    """What a signed-in session needs of an officer: who, in which agency, with which roles."""

    id: int
    username: str
    full_name: str
    agency_id: int
    agency_code: str
    agency_name: str
    roles: tuple[str, ...]
    session_version: int
    must_change_password: bool = False

    def has_role(self, *roles: str) -> bool:
        """Whether the officer holds any of these roles."""
        return any(role in self.roles for role in roles)


def _signed_in(session: Session, officer: Officer) -> SignedIn:
    agency = session.get_one(Agency, officer.agency_id)
    return _signed_in_with(officer, agency.code, agency.name)


def _signed_in_with(officer: Officer, agency_code: str, agency_name: str) -> SignedIn:
    return SignedIn(
        id=officer.id,
        username=officer.username,
        full_name=officer.full_name,
        agency_id=officer.agency_id,
        agency_code=agency_code,
        agency_name=agency_name,
        roles=tuple(officer.roles or ()),
        session_version=officer.session_version,
        must_change_password=officer.must_change_password,
    )


# Where a unit of work keeps the signed-in officer it has read (Session.info).
SIGNED_IN_KEY = "motcua_signed_in_officer"


def sign_in(ctx: Context, username: str, password: str) -> SignedIn:
    """Đăng nhập: the officer with these credentials, as the session keeps them."""
    with ctx.uow() as uow:
        return _signed_in(uow.session, authenticate(uow.session, username, password))


def signed_in_query(officer_id: int | BindParameter[int]) -> Select[Officer, str, str]:
    """The statement of `signed_in_officer`: the officer with its agency's code and name. The page
    header adds its own columns to it (engine.deadlines.page_header.signed_in_page)."""
    return (
        select(Officer, Agency.code, Agency.name)
        .join(Agency, Agency.id == Officer.agency_id)
        .where(Officer.id == officer_id)
    )


def signed_in_of(
    session: Session, officer: Officer, agency_code: str, agency_name: str, session_version: int | None
) -> SignedIn | None:
    """The signed-in state from a row of `signed_in_query`; None when the account is disabled or the
    session's version is no longer the officer's.

    The officer's row stays in the session for the rest of the unit of work, so the request's use
    cases that read the acting officer again (`active_officer`) find it in the identity map instead
    of reading it a second time.
    """
    if not officer.active:
        return None
    if session_version is not None and session_version != officer.session_version:
        return None
    # The identity map holds its objects weakly: a reference keeps this one for the session.
    session.info[SIGNED_IN_KEY] = officer
    return _signed_in_with(officer, agency_code, agency_name)


def signed_in_officer(
    ctx: Context, officer_id: int, *, session_version: int | None = None, uow: UnitOfWork | None = None
) -> SignedIn | None:
    """The signed-in officer, read again each request; None once the account is gone or disabled, or
    when the session's version is no longer the officer's (signed out, new password, disabled since).

    The web app always passes the version its session cookie carries. One statement reads the officer
    and its agency (`signed_in_query`).
    """
    with reading(ctx, uow) as session:
        found = session.execute(signed_in_query(officer_id)).one_or_none()
        if found is None:
            return None
        officer, agency_code, agency_name = found
        return signed_in_of(session, officer, agency_code, agency_name, session_version)


def session_expired(ctx: Context, signed_in_at: datetime, last_seen_at: datetime, now: datetime) -> bool:
    """Whether a session is over: idle longer than the idle timeout, or older than the absolute one."""
    idle = now - last_seen_at >= timedelta(minutes=ctx.settings.session_idle_minutes)
    too_old = now - signed_in_at >= timedelta(hours=ctx.settings.session_max_hours)
    return idle or too_old


def sign_out(ctx: Context, officer_id: int) -> None:
    """Đăng xuất: end every session of the officer, on every browser and device."""
    with ctx.uow() as uow:
        uow.session.execute(
            update(Officer)
            .where(Officer.id == officer_id)
            .values(session_version=Officer.session_version + 1)
            .execution_options(synchronize_session=False)
        )
        uow.commit()


def set_active(ctx: Context, username: str, active: bool) -> None:
    """Khóa / mở khóa tài khoản: a disabled officer's sessions end at once and stay ended."""
    with ctx.uow() as uow:
        officer = uow.session.scalars(select(Officer).where(Officer.username == username)).one_or_none()
        if officer is None:
            raise NotFound(f"Không có cán bộ với tên đăng nhập {username}.")
        officer.active = active
        officer.session_version += 1
        uow.commit()


@dataclass(frozen=True)
class AccountLine:
    """One active account, as `motcua serve` lists the demo accounts."""

    username: str
    full_name: str
    roles: tuple[str, ...]
    agency_name: str


def active_accounts(ctx: Context) -> list[AccountLine]:
    """Every active account with its agency, by agency code then username."""
    with ctx.uow() as uow:
        rows = uow.session.execute(
            select(Officer.username, Officer.full_name, Officer.roles, Agency.name)
            .join(Agency, Agency.id == Officer.agency_id)
            .where(Officer.active.is_(True))
            .order_by(Agency.code, Officer.username)
        ).all()
    return [AccountLine(username, name, tuple(roles or ()), agency) for username, name, roles, agency in rows]


def set_password(ctx: Context, username: str, password: str) -> None:
    """Set an officer's password (scrypt hash)."""
    if len(password) < 10:
        raise InvalidInput("Mật khẩu phải có ít nhất 10 ký tự.", "password")
    with ctx.uow() as uow:
        officer = uow.session.scalars(select(Officer).where(Officer.username == username)).one_or_none()
        if officer is None:
            raise NotFound(f"Không có cán bộ với tên đăng nhập {username}.")
        officer.password_hash = generate_password_hash(password)
        officer.session_version += 1  # whoever knew the old password is signed out
        uow.commit()


PASSWORD_MIN_LENGTH = 10


def one_time_password() -> str:
    """A random password to hand to one officer once (never a shared one)."""
    return secrets.token_urlsafe(9)


def reset_password(ctx: Context, username: str) -> str:
    """Cấp lại mật khẩu: a one-time password the officer must replace at the next sign-in; every
    session of the officer ends."""
    password = one_time_password()
    with ctx.uow() as uow:
        officer = uow.session.scalars(select(Officer).where(Officer.username == username)).one_or_none()
        if officer is None:
            raise NotFound(f"Không có cán bộ với tên đăng nhập {username}.")
        officer.password_hash = generate_password_hash(password)
        officer.must_change_password = True
        officer.session_version += 1
        uow.commit()
    return password


def change_password(ctx: Context, officer_id: int, current: str, new: str, repeated: str) -> SignedIn:
    """Đổi mật khẩu: the officer's own choice replaces the old (or one-time) one; every other session
    ends, and the returned state carries the new session version for the current one."""
    errors: dict[str, str] = {}
    if len(new) < PASSWORD_MIN_LENGTH:
        errors["new_password"] = f"Mật khẩu mới phải có ít nhất {PASSWORD_MIN_LENGTH} ký tự."
    elif new != repeated:
        errors["repeat_password"] = "Hai lần nhập mật khẩu mới không khớp."
    elif new == current:
        errors["new_password"] = "Mật khẩu mới phải khác mật khẩu hiện tại."
    with ctx.uow() as uow:
        officer = active_officer(uow.session, officer_id)
        if not check_password_hash(officer.password_hash or _dummy_hash(), current):
            errors = {"current_password": "Mật khẩu hiện tại không đúng.", **errors}
        if errors:
            raise InvalidFields(errors)
        officer.password_hash = generate_password_hash(new)
        officer.must_change_password = False
        officer.session_version += 1
        uow.session.flush()
        signed_in = _signed_in(uow.session, officer)
        uow.commit()
    return signed_in


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(ctx: Context, username: str, name: str, now: datetime) -> str:
    """Create an API token for an officer or service account; the plain token is shown once."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with ctx.uow() as uow:
        officer = uow.session.scalars(select(Officer).where(Officer.username == username)).one_or_none()
        if officer is None:
            raise NotFound(f"Không có cán bộ với tên đăng nhập {username}.")
        uow.session.add(
            ApiToken(officer_id=officer.id, name=name, token_sha256=_digest(token), created_at=now)
        )
        uow.commit()
    return token


def revoke_token(ctx: Context, token: str, now: datetime) -> None:
    """Revoke a token; it stops working at once."""
    with ctx.uow() as uow:
        row = uow.session.scalars(
            select(ApiToken).where(ApiToken.token_sha256 == _digest(token))
        ).one_or_none()
        if row is None:
            raise NotFound("Không có mã truy cập này.")
        row.revoked_at = now
        uow.commit()


@dataclass(frozen=True)
class TokenLine:
    """An API token as the administrator sees it: never the token itself."""

    id: int
    name: str
    username: str
    full_name: str
    agency_name: str
    created_at: datetime
    revoked_at: datetime | None


def require_admin(session: Session, admin_id: int | None, what: str = "Quản lý mã truy cập") -> None:
    """The web passes the signed-in officer, who must be an administrator; the CLI passes none."""
    if admin_id is not None and not active_officer(session, admin_id).has_role("admin"):
        raise Forbidden(f"{what} dành cho quản trị hệ thống.")


def _token_line(token: ApiToken, officer: Officer, agency: Agency) -> TokenLine:
    return TokenLine(
        id=token.id,
        name=token.name,
        username=officer.username,
        full_name=officer.full_name,
        agency_name=agency.name,
        created_at=token.created_at,
        revoked_at=token.revoked_at,
    )


def api_tokens(
    ctx: Context,
    *,
    username: str | None = None,
    admin_id: int | None = None,
    uow: UnitOfWork | None = None,
) -> list[TokenLine]:
    """The API tokens (of one officer, or all), in force first, then newest first."""
    with reading(ctx, uow) as session:
        require_admin(session, admin_id)
        query = (
            select(ApiToken, Officer, Agency)
            .join(Officer, Officer.id == ApiToken.officer_id)
            .join(Agency, Agency.id == Officer.agency_id)
        )
        if username is not None:
            if session.scalar(select(Officer.id).where(Officer.username == username)) is None:
                raise NotFound(f"Không có cán bộ với tên đăng nhập {username}.")
            query = query.where(Officer.username == username)
        rows = session.execute(
            query.order_by(ApiToken.revoked_at.is_not(None), ApiToken.created_at.desc(), ApiToken.id.desc())
        ).all()
        return [_token_line(token, officer, agency) for token, officer, agency in rows]


def revoke_token_by_id(
    ctx: Context, token_id: int, now: datetime, *, admin_id: int | None = None
) -> TokenLine:
    """Thu hồi mã truy cập: the token stops working at once."""
    require_aware(now)
    with ctx.uow() as uow:
        require_admin(uow.session, admin_id)
        token = uow.session.get(ApiToken, token_id)
        if token is None:
            raise NotFound(f"Không có mã truy cập số {token_id}.")
        if token.revoked_at is not None:
            raise Conflict(f"Mã truy cập số {token_id} ({token.name}) đã bị thu hồi trước đó.")
        token.revoked_at = now
        officer = uow.session.get_one(Officer, token.officer_id)
        line = _token_line(token, officer, uow.session.get_one(Agency, officer.agency_id))
        uow.commit()
        return line


def officer_for_token(session: Session, token: str) -> Officer:
    """The active officer a bearer token belongs to, or Unauthenticated."""
    if not token.startswith(TOKEN_PREFIX):
        raise Unauthenticated("Mã truy cập không hợp lệ.")
    # The token and its officer in one statement.
    row = session.execute(
        select(ApiToken.revoked_at, Officer)
        .outerjoin(Officer, Officer.id == ApiToken.officer_id)
        .where(ApiToken.token_sha256 == _digest(token))
    ).one_or_none()
    if row is None or row.revoked_at is not None:
        raise Unauthenticated("Mã truy cập không hợp lệ hoặc đã bị thu hồi.")
    officer = row.Officer
    if officer is None or not officer.active:
        raise Unauthenticated("Tài khoản gắn với mã truy cập đã bị khóa.")
    return officer


def token_holder(ctx: Context, token: str, *, uow: UnitOfWork | None = None) -> int:
    """The id of the active officer a bearer token belongs to (an API request's first read).

    The officer's row stays in the session, as `signed_in_of` keeps it: the request's use cases
    find the acting officer in the identity map.
    """
    with reading(ctx, uow) as session:
        officer = officer_for_token(session, token)
        session.info[SIGNED_IN_KEY] = officer
        return officer.id
