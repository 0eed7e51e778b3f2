"""Fixtures: a migrated, loaded database on SQLite always and on PostgreSQL when configured.

Set MOTCUA_TEST_DATABASE_URL (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test) to run
every database test on PostgreSQL as well; `.ci/run` does. Under pytest-xdist (`make test` runs
`pytest -n ...`) each worker has a database of its own next to the given one (`test_gw0`,
`test_gw1`, ...), created when missing, and a SQLite template of its own.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from config import Settings
from engine.catalogue.loader import load_all
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
    """Create this worker's PostgreSQL database if missing (modules use PG_URL directly too)."""
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
    except OperationalError as exc:
        # Unreachable: the PostgreSQL tests fail with the connection error, as in a serial run.
        print(f"cannot create the test database {name}: {exc}")
    finally:
        admin.dispose()


def at(text_moment: str) -> datetime:
    """An aware moment in Vietnam from 'YYYY-MM-DD HH:MM'."""
    return datetime.strptime(text_moment, "%Y-%m-%d %H:%M").replace(tzinfo=VN)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated and loaded SQLite file, copied for each test."""
    path = tmp_path_factory.mktemp("template") / "motcua.db"
    settings = Settings().with_overrides(database_url=f"sqlite:///{path}")
    ctx = Context.from_settings(settings)
    upgrade(ctx.db)
    load_all(ctx, LOADED_AT)
    ctx.db.dispose()
    return path


@pytest.fixture(scope="session")
def pg_migrated() -> str:
    """The PostgreSQL test database with a fresh schema at the newest migration."""
    engine = create_db_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    upgrade(engine)
    engine.dispose()
    return PG_URL


def _truncate_pg(ctx: Context) -> None:
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with ctx.db.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


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
        url = request.getfixturevalue("pg_migrated")

    def factory(**overrides: object) -> Context:
        settings = Settings().with_overrides(database_url=url, **(LONG_SESSIONS | overrides))
        ctx = Context.from_settings(settings)
        if backend == "postgresql" and not created:
            _truncate_pg(ctx)
            load_all(ctx, LOADED_AT)
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
