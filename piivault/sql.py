"""SQL helpers every package shares (PostgreSQL and SQLite): inserts that skip
conflicts, an insert committed with its audit events all or none, row locks, and IN
lists that stay under SQLite's bound-parameter limit.

The kernel's: every package's store uses these rather than its own copy.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.orm import Session

from piivault.db import (
    Statement,
    UnitOfWork,
    in_array,
    insert_arrays,
    insert_statement,
    snapshot_per_statement,
)

SQL_CHUNK = 900  # bound parameters per IN list, under SQLite's old 999 limit


def insert_ignore(session: Session, table: sa.Table, row: dict[str, Any], keys: Sequence[str]) -> bool:
    """Insert one row unless one with the same ``keys`` exists; True if this one was inserted.

    ON CONFLICT DO NOTHING: a concurrent transaction inserting the same key
    makes this one wait (PostgreSQL) and then skip, without aborting it.
    """
    dialect = _dialect(session)
    stmt = (
        dialect.insert(table)
        .values(**row)
        .on_conflict_do_nothing(index_elements=list(keys))
        .returning(table.c[keys[0]])  # rowcount is -1 here on psycopg: count returned rows
    )
    return session.execute(stmt).first() is not None


def _dialect(session: Session) -> Any:
    """The session's dialect module (its ``insert`` knows ON CONFLICT), imported when first used,
    as the engine imports its own: loading PostgreSQL's with every command cost SQLite ~25 ms of
    start-up (issue 13)."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql
    from sqlalchemy.dialects import sqlite

    return sqlite


def chunked(values: Sequence[Any], size: int = SQL_CHUNK) -> Iterator[Sequence[Any]]:
    """``values`` in slices of at most ``size``: one IN list each."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def existing(session: Session, column: sa.Column, values: Iterable[Any], *where: Any) -> set[Any]:
    """The values of ``column`` among ``values`` that exist (with extra conditions), chunked."""
    found: set[Any] = set()
    for chunk in chunked(list(values)):
        found.update(session.scalars(sa.select(column).where(column.in_(chunk), *where)))
    return found


def for_update(stmt: sa.Select, session: Session, *, skip_locked: bool = False) -> sa.Select:
    """Row locks on PostgreSQL; SQLite's transactions hold the database write lock already."""
    if session.get_bind().dialect.name == "postgresql":
        return stmt.with_for_update(skip_locked=skip_locked)
    return stmt


def insert_ignoring_conflicts(
    session: Session, table: sa.Table, rows: Sequence[dict[str, Any]], key: str
) -> set[Any]:
    """Insert ``rows``, skipping any whose ``key`` exists; return the keys inserted.

    ON CONFLICT DO NOTHING: on PostgreSQL a row being inserted by a concurrent
    transaction waits for it and is skipped if that one commits, so racing
    requests leave exactly one row and each learns whether it was theirs.
    """
    if not rows:
        return set()
    dialect = session.get_bind().dialect
    if dialect.name != "postgresql":
        stmt = _dialect(session).insert(table).on_conflict_do_nothing(index_elements=[key])
        stmt = stmt.returning(table.c[key])
        return set(session.scalars(stmt, list(rows)))
    inserted = insert_arrays(session.connection(), table, rows, on_conflict=key, returning=key)
    if inserted is not None:
        return {row[0] for row in inserted}
    return _insert_json_recordset(session, table, rows, key)


class RowsExist(Exception):
    """Some rows' keys were taken already: nothing was written."""


def commits_alone(uow: UnitOfWork) -> bool:
    """Whether an insert :func:`commit_insert` makes now would commit alone with the events:
    PostgreSQL (psycopg) at READ COMMITTED, and ``uow`` has begun nothing."""
    session = uow.session
    assert session is not None
    engine = session.get_bind().engine
    return (
        engine.dialect.driver == "psycopg" and not session.in_transaction() and snapshot_per_statement(engine)
    )


