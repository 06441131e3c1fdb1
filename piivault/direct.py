"""A Core SELECT run on psycopg's own connection: for a read on every request.

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
A connection that fails is invalidated, as SQLAlchemy would, and the failure
is :class:`~piivault.errors.StorageUnavailable`.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc

from piivault.errors import StorageUnavailable

Processor = Callable[[Any], Any]


class DirectRead:
    """``statement`` (a SELECT), compiled once for ``engine`` (PostgreSQL through psycopg), run in
    autocommit: each run its own snapshot, whatever transaction its caller holds elsewhere.

    Raises TypeError for a statement that is not a SELECT; ValueError for an engine of
    another driver, and for a statement
    whose SQL text is finished only at execution (expanding or literal-execute
    parameters): its text would differ from run to run.
    """

    def __init__(self, statement: sa.Select[Any], engine: sa.Engine) -> None:
        dialect = engine.dialect
        if not isinstance(statement, sa.Select):
            raise TypeError("DirectRead runs SELECTs only")
        if dialect.driver != "psycopg":
            raise ValueError(f"DirectRead runs on psycopg, not {dialect.driver}")
        compiled = statement.compile(dialect=dialect)
        if compiled.post_compile_params or compiled.literal_execute_params:
            raise ValueError("DirectRead takes no expanding or literal-execute parameters")
        self._engine = engine
        self._compiled = compiled
        self._sql = compiled.string
        binds: dict[str, Processor] = {}
        for bind in compiled.binds.values():
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                binds[compiled.bind_names[bind]] = processor
        self._binds = binds
        columns = list(statement.selected_columns)
        # (position, conversion) of the columns whose type converts what the driver returns.
        self._converted: list[tuple[int, Processor]] = [
            (i, convert)
            for i, c in enumerate(columns)
            if (convert := c.type.dialect_impl(dialect).result_processor(dialect, None)) is not None
        ]
        self._row = namedtuple("Row", [c.key for c in columns], rename=True)  # type: ignore[misc]

    def first(self, params: Mapping[str, Any]) -> Any:
        """The first row for ``params`` (a named tuple of the statement's columns), or None.

        Raises :class:`StorageUnavailable` when the database cannot be reached or the
        connection fails; InvalidRequestError for a parameter the statement needs and
        ``params`` lacks; what a bind conversion raises for a value it refuses.
        """
        rows = self._run(params, one=True)
        return rows[0] if rows else None

    def all(self, params: Mapping[str, Any]) -> list[Any]:
        """Every row for ``params``; raises as :meth:`first`."""
        return self._run(params, one=False)

    def _run(self, params: Mapping[str, Any], *, one: bool) -> list[Any]:
        values = self._compiled.construct_params(dict(params))
        for name, processor in self._binds.items():
            values[name] = processor(values[name])
        dbapi = self._engine.dialect.loaded_dbapi
        try:
            # The pool raises the driver's own error when it cannot connect (no Connection wraps it).
            fairy = self._engine.raw_connection()
        except (exc.SQLAlchemyError, dbapi.Error):
            raise StorageUnavailable("database unavailable") from None
        conn = fairy.driver_connection
        # A read of its own, in autocommit on any engine: a connection of a read-write pool would
        # otherwise open a transaction for it (BEGIN) that the pool then rolls back (two more
        # round trips). Set while the connection is idle, and back before the pool has it again.
        transactional = not conn.autocommit
        try:
            if transactional:
                conn.autocommit = True
            cursor = conn.execute(self._sql, values, prepare=True)
            found = cursor.fetchmany(1) if one else cursor.fetchall()
            if transactional:
                conn.autocommit = False
        except (dbapi.OperationalError, dbapi.InterfaceError):
            fairy.invalidate()  # lost or broken: not back into the pool
            raise StorageUnavailable("database unavailable") from None
        except BaseException:
            if transactional and not conn.closed:
                conn.autocommit = False
            raise
        finally:
            fairy.close()
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


def direct_read(statement: sa.Select[Any], engine: sa.Engine | None) -> DirectRead | None:
    """A :class:`DirectRead` of ``statement`` on ``engine`` if it is psycopg's; else None."""
    if engine is None or engine.dialect.driver != "psycopg":
        return None
    return DirectRead(statement, engine)
