"""throttle: counters shared by every worker (the not_found/denied answer budget)

Revision ID: 0011_limits
Revises: 0002_audit
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

from piivault.db import UTCDateTime

revision = "0011_limits"
down_revision = "0002_audit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "throttle_counters",
        sa.Column("key_hash", sa.String(64), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("window_started_at", UTCDateTime, nullable=False),
        sa.Column("locked_until", UTCDateTime, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("throttle_counters")
