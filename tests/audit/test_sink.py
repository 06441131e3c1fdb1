"""The audit sink's insert keeps the events' order and MACs, whichever statement carries them."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from audit import sink
from audit import tables as at
from audit.events import AuditEvent
from piivault.db import utcnow
from piivault.direct import write_alone
from tests.wire import statements


@pytest.mark.parametrize("count", [1, 2, sink.VALUES_UP_TO, sink.VALUES_UP_TO + 1, 9])
def test_queued_rows_keep_the_order_of_the_events(container, backend, count):
    events = [
        AuditEvent(action="test.read", actor=f"sink-test-{n}", request_id=f"r{n}") for n in range(count)
    ]
    now = utcnow()
    payloads = container.audit_sink.prepare(events, now)
    with container.engine.begin() as conn, statements(container.engine) as seen:
        sink.insert_queued(conn, now, payloads)
    assert len(seen) == 1  # one statement for any count
    if backend == "postgresql":  # a VALUES list for a few rows, two arrays beyond
        assert ("unnest" in seen[0][1]) == (count > sink.VALUES_UP_TO)
    with container.engine.connect() as conn:
        queued = conn.execute(sa.select(at.queue.c.payload, at.queue.c.mac).order_by(at.queue.c.id)).all()
    assert [(payload, bytes(mac)) for payload, mac in queued] == payloads


def test_a_change_goes_only_with_rows_that_fit_one_statement(container):
    """Where the change and its rows could not be one statement, they are refused, not split."""
    now = utcnow()
    payloads = container.audit_sink.prepare([AuditEvent(action="test.read", actor="sink-test")], now)
    change = ("INSERT INTO audit_queue (enqueued_at, payload) VALUES (%s, %s)", (now, "{}"))
    with pytest.raises(ValueError, match="one statement"):
        sink.queued_with(change, now, payloads * (sink.ROWS_PER_STATEMENT + 1))
    assert sink.queued_with(change, now, []) == change


@pytest.mark.parametrize("count", [1, sink.VALUES_UP_TO + 1])
def test_a_change_and_its_rows_written_alone_are_one_statement(container, backend, count):
    """The change and the rows, in the events' order, as one statement in autocommit."""
    if backend != "postgresql":
        pytest.skip("a change written alone is psycopg's")
    events = [AuditEvent(action="test.read", actor=f"sink-test-{n}") for n in range(count)]
    now = utcnow()
    change = ("INSERT INTO audit_queue (enqueued_at, payload, mac) VALUES (%s, 'change', 'm')", (now,))
    statement = container.audit_sink.alone(events, change)
    with statements(container.engine) as seen:
        write_alone(container.engine, *statement)
    assert [by for by, _ in seen] == ["driver"]
    with container.engine.connect() as conn:
        queued = conn.execute(sa.select(at.queue.c.payload).order_by(at.queue.c.id)).scalars().all()
    assert "change" in queued  # the change and the rows, one statement: PostgreSQL orders neither first
    assert [json.loads(p)["actor"] for p in queued if p != "change"] == [e.actor for e in events]


@pytest.mark.parametrize("count", [1, sink.VALUES_UP_TO + 1])
@pytest.mark.parametrize("wrote", [True, False])
def test_guarded_rows_go_only_with_a_change_that_wrote(container, backend, count, wrote):
    """``guarded``: the rows, in the events' order, only if the change returned a row; the
    statement's count is theirs (0 when the change wrote nothing)."""
    if backend != "postgresql":
        pytest.skip("a change written alone is psycopg's")
    events = [AuditEvent(action="test.read", actor=f"sink-test-{n}") for n in range(count)]
    now = utcnow()
    change = (
        "INSERT INTO audit_queue (enqueued_at, payload, mac) SELECT %s, 'change', 'm' WHERE %s RETURNING 1",
        (now, wrote),
    )
    written = write_alone(container.engine, *container.audit_sink.alone(events, change, guarded=True))
    assert written == (count if wrote else 0)
    with container.engine.connect() as conn:
        queued = conn.execute(sa.select(at.queue.c.payload).order_by(at.queue.c.id)).scalars().all()
    if not wrote:
        assert queued == []
        return
    assert "change" in queued
    assert [json.loads(p)["actor"] for p in queued if p != "change"] == [e.actor for e in events]
