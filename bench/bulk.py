"""Bulk writing for the data generator: COPY on PostgreSQL, multi-row INSERT elsewhere.

The generated rows are right by construction (tests/test_generate.py replays the same plans through
the service functions and compares), so a generator's transaction may skip what only guards against
wrong rows: on PostgreSQL it does not wait for its commit to reach the disk, and, when the role may,
it runs as a replica (`session_replication_role`), which skips the per-row foreign-key triggers, as
`pg_restore --disable-triggers` does. Nothing of this outlives the transaction (`SET LOCAL`).

Rows go to COPY as lines of its text format, each made by one f-string per table (`line_maker`). A
large load into nearly empty tables may drop their plain secondary indexes first and build them
again afterwards from PostgreSQL's own definitions (`defer_indexes`, `restore_indexes`), as
`pg_restore` builds indexes after the data; the definitions wait in a table until then, so a load
that dies midway leaves them for the next run to build.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Connection,
    DateTime,
    Engine,
    Integer,
    Numeric,
    Table,
    bindparam,
    text,
    update,
)

# Where the definitions of the indexes dropped for a large load wait until they are built again: a table,
# so that a load that dies midway leaves them behind for the next run (`restore_indexes`) to build.
DEFERRED = "bench_deferred_index"
# Memory for one index build (`maintenance_work_mem`), two builds at a time.
BUILD_MEMORY = "768MB"
_INDEX_DEFINITION = re.compile(r"^(CREATE (?:UNIQUE )?INDEX )(\S+)( ON (?:ONLY )?)(\S+)( USING .*)$", re.S)


def bulk_transaction(conn: Connection) -> None:
    """Make the current transaction a bulk load (see the module's description); no-op on SQLite."""
    if conn.dialect.name != "postgresql":
        return
    conn.execute(text("SET LOCAL synchronous_commit = off"))
    if conn.execute(text("SELECT current_setting('is_superuser')")).scalar() == "on":
        conn.execute(text("SET LOCAL session_replication_role = replica"))


NULL = "\\N"


def _number(value: Any) -> str:
    return NULL if value is None else str(value)


def _boolean(value: Any) -> str:
    return NULL if value is None else "t" if value else "f"


def _moment(value: Any) -> str:
    return NULL if value is None else value.isoformat()


def _text(value: Any) -> str:
    """COPY's text format escapes the backslash, tab, newline and carriage return."""
    if value is None:
        return NULL
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return value


def _json(value: Any) -> str:
    # json.dumps escapes control characters itself: only its backslashes need doubling.
    return json.dumps(value).replace("\\", "\\\\")


def line_maker(table: Table, columns: Sequence[str]) -> Callable[[dict[str, Any]], str]:
    """A function giving a row's line in COPY's text format, the `columns` in order; missing keys are NULL.

    One f-string per table, made from the columns' types, so that a row costs one call.
    """
    names = {"_number": _number, "_boolean": _boolean, "_moment": _moment, "_text": _text, "_json": _json}
    fields = []
    for name in columns:
        kind = table.c[name].type
        if isinstance(kind, JSON):
            convert = "_json"
        elif isinstance(kind, Boolean):
            convert = "_boolean"
        elif isinstance(kind, Integer | Numeric):
            convert = "_number"
        elif isinstance(kind, DateTime) or isinstance(getattr(kind, "impl", None), DateTime):
            convert = "_moment"
        else:
            convert = "_text"
        fields.append(f"{{{convert}(row.get('{name}'))}}")
    source = 'def line(row):\n    return f"' + "\\t".join(fields) + '\\n"\n'
    exec(compile(source, f"<COPY line of {table.name}>", "exec"), names)
    line: Callable[[dict[str, Any]], str] = names["line"]
    return line


def copy_text(conn: Connection, table: str, columns: Sequence[str], data: str) -> None:
    """COPY lines in the text format (`line_maker`) into the table's `columns` (PostgreSQL)."""
    raw: Any = conn.connection.driver_connection
    with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        copy.write(data)


def insert_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert the rows (all with the first row's keys): COPY on PostgreSQL, executemany elsewhere."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        columns = list(rows[0])
        copy_text(conn, table.name, columns, "".join(map(line_maker(table, columns), rows)))
    else:
        conn.execute(table.insert(), list(rows))


def update_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Set columns of rows by id; each row is {"id": ..., column: value, ...} with the same keys.

    PostgreSQL: COPY into a temporary table, then one UPDATE ... FROM; elsewhere executemany.
    """
    if not rows:
        return
    columns = [c for c in rows[0] if c != "id"]
    if conn.dialect.name != "postgresql":
        statement = (
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values({c: bindparam(f"b_{c}") for c in columns})
        )
        conn.execute(statement, [{f"b_{k}": v for k, v in row.items()} for row in rows])
        return
    scratch = f"bulk_{table.name}"
    conn.execute(
        text(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {scratch} ON COMMIT DROP AS "
            f"SELECT id, {', '.join(columns)} FROM {table.name} WITH NO DATA"
        )
    )
    conn.execute(text(f"TRUNCATE {scratch}"))
    raw: Any = conn.connection.driver_connection
    names = ["id", *columns]
    with raw.cursor() as cursor, cursor.copy(f"COPY {scratch} ({', '.join(names)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row[c] for c in names])
    assignments = ", ".join(f"{c} = s.{c}" for c in columns)
    conn.execute(text(f"UPDATE {table.name} t SET {assignments} FROM {scratch} s WHERE t.id = s.id"))


def plain_indexes(conn: Connection, tables: Sequence[str]) -> list[tuple[str, str, str]]:
    """(index, table, definition) of the tables' secondary indexes that no constraint or uniqueness needs.

    The definitions are `pg_indexes.indexdef`, the text PostgreSQL itself gives to rebuild each one.
    """
    rows = conn.execute(
        text(
            "SELECT i.indexname, i.tablename, i.indexdef FROM pg_indexes i "
            "JOIN pg_namespace n ON n.nspname = i.schemaname "
            "JOIN pg_class c ON c.relname = i.indexname AND c.relnamespace = n.oid "
            "JOIN pg_index x ON x.indexrelid = c.oid "
            "WHERE i.schemaname = current_schema() AND i.tablename = ANY(:tables) "
            "AND NOT x.indisunique AND NOT x.indisprimary "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = c.oid) "
            "ORDER BY i.tablename, i.indexname"
        ),
        {"tables": list(tables)},
    )
    return [(name, table, definition) for name, table, definition in rows]


def table_indexes(conn: Connection, table: str) -> list[tuple[str, str]]:
    """(index, definition) of every index of the table."""
    rows = conn.execute(
        text(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
            "AND tablename = :table ORDER BY indexname"
        ),
        {"table": table},
    )
    return [(name, definition) for name, definition in rows]


def defer_indexes(db: Engine, tables: Sequence[str]) -> list[tuple[str, str, str]]:
    """Drop the tables' plain secondary indexes for a large load; returns (index, table, definition).

    Their definitions are written to the `bench_deferred_index` table in the same transaction as the
    drops, so they are either still there or recorded; `restore_indexes` builds them again.
    """
    restore_indexes(db)
    with db.begin() as conn:
        conn.exec_driver_sql(
            f"CREATE TABLE {DEFERRED} "
            "(name text PRIMARY KEY, table_name text NOT NULL, definition text NOT NULL)"
        )
        found = plain_indexes(conn, tables)
        for name, table, definition in found:
            conn.execute(
                text(f"INSERT INTO {DEFERRED} VALUES (:name, :table, :definition)"),
                {"name": name, "table": table, "definition": definition},
            )
            conn.exec_driver_sql(f'DROP INDEX "{name}"')
    return found


def build_indexes(db: Engine, definitions: Sequence[str], workers: int = 2) -> None:
    """Run the CREATE INDEX statements, `workers` at a time (PostgreSQL builds a B-tree in parallel
    itself, a GIN index in one process), the largest tables first as given."""

    def build(definition: str) -> None:
        with db.connect() as conn:
            conn.exec_driver_sql(f"SET maintenance_work_mem = '{BUILD_MEMORY}'")
            conn.exec_driver_sql(definition)
            conn.commit()

    # GIN builds are single-process and the slowest: start them first.
    ordered = sorted(definitions, key=lambda d: " USING gin " not in d)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for future in [pool.submit(build, d) for d in ordered]:
            future.result()


def restore_indexes(db: Engine, workers: int = 2) -> list[str]:
    """Build the indexes a load deferred (`defer_indexes`) that are still missing; returns their names.

    Safe to call at any time: without deferred indexes it does nothing.
    """
    with db.connect() as conn:
        if conn.execute(text("SELECT to_regclass(:t)"), {"t": DEFERRED}).scalar() is None:
            return []
        pending = [
            (name, definition)
            for name, definition in conn.execute(text(f"SELECT name, definition FROM {DEFERRED}"))
            if conn.execute(text("SELECT to_regclass(:n)"), {"n": f'"{name}"'}).scalar() is None
        ]
    build_indexes(db, [definition for _name, definition in pending], workers)
    with db.begin() as conn:
        conn.exec_driver_sql(f"DROP TABLE {DEFERRED}")
    return [name for name, _definition in pending]


def renamed_index(definition: str, prefix: str) -> str:
    """The index definition for a copy of its table named `prefix` + table (the index too)."""
    match = _INDEX_DEFINITION.match(definition)
    if match is None:
        raise ValueError(f"not an index definition: {definition}")
    head, name, on, table, rest = match.groups()
    return f"{head}{prefix}{name}{on}{prefix}{table.rsplit('.', 1)[-1]}{rest}"
