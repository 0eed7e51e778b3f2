"""Alembic environment: the database URL comes from the caller (models.migrate) or settings.

Run through `motcua db` (models.migrate) the caller hands over a connection that already holds the
migrator's lock. Run as plain `alembic` (alembic.ini at the repository's root) this file takes the
same advisory lock and lock timeout on PostgreSQL, without the retries of `motcua db upgrade`.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

import models  # noqa: F401  (registers every table on Base.metadata)
from models.base import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from config import load_settings

    return load_settings().database_url


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        from models.migrate import LOCK_TIMEOUT_SECONDS, migration_lock
        from models.session import create_db_engine

        engine = create_db_engine(_url())
        with engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                with migration_lock(conn, LOCK_TIMEOUT_SECONDS, print):
                    _run(conn, per_migration=True)
            else:
                # SQLite: foreign keys off while batch mode rebuilds tables (as models.migrate does).
                raw = conn.connection.driver_connection
                assert raw is not None
                raw.execute("PRAGMA foreign_keys=OFF")
                _run(conn, per_migration=False)
        engine.dispose()
    else:
        _run(connection, per_migration=bool(config.attributes.get("transaction_per_migration")))


def _run(connection: Connection, *, per_migration: bool) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        transaction_per_migration=per_migration,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
