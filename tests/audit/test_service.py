"""The read API: checkpoints, public key, search, proofs, exposure, subject export."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from audit.errors import EventNotFound, NotCheckpointed
from audit.merkle import leaf_hash
from audit.note import open_checkpoint, parse_verifier_key
from audit.proof import verify_consistency, verify_inclusion
from piivault.errors import ValidationFailed
from tests.audit.conftest import append, event

EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
FUTURE = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)


def _signed_root(audit_log, note):
    return open_checkpoint(note, audit_log.origin, audit_log.public_key_bytes(), origin=audit_log.origin)


def test_public_key_is_the_checkpoint_signers(container, audit_log):
    vkey = parse_verifier_key(audit_log.public_key())
    assert vkey.name == audit_log.origin
    assert vkey.public_key == audit_log.public_key_bytes()
    append(container, 1)
    checkpoint = audit_log.checkpoint_now()
    assert open_checkpoint(checkpoint.note, vkey.name, vkey.public_key).size == 1
    assert audit_log.latest_checkpoint() == checkpoint


def test_search_filters_and_pages(container, audit_log):
    append(container, 12)
    append(container, 3, start=50, actor="call-centre", action="tokenize", subject_id="walk-in")
    assert [e.seq for e in audit_log.search_events(subject="sub-2").events] == [2, 7]
    assert [e.seq for e in audit_log.search_events(actor="call-centre").events] == [12, 13, 14]
    assert len(audit_log.search_events(action="detokenize").events) == 12

    first = audit_log.search_events(limit=5)
    assert [e.seq for e in first.events] == [0, 1, 2, 3, 4] and first.next_cursor == "4"
    rest = audit_log.search_events(limit=10, cursor=first.next_cursor)
    assert [e.seq for e in rest.events] == list(range(5, 15)) and rest.next_cursor is None

    middle = audit_log.search_events().events[6].time
    assert audit_log.search_events(since=middle).events[0].seq == 6
    assert audit_log.search_events(until=middle).events[-1].seq == 5
    record = audit_log.search_events(subject="sub-2").events[0]
    assert record.to_dict()["event"]["request_id"] == "req-2"
    assert leaf_hash(record.entry.encode()) == record.leaf_hash


@pytest.mark.parametrize(
    "kwargs",
    [
        {"limit": 0},
        {"limit": 1001},
        {"cursor": "-1"},
        {"cursor": "abc"},
        {"since": dt.datetime(2026, 1, 1)},
    ],
)
def test_search_rejects_bad_input(audit_log, kwargs):
    with pytest.raises(ValidationFailed):
        audit_log.search_events(**kwargs)


def test_inclusion_proofs_lead_to_the_signed_root(container, audit_log):
    append(container, 21)
    with pytest.raises(NotCheckpointed):
        audit_log.inclusion_proof(20)  # the last batch came after the last checkpoint
    checkpoint = _signed_root(audit_log, audit_log.checkpoint_now().note)
    for seq in range(21):
        proof = audit_log.inclusion_proof(seq)
        assert proof.size == checkpoint.size == 21
        assert proof.leaf_hash == leaf_hash(proof.entry.encode())
        verify_inclusion(proof.leaf_hash, seq, proof.size, proof.proof, checkpoint.root_hash)
    explicit = audit_log.inclusion_proof(3, size=9)
    assert explicit.checkpoint is None
    verify_inclusion(explicit.leaf_hash, 3, 9, explicit.proof, audit_log.consistency_proof(9, 9).root1)
    with pytest.raises(EventNotFound):
        audit_log.inclusion_proof(21)
    with pytest.raises(ValidationFailed):
        audit_log.inclusion_proof(3, size=3)
    with pytest.raises(ValidationFailed):
        audit_log.inclusion_proof(3, size=22)


def test_consistency_proofs_between_every_pair_of_sizes(container, audit_log):
    append(container, 13)
    audit_log.checkpoint_now()
    for size2 in range(1, 14):
        for size1 in range(0, size2 + 1):
            result = audit_log.consistency_proof(size1, size2)
            if size1 == 0:
                assert result.proof == []  # trivially consistent; RFC 6962 verifiers reject it
                continue
            verify_consistency(size1, size2, result.proof, result.root1, result.root2)
    latest = audit_log.consistency_proof(5)
    assert latest.size2 == 13 and latest.checkpoint2 is not None
    assert latest.root2 == _signed_root(audit_log, latest.checkpoint2.note).root_hash
    with pytest.raises(ValidationFailed):
        audit_log.consistency_proof(9, 8)
    with pytest.raises(ValidationFailed):
        audit_log.consistency_proof(1, 14)


def test_exposure_lists_subjects_an_actor_detokenized(container, audit_log):
    append(container, 4, actor="leaked-client")  # sub-0 .. sub-3
    append(container, 1, start=7, actor="leaked-client", action="tokenize")  # not a disclosure
    append(container, 1, start=9, actor="leaked-client", outcome="denied")  # nothing disclosed
    append(container, 2, start=4, actor="other-client")  # sub-4, sub-0
    append(container, 1, start=13, actor="leaked-client")  # sub-3 again

    report = audit_log.exposure("leaked-client", EPOCH, FUTURE)
    assert [(s.subject_id, s.events) for s in report.subjects] == [
        ("sub-0", 1),
        ("sub-1", 1),
        ("sub-2", 1),
        ("sub-3", 2),
    ]
    assert report.log_size == 9 and report.queued == 0
    times = [e.time for e in audit_log.search_events(actor="leaked-client").events]
    window = audit_log.exposure("leaked-client", times[1], times[3])
    assert [s.subject_id for s in window.subjects] == ["sub-1", "sub-2"]
    assert window.to_dict()["subjects"][0]["first"].endswith("Z")
    with pytest.raises(ValidationFailed):
        audit_log.exposure("leaked-client", FUTURE, EPOCH)
    with pytest.raises(ValidationFailed):
        audit_log.exposure("", EPOCH, FUTURE)


def test_export_subject_with_proofs(container, audit_log):
    append(container, 10)
    audit_log.checkpoint_now()
    append(container, 5, start=10)  # sub-0 appears at 10 and after the checkpoint
    export = audit_log.export_subject("sub-0")
    assert [(e.seq, p is not None) for e, p in export.events] == [(0, True), (5, True), (10, False)]
    checkpoint = _signed_root(audit_log, export.checkpoint.note)
    for record, proof in export.events[:2]:
        verify_inclusion(
            leaf_hash(record.entry.encode()), record.seq, checkpoint.size, proof, checkpoint.root_hash
        )
    data = export.to_dict()
    assert data["public_key"] == audit_log.public_key() and data["tree_size"] == 10
    assert audit_log.export_subject("nobody").events == []


def test_startup_check_covers_the_audit_log(container):
    from piivault.container import startup_check

    startup_check(container)


def test_events_are_validated_before_they_are_queued(container):
    with container.uow() as uow, pytest.raises(ValueError):
        uow.record(event(0, request_id="r" * 65))
        uow.commit()


def test_a_proof_is_a_few_indexed_reads_whatever_the_log_size(container, audit_log, backend):
    container.settings = container.settings.replace(audit_sequence_inline=False)
    append(container, 300)
    audit_log.checkpoint_now()
    statements: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters))

    sa.event.listen(container.engine, "before_cursor_execute", capture)
    try:
        proof = audit_log.inclusion_proof(123)
    finally:
        sa.event.remove(container.engine, "before_cursor_execute", capture)
    assert len(proof.proof) == 9
    node_reads = [(s, p) for s, p in statements if "audit_nodes" in s]
    assert len(node_reads) == 1  # one batched read for the proof and the root
    assert len(statements) <= 5
    if backend == "sqlite":  # a row-value IN list once made SQLite scan the whole table
        with container.engine.connect() as conn:
            plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + node_reads[0][0], node_reads[0][1]).all()
        assert not any("SCAN audit_nodes" in row[-1] for row in plan), plan
