"""Core statements compiled once per dialect and run on the DBAPI cursor of a SQLAlchemy connection.

A step's completion runs the same handful of statements every time, and on SQLite going through
`Connection.execute` costs more per statement than the database's own work (the compiled-cache
lookup, the execution context, the result's metadata). A `Prepared` statement is compiled once per
dialect; its parameters go through the column types' own bind processors and its rows through their
result processors, so the database receives and the caller gets the same values as through
`Connection.execute`. It runs on the connection (and so in the transaction) the caller's session
already holds. A DBAPI error is raised as SQLAlchemy raises it: a `DBAPIError` subclass
(`IntegrityError`, `OperationalError`, ...), the connection invalidated when the error says it was
lost. No `before_cursor_execute` events are emitted for these statements.

On PostgreSQL (psycopg 3), `pipeline` sends several statements in one round trip: what they return
(rows, row counts) is read after the block.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NoReturn

from sqlalchemy import Connection, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.elements import ClauseElement

Processor = Callable[[Any], Any] | None


@dataclass
class _Compiled:
    """A statement's SQL for one dialect and how its parameters and rows are converted."""

    sql: str
    positional: bool
    names: tuple[str, ...]  # bind names, in SQL order when positional
    escaped: dict[str, str]  # bind name -> name in the SQL (pyformat) when it had to be escaped
    binds: dict[str, Processor]
    columns: tuple[Any, ...]  # the types of the columns the statement returns
    defaults: dict[str, Any]  # bind name -> the column's Python-side default, for a value not given
    fixed: dict[str, Any]  # bind name -> the value the statement itself gives (`.values(n=1)`, `col + 1`)
    # The returned columns that need converting (index, processor, whether a NULL stays None), from the
    # first cursor's description.
    results: list[tuple[int, Callable[[Any], Any], bool]] | None = field(default=None)


