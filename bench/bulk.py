"""Bulk writing for the data generator: COPY on PostgreSQL, multi-row INSERT elsewhere.

The generated rows are right by construction (tests/test_generate.py replays the same plans through
the service functions and compares), so a generator's transaction may skip what only guards against
wrong rows: on PostgreSQL it does not wait for its commit to reach the disk, and, when the role may,
it runs as a replica (`session_replication_role`), which skips the per-row foreign-key triggers, as
`pg_restore --disable-triggers` does. Nothing of this outlives the transaction (`SET LOCAL`).

The generator's writers COPY their rows in binary format, the values formatted by psycopg
(`binary_format`, `copy_binary`); the payments pass over existing rows (`insert_rows`) as lines of the
text format, each made by one f-string per table (`line_maker`). A large load into nearly empty tables
may drop their plain secondary indexes first and build them again afterwards from PostgreSQL's own
definitions (`defer_indexes`, `restore_indexes`), as `pg_restore` builds indexes after the data;
the definitions wait in a table until then, so a load that dies midway leaves them for the next run
to build.
"""

from __future__ import annotations

import json
import operator
import re
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
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
    text,
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


class JsonText(str):
    """A JSON document already serialised (exactly as `json.dumps` would), written as it is."""

    __slots__ = ()


def _json(value: Any) -> str:
    # json.dumps escapes control characters itself: only its backslashes need doubling.
    if type(value) is JsonText:
        return value.replace("\\", "\\\\")
    return json.dumps(value).replace("\\", "\\\\")


def _escaped(value: str) -> str:
    """COPY's text format escapes the backslash, tab, newline and carriage return."""
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


# What the f-strings of `line_maker` compute per column type ({v}: the row's value, never a backslash in
# an f-string's expression).
_FIELDS = {
    "number": "NULL if (v := row.get({name!r})) is None else v",
    "boolean": "NULL if (v := row.get({name!r})) is None else 't' if v else 'f'",
    "moment": "NULL if (v := row.get({name!r})) is None else v.isoformat()",
    "text": (
        "NULL if (v := row.get({name!r})) is None "
        "else _escaped(v) if BS in v or TAB in v or LF in v or CR in v else v"
    ),
    "json": "_json(row.get({name!r}))",
}


def line_maker(table: Table, columns: Sequence[str]) -> Callable[[dict[str, Any]], str]:
    """A function giving a row's line in COPY's text format, the `columns` in order; missing keys are NULL.

    One f-string per table, made from the columns' types, so that a row costs one call.
    """
    names: dict[str, Any] = {
        "NULL": NULL,
        "_json": _json,
        "_escaped": _escaped,
        "BS": "\\",
        "TAB": "\t",
        "LF": "\n",
        "CR": "\r",
    }
    fields = []
    for name in columns:
        kind = table.c[name].type
        if isinstance(kind, JSON):
            convert = "json"
        elif isinstance(kind, Boolean):
            convert = "boolean"
        elif isinstance(kind, Integer | Numeric):
            convert = "number"
        elif isinstance(kind, DateTime) or isinstance(getattr(kind, "impl", None), DateTime):
            convert = "moment"
        else:
            convert = "text"
        fields.append("{" + _FIELDS[convert].format(name=name) + "}")
    source = 'def line(row):\n    return f"' + "\\t".join(fields) + '\\n"\n'
    exec(compile(source, f"<COPY line of {table.name}>", "exec"), names)
    line: Callable[[dict[str, Any]], str] = names["line"]
    return line


def copy_text(conn: Connection, table: str, columns: Sequence[str], data: str) -> None:
    """COPY lines in the text format (`line_maker`) into the table's `columns` (PostgreSQL)."""
    raw: Any = conn.connection.driver_connection
    with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        copy.write(data)


# Type oids: numeric, json, text (a json value's bytes are the same as its text's in COPY's binary format).
NUMERIC_OID, JSON_OID, TEXT_OID = 1700, 114, 25


def binary_format(
    conn: Connection, table: str, columns: Sequence[str]
) -> tuple[list[int], Callable[[dict[str, Any]], Sequence[Any]]]:
    """The type oids and a function giving a row's values for COPY in binary format into the table's
    `columns` (every row has them all).

    The values are the row's, except that a float in a numeric column is given as the Decimal of its
    text (what COPY's text format gives the column) and a json column's value as its JSON text
    (JsonText as it is, anything else through json.dumps, as the text format writes them), which has
    the same bytes in the binary format as text: the column is sent as text.
    """
    rows = conn.execute(
        text(
            "SELECT attname, atttypid::int FROM pg_attribute WHERE attrelid = CAST(:table AS regclass) "
            "AND attnum > 0 AND NOT attisdropped"
        ),
        {"table": table},
    )
    oids = {name: oid for name, oid in rows}
    types = [TEXT_OID if oids[c] == JSON_OID else oids[c] for c in columns]
    get = operator.itemgetter(*columns)
    numeric = [i for i, c in enumerate(columns) if oids[c] == NUMERIC_OID]
    documents = [i for i, c in enumerate(columns) if oids[c] == JSON_OID]
    if not numeric and not documents:
        return types, get
    decimals: dict[float, Decimal] = {}

    def values(row: dict[str, Any]) -> Sequence[Any]:
        found = list(get(row))
        for i in numeric:
            value = found[i]
            if type(value) is float:
                number = decimals.get(value)
                if number is None:
                    number = decimals[value] = Decimal(repr(value))
                found[i] = number
        for i in documents:
            if type(found[i]) is not JsonText:
                found[i] = json.dumps(found[i])
        return found

    return types, values


def copy_binary(
    conn: Connection,
    table: str,
    columns: Sequence[str],
    types: Sequence[int],
    values: Callable[[dict[str, Any]], Sequence[Any]],
    rows: Iterable[dict[str, Any]],
) -> None:
    """COPY the rows in binary format into the table's `columns` (PostgreSQL); `types` and `values`
    from `binary_format`."""
    raw: Any = conn.connection.driver_connection
    statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)"
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        copy.set_types(types)
        deque(map(copy.write_row, map(values, rows)), maxlen=0)


def insert_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert the rows (all with the first row's keys): COPY on PostgreSQL, executemany elsewhere."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        columns = list(rows[0])
        copy_text(conn, table.name, columns, "".join(map(line_maker(table, columns), rows)))
    else:
        conn.execute(table.insert(), list(rows))


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
