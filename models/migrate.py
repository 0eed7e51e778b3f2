"""Run Alembic migrations from code (the `motcua db` commands and the tests), safely on a live system.

On PostgreSQL three things make an upgrade safe while the application serves traffic:

- One migrator at a time: the run holds a session-level advisory lock (`MIGRATION_LOCK_KEY`); a
  second run waits for it (polling), so two hosts starting together run the migrations one after
  the other (the second finds the schema current and does nothing).
- Every migration commits on its own (`transaction_per_migration`), so no run holds the locks of
  many tables at once, and every statement waits at most `lock_timeout` for its lock. A migration
  that cannot get a lock in time (or loses a deadlock) is rolled back, the run pauses and tries again
  from the first migration not yet applied, a few times, then fails with `MigrationLockTimeout`.
- New indexes on big tables are built with `create_index_concurrently` (CREATE INDEX CONCURRENTLY
  in an autocommit block), which does not block writers.

On SQLite the whole run is one transaction (SQLite's write lock already serialises migrators).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
LOG = logging.getLogger("motcua.migrate")
# pg_advisory_lock key of the migrator: a fixed number, the same in every process ("motcuam").
MIGRATION_LOCK_KEY = 0x6D6F746375616D
LOCK_TIMEOUT_SECONDS = 5.0
ATTEMPTS = 5
PAUSE_SECONDS = 5.0
LOCK_POLL_SECONDS = 0.5
# PostgreSQL SQLSTATEs a retry can cure: lock_not_available (lock_timeout), deadlock_detected.
RETRYABLE = ("55P03", "40P01")
Echo = Callable[[str], None]


class MigrationLockTimeout(RuntimeError):
    """A migration could not get its locks within the lock timeout, after every attempt."""


def alembic_config(url: str | None = None) -> Config:
    """An Alembic config pointing at this package's migrations."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(
    engine: Engine,
    revision: str = "head",
    *,
    lock_timeout: float = LOCK_TIMEOUT_SECONDS,
    attempts: int = ATTEMPTS,
    pause: float = PAUSE_SECONDS,
    echo: Echo | None = None,
) -> None:
    """Bring the database schema up to `revision` (see the module's notes on PostgreSQL)."""
    _migrate(engine, command.upgrade, revision, lock_timeout, attempts, pause, echo)


def downgrade(
    engine: Engine,
    revision: str,
    *,
    lock_timeout: float = LOCK_TIMEOUT_SECONDS,
    attempts: int = ATTEMPTS,
    pause: float = PAUSE_SECONDS,
    echo: Echo | None = None,
) -> None:
    """Take the database schema back down to `revision`."""
    _migrate(engine, command.downgrade, revision, lock_timeout, attempts, pause, echo)


def _migrate(
    engine: Engine,
    step: Callable[[Config, str], None],
    revision: str,
    lock_timeout: float,
    attempts: int,
    pause: float,
    echo: Echo | None,
) -> None:
    if engine.dialect.name == "postgresql":
        _migrate_pg(engine, step, revision, lock_timeout, max(1, attempts), pause, echo or LOG.info)
    else:
        _migrate_one_transaction(engine, step, revision)


def _migrate_one_transaction(engine: Engine, step: Callable[[Config, str], None], revision: str) -> None:
    cfg = alembic_config()
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        # On SQLite, batch mode changes a table's constraints by rebuilding it (copy, drop, rename);
        # with foreign keys on, dropping a table that other rows point at fails. They are off while
        # the migration runs (SQLite ignores the pragma inside a transaction, hence before it
        # begins) and every reference is checked before it commits.
        raw = connection.connection.driver_connection if sqlite else None
        if raw is not None:
            raw.execute("PRAGMA foreign_keys=OFF")
        try:
            with connection.begin():
                cfg.attributes["connection"] = connection
                step(cfg, revision)
                if raw is not None:
                    dangling = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if dangling:
                        raise RuntimeError(f"the migration left rows pointing nowhere: {dangling[:5]}")
        finally:
            if raw is not None:
                raw.execute("PRAGMA foreign_keys=ON")


