"""access: approval requests, approvals and grants; API clients name their person

Separation of duties (:mod:`access`). ``api_clients.person`` names the person
behind a key (two keys of one person are one person when approving);
``api_clients.needs_approval`` marks a client with data access whose key
works only while an approved grant (``client.data_access``) exists.

Revision ID: 0010_access
Revises: 0003_clients
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

from piivault.db import UTCDateTime

revision = "0010_access"
down_revision = "0003_clients"
branch_labels = None
depends_on = None

STATES = ("pending", "approved", "denied", "expired", "withdrawn")


def upgrade() -> None:
    op.create_table(
        "approval_requests",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("scope", sa.JSON, nullable=False),
        sa.Column("target", sa.String(128), nullable=True),
        sa.Column("requester", sa.String(64), nullable=False),
        sa.Column("requester_role", sa.String(16), nullable=False),
        sa.Column("requested_by", sa.String(128), nullable=False),
        sa.Column("reason_code", sa.String(32), nullable=False),
        sa.Column("reason_text", sa.String(500), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("approvals_needed", sa.Integer, nullable=False),
        sa.Column("approver_roles", sa.JSON, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("decided_at", UTCDateTime, nullable=True),
        sa.Column("decided_by", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_approval_requests"),
        sa.CheckConstraint(
            "state IN (" + ", ".join(f"'{s}'" for s in STATES) + ")", name="ck_approval_requests_state"
        ),
    )
    for column in ("target", "requester", "state"):
        op.create_index(f"ix_approval_requests_{column}", "approval_requests", [column])
    op.create_table(
        "approvals",
        sa.Column("request_id", sa.String(40), nullable=False),
        sa.Column("person", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("request_id", "person", name="pk_approvals"),
        sa.ForeignKeyConstraint(
            ["request_id"], ["approval_requests.id"], name="fk_approvals_request_id_approval_requests"
        ),
    )
    op.create_table(
        "grants",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("holder_role", sa.String(16), nullable=False),
        sa.Column("scope", sa.JSON, nullable=False),
        sa.Column("target", sa.String(128), nullable=True),
        sa.Column("request_id", sa.String(40), nullable=True),
        sa.Column("approved_by", sa.JSON, nullable=False),
        sa.Column("reason_code", sa.String(32), nullable=True),
        sa.Column("reason_text", sa.String(500), nullable=True),
        sa.Column("starts_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=True),
        sa.Column("revoked_at", UTCDateTime, nullable=True),
        sa.Column("revoked_by", sa.String(64), nullable=True),
        sa.Column("reviewed_at", UTCDateTime, nullable=True),
        sa.Column("reviewed_by", sa.String(64), nullable=True),
        sa.Column("review_note", sa.String(500), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_grants"),
        sa.UniqueConstraint("request_id", name="uq_grants_request_id"),
        sa.ForeignKeyConstraint(
            ["request_id"], ["approval_requests.id"], name="fk_grants_request_id_approval_requests"
        ),
        sa.CheckConstraint("kind IN ('approval', 'break_glass')", name="ck_grants_kind"),
    )
    op.create_index("ix_grants_holder", "grants", ["holder"])
    op.create_index("ix_grants_target", "grants", ["target"])
    with op.batch_alter_table("api_clients") as batch:
        batch.add_column(sa.Column("person", sa.String(64), nullable=True))
        batch.add_column(sa.Column("needs_approval", sa.Boolean, nullable=False, server_default=sa.false()))
    op.create_index("ix_api_clients_person", "api_clients", ["person"])


def downgrade() -> None:
    op.drop_index("ix_api_clients_person", "api_clients")
    with op.batch_alter_table("api_clients") as batch:
        batch.drop_column("needs_approval")
        batch.drop_column("person")
    op.drop_index("ix_grants_target", "grants")
    op.drop_index("ix_grants_holder", "grants")
    op.drop_table("grants")
    op.drop_table("approvals")
    for column in ("target", "requester", "state"):
        op.drop_index(f"ix_approval_requests_{column}", "approval_requests")
    op.drop_table("approval_requests")