class Prepared:
    """A Core statement (no `IN` lists, no literal-rendered parameters), compiled once per dialect. A
    parameter not given takes the value the statement holds for it, else its column's default."""

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._by_dialect: weakref.WeakKeyDictionary[Dialect, _Compiled] = weakref.WeakKeyDictionary()

    def _compiled(self, dialect: Dialect) -> _Compiled:
        found = self._by_dialect.get(dialect)
        if found is not None:
            return found
        compiled: Any = self.statement.compile(dialect=dialect)
        if compiled.literal_execute_params or compiled.post_compile_params:
            raise ValueError("a prepared statement cannot have parameters rendered at execution")
        names = tuple(compiled.positiontup) if compiled.positional else tuple(compiled.binds)
        exported = getattr(self.statement, "exported_columns", ())
        found = _Compiled(
            sql=compiled.string,
            positional=compiled.positional,
            names=names,
            escaped=dict(compiled.escaped_bind_names or {}),
            binds={
                name: bind.type.dialect_impl(dialect).bind_processor(dialect)
                for name, bind in ((name, compiled.binds[name]) for name in names)
            },
            columns=tuple(column.type for column in exported),
            defaults={
                column.key: column.default
                for column in (*compiled.insert_prefetch, *compiled.update_prefetch)
                if column.default is not None
            },
            fixed={
                name: bind.value
                for name, bind in compiled.binds.items()
                if not bind.required and bind.callable is None and bind.value is not None
            },
        )
        self._by_dialect[dialect] = found
        return found

    def _parameters(self, compiled: _Compiled, params: Mapping[str, Any]) -> Any:
        binds = compiled.binds
        values = []
        for name in compiled.names:
            if name in params:
                value = params[name]
            elif name in compiled.fixed:
                value = compiled.fixed[name]
            else:
                value = _default(compiled.defaults[name])
            processor = binds[name]
            values.append(processor(value) if processor is not None else value)
        if compiled.positional:
            return values
        return {compiled.escaped.get(n, n): v for n, v in zip(compiled.names, values, strict=True)}

    def send(self, conn: Connection, params: Mapping[str, Any]) -> Sent:
        """Execute on the connection's DBAPI cursor; read the outcome from what is returned (after a
        `pipeline` block when inside one)."""
        compiled = self._compiled(conn.dialect)
        parameters = self._parameters(compiled, params)
        cursor = None
        try:
            cursor = _dbapi_connection(conn).cursor()
            cursor.execute(compiled.sql, parameters)
        except Exception as error:
            _raise(conn, error, compiled.sql, parameters, cursor)
        return Sent(conn, compiled, cursor)

    def run(self, conn: Connection, params: Mapping[str, Any]) -> int:
        """Execute now (not in a `pipeline` block); the number of rows matched."""
        sent = self.send(conn, params)
        try:
            return sent.rowcount
        finally:
            sent.close()

    def rows(self, conn: Connection, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Execute now (not in a `pipeline` block); every row, through the types' result processing."""
        return self.send(conn, params).rows()

    def run_many(self, conn: Connection, params: Sequence[Mapping[str, Any]]) -> None:
        """Execute once for each set of parameters, in order (the DBAPI's `executemany`)."""
        if not params:
            return
        compiled = self._compiled(conn.dialect)
        parameters = [self._parameters(compiled, p) for p in params]
        cursor = None
        try:
            cursor = _dbapi_connection(conn).cursor()
            cursor.executemany(compiled.sql, parameters)
        except Exception as error:
            _raise(conn, error, compiled.sql, parameters, cursor)
        finally:
            if cursor is not None:
                cursor.close()


class Sent:
    """A statement sent on a DBAPI cursor: its row count and rows."""

    def __init__(self, conn: Connection, compiled: _Compiled, cursor: Any) -> None:
        self._conn = conn
        self._compiled = compiled
        self._cursor = cursor

    @property
    def rowcount(self) -> int:
        return int(self._cursor.rowcount)

    def close(self) -> None:
        self._cursor.close()

    def rows(self) -> list[tuple[Any, ...]]:
        """Every row returned, converted by the columns' result processors; closes the cursor."""
        cursor, compiled = self._cursor, self._compiled
        try:
            raw = cursor.fetchall()
            results = compiled.results
            if results is None:
                dialect = self._conn.dialect
                processors = [
                    type_.dialect_impl(dialect).result_processor(dialect, description[1])
                    for type_, description in zip(compiled.columns, cursor.description, strict=True)
                ]
                results = compiled.results = [
                    (i, p, _keeps_null(p)) for i, p in enumerate(processors) if p is not None
                ]
        except Exception as error:
            _raise(self._conn, error, compiled.sql, None, cursor)
        finally:
            cursor.close()
        converted = []
        for row in raw:
            values = list(row)
            for index, processor, keeps_null in results:
                value = values[index]
                if value is not None or not keeps_null:
                    values[index] = processor(value)
            converted.append(tuple(values))
        return converted


def _keeps_null(processor: Callable[[Any], Any]) -> bool:
    """Whether a result processor gives None for NULL (then NULLs need not go through it)."""
    try:
        return processor(None) is None
    except Exception:
        return False


def _default(default: Any) -> Any:
    """A column default's value, as the execution context computes it for a column not given."""
    return default.arg if default.is_scalar else default.arg(None)


def _dbapi_connection(conn: Connection) -> Any:
    return conn.connection.dbapi_connection


# Set on a pooled connection whose transaction `pipeline(begin=True)` opened (see there).
OPENED_IN_PIPELINE = "motcua.transaction_opened_in_pipeline"


@contextmanager
def pipeline(conn: Connection, *, begin: bool = False) -> Iterator[None]:
    """Send the statements of the block together where the driver can (psycopg 3's pipeline mode);
    elsewhere (SQLite) they run one by one as usual. Errors surface at the latest at the block's end.

    With `begin`, a transaction not yet started on the server is started by a BEGIN sent with the
    block's statements: psycopg itself would send its BEGIN and wait for the answer first, a round
    trip of its own. For that the DBAPI connection is switched to autocommit, which only means that
    psycopg sends no BEGIN of its own: the transaction is open, COMMIT and ROLLBACK are sent as
    always, and the connection is switched back when it returns to the pool.
    """
    dbapi_connection = _dbapi_connection(conn)
    opener = getattr(dbapi_connection, "pipeline", None) if conn.dialect.driver == "psycopg" else None
    if opener is None:
        yield
        return
    opening = begin and not dbapi_connection.autocommit and dbapi_connection.info.transaction_status == 0
    try:
        if opening:
            if not event.contains(conn.engine, "checkin", _closed_in_pipeline):
                event.listen(conn.engine, "checkin", _closed_in_pipeline)
            conn.connection.info[OPENED_IN_PIPELINE] = True
            dbapi_connection.autocommit = True
        with opener():
            if opening:
                dbapi_connection.cursor().execute(_begin_command(dbapi_connection))
            yield
    except sa_exc.DBAPIError:
        raise
    except Exception as error:
        _raise(conn, error, "(statements sent together in pipeline mode)", None, None)


def _begin_command(dbapi_connection: Any) -> str:
    """The BEGIN psycopg sends for a transaction of the connection's settings."""
    parts = ["BEGIN"]
    if dbapi_connection.isolation_level is not None:
        parts.append(f"ISOLATION LEVEL {dbapi_connection.isolation_level.name.replace('_', ' ')}")
    if dbapi_connection.read_only is not None:
        parts.append("READ ONLY" if dbapi_connection.read_only else "READ WRITE")
    if dbapi_connection.deferrable is not None:
        parts.append("DEFERRABLE" if dbapi_connection.deferrable else "NOT DEFERRABLE")
    return " ".join(parts)


def _closed_in_pipeline(dbapi_connection: Any, record: Any) -> None:
    """Back in the pool (committed or rolled back): psycopg begins the next transaction itself again."""
    if record is None or not record.info.pop(OPENED_IN_PIPELINE, False) or dbapi_connection is None:
        return  # not opened here, or already discarded (invalidated) by the pool
    try:
        dbapi_connection.autocommit = False
    except dbapi_connection.Error:  # closed or broken: the pool discards it
        record.invalidate()


def _raise(conn: Connection, error: Exception, sql: str, params: Any, cursor: Any) -> NoReturn:
    """Raise a DBAPI error as SQLAlchemy's Connection would (invalidating a lost connection)."""
    dialect = conn.dialect
    dbapi_error = dialect.loaded_dbapi.Error
    if not isinstance(error, dbapi_error):
        raise error
    lost = dialect.is_disconnect(error, _dbapi_connection(conn), cursor)
    if lost:
        conn.invalidate(error)
    raise sa_exc.DBAPIError.instance(
        sql, params, error, dbapi_error, connection_invalidated=lost, dialect=dialect
    ) from error
