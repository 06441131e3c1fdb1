"""tokenization: tombstones of erased tokens (a keyed digest each)

Every erasure path now deletes a subject's token rows and keeps only a keyed
digest of each token, so detokenizing one answers "erased". Rows kept with
NULL sealed value and blind index by earlier erasures stay as they are (they
answer "erased" too); ``piivault keys replay-erasures`` turns them into
tombstones.

Revision ID: 0009_token_tombstones
Revises: 0004_tokenization
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

from piivault.db import UTCDateTime

revision = "0009_token_tombstones"
down_revision = "0004_tokenization"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tokenization_erased_tokens",
        sa.Column("token_digest", sa.LargeBinary(32), primary_key=True),
        sa.Column("subject_id", sa.String(64), nullable=False),
        sa.Column("field_type", sa.String(64), nullable=False),
        sa.Column("erased_at", UTCDateTime, nullable=False),
    )
    op.create_index(
        "ix_tokenization_erased_tokens_subject_id", "tokenization_erased_tokens", ["subject_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_tokenization_erased_tokens_subject_id", "tokenization_erased_tokens")
    op.drop_table("tokenization_erased_tokens")
