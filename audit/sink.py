"""The audit sink: writes a unit of work's events into the queue, in its transaction.

If the insert fails, the unit of work's commit fails with it: no audit record,
no action. The sequencer (:mod:`audit.sequencer`) later gives queued events
their place in the chain and the Merkle tree.

Everything the sequencer will need from an event is checked here, while the
action can still be refused: a queue row the sequencer could not store would
otherwise have to be quarantined after the action had already happened.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session

from audit import tables as t
from audit.canonical import canonical_json
from audit.events import MAX_DETAILS_BYTES, AuditEvent
from piivault.db import utcnow

# Payload fields copied into indexed columns, and the column widths they must fit.
COLUMN_LIMITS: Mapping[str, int] = {
    name: t.events.c[name].type.length
    for name in ("actor", "action", "subject_id", "purpose", "outcome", "request_id")
}


def check_columns(payload: Mapping[str, Any]) -> None:
    """Check that the payload's indexed fields fit their ``audit_events`` columns.

    Raises:
        ValueError: a field is missing (actor, action, outcome), not a string,
            or too long. The message names the field, never its value.
    """
    for name, limit in COLUMN_LIMITS.items():
        value = payload.get(name)
        if value is None and name in ("subject_id", "purpose", "request_id"):
            continue
        if not isinstance(value, str) or not value:
            raise ValueError(f"audit event {name} must be a non-empty string")
        if len(value) > limit:
            raise ValueError(f"audit event {name} is longer than {limit} characters")


class QueueSink:
    def __init__(self, clock: Callable = utcnow) -> None:
        self._clock = clock

    def __call__(self, session: Session, events: Sequence[AuditEvent]) -> None:
        """Insert the events into ``audit_queue`` in the caller's transaction.

        Raises:
            TypeError: an item is not an :class:`AuditEvent`, or its details
                hold a value canonical JSON does not accept.
            ValueError: an event is too large or a field does not fit its column.
        """
        now = self._clock()
        rows = []
        for event in events:
            if not isinstance(event, AuditEvent):
                raise TypeError("audit sink takes AuditEvent objects")
            body = event.payload(now)
            check_columns(body)
            payload = canonical_json(body)
            if len(payload) > MAX_DETAILS_BYTES:
                raise ValueError("audit event too large")
            rows.append({"enqueued_at": now, "payload": payload.decode("utf-8")})
        if rows:
            session.execute(t.queue.insert(), rows)
