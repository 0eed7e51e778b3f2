"""Engine, session factory and the unit of work every use case runs in."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


def create_db_engine(url: str, **kwargs: object) -> Engine:
    """Create the SQLAlchemy engine; SQLite gets foreign keys, WAL and serialised writers."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        kwargs.setdefault("pool_pre_ping", True)
        return create_engine(url, **kwargs)
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
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


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
