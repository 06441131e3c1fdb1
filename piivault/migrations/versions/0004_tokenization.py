"""tokenization: subjects, tokens, idempotency keys

Revision ID: 0004_tokenization
Revises: 0002_audit
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

from piivault.db import UTCDateTime

revision = "0004_tokenization"
down_revision = "0002_audit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tokenization_subjects",
        sa.Column("subject_id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("closed_at", UTCDateTime, nullable=True),
        sa.Column("state_changed_at", UTCDateTime, nullable=True),
        sa.CheckConstraint(
            "state IN ('active', 'restricted', 'erased')", name="ck_tokenization_subjects_state"
        ),
        sa.CheckConstraint("kind IN ('subject', 'standalone')", name="ck_tokenization_subjects_kind"),
    )
    op.create_table(
        "tokenization_tokens",
        sa.Column("token", sa.String(128), primary_key=True),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("field_type", sa.String(64), nullable=False),
        sa.Column(
            "subject_id",
            sa.String(64),
            sa.ForeignKey(
                "tokenization_subjects.subject_id",
                name="fk_tokenization_tokens_subject_id_tokenization_subjects",
            ),
            nullable=False,
        ),
        sa.Column("sealed", sa.LargeBinary, nullable=True),
        sa.Column("blind_index", sa.LargeBinary(32), nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.CheckConstraint(
            "kind IN ('random', 'deterministic', 'format_preserving')", name="ck_tokenization_tokens_kind"
        ),
    )
    op.create_index("ix_tokenization_tokens_subject_id", "tokenization_tokens", ["subject_id"])
    op.create_index(
        "ix_tokenization_tokens_blind_index", "tokenization_tokens", ["field_type", "blind_index"]
    )
    op.create_table(
        "tokenization_idempotency",
        sa.Column("client_id", sa.String(64), primary_key=True),
        sa.Column("idempotency_key", sa.String(255), primary_key=True),
        sa.Column("fingerprint", sa.LargeBinary(32), nullable=False),
        sa.Column("response", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_tokenization_idempotency_expires_at", "tokenization_idempotency", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_tokenization_idempotency_expires_at", "tokenization_idempotency")
    op.drop_table("tokenization_idempotency")
    op.drop_index("ix_tokenization_tokens_blind_index", "tokenization_tokens")
    op.drop_index("ix_tokenization_tokens_subject_id", "tokenization_tokens")
    op.drop_table("tokenization_tokens")
    op.drop_table("tokenization_subjects")
