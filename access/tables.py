"""Tables owned by :mod:`access`. Migration: ``0010_access``."""

from __future__ import annotations

import sqlalchemy as sa

from access.model import STATES
from piivault.db import UTCDateTime, metadata

approval_requests = sa.Table(
    "approval_requests",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("scope", sa.JSON, nullable=False),
    sa.Column("target", sa.String(128), nullable=True, index=True),  # the scope's target, to find it
    sa.Column("requester", sa.String(64), nullable=False, index=True),  # the person
    sa.Column("requester_role", sa.String(16), nullable=False),
    sa.Column("requested_by", sa.String(128), nullable=False),  # the credential's audit actor
    sa.Column("reason_code", sa.String(32), nullable=False),
    sa.Column("reason_text", sa.String(500), nullable=False),
    sa.Column("state", sa.String(16), nullable=False, index=True),
    sa.Column("approvals_needed", sa.Integer, nullable=False),
    sa.Column("approver_roles", sa.JSON, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("decided_at", UTCDateTime, nullable=True),
    sa.Column("decided_by", sa.String(64), nullable=True),
    sa.CheckConstraint("state IN (" + ", ".join(f"'{s}'" for s in STATES) + ")", name="state"),
)

# One row per person who approved: the primary key makes a second approval by the
# same person (through any credential) impossible.
approvals = sa.Table(
    "approvals",
    metadata,
    sa.Column("request_id", sa.String(40), sa.ForeignKey("approval_requests.id"), primary_key=True),
    sa.Column("person", sa.String(64), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
)

# An approved request's grant (request_id unique: one grant per request, whatever the
# race), or a break-glass grant (no request, a reason, and a review afterwards).
grants = sa.Table(
    "grants",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("holder", sa.String(64), nullable=False, index=True),
    sa.Column("holder_role", sa.String(16), nullable=False),
    sa.Column("scope", sa.JSON, nullable=False),
    sa.Column("target", sa.String(128), nullable=True, index=True),
    sa.Column("request_id", sa.String(40), sa.ForeignKey("approval_requests.id"), nullable=True, unique=True),
    sa.Column("approved_by", sa.JSON, nullable=False),  # the persons whose approvals made it
    sa.Column("reason_code", sa.String(32), nullable=True),
    sa.Column("reason_text", sa.String(500), nullable=True),
    sa.Column("starts_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=True),  # NULL: until revoked
    sa.Column("revoked_at", UTCDateTime, nullable=True),
    sa.Column("revoked_by", sa.String(64), nullable=True),
    sa.Column("reviewed_at", UTCDateTime, nullable=True),
    sa.Column("reviewed_by", sa.String(64), nullable=True),
    sa.Column("review_note", sa.String(500), nullable=True),
    sa.CheckConstraint("kind IN ('approval', 'break_glass')", name="kind"),
)
