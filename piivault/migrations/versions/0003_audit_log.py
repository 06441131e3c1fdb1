"""audit: append-only triggers, the genesis head, the exposure index

Revision ID: 0003_audit_log
Revises: 0002_audit
Create Date: 2026-11-24

Triggers make the database itself refuse to rewrite history:

* ``audit_events``, ``audit_nodes``, ``audit_checkpoints``: no UPDATE, no
  DELETE (and on PostgreSQL no TRUNCATE, which row triggers do not see);
* ``audit_queue``: no UPDATE (a queued event cannot be altered before it is
  sequenced; the sequencer deletes rows once integrated);
* ``audit_state``: no DELETE, and an UPDATE may not shrink the log.

They stop the application (and its bugs) and anyone holding only the
application's database role; an owner or superuser can drop them, which is why
``deploy/audit-grants.md`` keeps the application role from owning these tables
and why ``piivault audit verify`` checks the log against signed checkpoints.
"""

import sqlalchemy as sa
from alembic import op

from piivault.db import UTCDateTime, utcnow

revision = "0003_audit_log"
down_revision = "0002_audit"
branch_labels = None
depends_on = None

APPEND_ONLY = ("audit_events", "audit_nodes", "audit_checkpoints")


def upgrade() -> None:
    op.create_index("ix_audit_events_actor_time", "audit_events", ["actor", "time"])
    state = sa.table(
        "audit_state",
        sa.column("id", sa.Integer),
        sa.column("size", sa.BigInteger),
        sa.column("chain_head", sa.LargeBinary),
        sa.column("frontier", sa.Text),
        sa.column("updated_at", UTCDateTime),
    )
    op.bulk_insert(
        state, [{"id": 1, "size": 0, "chain_head": bytes(32), "frontier": "[]", "updated_at": utcnow()}]
    )
    if op.get_bind().dialect.name == "postgresql":
        _postgresql_triggers()
    else:
        _sqlite_triggers()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute("DROP TRIGGER IF EXISTS audit_queue_no_update ON audit_queue")
        op.execute("DROP TRIGGER IF EXISTS audit_state_guard ON audit_state")
        op.execute("DROP FUNCTION IF EXISTS audit_append_only()")
        op.execute("DROP FUNCTION IF EXISTS audit_state_guard()")
    else:
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
        for name in ("audit_queue_no_update", "audit_state_no_delete", "audit_state_no_shrink"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute("DELETE FROM audit_state WHERE id = 1 AND size = 0")
    op.drop_index("ix_audit_events_actor_time", "audit_events")


def _postgresql_triggers() -> None:
    # Unqualified names land in the first schema of the search_path, next to the tables.
    op.execute(
        """
        CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit table % is append-only: % rejected', TG_TABLE_NAME, TG_OP
                USING ERRCODE = 'restrict_violation';
        END
        $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION audit_state_guard() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' THEN
                RAISE EXCEPTION 'audit_state cannot be deleted' USING ERRCODE = 'restrict_violation';
            END IF;
            IF NEW.size < OLD.size OR NEW.id <> OLD.id THEN
                RAISE EXCEPTION 'audit log size cannot decrease' USING ERRCODE = 'restrict_violation';
            END IF;
            RETURN NEW;
        END
        $$
        """
    )
    for table in APPEND_ONLY:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION audit_append_only()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()"
        )
    op.execute(
        "CREATE TRIGGER audit_queue_no_update BEFORE UPDATE ON audit_queue "
        "FOR EACH ROW EXECUTE FUNCTION audit_append_only()"
    )
    op.execute(
        "CREATE TRIGGER audit_state_guard BEFORE UPDATE OR DELETE ON audit_state "
        "FOR EACH ROW EXECUTE FUNCTION audit_state_guard()"
    )


def _sqlite_triggers() -> None:
    for table in APPEND_ONLY:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'audit table {table} is append-only: {action} rejected'); END"
            )
    op.execute(
        "CREATE TRIGGER audit_queue_no_update BEFORE UPDATE ON audit_queue "
        "BEGIN SELECT RAISE(ABORT, 'audit table audit_queue is append-only: UPDATE rejected'); END"
    )
    op.execute(
        "CREATE TRIGGER audit_state_no_delete BEFORE DELETE ON audit_state "
        "BEGIN SELECT RAISE(ABORT, 'audit_state cannot be deleted'); END"
    )
    op.execute(
        "CREATE TRIGGER audit_state_no_shrink BEFORE UPDATE ON audit_state "
        "WHEN NEW.size < OLD.size OR NEW.id <> OLD.id "
        "BEGIN SELECT RAISE(ABORT, 'audit log size cannot decrease'); END"
    )
