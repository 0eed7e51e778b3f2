"""The models and the migrations describe one schema.

A fresh database upgraded to head with the project's own migration function must hold exactly
what `models.Base.metadata` declares, on SQLite and on PostgreSQL when configured. Alembic's
autogenerate comparison covers tables, columns, types, nullability, server defaults, primary,
unique and foreign keys (with ON DELETE) and index columns; it does not look at partial-index
predicates, PostgreSQL INCLUDE columns or CHECK constraints, so those are compared separately
against a database created straight from the models, reflected by the same database.
"""

from __future__ import annotations

import pprint
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from models import Base, create_db_engine
from models.migrate import current_revision, head_revision, upgrade
from tests.conftest import PG_URL

# PostgreSQL: two scratch schemas in the test database, so the shared test schema is left alone.
MIGRATED = "migration_check_migrated"
FROM_MODELS = "migration_check_models"


def _engine(backend: str, tmp_path: Path, name: str) -> Engine:
    if backend == "sqlite":
        return create_db_engine(f"sqlite:///{tmp_path / name}.db")
    return create_db_engine(PG_URL, connect_args={"options": f"-c search_path={name}"})


def _reset_pg_schemas(*, create: bool) -> None:
    admin = create_db_engine(PG_URL)
    try:
        with admin.begin() as conn:
            for name in (MIGRATED, FROM_MODELS):
                conn.execute(text(f"DROP SCHEMA IF EXISTS {name} CASCADE"))
                if create:
                    conn.execute(text(f"CREATE SCHEMA {name}"))
    finally:
        admin.dispose()


@pytest.fixture
def databases(backend: str, tmp_path: Path) -> Iterator[tuple[Engine, Engine]]:
    """(a fresh database upgraded to head, a fresh database created from the models)."""
    if backend == "postgresql":
        _reset_pg_schemas(create=True)
    migrated = _engine(backend, tmp_path, MIGRATED)
    from_models = _engine(backend, tmp_path, FROM_MODELS)
    try:
        upgrade(migrated)
        Base.metadata.create_all(from_models)
        yield migrated, from_models
    finally:
        migrated.dispose()
        from_models.dispose()
        if backend == "postgresql":
            _reset_pg_schemas(create=False)


def test_upgrading_a_fresh_database_reaches_the_newest_migration(databases: tuple[Engine, Engine]) -> None:
    migrated, _ = databases
    assert current_revision(migrated) == head_revision()


def test_migrated_schema_has_the_models_tables_columns_types_defaults_keys_and_indexes(
    databases: tuple[Engine, Engine],
) -> None:
    migrated, _ = databases
    with migrated.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "compare_server_default": True,
            },
        )
        # Neither the SQLite nor the PostgreSQL reflection of this schema gives a spurious difference,
        # so nothing is filtered; an ignore (include_object, a custom compare) belongs here only for
        # proven reflection noise, with the reason beside it.
        differences = compare_metadata(context, Base.metadata)
    assert differences == [], "models and migrations differ:\n" + pprint.pformat(differences, width=110)


_LITERAL = re.compile(r"('(?:[^']|'')*')")


def _sql(value: object) -> str | None:
    """A predicate as the database gave it back, spelled one way.

    PostgreSQL hands back its own canonical text, but SQLite hands back the text as it was written,
    so the migration and the model may spell the same expression with other spacing, keyword case,
    identifier quotes or outer parentheses. Outside string literals those are dropped here.
    """
    if value is None:
        return None
    parts = _LITERAL.split(str(value))
    spelled = "".join(
        part
        if index % 2
        else re.sub(r"\s*([(),=<>])\s*", r"\1", re.sub(r"\s+", " ", part)).replace('"', "").lower()
        for index, part in enumerate(parts)
    ).strip()
    while spelled.startswith("(") and spelled.endswith(")") and _wraps(spelled):
        spelled = spelled[1:-1]
    return spelled


def _wraps(spelled: str) -> bool:
    """Whether the first parenthesis closes at the very end (so it wraps the whole expression)."""
    depth = 0
    for position, char in enumerate(spelled):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0:
            return position == len(spelled) - 1
    return False


def _beyond_alembic(engine: Engine) -> dict[str, object]:
    """What autogenerate does not compare: index predicates and INCLUDE columns, CHECK constraints."""
    inspector = inspect(engine)
    where = f"{engine.dialect.name}_where"
    found: dict[str, object] = {}
    for table in inspector.get_table_names():
        if table == "alembic_version":
            continue
        for index in inspector.get_indexes(table):
            options = index.get("dialect_options", {})
            found[f"index {table}.{index['name']}"] = {
                "where": _sql(options.get(where)),
                "include": list(options.get("postgresql_include", [])),
            }
        for check in inspector.get_check_constraints(table):
            found[f"check {table}.{check['name']}"] = _sql(check["sqltext"])
    return found


def test_migrated_schema_has_the_models_index_predicates_and_check_constraints(
    databases: tuple[Engine, Engine],
) -> None:
    migrated, from_models = databases
    assert _beyond_alembic(migrated) == _beyond_alembic(from_models)
