"""vault: data keys, erasure ledger, sealed secrets

Revision ID: 0001_vault
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

from piivault.db import UTCDateTime

revision = "0001_vault"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vault_data_keys",
        sa.Column("owner", sa.String(100), primary_key=True),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("wrapped_dek", sa.Text, nullable=False),
        sa.Column("kek_version", sa.Integer, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("rewrapped_at", UTCDateTime, nullable=True),
    )
    op.create_index("ix_vault_data_keys_kek_version", "vault_data_keys", ["kek_version"])
    op.create_table(
        "vault_erasures",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("subject_id", sa.String(64), nullable=False),
        sa.Column("erased_at", UTCDateTime, nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.UniqueConstraint("subject_id", name="uq_vault_erasures_subject_id"),
    )
    op.create_table(
        "vault_sealed_secrets",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("sealed", sa.LargeBinary, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("vault_sealed_secrets")
    op.drop_table("vault_erasures")
    op.drop_index("ix_vault_data_keys_kek_version", "vault_data_keys")
    op.drop_table("vault_data_keys")
