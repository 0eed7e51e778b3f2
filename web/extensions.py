"""Flask extensions, created unbound and initialised in `create_app`."""

from __future__ import annotations

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_wtf import CSRFProtect

csrf = CSRFProtect()
login_manager = LoginManager()
# Limits are declared on the views that need them (sign-in, citizen lookup); none by default.
limiter = Limiter(key_func=get_remote_address, default_limits=[])
