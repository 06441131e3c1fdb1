"""one head: join the six branches that grew from ``0002_audit`` (no schema change)

Until this revision the tree had six heads: ``0003_audit_log``, ``0005_consent``,
``0006_console``, ``0008_extracts``, ``0011_limits`` and ``0013_audit_macs`` (the
last after ``0003_clients``, ``0004_tokenization``, ``0009_token_tombstones``,
``0010_access`` and ``0012_binding``). Their numbers read as one chain; they were
branches, each upgraded in whatever order Alembic chose. This merge makes the
schema the application needs one revision: a database at all six heads upgrades to
it by recording it, a new database runs every branch first.

The ids of the revisions before it stay as they are, including the two ``0003``:
they are stored in ``alembic_version`` of every database already migrated, and a
renamed id would be a revision Alembic cannot find. New revisions follow this one
and take the next unused number (``tests/piivault/test_migrations.py``).

Revision ID: 0014_one_head
Revises: 0003_audit_log, 0005_consent, 0006_console, 0008_extracts, 0011_limits, 0013_audit_macs
Create Date: 2026-12-06
"""

revision = "0014_one_head"
down_revision = (
    "0003_audit_log",
    "0005_consent",
    "0006_console",
    "0008_extracts",
    "0011_limits",
    "0013_audit_macs",
)
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
