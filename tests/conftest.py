"""Fixtures: a migrated, loaded database on SQLite always and on PostgreSQL when configured.

Set MOTCUA_TEST_DATABASE_URL (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test) to run
every database test on PostgreSQL as well; `.ci/run` does. Under pytest-xdist (`make test` runs
`pytest -n ...`) each worker has a database of its own next to the given one (`test_gw0`,
`test_gw1`, ...), created when missing, and a SQLite template of its own.

Every test starts from the same loaded state: SQLite tests copy the migrated and loaded template
file; PostgreSQL tests restore a snapshot of the loaded tables taken once per session (see
`pg_restore`). Both hold the demo officers with a cheaper scrypt hash (see `DEMO_PASSWORD_HASH`).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import suppress
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from jinja2 import BytecodeCache
from jinja2.bccache import Bucket
from sqlalchemy import Engine, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, ProgrammingError
from werkzeug.security import generate_password_hash

from config import Settings
from engine.catalogue.loader import DEMO_PASSWORD, load_all
from engine.context import Context
from models import Base, Officer, WorkItem, create_db_engine
from models.migrate import upgrade

VN = ZoneInfo("Asia/Ho_Chi_Minh")


def _worker_database_url(url: str, worker: str) -> str:
    """The given database for a serial run; `<name>_<worker>` for a pytest-xdist worker."""
    if not url or not worker:
        return url
    parsed = make_url(url)
    return parsed.set(database=f"{parsed.database}_{worker}").render_as_string(hide_password=False)


# The given database; each pytest-xdist worker (PYTEST_XDIST_WORKER is set before this module is
# imported) gets one of its own, so workers never truncate or drop each other's tables.
GIVEN_PG_URL = os.environ.get("MOTCUA_TEST_DATABASE_URL", "")
PG_URL = _worker_database_url(GIVEN_PG_URL, os.environ.get("PYTEST_XDIST_WORKER", ""))
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])
LOADED_AT = datetime(2026, 11, 1, 8, 0, tzinfo=VN)
# Tests move the clock by days within one sign-in; tests/test_sessions.py pins the real timeouts.
LONG_SESSIONS = {"session_idle_minutes": 366 * 24 * 60, "session_max_hours": 366 * 24.0}


def pytest_configure(config: pytest.Config) -> None:
    """Create this worker's PostgreSQL database if missing (modules use PG_URL directly too).

    A worker's database commits without waiting for the WAL flush (synchronous_commit off): a
    crash of the server could lose the last commits of a throw-away database, nothing else
    changes (visibility, locks and constraints are the same). The serial pass, which restarts
    PostgreSQL, runs on the given database at the server's setting.
    """
    if PG_URL == GIVEN_PG_URL:
        return
    name = make_url(PG_URL).database
    # CREATE DATABASE cannot run inside a transaction; connect to the given database to issue it.
    admin = create_db_engine(GIVEN_PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).scalar()
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            with suppress(ProgrammingError):  # not the database's owner: commits wait for the flush
                conn.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    except OperationalError as exc:
        # Unreachable: the PostgreSQL tests fail with the connection error, as in a serial run.
        print(f"cannot create the test database {name}: {exc}")
    finally:
        admin.dispose()


def at(text_moment: str) -> datetime:
    """An aware moment in Vietnam from 'YYYY-MM-DD HH:MM'."""
    return datetime.strptime(text_moment, "%Y-%m-%d %H:%M").replace(tzinfo=VN)


# The demo officers' password in the loaded test databases: still scrypt, at a cost of n = 2**10
# instead of 2**15. check_password_hash reads the cost from the stored hash, so each sign-in of a
# test takes milliseconds instead of a quarter of a second; every hash the app makes (new
# passwords, resets, the unknown-user dummy) keeps werkzeug's default cost.
DEMO_PASSWORD_HASH = generate_password_hash(DEMO_PASSWORD, method="scrypt:1024:8:1")


def _load(ctx: Context) -> None:
    """The demo organisation and catalogue, as every database test starts from."""
    load_all(ctx, LOADED_AT)
    with ctx.uow() as uow:
        uow.session.execute(update(Officer).values(password_hash=DEMO_PASSWORD_HASH))
        uow.commit()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated and loaded SQLite file, copied for each test."""
    path = tmp_path_factory.mktemp("template") / "motcua.db"
    settings = Settings().with_overrides(database_url=f"sqlite:///{path}")
    ctx = Context.from_settings(settings)
    upgrade(ctx.db)
    _load(ctx)
    ctx.db.dispose()
    return path