def _migrate_pg(
    engine: Engine,
    step: Callable[[Config, str], None],
    revision: str,
    lock_timeout: float,
    attempts: int,
    pause: float,
    echo: Echo,
) -> None:
    with engine.connect() as connection, migration_lock(connection, lock_timeout, echo):
        for attempt in range(1, attempts + 1):
            cfg = alembic_config()
            cfg.attributes["connection"] = connection
            cfg.attributes["transaction_per_migration"] = True
            try:
                step(cfg, revision)
                return
            except DBAPIError as exc:
                if connection.in_transaction():
                    connection.rollback()
                code = getattr(exc.orig, "sqlstate", None)
                if code not in RETRYABLE:
                    raise
                at = current_revision_of(connection)
                if attempt == attempts:
                    raise MigrationLockTimeout(
                        f"the migration from revision {at} could not get a lock on the database within "
                        f"{lock_timeout:g} s in {attempts} attempts ({exc.orig}); long transactions on the "
                        "tables it changes hold it: see pg_stat_activity, then run `motcua db upgrade` "
                        "again (every migration already applied stays applied)"
                    ) from exc
                echo(
                    f"migration from revision {at}: no lock within {lock_timeout:g} s "
                    f"(attempt {attempt} of {attempts}); trying again in {pause:g} s"
                )
                time.sleep(pause)


@contextlib.contextmanager
def migration_lock(connection: Connection, lock_timeout: float, echo: Echo | None = None) -> Iterator[None]:
    """PostgreSQL: hold the migrator's advisory lock (waiting for another migrator) with `lock_timeout`
    set for the session; both undone on exit. The connection is left outside any transaction."""
    say = echo or LOG.info
    # The wait polls, one short transaction per try: a session blocked in pg_advisory_lock would hold
    # a snapshot all along, and CREATE INDEX CONCURRENTLY in the running migration waits for every
    # older snapshot, so the two migrators would stall each other.
    waiting = False
    while not _try_lock(connection):
        if not waiting:
            say("another migration is running; waiting for it to finish")
            waiting = True
        time.sleep(LOCK_POLL_SECONDS)
    connection.exec_driver_sql(f"SET lock_timeout = {max(1, int(lock_timeout * 1000))}")
    connection.commit()  # the session-level lock and setting outlive the commit
    try:
        yield
    finally:
        try:
            if connection.in_transaction():
                connection.rollback()
            connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_KEY})
            connection.exec_driver_sql("RESET lock_timeout")
            connection.commit()
        except DBAPIError:
            # A broken connection: closing it for good releases the lock on the server.
            connection.invalidate()


def _try_lock(connection: Connection) -> bool:
    got = connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY}).scalar()
    connection.commit()
    return bool(got)


def create_index_concurrently(name: str, table: str, columns: list[str], **kw: Any) -> None:
    """In a migration: a new index that does not block writers on PostgreSQL (elsewhere a plain one).

    PostgreSQL builds it with CREATE INDEX CONCURRENTLY in an autocommit block, so the migration's
    earlier statements commit first. A build interrupted by a lock timeout leaves an invalid index;
    the next attempt drops it and builds again. Idempotent: an existing valid index is kept.
    """
    from alembic import op

    if op.get_bind().dialect.name != "postgresql":
        op.create_index(name, table, columns, **kw)
        return
    with op.get_context().autocommit_block():
        invalid = op.get_bind().scalar(
            text(
                "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "WHERE c.relname = :name AND NOT i.indisvalid AND pg_table_is_visible(c.oid)"
            ),
            {"name": name},
        )
        if invalid:
            op.drop_index(name, table_name=table, postgresql_concurrently=True, if_exists=True)
        op.create_index(name, table, columns, postgresql_concurrently=True, if_not_exists=True, **kw)


def drop_index_concurrently(name: str, table: str) -> None:
    """In a migration: drop an index without blocking readers and writers on PostgreSQL."""
    from alembic import op

    if op.get_bind().dialect.name != "postgresql":
        op.drop_index(name, table_name=table)
        return
    with op.get_context().autocommit_block():
        op.drop_index(name, table_name=table, postgresql_concurrently=True, if_exists=True)


def current_revision_of(connection: Connection) -> str | None:
    """The schema revision seen through an open connection."""
    from alembic.runtime.migration import MigrationContext

    found = MigrationContext.configure(connection).get_current_revision()
    if connection.in_transaction():
        connection.rollback()
    return found


def current_revision(engine: Engine) -> str | None:
    """The schema revision the database is at, or None for an empty database."""
    with engine.connect() as connection:
        return current_revision_of(connection)


def head_revision() -> str | None:
    """The newest revision shipped with the code."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def history() -> list[tuple[str, str | None, str]]:
    """Every revision shipped with the code, newest first: (revision, down revision, title)."""
    from alembic.script import ScriptDirectory

    found = []
    for script in ScriptDirectory.from_config(alembic_config()).walk_revisions():
        down = script.down_revision
        found.append(
            (
                script.revision,
                down if isinstance(down, str) or down is None else ",".join(down),
                (script.doc or "").strip().splitlines()[0] if script.doc else "",
            )
        )
    return found
