"""piivault.sql.commit_insert: rows and their unit of work's audit events commit all or none.

On PostgreSQL a unit of work that wrote nothing else sends both as one statement in
autocommit; these tests hold that statement to what a transaction promised: a taken key,
or an audit insert the server refuses, leaves neither the rows nor the events.
"""

from __future__ import annotations

import contextlib

import pytest
import sqlalchemy as sa

from audit import tables as at
from audit.events import AuditEvent
from audit.sink import insert_queued, queued_with
from piivault.db import utcnow
from piivault.sql import RowsExist, commit_insert
from tests.wire import traced

_probe = sa.Table(
    "commit_insert_probe",
    sa.MetaData(),
    sa.Column("id", sa.String(16), primary_key=True),
    sa.Column("note", sa.String(32), nullable=False),
)


@pytest.fixture
def probe(container):
    """A scratch table, and a container whose events stay queued (no sequencer after commit)."""
    container.settings = container.settings.replace(audit_sequence_inline=False)
    _probe.create(container.engine)
    yield container
    _probe.drop(container.engine)


def _row(key: str, note: str = "n") -> dict:
    return {"id": key, "note": note}


def _event(n: int) -> AuditEvent:
    return AuditEvent(action="test.write", actor="commit-insert-test", request_id=f"r{n}")


def _state(container) -> tuple[set[str], int]:
    """The probe's keys, and how many events are queued."""
    with container.engine.connect() as conn:
        keys = set(conn.scalars(sa.select(_probe.c.id)))
        queued = conn.scalar(sa.select(sa.func.count()).select_from(at.queue))
    return keys, queued


def _traced(container, backend):
    """The wire of ``container``'s connections on PostgreSQL; None elsewhere."""
    return traced(container.engine) if backend == "postgresql" else contextlib.nullcontext()


def test_rows_and_events_commit_together(probe, backend):
    with probe.uow() as uow:  # the MAC key read, once
        uow.record(_event(0))
        uow.commit()
    with _traced(probe, backend) as wire, probe.uow() as uow:
        uow.record(_event(1))
        uow.record(_event(2))
        commit_insert(uow, _probe, [_row("a"), _row("b")], "id")
    assert _state(probe) == ({"a", "b"}, 3)
    if backend == "postgresql":  # alone in its unit of work: one statement, no transaction
        assert wire.queries() == [] and wire.executions() == 1


@pytest.mark.parametrize("rows", [1, 3])
def test_a_taken_key_writes_nothing_and_drops_the_events(probe, rows):
    with probe.uow() as uow:
        commit_insert(uow, _probe, [_row("taken")], "id")
    fresh = [_row(f"new-{n}") for n in range(rows - 1)]
    with probe.uow() as uow:
        uow.record(_event(1))
        with pytest.raises(RowsExist):
            commit_insert(uow, _probe, [*fresh, _row("taken", "other")], "id")
        # The unit of work goes on as new: what it recorded went with the rollback.
        uow.record(_event(2))
        commit_insert(uow, _probe, [_row("later")], "id")
    keys, queued = _state(probe)
    assert keys == {"taken", "later"}  # none of the fresh rows beside the taken key
    assert queued == 1
    with probe.engine.connect() as conn:
        assert conn.scalar(sa.select(_probe.c.note).where(_probe.c.id == "taken")) == "n"


def test_after_other_writes_the_rows_join_the_transaction(probe, backend):
    with probe.uow() as uow:
        commit_insert(uow, _probe, [_row("taken")], "id")
    with _traced(probe, backend) as wire, probe.uow() as uow:
        uow.session.execute(_probe.insert().values(_row("earlier")))
        uow.record(_event(1))
        with pytest.raises(RowsExist):
            commit_insert(uow, _probe, [_row("taken", "other")], "id")
    assert _state(probe) == ({"taken"}, 0)  # the earlier write rolled back with them
    with probe.uow() as uow:
        uow.session.execute(_probe.insert().values(_row("earlier")))
        uow.record(_event(2))
        commit_insert(uow, _probe, [_row("b")], "id")
    assert _state(probe) == ({"taken", "earlier", "b"}, 1)
    if backend == "postgresql":
        assert wire.queries()[0] == "BEGIN"


def test_an_audit_insert_the_server_refuses_leaves_no_rows(probe, backend):
    """The server fails the statement after the rows' insert ran (a NULL payload): nothing stays."""
    now = utcnow()

    class Refused:
        def __call__(self, session, events):
            insert_queued(session.connection(), now, [(None, bytes(32))])

        def alone(self, events, change, *, guarded=False):
            return queued_with(change, now, [(None, bytes(32))], guarded=guarded)

    probe.audit_sink = Refused()
    with _traced(probe, backend) as wire, probe.uow() as uow:
        uow.record(_event(1))
        with pytest.raises(sa.exc.IntegrityError):
            commit_insert(uow, _probe, [_row("a"), _row("b")], "id")
    assert _state(probe) == (set(), 0)
    if backend == "postgresql":  # the one statement alone, refused as a whole
        assert wire.queries() == [] and wire.executions() == 1


def test_no_rows_commits_the_events(probe):
    with probe.uow() as uow:
        uow.record(_event(1))
        commit_insert(uow, _probe, [], "id")
    assert _state(probe) == (set(), 1)


def test_a_change_commits_alone_only_in_a_fresh_unit_of_work(probe, backend):
    if backend != "postgresql":
        pytest.skip("a change statement is psycopg's text")
    with probe.uow() as uow:
        uow.session.execute(_probe.insert().values(_row("earlier")))
        with pytest.raises(RuntimeError, match="done nothing yet"):
            uow.commit(("INSERT INTO commit_insert_probe VALUES ('x', 'y')", ()))


