"""Reading the logged events: a page of a search, one event by its number, and the exposure
report (the subjects whose values an actor saw).

Each function opens its session with ``read``, a factory of read sessions whose
database failures become StorageUnavailable (:class:`audit.service.AuditLog` hands its
own). The columns an :class:`audit.records.EventRecord` is read from live here as well,
for the proofs (:mod:`audit.proving`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from audit import tables as t
from audit.errors import EventNotFound
from audit.records import DETOKENIZE_ACTIONS, EventPage, EventRecord, Exposure, ExposureReport
from audit.store import read_head
from piivault.errors import ValidationFailed

Reader = Callable[[], AbstractContextManager[Session]]
"""Opens a read session whose database failures become StorageUnavailable."""
MAX_PAGE = 1_000
EVENT_COLUMNS = (
    t.events.c.seq,
    t.events.c.time,
    t.events.c.actor,
    t.events.c.action,
    t.events.c.subject_id,
    t.events.c.purpose,
    t.events.c.outcome,
    t.events.c.request_id,
    t.events.c.payload,
    t.events.c.leaf_hash,
)


def search_events(
    read: Reader,
    *,
    subject: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int = 100,
    cursor: str | None = None,
    newest_first: bool = False,
) -> EventPage:
    """Events matching every given filter, oldest first (``newest_first``: the other way,
    as a person reading the log wants it), ``limit`` per page.

    ``since`` is inclusive and ``until`` exclusive; both must be timezone-aware.

    Raises:
        ValidationFailed: a naive datetime, ``limit`` outside 1..1000, or a
            malformed cursor.
        StorageUnavailable: the database failed.
    """
    if type(limit) is not int or not 1 <= limit <= MAX_PAGE:
        raise ValidationFailed(f"limit must be between 1 and {MAX_PAGE}")
    c = t.events.c
    order = c.seq.desc() if newest_first else c.seq
    stmt = sa.select(*EVENT_COLUMNS).order_by(order).limit(limit + 1)
    if cursor is not None:
        after = _parse_cursor(cursor)
        stmt = stmt.where(c.seq < after if newest_first else c.seq > after)
    for column, value in ((c.subject_id, subject), (c.actor, actor), (c.action, action)):
        if value is not None:
            stmt = stmt.where(column == value)
    if since is not None:
        stmt = stmt.where(c.time >= _aware(since, "since"))
    if until is not None:
        stmt = stmt.where(c.time < _aware(until, "until"))
    with read() as session:
        records = [event_record(row) for row in session.execute(stmt)]
    more = len(records) > limit
    records = records[:limit]
    return EventPage(records, str(records[-1].seq) if more else None)


def get_event(read: Reader, seq: int) -> EventRecord:
    """The event with sequence number ``seq``.

    Raises:
        EventNotFound: there is none.
        StorageUnavailable: the database failed.
    """
    with read() as session:
        return read_event(session, seq)


def exposure(read: Reader, actor: str, since: dt.datetime, until: dt.datetime) -> ExposureReport:
    """The subjects whose data ``actor`` detokenized (successfully) in ``[since, until)``.

    What a DPO needs when a client credential leaks.

    Raises:
        ValidationFailed: empty actor, naive datetimes, or ``since`` after ``until``.
        StorageUnavailable: the database failed.
    """
    if not actor:
        raise ValidationFailed("actor is required")
    since, until = _aware(since, "since"), _aware(until, "until")
    if since > until:
        raise ValidationFailed("since must not be after until")
    c = t.events.c
    where = (
        c.actor == actor,
        c.action.in_(DETOKENIZE_ACTIONS),
        c.outcome == "success",
        c.subject_id.is_not(None),
        c.time >= since,
        c.time < until,
    )
    stmt = (
        sa.select(c.subject_id, sa.func.count(), sa.func.min(c.time), sa.func.max(c.time))
        .where(*where)
        .group_by(c.subject_id)
        .order_by(c.subject_id)
    )
    # Reveals under a grant name it in their details (tokenization.detokenize): which ones,
    # of which kind, by whose approval.
    granted = sa.select(c.subject_id, c.payload).where(*where, c.payload.like('%"grant_kind"%'))
    with read() as session:
        size = read_head(session).size
        rows = session.execute(stmt).all()
        by_grant = _grants_by_subject(session.execute(granted).all())
        queued = session.scalar(sa.select(sa.func.count()).select_from(t.queue)) or 0
    subjects = [
        Exposure(subject, count, first, last, tuple(by_grant.get(subject, ())))
        for subject, count, first, last in rows
    ]
    return ExposureReport(actor, since, until, size, queued, subjects)


def read_event(session: Session, seq: int) -> EventRecord:
    """The event with sequence number ``seq``, read in ``session``; EventNotFound if there is none."""
    row = session.execute(sa.select(*EVENT_COLUMNS).where(t.events.c.seq == seq)).first()
    if row is None:
        raise EventNotFound(f"no audit event {seq}")
    return event_record(row)


def event_record(row: Sequence[Any]) -> EventRecord:
    """The record of an ``audit_events`` row selected as :data:`EVENT_COLUMNS` (first, in order)."""
    return EventRecord(*row[:9], bytes(row[9]))


def _grants_by_subject(rows: Sequence[Any]) -> dict[str, list[dict[str, Any]]]:
    """Per subject, the grants its reveals were made under (from the events' details)."""
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for subject, payload in rows:
        details = (json.loads(payload).get("details") or {}) if payload else {}
        grant = details.get("grant")
        if not isinstance(grant, str):
            continue
        entry = found.setdefault(subject, {}).setdefault(
            grant,
            {
                "grant": grant,
                "kind": details.get("grant_kind"),
                "approved_by": list(details.get("approved_by") or []),
                "events": 0,
            },
        )
        entry["events"] += 1
    return {subject: sorted(grants.values(), key=lambda g: g["grant"]) for subject, grants in found.items()}


def _parse_cursor(cursor: str) -> int:
    if not isinstance(cursor, str) or not cursor.isdigit() or len(cursor) > 20:
        raise ValidationFailed("cursor is not one this service returned")
    return int(cursor)


def _aware(value: dt.datetime, name: str) -> dt.datetime:
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise ValidationFailed(f"{name} must be a timezone-aware datetime")
    return value
