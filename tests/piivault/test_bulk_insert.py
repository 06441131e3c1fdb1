"""piivault.db.insert_arrays: rows in one statement on PostgreSQL, as arrays or, for one row, as
a VALUES row; either way the rows stored are those given, and conflicts are skipped."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from piivault.db import UTCDateTime, insert_arrays
from tests.wire import statements

NOW = dt.datetime(2026, 12, 7, 9, 30, tzinfo=dt.UTC)
SHANGHAI = dt.timezone(dt.timedelta(hours=8))


@pytest.fixture
def table(psycopg_engine: sa.Engine) -> sa.Table:
    table = sa.Table(
        "bulk_rows",
        sa.MetaData(),
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("blob", sa.LargeBinary),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("flag", sa.Boolean, nullable=False),
        sa.Column("n", sa.BigInteger),
    )
    table.metadata.create_all(psycopg_engine)
    return table


def _row(key: str, **changes) -> dict:
    return {"id": key, "blob": b"\x00\xff" + key.encode(), "at": NOW, "flag": True, "n": 2**40, **changes}


def _stored(engine: sa.Engine, table: sa.Table) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(table).order_by(table.c.id))]


@pytest.mark.parametrize("count", [1, 3])
def test_the_rows_stored_are_the_rows_given(psycopg_engine, table, count):
    rows = [
        _row(f"r{i}", at=NOW.astimezone(SHANGHAI), flag=i % 2 == 0, n=None if i else 7) for i in range(count)
    ]
    with psycopg_engine.begin() as conn, statements(psycopg_engine) as seen:
        result = insert_arrays(conn, table, rows)
    assert result is not None and result.rowcount == count
    # One row as a VALUES row, several as arrays unnested: one statement either way.
    ((_, sql),) = seen
    assert ("VALUES" in sql) == (count == 1) and ("unnest" in sql) == (count > 1)
    expected = [(r["id"], r["blob"], NOW, r["flag"], r["n"]) for r in rows]
    assert _stored(psycopg_engine, table) == expected
    assert all(at.tzinfo == dt.UTC for _, _, at, _, _ in _stored(psycopg_engine, table))


@pytest.mark.parametrize("count", [1, 2])
def test_conflicting_rows_are_skipped_and_the_inserted_keys_returned(psycopg_engine, table, count):
    with psycopg_engine.begin() as conn:
        insert_arrays(conn, table, [_row("taken", flag=False)])
    rows = [_row("taken"), _row("free")][:count] if count == 2 else [_row("taken")]
    with psycopg_engine.begin() as conn:
        result = insert_arrays(conn, table, rows, on_conflict="id", returning="id")
        assert result is not None
        assert [r[0] for r in result] == (["free"] if count == 2 else [])
    assert [(key, flag) for key, _, _, flag, _ in _stored(psycopg_engine, table)] == (
        [("free", True), ("taken", False)] if count == 2 else [("taken", False)]
    )


def test_a_null_goes_in_one_row_but_a_column_of_nulls_only_is_declined(psycopg_engine, table):
    # A lone NULL takes its column's type; an array of NULLs only has no element type.
    with psycopg_engine.begin() as conn:
        assert insert_arrays(conn, table, [_row("lone", blob=None, n=None)]).rowcount == 1
        assert insert_arrays(conn, table, [_row("a", n=None), _row("b", n=None)]) is None
        assert insert_arrays(conn, table, [_row("c", n=None), _row("d", n=5)]).rowcount == 2
    assert [(key, blob, n) for key, blob, _, _, n in _stored(psycopg_engine, table)] == [
        ("c", b"\x00\xffc", None),
        ("d", b"\x00\xffd", 5),
        ("lone", None, None),
    ]


def test_a_naive_time_is_not_sent_the_caller_inserts_another_way(psycopg_engine, table):
    # UTCDateTime takes aware times only: an array or a VALUES row would store a naive one as
    # the session's local time, so insert_arrays declines (None) and writes nothing.
    with psycopg_engine.begin() as conn:
        assert insert_arrays(conn, table, [_row("naive", at=NOW.replace(tzinfo=None))]) is None
    assert _stored(psycopg_engine, table) == []
