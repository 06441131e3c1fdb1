"""consent: purposes, notices, consent records, receipts, holds, data-subject requests, jobs

Revision ID: 0005_consent
Revises: 0002_audit
Create Date: 2026-11-25

History is append-only, enforced by triggers: ``consent_records`` rejects
UPDATE (erasure may DELETE a subject's records); ``consent_purpose_versions``,
``consent_notices`` and ``consent_dsr_steps`` reject UPDATE and DELETE.
"""

import sqlalchemy as sa
from alembic import op

from piivault.db import UTCDateTime

revision = "0005_consent"
down_revision = "0002_audit"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer, "sqlite")
NO_UPDATE = ("consent_records", "consent_purpose_versions", "consent_notices", "consent_dsr_steps")
NO_DELETE = ("consent_purpose_versions", "consent_notices", "consent_dsr_steps")


def upgrade() -> None:
    op.create_table(
        "consent_purposes",
        sa.Column("code", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("name_zh", sa.String(200), nullable=False),
        sa.Column("name_en", sa.String(200), nullable=False),
        sa.Column("legal_basis", sa.String(32), nullable=False),
        sa.Column("consent_required", sa.Boolean, nullable=False),
        sa.Column("separate_consent_required", sa.Boolean, nullable=False),
        sa.Column("separate_grounds", sa.Text, nullable=False),
        sa.Column("third_parties", sa.Text, nullable=False),
        sa.Column("field_types", sa.Text, nullable=True),
        sa.Column("retention", sa.Text, nullable=False),
        sa.Column("retention_anchor", sa.String(32), nullable=True),
        sa.Column("retention_years", sa.Integer, nullable=True),
        sa.Column("hold_roles", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("notice_version", sa.Integer, nullable=False),
        sa.Column("accepted_notice_version", sa.Integer, nullable=False),
        sa.Column("reconsent_grace", sa.Boolean, nullable=False),
        sa.Column("retired_at", UTCDateTime, nullable=True),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("updated_by", sa.String(128), nullable=False),
    )
    op.create_table(
        "consent_purpose_versions",
        sa.Column("code", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("change", sa.String(32), nullable=False),
        sa.Column("definition", sa.Text, nullable=False),
        sa.Column("changed_at", UTCDateTime, nullable=False),
        sa.Column("changed_by", sa.String(128), nullable=False),
    )
    op.create_table(
        "consent_notices",
        sa.Column("purpose_code", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("text_zh", sa.Text, nullable=False),
        sa.Column("text_en", sa.Text, nullable=True),
        sa.Column("material", sa.Boolean, nullable=False),
        sa.Column("text_hash", sa.String(71), nullable=False),
        sa.Column("published_at", UTCDateTime, nullable=False),
        sa.Column("published_by", sa.String(128), nullable=False),
    )
    op.create_table(
        "consent_records",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("record_id", sa.String(40), nullable=False),
        sa.Column("subject_id", sa.String(64), nullable=False),
        sa.Column("purpose_code", sa.String(64), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("notice_version", sa.Integer, nullable=True),
        sa.Column("separate", sa.Boolean, nullable=False),
        sa.Column("channel", sa.String(16), nullable=True),
        sa.Column("effective_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=True),
        sa.Column("evidence", sa.String(140), nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("recorded_by", sa.String(128), nullable=False),
        sa.Column("recorded_at", UTCDateTime, nullable=False),
        sa.Column("receipt_id", sa.String(40), nullable=True),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("expiry_of", BigId, nullable=True),
        sa.CheckConstraint(
            "action IN ('grant', 'renew', 'withdraw', 'expire')", name="ck_consent_records_action"
        ),
        sa.UniqueConstraint("record_id", name="uq_consent_records_record_id"),
        sa.UniqueConstraint("expiry_of", name="uq_consent_records_expiry_of"),
    )
    op.create_index(
        "ix_consent_records_subject_purpose",
        "consent_records",
        ["subject_id", "purpose_code", "effective_at", "id"],
    )
    op.create_index("ix_consent_records_expires_at", "consent_records", ["expires_at"])
    op.create_table(
        "consent_receipts",
        sa.Column("receipt_id", sa.String(40), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("subject_id", sa.String(64), nullable=False),
        sa.Column("audit_action", sa.String(64), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("signed", sa.Text, nullable=True),
        sa.Column("audit_seq", BigId, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("signed_at", UTCDateTime, nullable=True),
    )
    op.create_index("ix_consent_receipts_subject_id", "consent_receipts", ["subject_id"])
    op.create_table(
        "consent_holds",
        sa.Column("hold_id", sa.String(40), primary_key=True),
        sa.Column("subject_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("purpose_code", sa.String(64), nullable=True),
        sa.Column("roles", sa.Text, nullable=False),
        sa.Column("reason_code", sa.String(32), nullable=False),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("retention_key", sa.String(140), nullable=True),
        sa.Column("starts_at", UTCDateTime, nullable=False),
        sa.Column("ends_at", UTCDateTime, nullable=True),
        sa.Column("placed_by", sa.String(128), nullable=False),
        sa.Column("released_at", UTCDateTime, nullable=True),
        sa.Column("released_by", sa.String(128), nullable=True),
        sa.Column("release_reason", sa.String(32), nullable=True),
        sa.CheckConstraint("kind IN ('retention', 'legal')", name="ck_consent_holds_kind"),
        sa.UniqueConstraint("retention_key", name="uq_consent_holds_retention_key"),
    )
    op.create_index("ix_consent_holds_subject_id", "consent_holds", ["subject_id"])
    op.create_table(
        "consent_dsr_requests",
        sa.Column("dsr_id", sa.String(40), primary_key=True),
        sa.Column("subject_id", sa.String(64), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("state", sa.String(24), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("due_at", UTCDateTime, nullable=False),
        sa.Column("closed_at", UTCDateTime, nullable=True),
        sa.Column("outcome", sa.Text, nullable=True),
        sa.Column("reject_reason", sa.String(32), nullable=True),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.CheckConstraint(
            "type IN ('access', 'correction', 'erasure', 'restriction', 'withdraw_all')",
            name="ck_consent_dsr_requests_type",
        ),
        sa.CheckConstraint(
            "state IN ('received', 'identity_verified', 'approved', 'completed', 'rejected')",
            name="ck_consent_dsr_requests_state",
        ),
    )
    op.create_index("ix_consent_dsr_requests_subject_id", "consent_dsr_requests", ["subject_id"])
    op.create_index("ix_consent_dsr_requests_state_due", "consent_dsr_requests", ["state", "due_at"])
    op.create_table(
        "consent_dsr_steps",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("dsr_id", sa.String(40), nullable=False),
        sa.Column("from_state", sa.String(24), nullable=True),
        sa.Column("to_state", sa.String(24), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("reason_code", sa.String(32), nullable=True),
        sa.Column("detail", sa.Text, nullable=True),
    )
    op.create_index("ix_consent_dsr_steps_dsr_id", "consent_dsr_steps", ["dsr_id"])
    op.create_table(
        "consent_jobs",
        sa.Column("job_key", sa.String(140), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("subject_id", sa.String(64), nullable=False),
        sa.Column("dsr_id", sa.String(40), nullable=True),
        sa.Column("due_at", UTCDateTime, nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("done_at", UTCDateTime, nullable=True),
        sa.Column("result", sa.Text, nullable=True),
        sa.CheckConstraint("state IN ('pending', 'done', 'cancelled')", name="ck_consent_jobs_state"),
    )
    op.create_index("ix_consent_jobs_subject_id", "consent_jobs", ["subject_id"])
    op.create_index("ix_consent_jobs_state_due", "consent_jobs", ["state", "due_at"])
    op.create_table(
        "consent_tombstones",
        sa.Column("subject_id", sa.String(64), primary_key=True),
        sa.Column("erased_at", UTCDateTime, nullable=False),
        sa.Column("dsr_id", sa.String(40), nullable=True),
        sa.Column("certificate_id", sa.String(40), nullable=True),
    )
    if op.get_bind().dialect.name == "postgresql":
        _postgresql_triggers()
    else:
        _sqlite_triggers()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in NO_UPDATE:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute("DROP FUNCTION IF EXISTS consent_append_only()")
    else:
        for table in NO_UPDATE:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
        for table in NO_DELETE:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
    for table in (
        "consent_tombstones",
        "consent_jobs",
        "consent_dsr_steps",
        "consent_dsr_requests",
        "consent_holds",
        "consent_receipts",
        "consent_records",
        "consent_notices",
        "consent_purpose_versions",
        "consent_purposes",
    ):
        op.drop_table(table)


def _postgresql_triggers() -> None:
    op.execute(
        """
        CREATE FUNCTION consent_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'consent history % is append-only: % rejected', TG_TABLE_NAME, TG_OP
                USING ERRCODE = 'restrict_violation';
        END
        $$
        """
    )
    for table in NO_UPDATE:
        events = "UPDATE OR DELETE" if table in NO_DELETE else "UPDATE"
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE {events} ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION consent_append_only()"
        )


def _sqlite_triggers() -> None:
    for table in NO_UPDATE:
        actions = ("UPDATE", "DELETE") if table in NO_DELETE else ("UPDATE",)
        for action in actions:
            op.execute(
                f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'consent history {table} is append-only: {action} rejected'); END"
            )
