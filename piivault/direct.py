"""Statements on psycopg's own connection: a Core SELECT read, and a change written alone,
on every request.

SQLAlchemy builds a statement and runs it; each run through a session costs the
session's begin, commit and close, an execution context and a result object
around the driver's one round trip. For the API-key check, on every request
the verified-key cache does not answer, that was 0.24 ms of a 1.7 ms
detokenize's CPU (``bench/request_cpu.py``, issue 22); through a Core
connection it was still 0.14 ms more than the driver alone.

:class:`DirectRead` compiles its statement once for the engine's dialect and
runs it on a pooled connection's psycopg connection as a prepared statement,
converting parameters and columns as the statement's types declare (a
:class:`~piivault.db.UTCDateTime` is bound and read as SQLAlchemy would), so its
rows equal Core's: ``tests/piivault/test_direct.py`` holds them to it. Only
with psycopg (:func:`direct_read` says None elsewhere) and only for statements
whose text does not change with their parameters (no expanding ``IN`` lists).
A disconnect invalidates the connection and the pool's older ones, as Core
does, and is :class:`~piivault.errors.StorageUnavailable`, as is any error that
means "try again later"; another driver error is raised as Core raises it.
Rows equal Core's column by column; their names may differ where Core makes
one up (an unlabeled expression).

:func:`write_alone` runs one data-modifying statement of psycopg's text in
autocommit on a pooled connection of its own: a single tokenize's token and
audit rows (:meth:`piivault.db.UnitOfWork.commit`). Through a session, the
session's connection, Core's execution and the session's commit around that
statement were 5.5% of a single tokenize's instructions (``bench/request_cpu.py
--instructions``, issue 22). Its errors are translated as a read's.
"""

from __future__ import annotations

import functools
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import exc

from piivault.errors import StorageUnavailable

Processor = Callable[[Any], Any]
_T = TypeVar("_T")


class DirectRead:
    """``statement`` (a SELECT or a UNION of them), compiled once for ``engine`` (psycopg only).

    :meth:`first` and :meth:`all` read on a connection of their own from ``engine``'s pool,
    in autocommit: each its own snapshot. :meth:`all_on` reads on a connection already in
    use (a session's), in its transaction.

    Raises TypeError for a statement that is not a SELECT; ValueError for an engine of
    another driver, a locking read (on a connection of its own, autocommit would release the
    lock at once; none is needed on a session's yet), a statement whose SQL text is finished
    only at execution (expanding or literal-execute parameters: its text would differ from
    run to run), and a column whose conversion needs the driver's column type (Numeric,
    Float: Core picks it from the cursor's description).
    """

    def __init__(self, statement: sa.Select[Any] | sa.CompoundSelect, engine: sa.Engine) -> None:
        dialect = engine.dialect
        if not isinstance(statement, sa.Select | sa.CompoundSelect):
            raise TypeError("DirectRead runs SELECTs only (a UNION of them included)")
        if dialect.driver != "psycopg":
            raise ValueError(f"DirectRead runs on psycopg, not {dialect.driver}")
        if _locking(statement):
            raise ValueError("DirectRead takes no locking reads (FOR UPDATE, FOR SHARE)")
        compiled = statement.compile(dialect=dialect)
        if compiled.post_compile_params or compiled.literal_execute_params:
            raise ValueError("DirectRead takes no expanding or literal-execute parameters")
        self._engine = engine
        self._dbapi = dialect.loaded_dbapi
        self._compiled = compiled
        self._sql = compiled.string
        # Keyed as construct_params() and the SQL text name them: escaped ("x y" is x_y).
        escaped = compiled.escaped_bind_names
        binds: dict[str, Processor] = {}
        for bind in compiled.binds.values():
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                name = compiled.bind_names[bind]
                binds[escaped.get(name, name)] = processor
        self._binds = binds
        columns = list(statement.selected_columns)
        # (position, conversion) of the columns whose type converts what the driver returns.
        self._converted: list[tuple[int, Processor]] = []
        for i, column in enumerate(columns):
            try:
                convert = column.type.dialect_impl(dialect).result_processor(dialect, None)
            except Exception:  # noqa: BLE001 - a type that needs the driver's type code
                raise ValueError(f"DirectRead cannot convert column {column.key!r} ({column.type})") from None
            if convert is not None:
                self._converted.append((i, convert))
        self._row = namedtuple("Row", [c.key for c in columns], rename=True)  # type: ignore[misc]

    def first(self, params: Mapping[str, Any]) -> Any:
        """The first row for ``params`` (a named tuple of the statement's columns), or None.

        Raises :class:`StorageUnavailable` when the database cannot be reached or the
        connection fails; another driver error as SQLAlchemy's :class:`~sqlalchemy.exc.DBAPIError`
        (as Core raises it, its parameters hidden); InvalidRequestError for a parameter the
        statement needs and ``params`` lacks; what a bind conversion raises for a value it refuses.
        """
        rows = self._own(params, one=True)
        return rows[0] if rows else None

    def all(self, params: Mapping[str, Any]) -> list[Any]:
        """Every row for ``params``; raises as :meth:`first`."""
        return self._own(params, one=False)

    def all_on(self, connection: sa.Connection, params: Mapping[str, Any]) -> list[Any]:
        """Every row for ``params``, read on ``connection`` (of this engine) in its transaction;
        raises as :meth:`first`."""
        if connection.engine is not self._engine:
            raise ValueError("all_on takes a connection of the engine the read was built for")
        values = self._values(params)
        conn = connection.connection.driver_connection
        try:
            found = self._execute(conn, values, one=False)
        except self._dbapi.Error as e:
            disconnect = self._engine.dialect.is_disconnect(e, conn, None)
            if disconnect:  # as Core does (_on_own_connection says why)
                self._engine.pool._invalidate(connection.connection, e)
                connection.invalidate(e)
            raise _translated(self._engine, e, self._sql, values, disconnect) from None
        return self._rows(found)

    def _own(self, params: Mapping[str, Any], *, one: bool) -> list[Any]:
        values = self._values(params)
        found = _on_own_connection(
            self._engine, lambda conn: self._execute(conn, values, one=one), self._sql, values
        )
        return self._rows(found)

    def _values(self, params: Mapping[str, Any]) -> dict[str, Any]:
        values = self._compiled.construct_params(dict(params))
        for name, processor in self._binds.items():
            values[name] = processor(values[name])
        return values

    def _execute(self, conn: Any, values: dict[str, Any], *, one: bool) -> list[tuple[Any, ...]]:
        cursor = conn.execute(self._sql, values, prepare=True)
        return cursor.fetchmany(1) if one else cursor.fetchall()

    def _rows(self, found: list[tuple[Any, ...]]) -> list[Any]:
        make = self._row._make
        if not self._converted:
            return [make(row) for row in found]
        rows = []
        for row in found:
            values = list(row)
            for i, convert in self._converted:
                values[i] = convert(values[i])
            rows.append(make(values))
        return rows


