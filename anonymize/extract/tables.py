"""Tables owned by :mod:`anonymize.extract`. Migration: ``0008_extracts``.

Nothing here holds PII in clear: subjects are opaque ids, risk attributes and
re-identification mappings are sealed (under the subject's data key and the
extract's pseudonym key, in :mod:`vault`), and a job's error says what rule
failed, never a value.
"""

from __future__ import annotations

import sqlalchemy as sa

from piivault.db import UTCDateTime, metadata

STATES = ("queued", "running", "succeeded", "failed", "expired")

# Extract jobs. ``spec`` is the JSON of the validated spec, defaults filled in
# (``spec_sha256`` hashes its canonical form); ``summary`` is JSON of counts, measures and the
# files' SHA-256 once the job succeeded. ``key_name`` names the pseudonym key
# (a system data key in vault_data_keys) while it exists.
extracts = sa.Table(
    "anonymize_extracts",
    metadata,
    sa.Column("extract_id", sa.String(40), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("purpose", sa.String(64), nullable=False),
    sa.Column("requested_by", sa.String(128), nullable=False),  # audit actor: client:<id>, cli:<user>
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
    sa.CheckConstraint("state IN ('queued', 'running', 'succeeded', 'failed', 'expired')", name="state"),
)
sa.Index("ix_anonymize_extracts_state_created", extracts.c.state, extracts.c.created_at)
sa.Index("ix_anonymize_extracts_requested_by", extracts.c.requested_by, extracts.c.created_at)
sa.Index("ix_anonymize_extracts_expires_at", extracts.c.expires_at)

# The re-identification mapping of an extract (pseudonym -> subject ids, per
# pseudonymized column), in buckets by pseudonym prefix so one lookup opens
# one bucket; each bucket sealed under the extract's pseudonym key. Destroying
# that key at expiry makes every bucket noise (the rows are deleted as well).
extract_pseudonyms = sa.Table(
    "anonymize_extract_pseudonyms",
    metadata,
    sa.Column("extract_id", sa.String(40), primary_key=True),
    sa.Column("bucket", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("sealed", sa.LargeBinary, nullable=False),
)
