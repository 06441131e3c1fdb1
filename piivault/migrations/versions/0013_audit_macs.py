"""audit MACs: events authenticated at their source (see audit.authenticity)

* ``audit_queue.mac``: the source MAC the recording process computed over the
  queued payload; the sequencer integrates a row only if it verifies.
* ``audit_events.mac``: the sequencer's MAC over the entry it hashed.

Both are nullable: events integrated before this revision have none, and are
accepted as a prefix of the log only. Plain ``ADD COLUMN`` (no table rebuild on
SQLite), so the append-only triggers of ``0003_audit_log`` stay in place.

Revision ID: 0013_audit_macs
Revises: 0012_binding
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_audit_macs"
down_revision = "0012_binding"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("audit_queue", sa.Column("mac", sa.LargeBinary(32), nullable=True))
    op.add_column("audit_events", sa.Column("mac", sa.LargeBinary(32), nullable=True))


def downgrade() -> None:
    op.drop_column("audit_events", "mac")
    op.drop_column("audit_queue", "mac")
