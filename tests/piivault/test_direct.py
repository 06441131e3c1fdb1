"""A Core SELECT run on psycopg's own connection returns what Core returns, and fails as it would.

:class:`piivault.direct.DirectRead` converts parameters and columns by the
statement's types itself; these tests hold each row to Core's for the same
statement and parameters, types that convert included (UTC datetimes, JSON,
arrays, bytes, booleans, a scalar subquery), and for a UNION ALL.
"""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from piivault.db import UTCDateTime, in_array, make_engine, make_read_only_engine
from piivault.direct import DirectRead, direct_read, write_alone
from piivault.errors import StorageUnavailable
from tests.wire import backend_pid, terminate, traced

NOW = dt.datetime(2026, 12, 7, 9, 30, tzinfo=dt.UTC)
SHANGHAI = dt.timezone(dt.timedelta(hours=8))


@pytest.fixture
def engine(psycopg_engine: sa.Engine) -> sa.Engine:
    return psycopg_engine


@pytest.fixture
def tables(engine: sa.Engine):
    md = sa.MetaData()
    people = sa.Table(
        "people",
        md,
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime),
        sa.Column("tags", postgresql.ARRAY(sa.String)),
        sa.Column("extra", sa.JSON),
        sa.Column("secret", sa.LargeBinary),
        sa.Column("active", sa.Boolean, nullable=False),
    )
    grants = sa.Table(
        "grants_t",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("target", sa.String(16), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("expires_at", UTCDateTime),
    )
    md.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            people.insert(),
            [
                dict(
                    id="p1",
                    created_at=NOW,
                    expires_at=NOW + dt.timedelta(days=1),
                    tags=["a", "b"],
                    extra={"k": [1, "二"]},
                    secret=b"\x00\xff",
                    active=True,
                ),
                dict(
                    id="p2", created_at=NOW, expires_at=None, tags=None, extra=None, secret=None, active=False
                ),
            ],
        )
        conn.execute(
            grants.insert(),
            [
                dict(target="p1", action="read", expires_at=NOW + dt.timedelta(hours=1)),
                dict(target="p2", action="read", expires_at=NOW - dt.timedelta(hours=1)),
            ],
        )
    return people, grants


def _statement(people: sa.Table, grants: sa.Table, where: sa.ColumnElement[bool] | None = None) -> sa.Select:
    now = sa.bindparam("now", type_=UTCDateTime)
    granted = (
        sa.exists()
        .where(grants.c.target == people.c.id, grants.c.action == "read")
        .where(sa.or_(grants.c.expires_at.is_(None), grants.c.expires_at > now))
    )
    found = people.c.id == sa.bindparam("id") if where is None else where
    return sa.select(people, granted.label("granted")).where(found)


@pytest.mark.parametrize(
    "params",
    [
        {"id": "p1", "now": NOW},
        {"id": "p1", "now": NOW.astimezone(SHANGHAI)},  # the same instant, in another zone
        {"id": "p1", "now": NOW + dt.timedelta(hours=2)},  # the grant has expired by then
        {"id": "p2", "now": NOW},  # NULLs, and an expired grant
        {"id": "nobody", "now": NOW},
    ],
)
def test_a_row_equals_cores(engine, tables, params):
    statement = _statement(*tables)
    with engine.connect() as conn:
        expected = conn.execute(statement, params).first()
    got = DirectRead(statement, engine).first(params)
    if expected is None:
        assert got is None
        return
    assert tuple(got) == tuple(expected)
    assert got._fields == tuple(expected._fields)
    assert got.created_at.tzinfo == dt.UTC  # UTCDateTime's result conversion ran
    assert got.granted == expected.granted


def test_all_rows_equal_cores(engine, tables):
    people, grants = tables
    ids = sa.bindparam("ids", type_=postgresql.ARRAY(sa.String))
    statement = _statement(people, grants, where=people.c.id == sa.any_(ids)).order_by(people.c.id)
    for params in ({"ids": ["p1", "p2"], "now": NOW}, {"ids": ["p2"], "now": NOW}, {"ids": [], "now": NOW}):
        with engine.connect() as conn:
            expected = conn.execute(statement, params).all()
        got = DirectRead(statement, engine).all(params)
        assert [tuple(r) for r in got] == [tuple(r) for r in expected]
        assert len(got) == len(params["ids"])