def test_the_connection_goes_back_as_it_came(probe, backend):
    """After a change committed alone, and after one that failed, the pool's one connection
    begins transactions as before: a write then rolled back leaves nothing."""
    if backend != "postgresql":
        pytest.skip("a change commits alone on PostgreSQL only")
    probe.engine.dispose()  # one connection from here on, used by each unit of work in turn
    with probe.uow() as uow:
        commit_insert(uow, _probe, [_row("a")], "id")
    with probe.uow() as uow, pytest.raises(RowsExist):
        commit_insert(uow, _probe, [_row("a")], "id")
    with traced(probe.engine) as wire, probe.uow() as uow:
        uow.session.execute(_probe.insert().values(_row("b")))
        uow.session.rollback()
    assert wire.autocommit == [False]
    assert wire.queries() == ["BEGIN", "ROLLBACK"]
    assert _state(probe)[0] == {"a"}
    assert probe.engine.pool.checkedin() == 1


def test_under_repeatable_read_the_rows_take_a_transaction(probe, backend, monkeypatch):
    """A change commits alone only where each statement has its own snapshot."""
    if backend != "postgresql":
        pytest.skip("a change commits alone on PostgreSQL only")
    with probe.uow() as uow:  # connected: the dialect knows the server's default
        commit_insert(uow, _probe, [_row("a")], "id")
    monkeypatch.setattr(probe.engine.dialect, "default_isolation_level", "REPEATABLE READ")
    with traced(probe.engine) as wire, probe.uow() as uow:
        uow.record(_event(1))
        commit_insert(uow, _probe, [_row("b")], "id")
    assert wire.queries() == ["BEGIN", "COMMIT"]
    assert _state(probe) == ({"a", "b"}, 1)


# A guarded insert (only_if): the condition checked in the one statement, rows and events both or none.
_HOLDS = "NOT EXISTS (SELECT FROM commit_insert_probe WHERE id = %s)"  # holds while no row has this id


@pytest.mark.parametrize("events", [1, 5], ids=["values", "arrays"])  # the audit insert's two shapes
@pytest.mark.parametrize("rows", [1, 3], ids=["one-row", "unnested"])  # the insert's two shapes
def test_a_condition_that_holds_writes_rows_and_events_in_one_statement(probe, backend, rows, events):
    if backend != "postgresql":
        pytest.skip("a condition goes with an insert that commits alone: psycopg's")
    with probe.uow() as uow:  # the MAC key read, once
        uow.record(_event(0))
        commit_insert(uow, _probe, [_row("blocker")], "id")
    with traced(probe.engine) as wire, probe.uow() as uow:
        for n in range(events):
            uow.record(_event(n))
        written = commit_insert(
            uow, _probe, [_row(f"r{n}") for n in range(rows)], "id", only_if=(_HOLDS, ("x",))
        )
    assert written is True and uow.committed
    assert _state(probe) == ({"blocker", *(f"r{n}" for n in range(rows))}, 1 + events)
    assert wire.queries() == [] and wire.executions() == 1


@pytest.mark.parametrize("events", [1, 5], ids=["values", "arrays"])
@pytest.mark.parametrize("rows", [1, 3], ids=["one-row", "unnested"])
def test_a_condition_that_fails_writes_nothing_and_drops_the_events(probe, backend, rows, events):
    if backend != "postgresql":
        pytest.skip("a condition goes with an insert that commits alone: psycopg's")
    with probe.uow() as uow:
        commit_insert(uow, _probe, [_row("blocker")], "id")
    with probe.uow() as uow:
        for n in range(events):
            uow.record(_event(n))
        fresh = [_row(f"r{n}") for n in range(rows)]
        assert commit_insert(uow, _probe, fresh, "id", only_if=(_HOLDS, ("blocker",))) is False
        assert _state(probe) == ({"blocker"}, 0)
        # The unit of work goes on as new: what it recorded went with the rollback.
        uow.record(_event(99))
        assert commit_insert(uow, _probe, [_row("later")], "id") is True
    assert _state(probe) == ({"blocker", "later"}, 1)


def test_a_condition_in_a_transaction_is_checked_before_the_insert(probe, backend):
    """Where the insert does not commit alone (the unit of work wrote before), the condition is a
    statement of its own in the transaction: failed, nothing of the transaction is left."""
    if backend != "postgresql":
        pytest.skip("a condition is psycopg's text")
    with probe.uow() as uow:
        commit_insert(uow, _probe, [_row("blocker")], "id")
    with probe.uow() as uow:
        uow.session.execute(_probe.insert().values(_row("earlier")))
        uow.record(_event(1))
        assert commit_insert(uow, _probe, [_row("a")], "id", only_if=(_HOLDS, ("blocker",))) is False
    assert _state(probe) == ({"blocker"}, 0)
    with traced(probe.engine) as wire, probe.uow() as uow:
        uow.session.execute(_probe.insert().values(_row("earlier")))
        uow.record(_event(2))
        assert commit_insert(uow, _probe, [_row("a")], "id", only_if=(_HOLDS, ("x",))) is True
    assert _state(probe) == ({"blocker", "earlier", "a"}, 1)
    assert wire.queries()[0] == "BEGIN"


def test_a_condition_is_psycopgs_only(probe, backend):
    if backend == "postgresql":
        pytest.skip("psycopg takes it")
    with probe.uow() as uow, pytest.raises(ValueError, match="psycopg"):
        commit_insert(uow, _probe, [_row("a")], "id", only_if=(_HOLDS, ("x",)))
    assert _state(probe) == (set(), 0)
