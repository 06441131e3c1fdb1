"""Who may do what with extracts and risk attributes: the roles each use case requires and
:class:`Requester`, the caller as the use cases see it.

Decided here; /v1/extracts and /v1/attributes require these same tuples.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from anonymize.extract.errors import ExtractForbidden

SUBMIT_ROLES = ("analyst",)
READ_ROLES = ("analyst", "dpo")
REIDENTIFY_ROLES = ("dpo",)
ATTRIBUTE_ROLES = ("service",)


@dataclasses.dataclass(frozen=True)
class Requester:
    """Who asks: the audit actor, the role, the key's purposes and field types (None: no limit),
    and the permissions given to the key explicitly (``write_attributes``)."""

    actor: str
    role: str
    purposes: frozenset[str] | None = None
    field_types: frozenset[str] | None = None
    permissions: frozenset[str] = frozenset()
    # The person behind the credential (four eyes on re-identification counts persons).
    person: str | None = None

    @classmethod
    def of(cls, principal: Any) -> Requester:
        """From an authenticated API caller (``api.auth.Principal``)."""
        return cls(
            principal.actor,
            principal.role,
            frozenset(principal.purposes),
            principal.field_types,
            frozenset(getattr(principal, "permissions", ())),
            getattr(principal, "person", None),
        )


def require(requester: Requester, roles: tuple[str, ...], what: str) -> None:
    """Raise ExtractForbidden unless the requester's role is one of ``roles``."""
    if requester.role not in roles:
        raise ExtractForbidden(f"role {requester.role!r} may not {what}")
