"""The consent domain's plain values: purposes, consent states and their vocabularies.

No Flask, no SQL. Codes here appear in the API, the audit log and receipts.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any

# PIPL art. 13: the grounds for processing (codes shared with privacy.LegalBasis).
LEGAL_BASES: dict[str, str] = {
    "consent": "PIPL art. 13(1): consent",
    "contract": "PIPL art. 13(2): concluding or performing a contract",
    "legal_obligation": "PIPL art. 13(3): statutory duties or obligations",
    "emergency": "PIPL art. 13(4): public health emergencies, protection of life and property",
    "public_interest": "PIPL art. 13(5): news reporting and public opinion supervision",
    "public_information": "PIPL art. 13(6): information already lawfully disclosed",
    "other_law": "PIPL art. 13(7): other circumstances provided by law",
}
# Why a purpose needs a separate consent.
SEPARATE_GROUNDS: dict[str, str] = {
    "sensitive_pi": "PIPL art. 29: sensitive personal information",
    "third_party": "PIPL art. 23: providing personal information to another processor",
    "public_disclosure": "PIPL art. 25: disclosing personal information publicly",
    "cross_border": "PIPL art. 39: providing personal information outside the PRC",
}
RETENTION_ANCHORS = ("relationship_end",)
HOLD_ROLES = ("service", "dpo")

CHANNELS = ("app", "branch", "phone", "web")

#: Notice versions are 32-bit integers in the schema (``purpose_notices.version``).
MAX_NOTICE_VERSION = 2**31 - 1
GRANT, RENEW, WITHDRAW, EXPIRE = "grant", "renew", "withdraw", "expire"

# Derived consent states.
GRANTED, EXPIRED, WITHDRAWN, RECONSENT_REQUIRED, NONE = (
    "granted",
    "expired",
    "withdrawn",
    "reconsent_required",
    "none",
)
# Verdict reasons, as the detokenize response and the audit event say them.
REASON_GRANTED = "granted"
REASON_NO_CONSENT = "no consent"
REASON_EXPIRED = "expired"
REASON_WITHDRAWN = "withdrawn"
REASON_RECONSENT = "reconsent required"
REASON_SEPARATE_MISSING = "separate consent missing"

CODE = re.compile(r"[a-z][a-z0-9_]{1,63}")
# Evidence of consent: a digest of the signed form or recording, or a reference
# into the channel's own records; never the content itself.
EVIDENCE = re.compile(r"(sha256|sm3):[0-9a-f]{64}|sha512:[0-9a-f]{128}|ref:[A-Za-z0-9._:\-]{1,100}")
MAX_NAME = 200
MAX_TEXT = 20_000
MAX_NOTE = 1_000


def dump_list(values: Sequence[str] | None) -> str | None:
    return None if values is None else json.dumps(list(values), ensure_ascii=False)


def load_list(text: str | None) -> tuple[str, ...] | None:
    return None if text is None else tuple(json.loads(text))


def text_hash(*texts: str | None) -> str:
    """``sha256:<hex>`` over the texts, length-prefixed so no two lists collide."""
    digest = hashlib.sha256()
    for text in texts:
        raw = (text or "").encode("utf-8")
        digest.update(len(raw).to_bytes(8, "big") + raw)
    return "sha256:" + digest.hexdigest()


def iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def add_years(when: dt.datetime, years: int) -> dt.datetime:
    """The same date ``years`` later (29 February becomes 28 February)."""
    try:
        return when.replace(year=when.year + years)
    except ValueError:
        return when.replace(year=when.year + years, day=28)


@dataclasses.dataclass(frozen=True)
class PurposeDef:
    """A purpose as managed by the DPO: the catalogue entry plus its notices and retention."""

    code: str
    version: int
    name_zh: str
    name_en: str
    legal_basis: str
    consent_required: bool
    separate_consent_required: bool
    separate_grounds: tuple[str, ...]
    third_parties: tuple[str, ...]
    field_types: tuple[str, ...] | None  # None: every field type
    retention: str
    retention_anchor: str | None
    retention_years: int | None
    hold_roles: tuple[str, ...]
    description: str
    notice_version: int
    accepted_notice_version: int
    reconsent_grace: bool
    retired_at: dt.datetime | None
    updated_at: dt.datetime
    updated_by: str

    @property
    def active(self) -> bool:
        return self.retired_at is None

    def covers(self, field_type: str) -> bool:
        return self.field_types is None or field_type in self.field_types

    def definition(self) -> dict[str, Any]:
        """What the purpose says (for its version history and the API), as plain JSON."""
        return {
            "code": self.code,
            "version": self.version,
            "name_zh": self.name_zh,
            "name_en": self.name_en,
            "legal_basis": self.legal_basis,
            "consent_required": self.consent_required,
            "separate_consent_required": self.separate_consent_required,
            "separate_grounds": list(self.separate_grounds),
            "third_parties": list(self.third_parties),
            "field_types": None if self.field_types is None else sorted(self.field_types),
            "retention": self.retention,
            "retention_anchor": self.retention_anchor,
            "retention_years": self.retention_years,
            "hold_roles": list(self.hold_roles),
            "description": self.description,
            "notice_version": self.notice_version,
            "accepted_notice_version": self.accepted_notice_version,
            "reconsent_grace": self.reconsent_grace,
            "retired": self.retired_at is not None,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.definition(),
            "retired_at": self.retired_at,
            "updated_at": self.updated_at,
            "updated_by": self.updated_by,
        }


@dataclasses.dataclass(frozen=True)
class ConsentState:
    """The current consent of one subject to one purpose, derived from its latest record."""

    subject_id: str
    purpose: str
    state: str  # granted, expired, withdrawn, reconsent_required
    separate: bool
    notice_version: int | None
    effective_at: dt.datetime
    expires_at: dt.datetime | None
    record_id: str
    counts: bool  # whether it allows processing now (a reconsent grace counts)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Actor:
    """Who acts: the audit ``actor`` string, the role the action is checked against, and the
    purposes on the caller's key (they bind a purpose-bound role, e.g. ``service``)."""

    name: str
    role: str
    purposes: frozenset[str] = frozenset()
    # The person behind the credential (four eyes counts persons); None: the key names nobody.
    person: str | None = None

    @classmethod
    def of(cls, caller: Any) -> Actor:
        """From an authenticated caller (``api.auth.Principal`` or anything with client_id, role
        and purposes, and perhaps person)."""
        return cls(
            f"client:{caller.client_id}",
            caller.role,
            frozenset(getattr(caller, "purposes", ())),
            getattr(caller, "person", None),
        )

    @property
    def purpose_bound(self) -> bool:
        """Whether this actor acts only for the purposes on its key (a calling system)."""
        return self.role in PURPOSE_BOUND_ROLES

    def acts_for(self, purpose: str) -> bool:
        """Whether the actor may act for ``purpose``: a purpose-bound role only for its own
        (fail closed: none listed, none allowed); other roles are bound by their role alone."""
        return not self.purpose_bound or purpose in self.purposes


# Who may do what: decided here, once. The services check these for every caller (API,
# console, CLI); the API's views require the same tuples (api.auth.require_roles: a 403
# before the body is read, and x-required-roles in the OpenAPI document, in this order).
PURPOSE_ADMIN_ROLES = ("dpo", "admin")
CONSENT_ROLES = ("service", "dpo")
IMPORT_ROLES = ("dpo", "admin")
DSR_CREATE_ROLES = ("service", "dpo")
DSR_ROLES = ("dpo",)
CLOSE_ROLES = ("service", "dpo")  # a service client also needs a relationship purpose
# Roles that act only for the purposes on their keys (privacy's, and analysts').
PURPOSE_BOUND_ROLES = frozenset({"service", "analyst"})
# Purposes that own the customer relationship: a client holding one may open and close it
# (PIIVAULT_RELATIONSHIP_PURPOSES).
RELATIONSHIP_PURPOSES = ("account_service", "aml_kyc")
