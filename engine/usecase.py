"""The use-case kernel: one transaction per use case, timezone-aware clocks, the acting officer.

Every write use case of the engine (dossiers, apology letters, process versions, the watcher)
runs inside `use_case`; a concurrent change to the same rows becomes a named `Conflict`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TypeVar, cast

from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import instance_state
from sqlalchemy.orm.exc import StaleDataError

from engine import logs
from engine.context import Context
from engine.errors import Conflict, Forbidden, InvalidInput, NotFound
from models import Officer, UnitOfWork

# The logger name predates the kernel; log shippers filter on it.
LOG = logging.getLogger("motcua.dossiers")


def require_aware(now: datetime, name: str = "now") -> datetime:
    """Refuse naive datetimes: every moment carries its timezone."""
    if not isinstance(now, datetime) or now.tzinfo is None or now.utcoffset() is None:
        raise InvalidInput(
            f"Thời điểm {name} phải kèm múi giờ (timezone-aware), ví dụ 2026-11-21T09:00+07:00", name
        )
    return now


def active_officer(session: Session, officer_id: int) -> Officer:
    """The officer acting, or NotFound; a disabled account is refused by name."""
    officer = held(session, Officer, officer_id) or session.get(Officer, officer_id)
    if officer is None:
        raise NotFound(f"Không tìm thấy cán bộ có mã {officer_id}")
    if not officer.active:
        raise Forbidden(f"Tài khoản {officer.username} đã bị khóa")
    return officer


T = TypeVar("T")


def held(session: Session, entity: type[T], ident: int) -> T | None:
    """The object with that primary key already loaded in the session (what `session.get` returns then,
    without going through its options), None when it is not there as loaded."""
    obj = session.identity_map.get(sa_inspect(entity).identity_key_from_primary_key((ident,)))
    if obj is None:
        return None
    state = instance_state(obj)
    return None if state.expired_attributes or state.deleted or state.was_deleted else cast(T, obj)


@contextmanager
def reading(ctx: Context, uow: UnitOfWork | None = None) -> Iterator[Session]:
    """A read use case's session: the caller's unit of work (a web request's), else one of its own.

    A page reads the signed-in officer, the header and its content in the request's one unit of
    work; the CLI and tests pass none and the read runs in its own transaction.
    """
    if uow is not None:
        yield uow.session
        return
    with ctx.uow() as own:
        yield own.session


@contextmanager
def use_case(ctx: Context, what: str, subject: str = "hồ sơ") -> Iterator[UnitOfWork]:
    """One use case in one transaction; a concurrent change to the same rows becomes a Conflict.

    `subject` names what was changed concurrently in that message (a dossier, a process version).
    """
    try:
        # Lines logged inside carry the dossier code once record_event (or the caller) tags it.
        with logs.dossier_scope(), ctx.uow() as uow:
            yield uow
            LOG.info("%s", what)
    except StaleDataError as exc:
        raise Conflict(
            f"{what}: {subject} vừa được người khác thay đổi cùng lúc; vui lòng tải lại và thực hiện lại"
        ) from exc
    except IntegrityError as exc:
        raise Conflict(
            f"{what}: thao tác trùng với một thay đổi khác vừa thực hiện cùng lúc; "
            "vui lòng tải lại và thực hiện lại"
        ) from exc
