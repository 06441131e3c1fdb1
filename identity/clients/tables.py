"""Tables owned by :mod:`identity.clients`."""

from __future__ import annotations

import sqlalchemy as sa

from identity.clients.model import ROLES
from piivault.db import UTCDateTime, metadata

# One row per client and its single key. The key itself is never stored: only
# HMAC-SHA256 of it under the system data key "api-key-hmac" (see store.py).
clients = sa.Table(
    "api_clients",
    metadata,
    sa.Column("id", sa.String(8), primary_key=True),  # the key's public id
    sa.Column("name", sa.String(64), nullable=False, index=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("purposes", sa.JSON, nullable=False),
    sa.Column("field_types", sa.JSON, nullable=True),  # NULL: no limit beyond the purpose's
    # Explicit permissions beyond the role (model.PERMISSIONS); migration 0012_binding.
    sa.Column("permissions", sa.JSON, nullable=False, server_default="[]"),
    sa.Column("key_hash", sa.LargeBinary(32), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=True),
    sa.Column("revoked_at", UTCDateTime, nullable=True),
    sa.Column("revoked_by", sa.String(128), nullable=True),
    sa.Column("last_used_at", UTCDateTime, nullable=True),
    # The person behind the key (identity.person.PERSON_PATTERN): two keys of one person are one person.
    sa.Column("person", sa.String(64), nullable=True, index=True),
    # A client with data access: its key works only while a client.data_access grant exists.
    sa.Column("needs_approval", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.CheckConstraint("role IN (" + ", ".join(f"'{r}'" for r in ROLES) + ")", name="role"),
)
