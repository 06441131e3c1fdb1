"""binding: clients' explicit permissions; when a subject's customer relationship was opened

* ``api_clients.permissions``: what a client may do beyond its role's reads and
  its purposes' uses, e.g. ``write_attributes`` (replace subjects' risk
  attributes). Existing clients get none: an operator grants it explicitly.
* ``tokenization_subjects.opened_at``: when the customer relationship began.
  Retention holds anchored on the relationship's end (AML record keeping)
  apply only to subjects who have or had one. Subjects that exist before this
  revision are taken as customers opened when they were created, so that no
  retention obligation is lost by upgrading; a lead's record can be set right
  by the DPO (an erasure of a subject with no relationship shreds it at once).

Revision ID: 0012_binding
Revises: 0010_access, 0009_token_tombstones
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

from piivault.db import UTCDateTime

revision = "0012_binding"
down_revision = ("0010_access", "0009_token_tombstones")
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_clients") as batch:
        batch.add_column(sa.Column("permissions", sa.JSON, nullable=False, server_default="[]"))
    with op.batch_alter_table("tokenization_subjects") as batch:
        batch.add_column(sa.Column("opened_at", UTCDateTime, nullable=True))
    subjects = sa.table(
        "tokenization_subjects",
        sa.column("kind", sa.String),
        sa.column("created_at", UTCDateTime),
        sa.column("opened_at", UTCDateTime),
    )
    op.execute(subjects.update().where(subjects.c.kind == "subject").values(opened_at=subjects.c.created_at))


def downgrade() -> None:
    with op.batch_alter_table("tokenization_subjects") as batch:
        batch.drop_column("opened_at")
    with op.batch_alter_table("api_clients") as batch:
        batch.drop_column("permissions")