def test_a_union_all_equals_cores(engine, tables):
    # As tokenize reads its subjects' states with the tokenization secrets: columns padded with
    # typed NULLs on one side, an array parameter on the other.
    people, grants = tables
    ids = sa.bindparam("ids", type_=postgresql.ARRAY(sa.String))
    padded = sa.select(
        grants.c.target, sa.cast(sa.null(), UTCDateTime), sa.cast(sa.null(), sa.Boolean)
    ).where(grants.c.action == sa.bindparam("action"))
    named = sa.select(people.c.id, people.c.created_at, people.c.active).where(people.c.id == sa.any_(ids))
    statement = sa.union_all(padded, named)
    for params in ({"ids": ["p1", "p2"], "action": "read"}, {"ids": ["p2"], "action": "write"}):
        with engine.connect() as conn:
            expected = sorted((tuple(r) for r in conn.execute(statement, params)), key=repr)
        got = sorted((tuple(r) for r in DirectRead(statement, engine).all(params)), key=repr)
        assert got == expected
        assert len(got) == len(params["ids"]) + (2 if params["action"] == "read" else 0)
    (row,) = DirectRead(statement, engine).all({"ids": ["p1"], "action": "none"})
    assert tuple(row) == ("p1", NOW, True)
    assert row[1].tzinfo == dt.UTC  # UTCDateTime's result conversion ran on the UNION's column


def test_a_read_is_one_prepared_statement_outside_any_transaction(engine, tables):
    read_only = make_read_only_engine(engine)
    try:
        direct = DirectRead(_statement(*tables), read_only)
        for _ in range(2):
            with traced(read_only) as wire:
                assert direct.first({"id": "p1", "now": NOW}).granted is True
            assert wire.autocommit == [True]
            assert wire.executions() == 1
            assert wire.queries() == []  # no BEGIN, no COMMIT
            assert wire.transaction_states() == {"I"}
    finally:
        read_only.dispose()


def test_on_a_read_write_pool_too_a_read_is_one_statement_in_autocommit(engine, tables):
    # No BEGIN for the read, no ROLLBACK when the pool takes the connection back; and the
    # connection goes back to the pool as it came: in transactions for whoever has it next.
    direct = DirectRead(_statement(*tables), engine)
    with traced(engine) as wire:
        assert direct.first({"id": "p2", "now": NOW}).active is False
    assert wire.autocommit == [False]
    assert wire.executions() == 1 and wire.queries() == []
    assert wire.transaction_states() == {"I"}
    fairy = engine.raw_connection()
    try:
        assert fairy.driver_connection.autocommit is False
    finally:
        fairy.close()
    with engine.begin() as conn:  # and a transaction on it works as before
        conn.execute(tables[0].update().where(tables[0].c.id == "p2").values(active=True))
    assert direct.first({"id": "p2", "now": NOW}).active is True


def test_a_read_on_a_sessions_connection_is_in_its_transaction(engine, tables):
    people, grants = tables
    direct = DirectRead(_statement(people, grants), engine)
    with engine.connect() as conn, conn.begin():
        conn.execute(people.update().where(people.c.id == "p2").values(active=True))
        with traced(engine) as wire:  # no connection of its own
            (row,) = direct.all_on(conn, {"id": "p2", "now": NOW})
        assert row.active is True  # this transaction's own write, not yet committed
        assert wire.autocommit == []
        conn.rollback()
    assert direct.first({"id": "p2", "now": NOW}).active is False


def test_in_a_sessions_transaction_a_failure_leaves_it_to_roll_back(engine, tables, database_url):
    people, grants = tables
    direct = DirectRead(_statement(people, grants), engine)
    bad = sa.select(sa.cast(sa.bindparam("text", type_=sa.String), sa.Integer).label("q"))
    with engine.connect() as conn:
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        conn.rollback()
        with conn.begin() as tx:
            with pytest.raises(sa.exc.DataError):
                DirectRead(bad, engine).all_on(conn, {"text": "x"})
            tx.rollback()  # the transaction failed; rolling it back works, as after Core's error
        (row,) = direct.all_on(conn, {"id": "p1", "now": NOW})  # and the connection reads on
        assert row.id == "p1"
        assert conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one() == pid
        conn.rollback()
        terminate(database_url, pid)  # killed under a transaction: a 503, the rollback quiet
        with conn.begin() as tx:
            with pytest.raises(StorageUnavailable):
                direct.all_on(conn, {"id": "p1", "now": NOW})
            assert conn.invalidated
            tx.rollback()
    assert backend_pid(engine) != pid  # the next checkout connects anew


def test_all_on_takes_its_own_engines_connections(engine, tables, database_url):
    other = make_engine(database_url)
    try:
        with other.connect() as conn, pytest.raises(ValueError, match="engine"):
            DirectRead(_statement(*tables), engine).all_on(conn, {"id": "p1", "now": NOW})
    finally:
        other.dispose()