@pytest.fixture(scope="session")
def pg_migrated() -> str:
    """The PostgreSQL test database with a fresh schema at the newest migration."""
    engine = create_db_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
        conn.execute(text(f"DROP SCHEMA IF EXISTS {SNAPSHOT} CASCADE"))
    upgrade(engine)
    engine.dispose()
    return PG_URL


# The loaded PostgreSQL state is kept once per session in this schema (unlogged copies of the
# tables that hold rows, and every sequence's value); each test starts from it.
SNAPSHOT = "test_snapshot"


@pytest.fixture(scope="session")
def pg_restore(pg_migrated: str) -> str:
    """Load the PostgreSQL test database once, snapshot it, and return the SQL that restores it.

    Restoring deletes every row (children first), copies the snapshot back and sets every
    sequence to its value after the load: the same rows and ids as a TRUNCATE ... RESTART
    IDENTITY followed by `load_all`, in a fraction of the time (a TRUNCATE makes new files for
    every table and index).
    """
    ctx = Context.from_settings(Settings().with_overrides(database_url=pg_migrated))
    _load(ctx)
    tables = [t.name for t in Base.metadata.sorted_tables]
    restore = [f"DELETE FROM {name}" for name in reversed(tables)]
    with ctx.db.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {SNAPSHOT}"))
        for name in tables:
            if conn.execute(text(f"SELECT EXISTS (SELECT FROM {name})")).scalar():
                conn.execute(text(f"CREATE UNLOGGED TABLE {SNAPSHOT}.{name} AS TABLE public.{name}"))
                restore.append(f"INSERT INTO {name} SELECT * FROM {SNAPSHOT}.{name}")
        sequences = conn.execute(
            text(
                "SELECT sequencename, COALESCE(last_value, start_value), last_value IS NOT NULL"
                " FROM pg_sequences WHERE schemaname = 'public'"
            )
        )
        restore += [f"SELECT setval('public.{seq}', {value}, {called})" for seq, value, called in sequences]
    ctx.db.dispose()
    return ";\n".join(restore)


@pytest.fixture(scope="session")
def pg_engine(pg_migrated: str) -> Iterator[Engine]:
    """The engine of each test's first PostgreSQL context (its pool is emptied after every test).

    One engine for the session keeps SQLAlchemy's cache of compiled statements, which is per
    engine, from one test to the next; further contexts of a test get engines of their own.
    """
    engine = create_db_engine(pg_migrated)
    yield engine
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Which database the test runs on."""
    return request.param


@pytest.fixture
def make_ctx(backend: str, tmp_path: Path, request: pytest.FixtureRequest):
    """Build contexts on the test's database, with optional setting overrides."""
    created: list[Context] = []
    if backend == "sqlite":
        db_path = tmp_path / "motcua.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), db_path)
        url = f"sqlite:///{db_path}"
    else:
        restore = request.getfixturevalue("pg_restore")
        engine = request.getfixturevalue("pg_engine")
        url = PG_URL

    def factory(**overrides: object) -> Context:
        settings = Settings().with_overrides(database_url=url, **(LONG_SESSIONS | overrides))
        if backend == "postgresql" and not created:
            ctx = Context.from_settings(settings, db=engine)
            with ctx.db.begin() as conn:
                conn.exec_driver_sql(restore)
        else:
            ctx = Context.from_settings(settings)
        created.append(ctx)
        return ctx

    yield factory
    try:
        # Whatever a test did through the service functions must leave every dossier consistent.
        if created and request.node.get_closest_marker("corrupts") is None:
            from engine.runtime.consistency import check_all

            report = check_all(created[0])
            assert report.ok, "\n".join(report.lines())
    finally:
        for ctx in created:
            ctx.db.dispose()