def commit_insert(
    uow: UnitOfWork,
    table: sa.Table,
    rows: Sequence[dict[str, Any]],
    key: str,
    *,
    only_if: Statement | None = None,
) -> bool:
    """Insert ``rows`` into ``table`` and commit them with ``uow``'s recorded events, all or none.
    Returns True, unless ``only_if`` failed.

    Raises :class:`RowsExist` when any row's ``key`` is taken (by a concurrent request, say):
    then ``uow`` is rolled back, nothing of it written, and its recorded events dropped.

    ``only_if`` (psycopg's text of a condition, and its parameters; PostgreSQL through psycopg
    only, else ValueError) is checked in the same statement where the insert commits alone, else
    in the transaction just before the insert: a condition that locks what it reads (``FOR
    SHARE``) holds the locks till the commit either way. If it fails, nothing is written and
    this returns False, ``uow`` rolled back as for :class:`RowsExist`. What a request read
    earlier, or took from a cache, it checks there (issue 22).

    On PostgreSQL (psycopg) at READ COMMITTED, when these rows are all ``uow`` writes (it has
    begun no transaction), they and the events' queue rows are one statement in autocommit
    (:meth:`~piivault.db.UnitOfWork.commit`): a taken key fails the statement, and with
    it everything. There any unique violation on ``table`` is taken for ``key``'s: for a
    table whose only unique key is ``key`` (another would be retried as if taken).

    Otherwise the rows go into the transaction, skipping taken keys, and any skipped
    rolls it back: on PostgreSQL a row a concurrent transaction is inserting waits for
    it, without aborting this one.
    """
    session = uow.session
    assert session is not None
    engine = session.get_bind().engine
    if only_if is not None and engine.dialect.driver != "psycopg":
        raise ValueError("a condition is psycopg's text: PostgreSQL through psycopg only")
    alone = insert_statement(engine.dialect, table, rows, only_if=only_if) if commits_alone(uow) else None
    if alone is not None:
        try:
            written = uow.commit(alone, guarded=only_if is not None)
        except exc.IntegrityError as e:
            if getattr(e.orig, "sqlstate", None) != _UNIQUE_VIOLATION or e.orig.diag.table_name != table.name:
                raise
            uow.rollback()
            raise RowsExist() from None
        return written  # if not, uow.commit rolled it back
    if only_if is not None:
        condition, params = only_if
        if not session.connection().exec_driver_sql(f"SELECT {condition}", tuple(params)).scalar():
            uow.rollback()
            return False
    if _count_inserted(session, table, rows, key) < len(rows):
        uow.rollback()
        raise RowsExist()
    uow.commit()
    return True


_UNIQUE_VIOLATION = "23505"  # PostgreSQL's SQLSTATE


def _count_inserted(session: Session, table: sa.Table, rows: Sequence[dict[str, Any]], key: str) -> int:
    """How many of ``rows`` were inserted, those whose ``key`` exists skipped: on PostgreSQL
    nothing comes back but the row count (a thousand returned keys cost the driver more)."""
    if rows and session.get_bind().dialect.name == "postgresql":
        result = insert_arrays(session.connection(), table, rows, on_conflict=key)
        if result is not None:
            return result.rowcount
    return len(insert_ignoring_conflicts(session, table, rows, key))


def _insert_json_recordset(
    session: Session, table: sa.Table, rows: Sequence[dict[str, Any]], key: str
) -> set:
    """PostgreSQL: the rows travel as one JSON parameter, unpacked by ``json_to_recordset``.

    A multi-row VALUES list (or one array per column) costs the driver more to
    render than the server takes to insert; a JSON document is one C call.
    Binary columns travel as hex.
    """
    dialect = session.get_bind().dialect
    quote = dialect.identifier_preparer.quote
    columns = list(rows[0])
    binary = {c for c in columns if isinstance(table.c[c].type, sa.LargeBinary)}
    record = ", ".join(
        f"{quote(c)} {'text' if c in binary else table.c[c].type.compile(dialect=dialect)}" for c in columns
    )
    select = ", ".join(f"decode(v.{quote(c)}, 'hex')" if c in binary else f"v.{quote(c)}" for c in columns)
    stmt = sa.text(
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "  # noqa: S608 - identifiers
        f"SELECT {select} FROM json_to_recordset(CAST(:rows AS json)) AS v({record}) "
        f"ON CONFLICT ({quote(key)}) DO NOTHING RETURNING {quote(key)}"
    )
    payload = json.dumps([{c: _json_value(row[c]) for c in columns} for row in rows], separators=(",", ":"))
    return set(session.scalars(stmt, {"rows": payload}))


def _json_value(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.isoformat()
    return value


def select_in(
    session: Session, columns: Sequence[sa.ColumnElement], key: sa.Column, values: Iterable[Any]
) -> list[sa.Row]:
    """``SELECT columns WHERE key IN values``: on PostgreSQL one array parameter
    (:func:`piivault.db.in_array`), elsewhere chunked."""
    values = list(values)
    if not values:
        return []
    if session.get_bind().dialect.name == "postgresql":
        return list(session.execute(sa.select(*columns).where(in_array(key, "values")), {"values": values}))
    rows: list[sa.Row] = []
    for chunk in chunked(values):
        rows.extend(session.execute(sa.select(*columns).where(key.in_(chunk))).all())
    return rows
