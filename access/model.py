"""Persons, actions, scopes, approval requests and grants: plain values, no SQL, no Flask.

A *person* is who is behind a credential: a console user's name, or the
``person`` an API client names. Two keys of the same person, or a key and a
console session of the same person, are one person: separation of duties
counts persons, never credentials.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Any

TARGET_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
CODE_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

# What may need four eyes.
CLIENT_DATA_ACCESS = "client.data_access"  # a service client with purposes gets a working key
DSR_PACKAGE = "dsr.package"  # a DSR access package with plain values may be downloaded
DSR_ERASURE = "dsr.erasure"  # an erasure request may be completed
REIDENTIFY = "extract.reidentify"  # an extract pseudonym may be re-identified
REVEAL = "reveal"  # plain values of named subjects for a DPO or auditor (just in time)
PURPOSE_WIDEN = "purpose.widen"  # a purpose change that widens access
IDENTITY_APPROVER = "identity.approver"  # a key or console user with a role that approves
ACTIONS = (CLIENT_DATA_ACCESS, DSR_PACKAGE, DSR_ERASURE, REIDENTIFY, REVEAL, PURPOSE_WIDEN, IDENTITY_APPROVER)
# Actions about one object (a client, a request, an extract, a purpose, a credential) named by ``target``.
TARGETED = frozenset(
    {CLIENT_DATA_ACCESS, DSR_PACKAGE, DSR_ERASURE, REIDENTIFY, PURPOSE_WIDEN, IDENTITY_APPROVER}
)
# Actions filed only by their own use case, which binds the scope to the real object (the
# person a credential names, the exact purpose definition): never asked for through /v1/approvals.
FILED_BY_USE_CASE = frozenset({PURPOSE_WIDEN, IDENTITY_APPROVER})

REASON_CODES = (
    "data_subject_request",
    "complaint",
    "investigation",
    "incident",
    "legal_request",
    "client_onboarding",
    "purpose_change",
    "identity_change",
    "other",
)
MAX_REASON_TEXT = 500
MAX_SUBJECTS = 100
MAX_CODES = 64

PENDING, APPROVED, DENIED, EXPIRED, WITHDRAWN = "pending", "approved", "denied", "expired", "withdrawn"
STATES = (PENDING, APPROVED, DENIED, EXPIRED, WITHDRAWN)
APPROVAL, BREAK_GLASS = "approval", "break_glass"  # how a grant came about
GRANT_ACTIVE, GRANT_EXPIRED, GRANT_REVOKED = "active", "expired", "revoked"


@dataclasses.dataclass(frozen=True)
class Acting:
    """Who acts: the person, the role they act in, and the audit actor of the credential used
    (``client:<id>`` or ``user:<name>``). ``person`` is None for a key that names nobody.
    ``via`` is the terminal a console user's decision was typed at (``cli:<login>``): the
    credential that filed a request from that terminal cannot decide it there either."""

    person: str | None
    role: str
    actor: str
    via: str | None = None


@dataclasses.dataclass(frozen=True)
class Scope:
    """What a request or grant covers.

    ``target`` names the one object of a targeted action (a client id, a DSR
    id, an extract id, a purpose code); ``subjects``, ``purpose``,
    ``field_types`` (None: every field type the purpose covers) and
    ``reveal`` bound a reveal; ``minutes`` is how long the grant lasts once
    approved (None: until revoked, for a client's data access or an identity).
    ``person`` is the person a credential names (``identity.approver``: nobody
    approves their own approving power); ``digest`` binds the request to exactly
    what is approved (``purpose.widen``: the sha256 of the proposed purpose
    definition, which ``proposal`` holds and which is applied only if it still
    hashes to it).
    """

    target: str | None = None
    subjects: tuple[str, ...] = ()
    purpose: str | None = None
    field_types: tuple[str, ...] | None = None
    reveal: str = "plain"
    minutes: int | None = None
    person: str | None = None
    digest: str | None = None
    proposal: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "target": self.target,
            "subjects": list(self.subjects),
            "purpose": self.purpose,
            "field_types": None if self.field_types is None else list(self.field_types),
            "reveal": self.reveal,
            "minutes": self.minutes,
        }
        # Only when set, so the scopes of the other actions read as before.
        for name in ("person", "digest", "proposal"):
            if getattr(self, name) is not None:
                found[name] = getattr(self, name)
        return found

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Scope:
        types = raw.get("field_types")
        return cls(
            target=raw.get("target"),
            subjects=tuple(raw.get("subjects") or ()),
            purpose=raw.get("purpose"),
            field_types=None if types is None else tuple(types),
            reveal=raw.get("reveal") or "plain",
            minutes=raw.get("minutes"),
            person=raw.get("person"),
            digest=raw.get("digest"),
            proposal=raw.get("proposal"),
        )

    def covers(self, subject_id: str | None, purpose: str, field_type: str) -> bool:
        """Does a reveal under this scope include (subject, purpose, field type)?"""
        return (
            subject_id is not None
            and subject_id in self.subjects
            and purpose == self.purpose
            and (self.field_types is None or field_type in self.field_types)
        )


@dataclasses.dataclass(frozen=True)
class Approval:
    person: str
    role: str
    actor: str
    at: dt.datetime


@dataclasses.dataclass(frozen=True)
class ApprovalRequest:
    id: str
    action: str
    scope: Scope
    requester: str  # the person
    requester_role: str
    requested_by: str  # the audit actor of the credential used
    reason_code: str
    reason_text: str
    state: str
    approvals_needed: int
    approver_roles: tuple[str, ...]
    created_at: dt.datetime
    expires_at: dt.datetime
    approvals: tuple[Approval, ...] = ()
    decided_at: dt.datetime | None = None
    decided_by: str | None = None  # the person who denied or withdrew it, or the last approver
    grant_id: str | None = None

    def state_at(self, now: dt.datetime) -> str:
        """The state, with a pending request past its expiry counted as expired."""
        if self.state == PENDING and self.expires_at <= now:
            return EXPIRED
        return self.state


@dataclasses.dataclass(frozen=True)
class Grant:
    """A time-limited permission held by one person (``holder``)."""

    id: str
    kind: str  # approval | break_glass
    action: str
    holder: str
    holder_role: str
    scope: Scope
    starts_at: dt.datetime
    expires_at: dt.datetime | None
    request_id: str | None = None
    approved_by: tuple[str, ...] = ()
    reason_code: str | None = None
    reason_text: str | None = None
    revoked_at: dt.datetime | None = None
    revoked_by: str | None = None
    reviewed_at: dt.datetime | None = None
    reviewed_by: str | None = None
    review_note: str | None = None

    def state_at(self, now: dt.datetime) -> str:
        if self.revoked_at is not None:
            return GRANT_REVOKED
        if self.expires_at is not None and self.expires_at <= now:
            return GRANT_EXPIRED
        return GRANT_ACTIVE

    def active_at(self, now: dt.datetime) -> bool:
        return self.state_at(now) == GRANT_ACTIVE
