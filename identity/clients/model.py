"""API clients and the principal a request acts as. No Flask, no SQL."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

ADMIN, SERVICE, DPO, ANALYST, AUDITOR = "admin", "service", "dpo", "analyst", "auditor"
ROLES = (ADMIN, SERVICE, DPO, ANALYST, AUDITOR)
# Roles whose use of data is bound to declared purposes (and optionally field types).
PURPOSE_BOUND_ROLES = (SERVICE, ANALYST)

# The explicit permission a client needs to replace subjects' risk attributes (``POST /v1/attributes``,
# :mod:`privacy.attributes`): they feed credit decisions, so holding a purpose is not enough.
WRITE_ATTRIBUTES = "write_attributes"

# Permissions a client holds only when given one explicitly, and the roles it may be given to.
PERMISSIONS: dict[str, frozenset[str]] = {WRITE_ATTRIBUTES: frozenset({SERVICE})}

ACTIVE, EXPIRED, REVOKED = "active", "expired", "revoked"


def has_data_access(role: str, purposes: object, permissions: object) -> bool:
    """Does a client with this role, these purposes and permissions read or write personal data?

    Such a client's key works only once another person approved it (four eyes,
    :mod:`access.onboarding`): an admin alone never obtains a key that reads data.
    """
    return role == SERVICE and bool(purposes or permissions)


# Shared by the HTTP schemas and the store, so the CLI and the API accept the same input.
# Anchored for the OpenAPI document; match them with ``fullmatch``.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
CODE_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")  # purpose and field-type codes
MAX_CODES = 64
MAX_EXPIRY_DAYS = 3650


@dataclasses.dataclass(frozen=True)
class Principal:
    """The authenticated caller of one request.

    ``purposes`` are the purposes the client may declare (empty: none).
    ``field_types`` limits the field types it may see; ``None`` means no limit
    beyond what each purpose allows. ``permissions`` are those given to the
    client explicitly (:data:`PERMISSIONS`).
    """

    client_id: str
    name: str
    role: str
    purposes: frozenset[str]
    field_types: frozenset[str] | None
    # The person behind the key (separation of duties counts persons, not keys); None: nobody named.
    person: str | None = None
    permissions: frozenset[str] = frozenset()

    @property
    def actor(self) -> str:
        """The audit ``actor`` for this caller."""
        return f"client:{self.client_id}"

    def allows_purpose(self, purpose: str) -> bool:
        return purpose in self.purposes

    def allows_field_type(self, field_type: str) -> bool:
        return self.field_types is None or field_type in self.field_types


@dataclasses.dataclass(frozen=True)
class Client:
    """A stored client. Its key exists only as a keyed hash and is never part of this record."""

    id: str
    name: str
    role: str
    purposes: tuple[str, ...]
    field_types: tuple[str, ...] | None
    created_at: dt.datetime
    created_by: str
    expires_at: dt.datetime | None = None
    revoked_at: dt.datetime | None = None
    revoked_by: str | None = None
    last_used_at: dt.datetime | None = None
    person: str | None = None
    permissions: tuple[str, ...] = ()
    # A client with data access: its key works only while a client.data_access grant exists.
    needs_approval: bool = False

    def state_at(self, now: dt.datetime) -> str:
        if self.revoked_at is not None:
            return REVOKED
        if self.expires_at is not None and self.expires_at <= now:
            return EXPIRED
        return ACTIVE

    @property
    def state(self) -> str:
        return self.state_at(dt.datetime.now(dt.UTC))

    def principal(self) -> Principal:
        return Principal(
            client_id=self.id,
            name=self.name,
            role=self.role,
            purposes=frozenset(self.purposes),
            field_types=None if self.field_types is None else frozenset(self.field_types),
            person=self.person,
            permissions=frozenset(self.permissions),
        )
