"""SQL helpers for the consent tables (PostgreSQL and SQLite)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

SQL_CHUNK = 900  # bound parameters per IN list, under SQLite's old 999 limit


def insert_ignore(session: Session, table: sa.Table, row: dict[str, Any], keys: Sequence[str]) -> bool:
    """Insert one row unless one with the same ``keys`` exists; True if this one was inserted.

    ON CONFLICT DO NOTHING: a concurrent transaction inserting the same key
    makes this one wait (PostgreSQL) and then skip, without aborting it.
    """
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = (
        dialect.insert(table)
        .values(**row)
        .on_conflict_do_nothing(index_elements=list(keys))
        .returning(table.c[keys[0]])  # rowcount is -1 here on psycopg: count returned rows
    )
    return session.execute(stmt).first() is not None


def chunked(values: Sequence[Any], size: int = SQL_CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def select_in(session: Session, column: sa.Column, values: Iterable[Any], *where: Any) -> set[Any]:
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
