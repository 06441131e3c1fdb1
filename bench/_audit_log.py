"""Synthetic audit events, and a big log of them: built in bulk, then timed for inclusion proofs.

bench/audit.py's writers record ``synthetic_event``s; ``build_log`` queues millions of them
at once and lets a sequencer integrate them in big batches (the log verification is timed
on), and ``proof_latency`` times inclusion proofs in it.
"""

from __future__ import annotations

import datetime as dt
import random
import statistics
import time

from audit.events import AuditEvent
from audit.proof import verify_inclusion
from piivault.container import Container


def synthetic_event(i: int, actor: str = "bench") -> AuditEvent:
    return AuditEvent(
        action="detokenize",
        actor=actor,
        subject_id=f"sub_{i % 50_000:08d}",
        purpose="risk_scoring",
        field_types=("cn_mobile",),
        request_id=f"req-{i}",
        details={"count": 1},
    )


def build_log(container: Container, events: int, batch: int = 50_000) -> float:
    """Queue ``events`` synthetic events in bulk and let the sequencer integrate them."""
    from audit.sequencer import Sequencer

    settings = container.settings
    sequencer = Sequencer(
        container.engine,
        container.session_factory,
        container.keyring,
        origin=settings.audit_origin,
        batch_size=batch,
        checkpoint_every=batch,
        checkpoint_seconds=3600,
    )
    start = time.perf_counter()
    now = dt.datetime.now(dt.UTC)
    size = container.audit.size()
    done = 0
    try:
        while done < events:
            n = min(batch, events - done)
            # The sink's own rows: payload and source MAC (audit.authenticity).
            rows = container.audit_sink.prepare([synthetic_event(size + done + k) for k in range(n)], now)
            _enqueue(container, now, rows)
            sequencer.drain(idle_checkpoint=False)
            done += n
        sequencer.checkpoint_now()
    finally:
        sequencer.close()
    elapsed = time.perf_counter() - start
    if container.engine.dialect.name == "postgresql":
        # A live log's tables are vacuumed by autovacuum as they grow; this one was built in
        # a minute, leaving a million dead queue rows that verification's look at the queue
        # would scan, and pages whose hint bits its first read would write.
        with container.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM (ANALYZE) audit_queue, audit_events, audit_nodes")
    return elapsed


def _enqueue(container: Container, now: dt.datetime, rows: list[tuple[str, bytes]]) -> None:
    """Bulk-queue synthetic events (the sink's INSERT, without a unit of work per event)."""
    with container.engine.begin() as conn:
        dbapi = conn.connection.driver_connection
        if container.engine.dialect.name == "postgresql":
            with (
                dbapi.cursor() as cursor,
                cursor.copy("COPY audit_queue (enqueued_at, payload, mac) FROM STDIN") as copy,
            ):
                for payload, mac in rows:
                    copy.write_row((now, payload, mac))
        else:
            stamp = now.strftime("%Y-%m-%d %H:%M:%S.%f")
            dbapi.executemany(
                "INSERT INTO audit_queue (enqueued_at, payload, mac) VALUES (?, ?, ?)",
                [(stamp, p, m) for p, m in rows],
            )


def proof_latency(container: Container, proofs: int) -> tuple[float, float]:
    audit = container.audit
    checkpoint = audit.latest_checkpoint()
    rng = random.Random(1)
    timings = []
    for _ in range(proofs):
        seq = rng.randrange(checkpoint.size)
        start = time.perf_counter()
        proof = audit.inclusion_proof(seq)
        timings.append(time.perf_counter() - start)
        verify_inclusion(proof.leaf_hash, seq, proof.size, proof.proof, checkpoint.root_hash)
    timings.sort()
    return statistics.median(timings), timings[min(len(timings) - 1, int(len(timings) * 0.99))]
