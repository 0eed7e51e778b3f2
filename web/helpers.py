"""What every view needs: the engine context, the clock, the request's unit of work, the signed-in
officer and role checks.

A request reads in one unit of work, opened on first use and kept in `g` until the request ends
(flaskr's `get_db`): the user loader reads the officer and the page header in it, and a page's
read use case runs in it too. A form post gives it up before its write use case runs, since a
write use case is its own transaction (and SQLite lets one transaction at a time write).
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from functools import wraps
from typing import Any, Protocol

from flask import abort, current_app, g
from flask_login import UserMixin, current_user, login_required
from sqlalchemy.exc import SQLAlchemyError

from engine.accounts import SignedIn
from engine.context import Context
from engine.errors import InvalidInput
from engine.runtime.attachments import Upload
from engine.usecase import UnitOfWork


class OfficerUser(UserMixin):
    """The signed-in officer as Flask-Login sees it: a snapshot read by the engine each request."""

    def __init__(self, signed_in: SignedIn) -> None:
        self.id = signed_in.id
        self.username = signed_in.username
        self.full_name = signed_in.full_name
        self.agency_id = signed_in.agency_id
        self.agency_name = signed_in.agency_name
        self.agency_code = signed_in.agency_code
        self.roles = list(signed_in.roles)
        self.must_change_password = signed_in.must_change_password

    def has_role(self, *roles: str) -> bool:
        """Whether the officer holds any of these roles."""
        return any(role in self.roles for role in roles)


def engine_ctx() -> Context:
    """The engine context of this app."""
    return current_app.extensions["motcua"]


def now() -> datetime:
    """The current moment (tests inject a clock through the app config)."""
    return current_app.config["MOTCUA_CLOCK"]()


def request_uow() -> UnitOfWork:
    """The request's unit of work, opened on first use."""
    if "motcua_uow" not in g:
        g.motcua_uow = engine_ctx().uow().__enter__()
    return g.motcua_uow


def end_request_uow(exc: BaseException | None = None) -> None:
    """Close the request's unit of work, if one was opened (at the end of the request, or before a write).

    A unit of work that only read ends with a commit instead of a rollback: the same to the
    database, but psycopg keeps its prepared statements over a commit and drops them all at a
    rollback, so the next request's statements would be parsed and planned again.
    """
    uow = g.pop("motcua_uow", None)
    if uow is None:
        return
    session = uow.session
    if exc is None and not (session.new or session.dirty or session.deleted):
        try:
            uow.commit()
        except SQLAlchemyError as error:
            # Only reads happened (or a read failed: the database went away, and the caller's
            # exception is already on its way to the 503 handler); closing rolls back what is left.
            logging.getLogger(__name__).warning("a read-only transaction could not commit: %s", error)
    uow.__exit__(None, None, None)


def officer() -> OfficerUser:
    """The signed-in officer."""
    return current_user


def roles_required(*roles: str) -> Callable:
    """Sign-in required, and one of the roles; otherwise 403."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        @login_required
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not officer().has_role(*roles):
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


class Base64File(Protocol):
    """A file sent inside a JSON body: its name and its bytes in base64."""

    name: str
    content_base64: str


def decoded_uploads(files: Iterable[Base64File]) -> list[Upload]:
    """The files of a JSON body as uploads; a file that is not base64 is named by its place in the list."""
    uploads = []
    for index, item in enumerate(files):
        try:
            data = base64.b64decode(item.content_base64, validate=True)
        except (binascii.Error, ValueError) as exc:
            field = f"files[{index}].content_base64"
            raise InvalidInput(f"Nội dung tệp “{item.name}” không phải base64 hợp lệ.", field) from exc
        uploads.append(Upload(item.name, data))
    return uploads
