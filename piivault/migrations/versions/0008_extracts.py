"""anonymize: extract jobs, sealed re-identification mappings, subjects' risk attributes

Revision ID: 0008_extracts
Revises: 0002_audit
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

from piivault.db import UTCDateTime

revision = "0008_extracts"
down_revision = "0002_audit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "anonymize_extracts",
        sa.Column("extract_id", sa.String(40), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("purpose", sa.String(64), nullable=False),
        sa.Column("requested_by", sa.String(128), nullable=False),
        sa.Column("spec", sa.Text, nullable=False),
        sa.Column("spec_sha256", sa.String(64), nullable=False),
        sa.Column("phase", sa.String(32), nullable=True),
        sa.Column("progress", sa.Float, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("worker", sa.String(128), nullable=True),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("error_detail", sa.Text, nullable=True),
        sa.Column("summary", sa.Text, nullable=True),
        sa.Column("key_name", sa.String(100), nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=True),
        sa.Column("heartbeat_at", UTCDateTime, nullable=True),
        sa.Column("finished_at", UTCDateTime, nullable=True),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("expired_at", UTCDateTime, nullable=True),
        sa.CheckConstraint(
            "state IN ('queued', 'running', 'succeeded', 'failed', 'expired')",
            name="ck_anonymize_extracts_state",
        ),
    )
    op.create_index("ix_anonymize_extracts_state_created", "anonymize_extracts", ["state", "created_at"])
    op.create_index(
        "ix_anonymize_extracts_requested_by", "anonymize_extracts", ["requested_by", "created_at"]
    )
    op.create_index("ix_anonymize_extracts_expires_at", "anonymize_extracts", ["expires_at"])
    op.create_table(
        "anonymize_extract_pseudonyms",
        sa.Column("extract_id", sa.String(40), primary_key=True),
        sa.Column("bucket", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("sealed", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "anonymize_subject_attributes",
        sa.Column("subject_id", sa.String(64), primary_key=True),
        sa.Column("sealed", sa.LargeBinary, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "anonymize_attribute_names",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("first_seen_at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    for name in (
        "anonymize_attribute_names",
        "anonymize_subject_attributes",
        "anonymize_extract_pseudonyms",
        "anonymize_extracts",
    ):
        op.drop_table(name)
