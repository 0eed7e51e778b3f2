"""Officers' credentials: password sign-in and API tokens (only their sha256 is stored)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from functools import cache

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from engine.context import Context
from engine.errors import Forbidden, InvalidInput, NotFound, Unauthenticated
from models import ApiToken, Officer


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
