"""Engine, session factory and the unit of work every use case runs in."""

from __future__ import annotations

import select
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from models.prepared import Prepared

# A pooled server connection idle longer than this is pinged (a round trip) before it is used again.
PING_AFTER_IDLE_SECONDS = 30.0
CHECKED_IN_AT = "motcua.checked_in_at"
JUST_OPENED = "motcua.just_opened"


def create_db_engine(url: str, **kwargs: object) -> Engine:
    """Create the SQLAlchemy engine; SQLite gets foreign keys, WAL and serialised writers.

    A server database's pooled connections are checked at checkout (`ping_stale_connections`)
    unless the caller asks for SQLAlchemy's `pool_pre_ping`, which pings every time.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        engine = create_engine(url, **kwargs)
        if not kwargs.get("pool_pre_ping"):
            ping_stale_connections(engine)
        return engine
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: object) -> None:
        # Let SQLAlchemy emit BEGIN itself (see _on_begin) instead of pysqlite's deferred BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        # In WAL mode NORMAL never corrupts the database; a power cut may lose the last commits.
        # That is the laptop default's trade-off; production runs on PostgreSQL.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # BEGIN IMMEDIATE takes the write lock up front: concurrent writers queue instead
        # of failing when a read lock would have to be upgraded mid-transaction.
        BEGIN_IMMEDIATE.run(conn, {})

    return engine


BEGIN_IMMEDIATE = Prepared(text("BEGIN IMMEDIATE"))


def ping_stale_connections(engine: Engine) -> None:
    """Before a pooled connection is used, make sure the server still has it; a lost one is replaced.

    What `pool_pre_ping` does, without its round trip on every checkout: a connection is pinged
    only when it sat idle in the pool longer than PING_AFTER_IDLE_SECONDS, or when the server
    wrote to it while it was idle (a restarted or stopped server, a terminated backend or an idle
    timeout all send their farewell and close the socket, which makes it readable). A failed ping
    raises DisconnectionError, on which the pool discards the connection and opens a new one.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(_dbapi_connection: Any, record: Any) -> None:
        # Just opened (also when the pool replaces a lost one during this very checkout): nothing to
        # check; a second failed check here would end the checkout with "This connection is closed"
        # instead of the connect error a caller can answer with 503.
        record.info[JUST_OPENED] = True

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info[CHECKED_IN_AT] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: object) -> None:
        if record.info.pop(JUST_OPENED, False):
            return
        idle_since = record.info.pop(CHECKED_IN_AT, None)
        fresh = idle_since is not None and time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS
        if fresh and not _server_wrote(dbapi_connection):
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            raise DisconnectionError(f"the pooled connection is gone: {error}") from error
        if not alive:
            raise DisconnectionError("the pooled connection is gone")


def _server_wrote(dbapi_connection: Any) -> bool:
    """Whether an idle connection's socket has anything to read (or is closed): only a server
    saying goodbye writes to a connection that sent no query. Unknown drivers always say yes."""
    try:
        if getattr(dbapi_connection, "closed", False) or getattr(dbapi_connection, "broken", False):
            return True
        readable, _, _ = select.select([dbapi_connection.fileno()], [], [], 0)
    except (AttributeError, OSError, ValueError):
        return True
    return bool(readable)


def make_session_factory(engine: Engine, info: dict[str, Any] | None = None) -> sessionmaker[Session]:
    """One sessionmaker per process; a session per request or per scheduler tick.

    `info` is copied into every session's `info` (the settings, for hooks that run at commit).
    """
    return sessionmaker(bind=engine, expire_on_commit=False, info=info)


class UnitOfWork:
    """One use case, one transaction: commit explicitly, roll back on any exit without commit."""

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self.session_factory = session_factory
        self.session: Session
        self._committed = False

    def __enter__(self) -> UnitOfWork:
        self.session = self.session_factory()
        self._committed = False
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # close() rolls back an uncommitted transaction and detaches objects without
        # expiring them, so what a read-only use case loaded stays readable afterwards.
        self.session.close()

    def commit(self) -> None:
        """Commit the transaction."""
        self.session.commit()
        self._committed = True

    def rollback(self) -> None:
        """Roll back the transaction."""
        self.session.rollback()
