"""Events are authenticated at their source: a forged tail or queue row is refused and recorded.

The attacker of these tests has write access to the database only (not to
Vault, so not to the ``audit-events`` MAC key): it appends an event with a
correct leaf hash, chain link, nodes and head, as a careful forger would, or
writes a well-formed row into the queue.
"""

from __future__ import annotations

import datetime as dt
import json
import logging

import pytest
import sqlalchemy as sa

from audit import tables as at
from audit.authenticity import FORGED_ACTION
from audit.canonical import canonical_json
from audit.chain import chain_hash
from audit.entries import REJECTED_ACTION
from audit.merkle import append_leaves, leaf_hash
from audit.sequencer import Sequencer
from audit.store import encode_frontier, read_head
from piivault.container import build_container
from tests.audit.conftest import append, event
from tests.conftest import make_container, make_settings
from vault import VaultUnavailable


def _forge_tail(container, body: dict | None = None, mac: bytes = bytes(32)) -> int:
    """Append one event straight into ``audit_events`` with a valid leaf, chain, nodes and head."""
    with container.engine.begin() as conn:
        head = read_head(conn)
        body = body or event(99, subject_id="forged-subject").payload(dt.datetime.now(dt.UTC))
        body["seq"] = head.size
        entry = canonical_json(body)
        leaf = leaf_hash(entry)
        chain = chain_hash(head.chain_head, leaf)
        nodes, frontier = append_leaves(head.size, head.frontier, [leaf])
        conn.execute(
            at.events.insert().values(
                seq=head.size,
                time=dt.datetime.fromisoformat(body["time"]),
                actor=body["actor"],
                action=body["action"],
                subject_id=body["subject_id"],
                purpose=body["purpose"],
                outcome=body["outcome"],
                request_id=body["request_id"],
                payload=entry.decode(),
                leaf_hash=leaf,
                chain_hash=chain,
                mac=mac,  # the forger cannot compute the MAC
            )
        )
        rows = [{"level": lv, "idx": i, "hash": h} for (lv, i), h in nodes if lv > 0]
        if rows:
            conn.execute(at.nodes.insert(), rows)
        moved = {"size": head.size + 1, "chain_head": chain, "frontier": encode_frontier(frontier)}
        conn.execute(sa.update(at.state).values(**moved))
        return head.size


def _events(container, action: str) -> list[dict]:
    with container.engine.connect() as conn:
        payloads = conn.execute(
            sa.select(at.events.c.payload).where(at.events.c.action == action).order_by(at.events.c.seq)
        ).scalars()
        return [json.loads(p) for p in payloads]


def test_a_forged_tail_is_refused_recorded_and_reported(container, audit_log, caplog):
    append(container, 5)
    forged = _forge_tail(container)
    with caplog.at_level(logging.WARNING, logger="audit.sequencer"):
        append(container, 2, start=5)  # the next sequencer step finds the forged event
        audit_log.checkpoint_now()
    recorded = _events(container, FORGED_ACTION)
    assert [r["details"]["forged_seq"] for r in recorded] == [forged]
    assert recorded[0]["actor"] == "piivault.sequencer" and recorded[0]["outcome"] == "error"
    assert "fail their MAC (first seq 5)" in caplog.text and "forged-subject" not in caplog.text

    # Another process (a fresh sequencer) does not record it a second time.
    again = Sequencer(
        container.engine,
        container.session_factory,
        container.keyring,
        origin=audit_log.origin,
        batch_size=100,
        checkpoint_every=1000,
        checkpoint_seconds=3600,
    )
    append(container, 1, start=7)
    again.drain()
    again.close()
    assert len(_events(container, FORGED_ACTION)) == 1

    report = audit_log.verify()
    assert not report.ok
    assert [(p.kind, p.index) for p in report.problems] == [("event_mac_invalid", forged)]
    macs = report.authenticity
    size = report.head_size
    assert macs == {
        "checked": size,
        "valid": size - 1,
        "legacy": 0,
        "invalid": 1,
        "recorded": 1,
        "invalid_seqs": [forged],
    }
    # Signatures and proofs still hold for an outsider: the forgery is only visible with the key.
    outsider = audit_log.verify(public_key=audit_log.public_key_bytes())
    assert outsider.ok and outsider.authenticity is None


