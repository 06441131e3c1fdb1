"""What the audit log's read API returns: plain frozen dataclasses, each with ``to_dict()`` for JSON.

Events, pages of them, inclusion and consistency proofs, the exposure report,
a subject's export and a recorded verification, as :class:`audit.service.AuditLog`
hands them to the HTTP layer and the CLI. Values only: nothing here reads the database.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

from audit.store import CheckpointRecord

DETOKENIZE_ACTIONS = ("detokenize",)
"""Actions that reveal a subject's value to the actor (counted by :func:`audit.reads.exposure`)."""


@dataclasses.dataclass(frozen=True)
class EventRecord:
    """One logged event. ``entry`` is the exact canonical JSON that was hashed."""

    seq: int
    time: dt.datetime
    actor: str
    action: str
    subject_id: str | None
    purpose: str | None
    outcome: str
    request_id: str | None
    entry: str
    leaf_hash: bytes

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time": self.time.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
            "actor": self.actor,
            "action": self.action,
            "subject_id": self.subject_id,
            "purpose": self.purpose,
            "outcome": self.outcome,
            "request_id": self.request_id,
            "event": json.loads(self.entry),
            "entry": self.entry,
            "leaf_hash": self.leaf_hash.hex(),
        }


@dataclasses.dataclass(frozen=True)
class EventPage:
    events: list[EventRecord]
    next_cursor: str | None
    """Pass back as ``cursor`` for the next page; None on the last page."""

    def to_dict(self) -> dict[str, Any]:
        return {"events": [e.to_dict() for e in self.events], "next_cursor": self.next_cursor}


@dataclasses.dataclass(frozen=True)
class InclusionProof:
    """Event ``seq`` (with leaf hash ``leaf_hash``) is leaf ``seq`` of the tree ``root_hash``."""

    seq: int
    size: int
    leaf_hash: bytes
    proof: list[bytes]
    root_hash: bytes
    checkpoint: CheckpointRecord | None
    entry: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "size": self.size,
            "leaf_hash": self.leaf_hash.hex(),
            "proof": [h.hex() for h in self.proof],
            "root_hash": self.root_hash.hex(),
            "checkpoint": self.checkpoint.note if self.checkpoint else None,
            "entry": self.entry,
        }


@dataclasses.dataclass(frozen=True)
class ConsistencyProof:
    """The tree of ``size1`` leaves (``root1``) is a prefix of the tree of ``size2`` (``root2``).

    From ``size1 == 0`` the proof is empty and trivially holds: RFC 6962
    verifiers reject such proofs, so check ``size1 == 0`` before verifying.
    """

    size1: int
    size2: int
    root1: bytes
    root2: bytes
    proof: list[bytes]
    checkpoint1: CheckpointRecord | None
    checkpoint2: CheckpointRecord | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "size1": self.size1,
            "size2": self.size2,
            "root1": self.root1.hex(),
            "root2": self.root2.hex(),
            "proof": [h.hex() for h in self.proof],
            "checkpoint1": self.checkpoint1.note if self.checkpoint1 else None,
            "checkpoint2": self.checkpoint2.note if self.checkpoint2 else None,
        }


@dataclasses.dataclass(frozen=True)
class Exposure:
    subject_id: str
    events: int
    first: dt.datetime
    last: dt.datetime
    # Reveals under a grant or break-glass: grant id, kind, the approvers, how many events.
    grants: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject_id": self.subject_id,
            "events": self.events,
            "first": _iso(self.first),
            "last": _iso(self.last),
            "grants": [dict(g) for g in self.grants],
        }


@dataclasses.dataclass(frozen=True)
class ExposureReport:
    """Subjects whose values ``actor`` detokenized in ``[since, until)``, as of ``log_size``.

    ``queued`` events were committed but not yet sequenced when the report
    was made; they are not counted (re-run after the merge delay).
    """

    actor: str
    since: dt.datetime
    until: dt.datetime
    log_size: int
    queued: int
    subjects: list[Exposure]

    def to_dict(self) -> dict[str, Any]:
        return {
            "actor": self.actor,
            "since": _iso(self.since),
            "until": _iso(self.until),
            "actions": list(DETOKENIZE_ACTIONS),
            "log_size": self.log_size,
            "queued": self.queued,
            "subjects": [s.to_dict() for s in self.subjects],
        }


@dataclasses.dataclass(frozen=True)
class SubjectExport:
    """A subject's events, each with an inclusion proof against ``checkpoint``.

    Events logged after that checkpoint are listed with ``proof`` None.
    """

    subject_id: str
    checkpoint: CheckpointRecord | None
    public_key: str
    events: list[tuple[EventRecord, list[bytes] | None]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject_id": self.subject_id,
            "public_key": self.public_key,
            "checkpoint": self.checkpoint.note if self.checkpoint else None,
            "tree_size": self.checkpoint.size if self.checkpoint else 0,
            "events": [
                {**event.to_dict(), "inclusion_proof": None if proof is None else [h.hex() for h in proof]}
                for event, proof in self.events
            ],
        }


@dataclasses.dataclass(frozen=True)
class VerificationRecord:
    """The result of one recorded verification, as its ``audit.verify`` event says.

    ``seq`` is None while that event is still queued.
    """

    time: dt.datetime
    actor: str
    ok: bool
    head_size: int | None
    events: int
    checkpoints: int
    queued: int
    first_bad_index: int | None
    problem_count: int
    saved_checkpoint_size: int | None
    duration_ms: int
    seq: int | None

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "time": _iso(self.time)}


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