def write_alone(engine: sa.Engine, sql: str, params: Sequence[Any]) -> int:
    """Run ``sql`` (psycopg's text of ONE statement) with ``params`` alone: in autocommit, on a
    pooled connection of its own, through the driver, without a session or Core's execution;
    returns the rows it wrote (or returned), as the driver counts them.

    The statement commits as it ends, all of it or, if it fails, none of it: a change and its
    audit rows in one statement (:meth:`piivault.db.UnitOfWork.commit`). Raises ValueError for
    an engine of another driver; :class:`StorageUnavailable` when the database cannot be reached
    or the connection fails (it and the pool's older ones are then discarded, as Core does); any
    other driver error as Core raises it, its parameters hidden (an
    :class:`~sqlalchemy.exc.IntegrityError` for a constraint, its ``orig`` the driver's error).
    """
    if engine.dialect.driver != "psycopg":
        raise ValueError(f"write_alone runs on psycopg, not {engine.dialect.driver}")
    return _on_own_connection(engine, lambda conn: _send(engine, conn, sql, params), sql, params)


def _send(_engine: sa.Engine, conn: Any, sql: str, params: Sequence[Any]) -> int:
    """The driver's execution of a write, on ``conn``, a connection of ``_engine``'s (named for
    tests that watch one engine), and its row count: psycopg prepares a text it runs often on a
    connection."""
    with conn.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _on_own_connection(engine: sa.Engine, run: Callable[[Any], _T], sql: str, values: Any) -> _T:
    """``run(psycopg's connection)`` on a connection of its own from ``engine``'s pool, in
    autocommit, its errors translated (:func:`_translated`)."""
    dbapi = engine.dialect.loaded_dbapi
    try:
        # The pool raises the driver's own error when it cannot connect (no Connection wraps it).
        fairy = engine.raw_connection()
    except (exc.SQLAlchemyError, dbapi.Error):
        raise StorageUnavailable("database unavailable") from None
    conn = fairy.driver_connection
    # In autocommit on any engine: a connection of a read-write pool would otherwise open a
    # transaction (BEGIN) that a read leaves to the pool to roll back, and a write would need a
    # COMMIT: a round trip more either way. Set while the connection is idle, and back before
    # the pool has it again.
    transactional = not conn.autocommit
    try:
        if transactional:
            conn.autocommit = True
        return run(conn)
    except dbapi.Error as e:
        disconnect = engine.dialect.is_disconnect(e, conn, None)
        if disconnect:
            # As Core does on a disconnect: this connection, and every one the pool made
            # before it, are discarded (a restart killed them all).
            engine.pool._invalidate(fairy, e)
        raise _translated(engine, e, sql, values, disconnect) from None
    finally:
        try:
            if transactional and fairy.is_valid and conn.autocommit:
                try:
                    conn.autocommit = False
                except dbapi.Error:
                    fairy.invalidate()  # not back into the pool in a mode it was not in
        finally:
            fairy.close()


def _translated(engine: sa.Engine, error: Exception, sql: str, values: Any, disconnect: bool) -> Exception:
    """StorageUnavailable for what means "try again later" (what piivault.db.is_unavailable
    says of Core's errors: a disconnect of any class, such as a server's FATAL that closes
    the connection, an OperationalError or an InterfaceError); else the error as Core
    raises it, its parameters hidden. Not chained: a driver's message can quote a value."""
    dbapi = engine.dialect.loaded_dbapi
    if disconnect or isinstance(error, dbapi.OperationalError | dbapi.InterfaceError):
        return StorageUnavailable("database unavailable")
    return exc.DBAPIError.instance(sql, values, error, dbapi.Error, hide_parameters=True)


def _locking(statement: Any) -> bool:
    """Whether ``statement``, or any SELECT of a UNION, locks the rows it reads."""
    if getattr(statement, "_for_update_arg", None) is not None:
        return True
    return any(_locking(member) for member in getattr(statement, "selects", ()))


@functools.lru_cache(maxsize=256)
def direct_read(statement: sa.Select[Any] | sa.CompoundSelect, engine: sa.Engine | None) -> DirectRead | None:
    """A :class:`DirectRead` of ``statement`` on ``engine`` if it is psycopg's; else None.

    Built once per statement object and engine, as Core caches its compiled statements: a
    caller on the request path builds its statement once and asks here on every request."""
    if engine is None or engine.dialect.driver != "psycopg":
        return None
    return DirectRead(statement, engine)