def test_an_untouched_log_has_every_mac_valid(container, audit_log):
    append(container, 12)
    audit_log.checkpoint_now()
    report = audit_log.verify()
    assert report.ok, report.summary()
    assert report.authenticity["valid"] == report.events == 12
    assert any(line.startswith("event MACs: 12 valid, 0 forged") for line in report.summary())


def _queue(container, payload: str, mac: bytes | None) -> None:
    with container.engine.begin() as conn:
        conn.execute(at.queue.insert().values(enqueued_at=dt.datetime.now(dt.UTC), payload=payload, mac=mac))


def test_a_queue_row_without_a_valid_source_mac_is_refused(container, audit_log, caplog):
    append(container, 2)
    genuine = canonical_json(event(50, subject_id="planted").payload(dt.datetime.now(dt.UTC))).decode()
    _queue(container, genuine, None)  # well formed, no MAC
    _queue(container, genuine, bytes(32))  # well formed, a made-up MAC
    with caplog.at_level(logging.WARNING, logger="audit.sequencer"):
        audit_log.sequencer.drain()
    rejected = _events(container, REJECTED_ACTION)
    assert [r["reason"] for r in rejected] == ["unauthenticated queue entry"] * 2
    assert all(r["subject_id"] is None for r in rejected)
    with container.engine.connect() as conn:
        planted = conn.execute(sa.select(sa.func.count()).where(at.events.c.subject_id == "planted")).scalar()
    assert planted == 0
    assert "unauthenticated queue entr" in caplog.text and "planted" not in caplog.text
    report = audit_log.verify()
    assert report.ok, report.summary()  # the refusals are authentic events


def test_a_replayed_event_elsewhere_in_the_log_fails_its_mac(container, audit_log):
    # Copying a genuine event's MAC onto another sequence number does not make it authentic:
    # the entry MAC covers the entry, sequence number included.
    append(container, 3)
    with container.engine.connect() as conn:
        query = sa.select(at.events.c.payload, at.events.c.mac).where(at.events.c.seq == 0)
        first = conn.execute(query).one()
    forged = _forge_tail(container, json.loads(first.payload), bytes(first.mac))
    report = audit_log.verify()
    assert not report.ok and report.authenticity["invalid_seqs"] == [forged]
    assert report.authenticity["valid"] == 3


def test_a_process_started_while_vault_is_down_records_no_event_without_its_mac(
    database_url, private_bao, tmp_path
):
    """The MAC key is unwrapped on a process's first event: with Vault down since before that,
    recording fails with VaultUnavailable (a 503 over HTTP) and nothing unauthenticated is queued."""
    settings = make_settings(database_url, private_bao, tmp_path, vault_timeout=1.0)
    running = make_container(settings)  # the log's keys exist; this process has its MAC key
    try:
        append(running, 1)
    finally:
        running.close()
    private_bao.stop()
    fresh = build_container(settings)  # a new process: nothing cached
    try:
        assert fresh.audit.sequencer.authenticator.cached is None
        with fresh.engine.connect() as conn:
            queued = conn.scalar(sa.select(sa.func.count()).select_from(at.queue))
            logged = conn.scalar(sa.select(sa.func.count()).select_from(at.events))
        with pytest.raises(VaultUnavailable):  # the API answers it 503 with Retry-After
            append(fresh, 1, start=1)
        with fresh.engine.connect() as conn:
            assert conn.scalar(sa.select(sa.func.count()).select_from(at.queue)) == queued
            assert conn.scalar(sa.select(sa.func.count()).select_from(at.events)) == logged
    finally:
        fresh.close()