@pytest.fixture
def ctx(make_ctx) -> Iterator[Context]:
    """A context with default settings on a freshly loaded database."""
    yield make_ctx()


class Officers:
    """Demo officers by username."""

    def __init__(self, ctx: Context) -> None:
        with ctx.uow() as uow:
            self._ids = {o.username: o.id for o in uow.session.scalars(select(Officer))}

    def __getitem__(self, username: str) -> int:
        return self._ids[username]


@pytest.fixture
def officers(ctx: Context) -> Officers:
    """Officer ids by username."""
    return Officers(ctx)


def open_items(ctx: Context, dossier_id: int) -> list[WorkItem]:
    """The dossier's open work items in order."""
    with ctx.uow() as uow:
        return list(
            uow.session.scalars(
                select(WorkItem)
                .where(WorkItem.dossier_id == dossier_id, WorkItem.completed_at.is_(None))
                .order_by(WorkItem.id)
            )
        )


# ---------------------------------------------------------------------------
# web


class Clock:
    """A settable clock for the web app (the app reads it on every request)."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment


@pytest.fixture
def clock() -> Clock:
    """The web app's clock, starting on a working Monday morning."""
    return Clock(at("2026-11-23 08:00"))


@pytest.fixture
def app(make_ctx, clock: Clock, tmp_path: Path):
    """The web app on the test's database, with CSRF on and rate limits off unless a test enables them."""
    from web import create_app

    application = create_app(
        ctx=make_ctx(attachments_dir=str(tmp_path / "attachments")),
        test_config={
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "MOTCUA_CLOCK": clock,
            "RATELIMIT_ENABLED": False,
        },
    )
    yield application


class _CompiledTemplates(BytecodeCache):
    """Compiled templates shared by every app a test process builds.

    Each test builds its own app, and each app its own Jinja environment, which would compile
    every template it renders again. The code is kept by template name and source checksum, so an
    edited template compiles anew; all the apps have the same Jinja options.
    """

    def __init__(self) -> None:
        self.code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        if bucket.key in self.code:
            bucket.bytecode_from_string(self.code[bucket.key])

    def dump_bytecode(self, bucket: Bucket) -> None:
        self.code[bucket.key] = bucket.bytecode_to_string()


Flask.jinja_options = {**Flask.jinja_options, "bytecode_cache": _CompiledTemplates()}


CSRF_FIELD = re.compile(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"')


class WebClient:
    """A Flask test client that signs in and sends forms with their CSRF token."""

    def __init__(self, app) -> None:
        self.app = app
        self.http = app.test_client()

    def csrf(self, page: str = "/dang-nhap") -> str:
        found = CSRF_FIELD.search(self.http.get(page).get_data(as_text=True))
        assert found, f"no CSRF token on {page}"
        return found.group(1)

    def login(self, username: str, password: str = "motcua-demo"):
        return self.http.post(
            "/dang-nhap", data={"csrf_token": self.csrf(), "username": username, "password": password}
        )

    def get(self, url: str, **kwargs):
        return self.http.get(url, **kwargs)

    def post(self, url: str, data: dict | None = None, page: str = "/tra-cuu", **kwargs):
        """POST a form with a valid CSRF token (taken from any page that renders one)."""
        payload = dict(data or {})
        payload.setdefault("csrf_token", self.csrf(page))
        return self.http.post(url, data=payload, **kwargs)


@pytest.fixture
def web(app) -> WebClient:
    """A browser-like client of the web app."""
    return WebClient(app)
