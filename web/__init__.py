"""The officers' web app, the citizens' lookup and the JSON API.

`create_app` builds the app: settings, then the instance secret, then test overrides;
extensions initialised with `init_app`; one blueprint per area, registered here. The views
only translate HTTP to the engine's use cases and back; no domain logic lives in web/.
"""

from __future__ import annotations

import os
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Flask

from config import PROJECT_ROOT, Settings, load_settings
from engine.context import Context
from engine.storage import ConfigurationError
from engine.storage import check_configuration as check_store_configuration
from web import errors, filters, guards, helpers, proxies, security
from web.extensions import csrf, limiter, login_manager
from web.vendor import assets_dir


def _secret_key(settings: Settings, instance: Path) -> str:
    """The configured key, else (on a laptop) one generated once and kept in the instance folder.

    A production instance must set it: every web process of every host signs with the same key.
    """
    if settings.secret_key:
        return settings.secret_key
    if settings.production:
        raise ConfigurationError(
            "MOTCUA_SECRET_KEY is not set: a production instance (MOTCUA_SESSION_COOKIE_SECURE=true) "
            "signs sessions with one key shared by every web process (docs/deploy.md)"
        )
    path = instance / "secret_key"
    if not path.exists():
        instance.mkdir(parents=True, exist_ok=True)
        # Written aside and linked into place: two processes starting together agree on the first key.
        draft = instance / f".secret_key.{os.getpid()}.{secrets.token_hex(4)}"
        draft.write_text(secrets.token_hex(32))
        draft.chmod(0o600)
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()


def create_app(
    settings: Settings | None = None,
    test_config: dict[str, Any] | None = None,
    ctx: Context | None = None,
) -> Flask:
    """Build the web app for these settings (default: from the environment)."""
    settings = settings or (ctx.settings if ctx else load_settings())
    check_store_configuration(settings)  # production names its document store (docs/deploy.md)
    instance = PROJECT_ROOT / "instance"
    app = Flask(__name__, instance_path=str(instance))
    app.config.from_mapping(
        SECRET_KEY=_secret_key(settings, instance),
        # Cookies signed with an earlier key stay valid through a key rotation (docs/deploy.md).
        SECRET_KEY_FALLBACKS=list(settings.secret_key_fallbacks),
        # Several documents per form: the cap per file is checked by the engine.
        MAX_CONTENT_LENGTH=settings.upload_max_bytes * 5 + 1024 * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.session_cookie_secure,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=int(settings.session_max_hours * 3600),  # the cookie's signature age
        WTF_CSRF_TIME_LIMIT=8 * 3600,
        RATELIMIT_STORAGE_URI=settings.ratelimit_storage_uri,
        RATELIMIT_KEY_PREFIX=settings.ratelimit_key_prefix,
        RATELIMIT_HEADERS_ENABLED=True,
        # With the shared store (Redis) away, limits are counted per process in memory and the
        # store is retried, rather than every limited page (sign-in) failing.
        RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=True,
        RATELIMIT_SWALLOW_ERRORS=True,
        NODE_MODULES=str(assets_dir(settings)),
        MOTCUA_CLOCK=lambda: datetime.now(UTC),
        MOTCUA_SCHEDULER=False,
    )
    if test_config:
        app.config.update(test_config)
    app.extensions["motcua"] = ctx or Context.from_settings(settings)
    proxies.install(app, settings.trusted_proxies)  # the client's address behind the reverse proxy

    csrf.init_app(app)
    login_manager.init_app(app)
    limiter.init_app(app)
    guards.register(app)  # bounded <int:...> ids, then every request's input checked before its view

    from web import (
        admin,
        alerts,
        api,
        auth,
        catalogue_admin,
        counter,
        desk,
        documents,
        dossiers,
        dvcqg,
        feedback,
        health,
        inbox,
        processes,
        public,
        register,
        reports,
        step_tables,
        vendor,
        worklists,
    )

    for module in (auth, inbox, desk, dossiers, alerts, processes, reports, public, vendor, health):
        app.register_blueprint(module.bp)
    for module in (counter, register):  # forms 02 and 03 at the counter; the register (form 07)
        app.register_blueprint(module.bp)
    app.register_blueprint(admin.bp)  # the administrator's API tokens
    app.register_blueprint(worklists.bp)  # Điều hành: leaders', supervisors' and approvers' worklists
    app.register_blueprint(step_tables.bp)  # a province's step table to a draft, with a preview
    app.register_blueprint(dvcqg.bp)  # the administrator's page of the national portal sync
    app.register_blueprint(catalogue_admin.bp)  # create and edit procedures, import and export the catalogue
    app.register_blueprint(documents.bp)  # digitise, sign and reuse a dossier's documents
    from web import postal  # bưu chính công ích: results sent back by post, the carrier's reports

    app.register_blueprint(postal.bp)
    from web import payments  # fees: at the desk, waivers, online payment and the gateway's callback

    app.register_blueprint(payments.bp)
    from web import public_catalogue  # the public procedure catalogue, its API and the owners' forms

    for module_bp in (public_catalogue.bp, public_catalogue.api_bp, public_catalogue.owner_bp):
        app.register_blueprint(module_bp)
    app.add_url_rule("/favicon.ico", "favicon", vendor.favicon)  # asked for by every browser
    app.register_blueprint(api.bp)
    csrf.exempt(api.bp)  # token-authenticated, no cookies
    app.register_blueprint(feedback.bp)  # citizens' feedback (phản ánh, kiến nghị), no sign-in
    app.register_blueprint(feedback.api_bp)
    csrf.exempt(feedback.api_bp)  # JSON without cookies; rate-limited per address

    filters.register(app)
    app.before_request(alerts.load_header_state)
    app.context_processor(alerts.header_state)
    # Templates judge lateness at the app's clock (which tests set), never the wall clock.
    app.jinja_env.globals["current_time"] = helpers.now
    app.teardown_appcontext(helpers.end_request_uow)
    errors.register(app)
    health.register(app)
    security.register(app)  # CSP, frame and cache headers on every response
    if not app.testing:
        from engine.logs import configure_logging

        configure_logging(settings)
    return app
