"""The log's entries as the sequencer makes them: one per queued row, or one recorded in its place.

A queued row is logged as it was queued when its payload is an event the log
can store (:func:`audit.sink.check_columns`, a time in :data:`TIME_FORMAT`) and
its source MAC verifies (:mod:`audit.authenticity`). Its entry is the canonical
JSON of its payload with ``"seq"`` added; its leaf hash is RFC 6962's, its
chain hash :mod:`audit.chain`'s, and it carries the sequencer's entry MAC.
A row that fails neither stalls the log nor is dropped: an
``audit.queue_entry_rejected`` event takes its place, with a hash of what was
there. An event found in the log whose MAC fails is recorded the same way, as
``audit.forged_event_detected``, before anything signs over it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from audit.authenticity import FORGED_ACTION, EventAuthenticator
from audit.canonical import canonical_json_parsed
from audit.chain import chain_hash
from audit.checkpoints import CHECKPOINT_ACTION, is_request
from audit.merkle import leaf_hash
from audit.sink import check_columns

if TYPE_CHECKING:
    from audit.store import LogHead
    from vault import DataKey

TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_TIME_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
SEQUENCER_ACTOR = "piivault.sequencer"
REJECTED_ACTION = "audit.queue_entry_rejected"


@dataclasses.dataclass(frozen=True)
class Batch:
    """The events one sequencer step appends, in log order."""

    rows: list[tuple[Any, ...]]
    """``audit_events`` rows: seq, time, the indexed columns, entry, leaf hash, chain hash, entry MAC."""
    leaves: list[bytes]
    chain: bytes
    """The chain head after the last of them."""
    rejected: list[int]
    """Queue ids of the rows refused (malformed or unauthenticated), logged as rejected."""
    asked: bool
    """One of them asks for a checkpoint (:func:`audit.checkpoints.is_request`)."""


def make_batch(
    head: LogHead,
    key: DataKey,
    rows: Sequence[Any],
    forged: Sequence[tuple[int, bytes]],
    now: dt.datetime,
    *,
    postgres: bool,
) -> Batch:
    """The events for queue ``rows`` (id, payload, source MAC) after ``head``, MACed under ``key``.

    They follow one ``audit.forged_event_detected`` event per ``forged`` (seq,
    leaf hash). ``postgres``: times as the driver takes them, else as SQLite stores them.
    """
    seq, chain = head.size, head.chain_head
    events: list[tuple[Any, ...]] = []
    leaves: list[bytes] = []
    rejected: list[int] = []
    asked = False
    # (queue id or None for the sequencer's own events, queued text, body or None, time, refusal)
    items: list[tuple[Any, ...]] = [
        (None, "", *_forged_entry(forged_seq, leaf, now), None) for forged_seq, leaf in forged
    ]
    items += [(queue_id, text, *_queued_body(key, text, mac)) for queue_id, text, mac in rows]
    for queue_id, text, body, when, refusal in items:
        entry = None
        if body is not None:
            body["seq"] = seq
            with contextlib.suppress(ValueError):  # NaN, lone surrogates: json.loads takes them
                entry = canonical_json_parsed(body)
        if entry is None:
            rejected.append(queue_id)
            body, when = _rejected_entry(queue_id, text, now, refusal or "malformed queue entry")
            body["seq"] = seq
            entry = canonical_json_parsed(body)
        leaf = leaf_hash(entry)
        chain = chain_hash(chain, leaf)
        events.append(
            (
                seq,
                when if postgres else _sqlite_time(body["time"]),
                body["actor"],
                body["action"],
                body["subject_id"],
                body["purpose"],
                body["outcome"],
                body["request_id"],
                entry.decode("utf-8"),
                leaf,
                chain,
                EventAuthenticator.entry_mac(key, entry),
            )
        )
        leaves.append(leaf)
        seq += 1
        if body["action"] == CHECKPOINT_ACTION and is_request(body):
            asked = True
    return Batch(events, leaves, chain, rejected, asked)


def _sqlite_time(stamp: str) -> str:
    # The form SQLAlchemy's SQLite DateTime (hence UTCDateTime) stores and reads:
    # 'YYYY-MM-DD HH:MM:SS.ffffff', naive UTC. `stamp` passed _TIME_PATTERN.
    return f"{stamp[:10]} {stamp[11:26]}"


def _parse_queued(text: str) -> tuple[dict[str, Any], dt.datetime] | None:
    """A queued payload and its time, or None if it cannot be stored as an event."""
    try:
        body = json.loads(text)
        if type(body) is not dict:
            return None
        check_columns(body)
        stamp = body["time"]
        if type(stamp) is not str or not _TIME_PATTERN.fullmatch(stamp):
            return None
        when = dt.datetime.fromisoformat(stamp)  # also rejects a 31 February
    except (ValueError, TypeError, KeyError):
        return None
    return body, when


def _queued_body(key: DataKey, text: str, mac: bytes | None) -> tuple[Any, dt.datetime | None, str | None]:
    """A queue row's body and time, or (None, None, why it is refused): malformed, or its MAC fails."""
    parsed = _parse_queued(text)
    if parsed is None:
        return None, None, "malformed queue entry"
    if not EventAuthenticator.source_ok(key, text.encode("utf-8", "surrogatepass"), mac):
        return None, None, "unauthenticated queue entry"
    return (*parsed, None)


def _forged_entry(seq: int, leaf: bytes, now: dt.datetime) -> tuple[dict[str, Any], dt.datetime]:
    # An event in the log whose MAC does not verify was not written by a sequencer:
    # someone with database write access appended it. It cannot be removed (the
    # tables are append-only), so the log itself says so before anything signs over it.
    details = {"forged_seq": seq, "leaf_hash": leaf.hex()}
    return _sequencer_entry(FORGED_ACTION, "event MAC does not verify", details, now)


def _rejected_entry(
    queue_id: int, text: str, now: dt.datetime, reason: str
) -> tuple[dict[str, Any], dt.datetime]:
    # A queue row the application could not have written (it validates at
    # enqueue and MACs what it queues) means someone wrote to the queue directly.
    # Record that fact, and a hash of what was there, instead of stalling the log or dropping it.
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return _sequencer_entry(REJECTED_ACTION, reason, {"queue_id": queue_id, "payload_sha256": digest}, now)


def _sequencer_entry(
    action: str, reason: str, details: dict[str, Any], now: dt.datetime
) -> tuple[dict[str, Any], dt.datetime]:
    """An event the sequencer records itself (an error outcome, no subject)."""
    now = now.astimezone(dt.UTC)
    body = {
        "time": now.strftime(TIME_FORMAT),
        "actor": SEQUENCER_ACTOR,
        "action": action,
        "outcome": "error",
        "subject_id": None,
        "purpose": None,
        "field_types": [],
        "reason": reason,
        "request_id": None,
        "details": details,
    }
    return body, now
