"""api clients: API clients and the keyed hashes of their keys

Revision ID: 0003_clients
Revises: 0002_audit
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

from piivault.db import UTCDateTime

revision = "0003_clients"
down_revision = "0002_audit"
branch_labels = None
depends_on = None

ROLES = ("admin", "service", "dpo", "analyst", "auditor")


def upgrade() -> None:
    op.create_table(
        "api_clients",
        sa.Column("id", sa.String(8), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("purposes", sa.JSON, nullable=False),
        sa.Column("field_types", sa.JSON, nullable=True),
        sa.Column("key_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=True),
        sa.Column("revoked_at", UTCDateTime, nullable=True),
        sa.Column("revoked_by", sa.String(128), nullable=True),
        sa.Column("last_used_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_clients"),
        sa.CheckConstraint(
            "role IN (" + ", ".join(f"'{r}'" for r in ROLES) + ")", name="ck_api_clients_role"
        ),
    )
    op.create_index("ix_api_clients_name", "api_clients", ["name"])


def downgrade() -> None:
    op.drop_index("ix_api_clients_name", "api_clients")
    op.drop_table("api_clients")