def test_the_array_parameter_that_detokenize_binds(engine, tables):
    people, grants = tables
    statement = _statement(people, grants, where=in_array(people.c.id, "ids")).order_by(people.c.id)
    for ids in (["p1", "p2"], ["p2", "nobody"], []):
        params = {"ids": ids, "now": NOW}
        with engine.connect() as conn:
            expected = conn.execute(statement, params).all()
            got = DirectRead(statement, engine).all_on(conn, params)
        assert [tuple(r) for r in got] == [tuple(r) for r in expected]
        assert [r.id for r in got] == sorted(set(ids) - {"nobody"})


def test_a_parameter_whose_name_the_sql_escapes(engine, tables):
    people, _ = tables
    when = sa.bindparam("not after", type_=UTCDateTime)  # rendered %(not_after)s
    statement = sa.select(people.c.id).where(people.c.created_at <= when).order_by(people.c.id)
    params = {"not after": NOW.astimezone(SHANGHAI)}
    with engine.connect() as conn:
        expected = conn.execute(statement, params).all()
    assert [tuple(r) for r in DirectRead(statement, engine).all(params)] == [tuple(r) for r in expected]
    assert [r.id for r in expected] == ["p1", "p2"]


def test_what_it_cannot_run_as_core_does_is_refused(engine, tables):
    people, _ = tables
    with pytest.raises(ValueError, match="locking"):
        DirectRead(sa.select(people.c.id).with_for_update(), engine)
    with pytest.raises(ValueError, match="locking"):  # one SELECT of a UNION locking its rows
        DirectRead(sa.union_all(sa.select(people.c.id), sa.select(people.c.id).with_for_update()), engine)
    with pytest.raises(ValueError, match="cannot convert"):
        DirectRead(sa.select(sa.cast(people.c.id, sa.Numeric(10, 2))), engine)


def test_only_selects(engine, tables):
    people, _ = tables
    with pytest.raises(TypeError, match="SELECT"):
        DirectRead(people.delete().where(people.c.id == sa.bindparam("id")), engine)


def test_a_naive_time_is_refused_as_core_refuses_it(engine, tables):
    statement = _statement(*tables)
    naive = {"id": "p1", "now": NOW.replace(tzinfo=None)}
    with pytest.raises(sa.exc.StatementError), engine.connect() as conn:
        conn.execute(statement, naive)
    with pytest.raises(ValueError, match="naive datetime"):
        DirectRead(statement, engine).first(naive)


def test_a_missing_parameter_is_an_error_not_a_null(engine, tables):
    with pytest.raises(sa.exc.InvalidRequestError):
        DirectRead(_statement(*tables), engine).first({"id": "p1"})


def test_statements_whose_text_changes_with_their_values_are_refused(engine, tables):
    people, _ = tables
    expanding = sa.select(people.c.id).where(people.c.id.in_(sa.bindparam("ids", expanding=True)))
    with pytest.raises(ValueError, match="expanding"):
        DirectRead(expanding, engine)


def test_only_psycopg(tmp_path):
    sqlite = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        statement = sa.select(sa.literal(1))
        assert direct_read(statement, sqlite) is None
        assert direct_read(statement, None) is None
        with pytest.raises(ValueError, match="psycopg"):
            DirectRead(statement, sqlite)
    finally:
        sqlite.dispose()


def test_a_dead_connection_is_a_503_and_the_pool_drops_its_older_ones(tables, database_url):
    # A restart kills every pooled connection. Two sit in this pool, both killed; no ping for
    # an hour, so a read meets one. It is a 503; the pool then drops the other too (as Core
    # does on a disconnect), so the next read connects anew instead of failing as well.
    engine = make_engine(database_url, ping_after_idle=3600, pool_size=2, max_overflow=0)
    try:
        direct = DirectRead(_statement(*tables), engine)
        with engine.connect() as one, engine.connect() as two:
            pids = [c.exec_driver_sql("SELECT pg_backend_pid()").scalar_one() for c in (one, two)]
        for pid in pids:
            terminate(database_url, pid)
        with pytest.raises(StorageUnavailable):
            direct.first({"id": "p1", "now": NOW})
        assert direct.first({"id": "p1", "now": NOW}).id == "p1"
        assert backend_pid(engine) not in pids
    finally:
        engine.dispose()


def test_a_failing_statement_fails_as_core_fails_it_and_leaves_the_connection_as_it_was(engine, tables):
    pid = backend_pid(engine)  # a pool of one
    statement = sa.select(sa.cast(sa.bindparam("text", type_=sa.String), sa.Integer).label("q"))
    with pytest.raises(sa.exc.DataError) as core, engine.connect() as conn:
        conn.execute(statement, {"text": "not a number"})
    with pytest.raises(sa.exc.DataError) as direct:
        DirectRead(statement, engine).first({"text": "not a number"})
    assert type(direct.value.orig) is type(core.value.orig)  # invalid_text_representation
    assert direct.value.hide_parameters  # the parameters are not in the error's text
    fairy = engine.raw_connection()
    try:  # back in the pool in its own mode, and healthy: the same connection, not a new one
        assert fairy.driver_connection.autocommit is False
        assert fairy.driver_connection.execute("SELECT pg_backend_pid()").fetchone() == (pid,)
    finally:
        fairy.close()


