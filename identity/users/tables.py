"""Tables owned by :mod:`api.console`. Migration: ``0006_console``.

Console users sign in with a password (only its argon2id hash is kept) and get
a server-side session: the cookie holds 32 random bytes, the table only their
SHA-256, so a copy of the database cannot be replayed as a session. Lock-out
counters are keyed by a SHA-256 of the username or the client address, so a
mistyped username (sometimes a password or a phone number) is never stored.
"""

from __future__ import annotations

import sqlalchemy as sa

from identity.users.model import ROLES
from piivault.db import UTCDateTime, metadata
from throttle.counters import counter_table

users = sa.Table(
    "console_users",
    metadata,
    sa.Column("username", sa.String(64), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("language", sa.String(8), nullable=False),
    sa.Column("time_zone", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Column("password_changed_at", UTCDateTime, nullable=False),
    sa.Column("last_sign_in_at", UTCDateTime, nullable=True),
    sa.Column("disabled_at", UTCDateTime, nullable=True),
    sa.Column("disabled_by", sa.String(128), nullable=True),
    sa.CheckConstraint("role IN (" + ", ".join(f"'{r}'" for r in ROLES) + ")", name="role"),
)

sessions = sa.Table(
    "console_sessions",
    metadata,
    sa.Column("id_hash", sa.LargeBinary(32), primary_key=True),  # SHA-256 of the cookie's id
    sa.Column("username", sa.String(64), sa.ForeignKey("console_users.username"), nullable=False, index=True),
    sa.Column("csrf_token", sa.String(64), nullable=False),  # the synchronizer token of its forms
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("last_seen_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),  # the absolute limit
    sa.Column("ended_at", UTCDateTime, nullable=True),
    sa.Column("ended_reason", sa.String(32), nullable=True),
)

# Failed sign-ins per key ("user:<name>" or "addr:<address>", hashed) in the current window.
lockouts = counter_table("console_lockouts")  # counted by :mod:`throttle.counters`
