"""audit: queue, events, nodes, checkpoints, state

Revision ID: 0002_audit
Revises: 0001_vault
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

from piivault.db import UTCDateTime

revision = "0002_audit"
down_revision = "0001_vault"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "audit_queue",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("enqueued_at", UTCDateTime, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
    )
    op.create_index("ix_audit_queue_enqueued_at", "audit_queue", ["enqueued_at"])
    op.create_table(
        "audit_events",
        sa.Column("seq", BigId, primary_key=True, autoincrement=False),
        sa.Column("time", UTCDateTime, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("subject_id", sa.String(64), nullable=True),
        sa.Column("purpose", sa.String(64), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("chain_hash", sa.LargeBinary(32), nullable=False),
    )
    for col in ("time", "actor", "action", "subject_id"):
        op.create_index(f"ix_audit_events_{col}", "audit_events", [col])
    op.create_table(
        "audit_nodes",
        sa.Column("level", sa.SmallInteger, primary_key=True, autoincrement=False),
        sa.Column("idx", BigId, primary_key=True, autoincrement=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("size", BigId, primary_key=True, autoincrement=False),
        sa.Column("root_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("timestamp", sa.BigInteger, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
    )
    op.create_table(
        "audit_state",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("size", BigId, nullable=False),
        sa.Column("chain_head", sa.LargeBinary(32), nullable=False),
        sa.Column("frontier", sa.Text, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    # Append-only triggers are added by the audit storage migration (0003).


def downgrade() -> None:
    for name in ("audit_state", "audit_checkpoints", "audit_nodes", "audit_events", "audit_queue"):
        op.drop_table(name)