def test_a_disconnect_of_any_class_is_a_503(engine, tables, monkeypatch):
    # A server's FATAL that closes the connection (idle_in_transaction_session_timeout, say)
    # comes as an InternalError, not an OperationalError: a disconnect all the same, as the
    # dialect says, so a 503 as Core would make it (connection_invalidated), not a 500.
    statement = sa.select(sa.cast(sa.bindparam("text", type_=sa.String), sa.Integer).label("q"))
    monkeypatch.setattr(engine.dialect, "is_disconnect", lambda *_args: True)
    with pytest.raises(StorageUnavailable):
        DirectRead(statement, engine).first({"text": "x"})
    with engine.connect() as conn, pytest.raises(StorageUnavailable):
        DirectRead(statement, engine).all_on(conn, {"text": "x"})


def test_an_unreachable_database_is_a_503(engine, tables):
    direct = DirectRead(_statement(*tables), engine)
    unreachable = make_engine("postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=2")
    try:
        direct._engine = unreachable  # the same statement, a database that does not answer
        with pytest.raises(StorageUnavailable):
            direct.first({"id": "p1", "now": NOW})
    finally:
        unreachable.dispose()


# write_alone: one data-modifying statement in autocommit, on a pooled connection of its own.


# psycopg's text inserting a grant and, in the same statement, flipping a person's flag.
_WRITE = (
    "WITH flipped AS (UPDATE people SET active = NOT active WHERE id = %s) "
    "INSERT INTO grants_t (id, target, action) VALUES (%s, %s, %s)"
)


def _grants(engine) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql("SELECT id, target FROM grants_t ORDER BY id")]


def test_a_write_alone_is_one_statement_that_commits_itself(engine, tables):
    before = _grants(engine)
    with traced(engine) as wire:
        write_alone(engine, _WRITE, ("p2", 90, "p2", "read"))
    assert wire.autocommit == [False]  # a connection of the read-write pool, set for the write
    assert wire.executions() == 1 and wire.queries() == []  # no BEGIN, no COMMIT
    assert wire.transaction_states() == {"I"}
    assert _grants(engine) == [*before, (90, "p2")]
    assert DirectRead(_statement(*tables), engine).first({"id": "p2", "now": NOW}).active is True
    fairy = engine.raw_connection()
    try:  # back in the pool in its own mode
        assert fairy.driver_connection.autocommit is False
    finally:
        fairy.close()


def test_a_write_that_fails_writes_nothing_and_fails_as_core_fails_it(engine, tables):
    pid = backend_pid(engine)  # a pool of one
    write_alone(engine, _WRITE, ("p2", 91, "p2", "read"))
    before = _grants(engine)
    with pytest.raises(sa.exc.IntegrityError) as core, engine.begin() as conn:
        conn.exec_driver_sql(_WRITE, ("p1", 91, "p1", "read"))
    with pytest.raises(sa.exc.IntegrityError) as direct:  # the key taken: the update with it undone
        write_alone(engine, _WRITE, ("p1", 91, "p1", "read"))
    assert type(direct.value.orig) is type(core.value.orig)
    assert direct.value.orig.sqlstate == "23505" and direct.value.orig.diag.table_name == "grants_t"
    assert direct.value.hide_parameters
    assert _grants(engine) == before
    assert DirectRead(_statement(*tables), engine).first({"id": "p1", "now": NOW}).active  # not flipped
    assert backend_pid(engine) == pid  # the connection healthy, back in the pool


def test_a_write_on_a_dead_connection_is_a_503_and_writes_nothing(tables, database_url):
    engine = make_engine(database_url, ping_after_idle=3600, pool_size=1, max_overflow=0)
    try:
        pid = backend_pid(engine)
        before = _grants(engine)
        terminate(database_url, pid)
        with pytest.raises(StorageUnavailable):
            write_alone(engine, _WRITE, ("p2", 92, "p2", "read"))
        assert _grants(engine) == before
        assert backend_pid(engine) != pid  # the pool dropped it: the next checkout connects anew
    finally:
        engine.dispose()


def test_a_write_alone_only_on_psycopg(tmp_path):
    sqlite = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with pytest.raises(ValueError, match="psycopg"):
            write_alone(sqlite, "INSERT INTO t VALUES (1)", ())
    finally:
        sqlite.dispose()
