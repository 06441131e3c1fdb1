"""The plain values the tokenization services take: who calls, and what to tokenize."""

from __future__ import annotations

import dataclasses
import re
from typing import NamedTuple, Protocol

from tokenization.tokens import STANDALONE_PREFIX, TokenKind

MAX_BATCH = 1_000
SUBJECT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]{7,63}")


class Caller(Protocol):
    """The authenticated client: ``api.auth.Principal`` is one."""

    @property
    def client_id(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def purposes(self) -> frozenset[str]: ...
    @property
    def field_types(self) -> frozenset[str] | None: ...


@dataclasses.dataclass(frozen=True, slots=True)
class TokenizeItem:
    """One value to tokenize. ``keep_ends`` applies to format-preserving tokens only."""

    field_type: str
    value: str
    subject_id: str | None = None
    kind: str = TokenKind.RANDOM.value
    keep_ends: bool = True

    def canonical(self) -> list:
        return [self.field_type, self.value, self.subject_id, self.kind, self.keep_ends]


class TokenizeResult(NamedTuple):
    """Per-item ``{"token"}`` or ``{"error": {"rule", "message"}}``, in request order."""

    items: list[dict]
    replayed: bool = False  # returned from the Idempotency-Key store, nothing was done


def valid_subject_id(subject_id: str) -> bool:
    """Caller-chosen subject ids: opaque, 8-64 characters; ``std_`` is reserved."""
    return bool(SUBJECT_ID.fullmatch(subject_id)) and not subject_id.startswith(STANDALONE_PREFIX)


def actor(caller: Caller) -> str:
    """How a caller appears in the audit log: its own ``actor`` when it names one (a console
    user is ``user:<name>``), else ``client:<client id>``."""
    named = getattr(caller, "actor", None)
    return named if isinstance(named, str) and named else f"client:{caller.client_id}"
