"""Officers' credentials: password sign-in and API tokens (only their sha256 is stored)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from engine.context import Context
from engine.errors import Forbidden, InvalidInput, NotFound, Unauthenticated
from engine.usecase import reading
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

    def has_role(self, *roles: str) -> bool:
        """Whether the officer holds any of these roles."""
        return any(role in self.roles for role in roles)


def _signed_in(session: Session, officer: Officer) -> SignedIn:
    agency = session.get_one(Agency, officer.agency_id)
    return SignedIn(
        id=officer.id,
        username=officer.username,
        full_name=officer.full_name,
        agency_id=officer.agency_id,
        agency_code=agency.code,
        agency_name=agency.name,
        roles=tuple(officer.roles or ()),
    )


def sign_in(ctx: Context, username: str, password: str) -> SignedIn:
    """Đăng nhập: the officer with these credentials, as the session keeps them."""
    with ctx.uow() as uow:
        return _signed_in(uow.session, authenticate(uow.session, username, password))


def signed_in_officer(ctx: Context, officer_id: int, *, uow: UnitOfWork | None = None) -> SignedIn | None:
    """The signed-in officer, read again each request; None once the account is gone or disabled."""
    with reading(ctx, uow) as session:
        officer = session.get(Officer, officer_id)
        if officer is None or not officer.active:
            return None
        return _signed_in(session, officer)


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
        uow.commit()


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


def officer_for_token(session: Session, token: str) -> Officer:
    """The active officer a bearer token belongs to, or Unauthenticated."""
    if not token.startswith(TOKEN_PREFIX):
        raise Unauthenticated("Mã truy cập không hợp lệ.")
    row = session.scalars(select(ApiToken).where(ApiToken.token_sha256 == _digest(token))).one_or_none()
    if row is None or row.revoked_at is not None:
        raise Unauthenticated("Mã truy cập không hợp lệ hoặc đã bị thu hồi.")
    officer = session.get(Officer, row.officer_id)
    if officer is None or not officer.active:
        raise Unauthenticated("Tài khoản gắn với mã truy cập đã bị khóa.")
    return officer


def token_holder(ctx: Context, token: str, *, uow: UnitOfWork | None = None) -> int:
    """The id of the active officer a bearer token belongs to (an API request's first read)."""
    with reading(ctx, uow) as session:
        return officer_for_token(session, token).id
