"""Bulk writing for the data generator: COPY on PostgreSQL, multi-row INSERT elsewhere.

The generated rows are right by construction (tests/test_generate.py replays the same plans through
the service functions and compares), so a generator's transaction may skip what only guards against
wrong rows: on PostgreSQL it does not wait for its commit to reach the disk, and, when the role may,
it runs as a replica (`session_replication_role`), which skips the per-row foreign-key triggers, as
`pg_restore --disable-triggers` does. Nothing of this outlives the transaction (`SET LOCAL`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import JSON, Connection, Table, bindparam, text, update


def bulk_transaction(conn: Connection) -> None:
    """Make the current transaction a bulk load (see the module's description); no-op on SQLite."""
    if conn.dialect.name != "postgresql":
        return
    conn.execute(text("SET LOCAL synchronous_commit = off"))
    if conn.execute(text("SELECT current_setting('is_superuser')")).scalar() == "on":
        conn.execute(text("SET LOCAL session_replication_role = replica"))


def json_columns(table: Table) -> set[str]:
    """The table's JSON columns: COPY takes their text."""
    return {c.name for c in table.columns if isinstance(c.type, JSON)}


def copy_rows(conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> None:
    """COPY the rows' `columns` into the table (PostgreSQL); missing keys are NULL."""
    as_json = json_columns(table) & set(columns)
    raw: Any = conn.connection.driver_connection
    with raw.cursor() as cursor, cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([json.dumps(row.get(c)) if c in as_json else row.get(c) for c in columns])


def insert_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert the rows (all with the first row's keys): COPY on PostgreSQL, executemany elsewhere."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        copy_rows(conn, table, list(rows[0]), rows)
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
