"""The audit sink: writes a unit of work's events into the queue, in its transaction.

If the insert fails, the unit of work's commit fails with it: no audit record,
no action. The sequencer (:mod:`audit.sequencer`) later gives queued events
their place in the chain and the Merkle tree.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy.orm import Session

from audit import tables as t
from audit.canonical import canonical_json
from audit.events import MAX_DETAILS_BYTES, AuditEvent
from piivault.db import utcnow


class QueueSink:
    def __init__(self, clock: Callable = utcnow) -> None:
        self._clock = clock

    def __call__(self, session: Session, events: Sequence[AuditEvent]) -> None:
        now = self._clock()
        rows = []
        for event in events:
            if not isinstance(event, AuditEvent):
                raise TypeError("audit sink takes AuditEvent objects")
            payload = canonical_json(event.payload(now))
            if len(payload) > MAX_DETAILS_BYTES:
                raise ValueError("audit event too large")
            rows.append({"enqueued_at": now, "payload": payload.decode("utf-8")})
        if rows:
            session.execute(t.queue.insert(), rows)
