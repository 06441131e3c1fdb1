"""The sequencer: queued events become leaves of one chain and one RFC 6962 tree, with checkpoints."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest
import sqlalchemy as sa

from audit import tables as at
from audit._storage import LOCK_NAMESPACE, TABLE_OID
from audit.chain import GENESIS, chain_hash
from audit.entries import REJECTED_ACTION
from audit.errors import LogCorrupt
from audit.merkle import InMemoryTree, frontier_root, leaf_hash, root_from
from audit.note import open_checkpoint
from audit.sequencer import Sequencer
from audit.store import DbNodeReader, read_head
from piivault.errors import ConfigurationError
from tests.audit.conftest import append, event, scalar, tampering
from tests.conftest import make_container
from vault import VaultUnavailable


def _stored(container):
    with container.session_factory() as s:
        events = s.execute(
            sa.select(
                at.events.c.seq, at.events.c.payload, at.events.c.leaf_hash, at.events.c.chain_hash
            ).order_by(at.events.c.seq)
        ).all()
        nodes = {(lv, i): h for lv, i, h in s.execute(sa.select(at.nodes))}
    return events, nodes


def _sequencer(container, **overrides):
    s = container.settings
    options = {
        "origin": s.audit_origin,
        "batch_size": s.audit_batch_size,
        "checkpoint_every": s.audit_checkpoint_every,
        "checkpoint_seconds": s.audit_checkpoint_seconds,
    }
    options.update(overrides)
    return Sequencer(container.engine, container.session_factory, container.keyring, **options)


def test_events_are_sequenced_right_after_their_commit(container, audit_log):
    append(container, 13)
    assert audit_log.size() == 13
    assert scalar(container, "SELECT count(*) FROM audit_queue") == 0

    events, nodes = _stored(container)
    assert [row.seq for row in events] == list(range(13))
    tree = InMemoryTree()
    chain = GENESIS
    for seq, payload, leaf, stored_chain in events:
        body = json.loads(payload)
        assert body["seq"] == seq and body["request_id"] == f"req-{seq}"
        assert leaf == leaf_hash(payload.encode())
        chain = hashlib.sha256(chain + leaf).digest()  # the documented chain definition
        assert stored_chain == chain
        tree.append(payload.encode())
    # Every perfect subtree of level >= 1 is stored, and nothing else; level 0 is the events' leaf hash.
    expected = {(lv, i) for lv in range(1, 4) for i in range(13 >> lv)}
    assert set(nodes) == expected
    assert all(tree.get_nodes([key])[key] == digest for key, digest in nodes.items())
    with container.session_factory() as s:
        head = read_head(s)
        assert head.size == 13 and head.chain_head == chain
        assert frontier_root(head.frontier) == tree.root()
        for size in range(1, 14):
            assert root_from(size, DbNodeReader(s)) == tree.root(size)


def test_chain_hash_known_answer():
    leaf = leaf_hash(b'{"seq":0}')
    assert chain_hash(GENESIS, leaf) == hashlib.sha256(bytes(32) + leaf).digest()
    with pytest.raises(ValueError):
        chain_hash(b"short", leaf)


def test_batches_and_drain(container):
    container.settings = container.settings.replace(audit_sequence_inline=False)
    append(container, 25)
    assert scalar(container, "SELECT count(*) FROM audit_queue") == 25
    sequencer = _sequencer(container, batch_size=10)
    steps = [sequencer.step() for _ in range(3)]
    assert [(r.integrated, r.size, r.drained) for r in steps] == [
        (10, 10, False),
        (10, 20, False),
        (5, 25, True),
    ]
    assert sequencer.drain() == 0


def test_roots_for_every_size_after_uneven_batches(container):
    container.settings = container.settings.replace(audit_sequence_inline=False)
    sequencer = _sequencer(container, batch_size=7)
    for burst in (1, 2, 3, 11, 5, 17):
        append(container, burst)
        sequencer.drain()
    events, _ = _stored(container)
    tree = InMemoryTree.from_entries(payload.encode() for _, payload, _, _ in events)
    with container.session_factory() as s:
        for size in range(1, tree.size + 1):
            assert root_from(size, DbNodeReader(s)) == tree.root(size)


def test_checkpoints_every_n_events_are_signed_and_match_the_tree(container, audit_log):
    container.audit.sequencer.checkpoints.every = 10
    append(container, 25)
    public_key = audit_log.public_key_bytes()
    with container.session_factory() as s:
        rows = s.execute(sa.select(at.checkpoints).order_by(at.checkpoints.c.size)).all()
        reader = DbNodeReader(s)
        sizes = [row.size for row in rows]
        for row in rows:
            checkpoint = open_checkpoint(row.note, audit_log.origin, public_key, origin=audit_log.origin)
            assert (checkpoint.size, checkpoint.root_hash, checkpoint.timestamp) == (
                row.size,
                row.root_hash,
                row.timestamp,
            )
            assert row.root_hash == root_from(row.size, reader)
    # The first batch ever is checkpointed, then one per 10 events.
    assert sizes == [1, 11, 21]


def test_checkpoints_after_t_seconds_and_on_demand(container):
    container.settings = container.settings.replace(audit_sequence_inline=False)
    now = [dt.datetime(2026, 1, 1, tzinfo=dt.UTC)]
    sequencer = _sequencer(container, checkpoint_every=1000, checkpoint_seconds=60, clock=lambda: now[0])

    append(container, 3)
    assert sequencer.step().checkpoint.size == 3  # the first one
    append(container, 2)
    now[0] += dt.timedelta(seconds=30)
    assert sequencer.step().checkpoint is None
    now[0] += dt.timedelta(seconds=31)
    # No new events queued, but 5 events wait for a checkpoint: the worker's idle step cuts it.
    assert sequencer.step(idle_checkpoint=False).checkpoint is None
    assert sequencer.step().checkpoint.size == 5

    append(container, 1)
    record = sequencer.checkpoint_now()
    assert record.size == 6
    assert record.timestamp == int(now[0].timestamp())
    assert sequencer.checkpoint_now() == record  # nothing new: the same one


def test_a_checkpoint_timestamp_never_goes_backwards(container):
    container.settings = container.settings.replace(audit_sequence_inline=False)
    late = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    append(container, 1)
    _sequencer(container, clock=lambda: late).checkpoint_now()
    append(container, 1)
    record = _sequencer(container, clock=lambda: late - dt.timedelta(hours=1)).checkpoint_now()
    assert record.timestamp == int(late.timestamp())


def test_vault_outage_defers_the_checkpoint_not_the_log(container, monkeypatch):
    container.settings = container.settings.replace(audit_sequence_inline=False)
    sequencer = _sequencer(container, checkpoint_every=1)

    def vault_down(session):
        raise VaultUnavailable("vault sealed")

    monkeypatch.setattr(sequencer.checkpoints, "signer", vault_down)
    append(container, 4)
    result = sequencer.step()
    assert (result.integrated, result.checkpoint) == (4, None)
    with pytest.raises(VaultUnavailable):
        sequencer.checkpoint_now()  # on demand, the caller hears about it
    monkeypatch.undo()
    assert sequencer.step().checkpoint.size == 4


def test_missing_checkpoint_key_is_a_configuration_error(settings):
    from piivault import migrate
    from piivault.container import build_container

    container = build_container(settings)
    try:
        migrate.upgrade(container.engine)
        container.provider.ensure_key()
        with pytest.raises(ConfigurationError, match="bootstrap"):
            container.audit.check()
    finally:
        container.close()


def test_a_malformed_queue_row_is_logged_as_rejected_not_dropped(container, audit_log):
    bad = [
        "not json",
        '{"actor": "x"}',
        json.dumps({**event(0).payload(dt.datetime.now(dt.UTC)), "time": "1 Jan"}),
        # A NUL in an indexed field: PostgreSQL cannot store it in the column (the log would stall).
        json.dumps({**event(0).payload(dt.datetime.now(dt.UTC)), "subject_id": "sub\x00"}),
    ]
    with container.engine.begin() as conn:
        for text in bad:
            conn.execute(at.queue.insert().values(enqueued_at=dt.datetime.now(dt.UTC), payload=text))
    assert audit_log.sequence_pending() == len(bad)
    page = audit_log.search_events(action=REJECTED_ACTION)
    assert len(page.events) == len(bad)
    hashes = [json.loads(e.entry)["details"]["payload_sha256"] for e in page.events]
    assert hashes == [hashlib.sha256(text.encode()).hexdigest() for text in bad]
    assert audit_log.verify().ok


@pytest.mark.parametrize(
    ("fields", "message"),
    [({"actor": "a" * 129}, "actor is longer"), ({"subject_id": "sub-\x00"}, "subject_id contains a NUL")],
)
def test_an_event_that_does_not_fit_its_columns_fails_the_action(container, fields, message):
    with container.uow() as uow, pytest.raises(ValueError, match=message):
        uow.record(event(0, **fields))
        uow.commit()
    assert scalar(container, "SELECT count(*) FROM audit_queue") == 0
    assert scalar(container, "SELECT count(*) FROM audit_events") == 0


def test_a_failing_inline_sequencer_does_not_fail_the_committed_action(
    container, audit_log, monkeypatch, caplog
):
    def broken(**kwargs):
        raise sa.exc.OperationalError("UPDATE audit_state SET ...", {"secret": "x"}, Exception("down"))

    monkeypatch.setattr(audit_log.sequencer, "_hold", broken)
    append(container, 2)  # commits fine
    assert scalar(container, "SELECT count(*) FROM audit_queue") == 2
    assert "inline sequencing deferred" in caplog.text and "secret" not in caplog.text
    monkeypatch.undo()
    assert audit_log.sequence_pending() == 2


def test_inline_sequencing_can_be_left_to_the_worker(settings):
    container = make_container(settings.replace(audit_sequence_inline=False))
    try:
        append(container, 3)
        assert scalar(container, "SELECT count(*) FROM audit_queue") == 3
        assert container.audit.sequencer.drain() == 3
    finally:
        container.close()


def test_a_busy_lock_makes_an_inline_caller_return_at_once(container, audit_log, backend):
    if backend != "postgresql":
        pytest.skip("SQLite waits for its write lock instead")
    container.settings = container.settings.replace(audit_sequence_inline=False)
    append(container, 2)
    with container.engine.connect() as holder:
        holder.exec_driver_sql(f"SELECT pg_advisory_xact_lock({LOCK_NAMESPACE}, {TABLE_OID})")
        assert audit_log.sequencer.step(wait=False) is None
        assert audit_log.sequence_pending() == 0
    assert audit_log.sequence_pending() == 2


def test_the_sequencer_survives_losing_its_connection(container, audit_log, backend, caplog):
    if backend != "postgresql":
        pytest.skip("the persistent sequencer connection is PostgreSQL's")
    append(container, 2)
    pid = audit_log.sequencer._pg.get().info.backend_pid
    with container.engine.connect() as conn:
        conn.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")
    append(container, 1)  # the action commits; its inline step meets the dead connection
    assert "inline sequencing deferred" in caplog.text
    audit_log.sequence_pending()  # a fresh connection
    assert audit_log.size() == 3
    assert audit_log.verify().ok


def test_the_sequencer_never_hands_an_autocommit_connection_to_the_pool(container, backend):
    # Once, a garbage-collected sequencer returned its autocommit connection to the
    # application's pool, where a unit of work would have committed statement by statement.
    import gc

    sequencer = _sequencer(container)
    sequencer.step()
    del sequencer
    gc.collect()
    if backend == "postgresql":  # (SQLite connections would wait for each other's write lock)
        connections = [container.engine.connect() for _ in range(4)]
        try:
            for conn in connections:
                assert conn.connection.driver_connection.autocommit is False
        finally:
            for conn in connections:
                conn.close()
    with container.uow() as uow:  # not committed: must leave nothing behind
        uow.session.execute(at.queue.insert().values(enqueued_at=dt.datetime.now(dt.UTC), payload="{}"))
    assert scalar(container, "SELECT count(*) FROM audit_queue") == 0


def test_one_holding_of_the_lock_integrates_batch_after_batch(container, backend):
    container.settings = container.settings.replace(audit_sequence_inline=False)
    append(container, 23)
    sequencer = _sequencer(container, batch_size=5)
    assert sequencer.sequence_pending(budget_seconds=None) == 23
    assert scalar(container, "SELECT count(*) FROM audit_queue") == 0
    if backend == "postgresql":  # released at the end: another session can take it at once
        with container.engine.connect() as other:
            taken = other.exec_driver_sql(f"SELECT pg_try_advisory_lock({LOCK_NAMESPACE}, {TABLE_OID})")
            assert taken.scalar() is True
            other.exec_driver_sql(f"SELECT pg_advisory_unlock({LOCK_NAMESPACE}, {TABLE_OID})")
    sequencer.close()


def test_steps_with_nothing_to_do_between_busy_ones_keep_working(container, audit_log, caplog):
    # Regression: an empty step once ended with ROLLBACK, on which psycopg deallocates every
    # prepared statement of the connection, the sequencer's own included; once the driver had
    # prepared the write (after five uses), the next step failed and sequencing stalled.
    container.settings = container.settings.replace(audit_sequence_inline=False)
    sequencer = audit_log.sequencer
    for round_ in range(8):
        append(container, 2, start=10 * round_)
        assert sequencer.step().integrated == 2
        assert sequencer.step().integrated == 0
    assert audit_log.size() == 16
    assert "deferred" not in caplog.text


def test_after_a_failed_step_the_sequencer_carries_on(container, audit_log):
    append(container, 3)
    frontier = scalar(container, "SELECT frontier FROM audit_state WHERE id = 1")
    with tampering(container) as conn:  # a head that does not fit its size
        conn.execute(sa.update(at.state).where(at.state.c.id == 1).values(frontier="[]"))
    container.settings = container.settings.replace(audit_sequence_inline=False)
    append(container, 1, start=3)
    with pytest.raises(LogCorrupt):
        audit_log.sequencer.step()
    with tampering(container) as conn:
        conn.execute(sa.update(at.state).where(at.state.c.id == 1).values(frontier=frontier))
    assert audit_log.sequencer.step().integrated == 1
    assert audit_log.verify().ok
