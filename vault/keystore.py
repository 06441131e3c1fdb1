"""The stored data keys: the rows of ``vault_data_keys`` and the statements on them.

A data key is stored as one row per owner, ``subject:<id>`` or ``system:<name>``
(:func:`subject_owner`, :func:`system_owner`), holding only its wrapped form.
This module names the owners, reads the owners' stored keys (:func:`read`, the
statement built once per dialect), inserts new rows (:func:`insert`) and deletes
rows (:func:`delete`), and gives readers elsewhere the statements that read keys
in their own round trip (:func:`with_stored_key`, :func:`stored_key_rows`), and
a writer with cached keys the condition that they are stored still (:func:`stored_as`). It
never unwraps: what it returns is :data:`StoredKeys`, for
:meth:`vault.keyring.Keyring.unwrap`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from piivault.db import Statement, in_array, insert_arrays
from piivault.sql import chunked
from vault import tables as t
from vault.datakey import DataKey

SUBJECT = "subject:"
SYSTEM = "system:"
# One statement for every IN list: an expanding parameter keeps SQLAlchemy's compiled-statement
# cache usable (a literal list of 900 ids is hashed into the cache key on every call).
_KEY_COLUMNS = sa.select(t.data_keys.c.owner, t.data_keys.c.key_id, t.data_keys.c.wrapped_dek)
_KEY_ROWS = _KEY_COLUMNS.where(t.data_keys.c.owner.in_(sa.bindparam("owners", expanding=True)))


@functools.cache
def _key_rows_pg() -> sa.Select:
    """The PostgreSQL form (one array parameter), made once on first use: building it imports
    SQLAlchemy's PostgreSQL dialect, which a command on SQLite need not load (issue 13)."""
    return _KEY_COLUMNS.where(in_array(t.data_keys.c.owner, "owners"))


def with_stored_key(query: sa.Select[Any], owner: sa.ColumnElement[str]) -> sa.Select[Any]:
    """``query`` with the stored key of each row's ``owner`` added as two columns (key id,
    wrapped key; both NULL when it has none): a reader that needs its rows' keys reads them
    in its own query, one round trip fewer, and hands them to :meth:`Keyring.unwrap`."""
    k = t.data_keys.c
    return query.add_columns(k.key_id, k.wrapped_dek).outerjoin(t.data_keys, k.owner == owner)


def stored_key_rows(
    owners: Iterable[str] | sa.BindParameter[Any] | sa.Select[Any], *pad: sa.ColumnElement[Any]
) -> sa.Select[Any]:
    """``SELECT owner, *pad, key id, wrapped key`` of the owners' stored keys (a list, an
    expanding parameter or a select of them): a reader that also needs keys its rows do not name
    (:func:`with_stored_key`) reads them in the same round trip with a ``UNION ALL``, ``pad``
    standing for its own columns."""
    k = t.data_keys.c
    return sa.select(k.owner, *pad, k.key_id, k.wrapped_dek).where(k.owner.in_(owners))


def subject_owner_column(subject_id: sa.ColumnElement[str]) -> sa.ColumnElement[str]:
    """:func:`subject_owner` in SQL: the key owner of the subject in column ``subject_id``."""
    return sa.literal_column(f"'{SUBJECT}'", sa.String) + subject_id


def stored_as(keys: Iterable[DataKey]) -> Statement:
    """psycopg's text and parameters of a condition (PostgreSQL) that each of ``keys`` is stored
    under its key id, none shredded or replaced, as of the statement's snapshot (no lock: a
    shred not yet committed is not seen; the subject's state, checked with its row locked, is
    what stops a write for a subject being erased, :func:`privacy.subjects.states_still`). A
    writer that took its keys from the cache (:meth:`Keyring.held`) checks them in the statement
    that uses them (:func:`piivault.sql.commit_insert`'s ``only_if``) instead of reading their
    rows first."""
    owners, key_ids = [], []
    for key in keys:
        owners.append(key.owner)
        key_ids.append(key.key_id)
    return _STORED_AS, (owners, key_ids)


# %b: psycopg's placeholder for a parameter sent in binary format (here, two text arrays).
_STORED_AS = (
    "NOT EXISTS (SELECT FROM unnest(%b::text[], %b::text[]) AS held(owner, key_id) "  # noqa: S608 - a table's name
    f"WHERE NOT EXISTS (SELECT FROM {t.data_keys.name} AS k "
    "WHERE k.owner = held.owner AND k.key_id = held.key_id))"
)


StoredKeys = dict[str, tuple[str, str]]
"""owner -> (key id, wrapped key), as stored: what :meth:`Keyring.unwrap` turns into keys."""


def subject_owner(subject_id: str) -> str:
    return SUBJECT + subject_id


def system_owner(name: str) -> str:
    return SYSTEM + name


def read(session: Session, owners: Sequence[str]) -> StoredKeys:
    """The stored keys of ``owners`` (distinct) that have one, in the caller's transaction."""
    found: StoredKeys = {}
    if owners and session.get_bind().dialect.name == "postgresql":
        for owner, key_id, wrapped in session.execute(_key_rows_pg(), {"owners": list(owners)}):
            found[owner] = (key_id, wrapped)
        return found
    for chunk in chunked(owners):
        for owner, key_id, wrapped in session.execute(_KEY_ROWS, {"owners": chunk}):
            found[owner] = (key_id, wrapped)
    return found


def insert(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Store new keys' rows (owner, key_id, wrapped_dek, kek_version, created_at)."""
    # One statement on PostgreSQL (a tokenize batch creates hundreds of keys at once).
    if insert_arrays(session.connection(), t.data_keys, rows) is None:
        session.execute(t.data_keys.insert(), rows)


def delete(session: Session, owners: Sequence[str]) -> int:
    """Delete the owners' rows (the only copy of their keys); returns how many there were."""
    removed = 0
    for chunk in chunked(owners):
        result = session.execute(t.data_keys.delete().where(t.data_keys.c.owner.in_(chunk)))
        removed += result.rowcount or 0
    return removed
