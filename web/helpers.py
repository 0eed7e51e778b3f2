"""What every view needs: the engine context, the clock, the signed-in officer and role checks."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any

from flask import abort, current_app
from flask_login import UserMixin, current_user, login_required

from engine.context import Context
from models import Officer


class OfficerUser(UserMixin):
    """The signed-in officer as Flask-Login sees it: a detached snapshot loaded per request."""

    def __init__(self, officer: Officer, agency_name: str, agency_code: str) -> None:
        self.id = officer.id
        self.username = officer.username
        self.full_name = officer.full_name
        self.agency_id = officer.agency_id
        self.agency_name = agency_name
        self.agency_code = agency_code
        self.roles = list(officer.roles or [])

    def has_role(self, *roles: str) -> bool:
        """Whether the officer holds any of these roles."""
        return any(role in self.roles for role in roles)


def engine_ctx() -> Context:
    """The engine context of this app."""
    return current_app.extensions["motcua"]


def now() -> datetime:
    """The current moment (tests inject a clock through the app config)."""
    return current_app.config["MOTCUA_CLOCK"]()


def officer() -> OfficerUser:
    """The signed-in officer."""
    return current_user  # type: ignore[return-value]


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
