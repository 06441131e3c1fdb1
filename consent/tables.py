"""Tables owned by :mod:`consent`. Migration: ``0005_consent``.

``consent_dsr_steps`` is append-only (triggers reject UPDATE). The consent records,
holds and purposes are :mod:`privacy.tables`'.

Nothing here holds PII: subjects are opaque ids, evidence is a hash or a
reference, and free-text notes (a DPO's remark on a request or a hold) are
cleared when the subject is erased.
"""

from __future__ import annotations

import sqlalchemy as sa

from piivault.db import UTCDateTime, metadata

BigId = sa.BigInteger().with_variant(sa.Integer, "sqlite")

# Signed consent receipts and erasure certificates. ``body`` is written with the
# action; the audit event index is known only once the event is sequenced, so
# the receipt is completed and signed right after the commit (``signed``).
receipts = sa.Table(
    "consent_receipts",
    metadata,
    sa.Column("receipt_id", sa.String(40), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),  # consent, erasure
    sa.Column("subject_id", sa.String(64), nullable=False, index=True),
    sa.Column("audit_action", sa.String(64), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("signed", sa.Text, nullable=True),
    sa.Column("audit_seq", BigId, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("signed_at", UTCDateTime, nullable=True),
)

dsr_requests = sa.Table(
    "consent_dsr_requests",
    metadata,
    sa.Column("dsr_id", sa.String(40), primary_key=True),
    sa.Column("subject_id", sa.String(64), nullable=False, index=True),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("state", sa.String(24), nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("due_at", UTCDateTime, nullable=False),
    sa.Column("closed_at", UTCDateTime, nullable=True),
    sa.Column("outcome", sa.Text, nullable=True),  # JSON: what was done (codes, counts, ids)
    sa.Column("reject_reason", sa.String(32), nullable=True),
    sa.Column("note", sa.Text, nullable=True),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.CheckConstraint(
        "type IN ('access', 'correction', 'erasure', 'restriction', 'withdraw_all')", name="type"
    ),
    sa.CheckConstraint(
        "state IN ('received', 'identity_verified', 'approved', 'completed', 'rejected')", name="state"
    ),
)
sa.Index("ix_consent_dsr_requests_state_due", dsr_requests.c.state, dsr_requests.c.due_at)

dsr_steps = sa.Table(
    "consent_dsr_steps",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("dsr_id", sa.String(40), nullable=False, index=True),
    sa.Column("from_state", sa.String(24), nullable=True),
    sa.Column("to_state", sa.String(24), nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("reason_code", sa.String(32), nullable=True),
    sa.Column("detail", sa.Text, nullable=True),  # JSON: codes and counts only
)

# Deferred work for ``piivault jobs run``: one row per unique job key (a
# scheduled shred is "shred:<subject>"), so scheduling twice is one job.
jobs = sa.Table(
    "consent_jobs",
    metadata,
    sa.Column("job_key", sa.String(140), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("subject_id", sa.String(64), nullable=False, index=True),
    sa.Column("dsr_id", sa.String(40), nullable=True),
    sa.Column("due_at", UTCDateTime, nullable=True),  # NULL: waits for a hold with no end yet
    sa.Column("state", sa.String(16), nullable=False),  # pending, done, cancelled
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("done_at", UTCDateTime, nullable=True),
    sa.Column("result", sa.Text, nullable=True),
    sa.CheckConstraint("state IN ('pending', 'done', 'cancelled')", name="state"),
)
sa.Index("ix_consent_jobs_state_due", jobs.c.state, jobs.c.due_at)

# What is left of an erased subject: its id, when, the request, the certificate.
tombstones = sa.Table(
    "consent_tombstones",
    metadata,
    sa.Column("subject_id", sa.String(64), primary_key=True),
    sa.Column("erased_at", UTCDateTime, nullable=False),
    sa.Column("dsr_id", sa.String(40), nullable=True),
    sa.Column("certificate_id", sa.String(40), nullable=True),
)

APPEND_ONLY = ("consent_dsr_steps",)
