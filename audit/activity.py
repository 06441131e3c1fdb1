"""Read models over the logged events for dashboards: the newest events of one action family,
and how many events wait for the sequencer.

An event's payload holds no PII (:mod:`audit.events`); only its ``details`` are
handed on. Searching, proofs and exports are :class:`audit.service.AuditLog`'s.
These run inside the caller's read session.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from audit import tables as t

_e = t.events.c


@dataclasses.dataclass(frozen=True)
class LoggedEvent:
    seq: int
    time: dt.datetime
    actor: str
    action: str
    purpose: str | None
    outcome: str
    details: dict[str, Any]


def recent_events(session: Session, action_prefix: str, limit: int) -> list[LoggedEvent]:
    """The newest logged events whose action starts with ``action_prefix`` (e.g. extracts)."""
    rows = session.execute(
        sa.select(_e.seq, _e.time, _e.actor, _e.action, _e.purpose, _e.outcome, _e.payload)
        .where(_e.action.like(action_prefix.replace("%", "") + "%"))
        .order_by(_e.seq.desc())
        .limit(limit)
    ).all()
    return [
        LoggedEvent(seq, time, actor, action, purpose, outcome, _details(payload))
        for seq, time, actor, action, purpose, outcome, payload in rows
    ]


def _details(payload: str) -> dict[str, Any]:
    try:
        found = json.loads(payload).get("details")
    except (ValueError, AttributeError):
        return {}
    return found if isinstance(found, dict) else {}


def queued_events(session: Session) -> int:
    """Audit events committed but not sequenced yet."""
    return int(session.scalar(sa.select(sa.func.count()).select_from(t.queue)) or 0)


def oldest_queued(session: Session) -> dt.datetime | None:
    """When the longest-waiting queued event was committed (None: the queue is empty)."""
    return session.scalar(sa.select(sa.func.min(t.queue.c.enqueued_at)))
