"""Tables owned by :mod:`privacy`: subjects, purposes and notices, consent records, holds.

Migrations ``0004_tokenization`` (subjects) and ``0005_consent``. The tables kept the
names they were created with (``tokenization_subjects``, ``consent_*``), so moving them
here changed no schema. History is append-only: triggers reject UPDATE of
``consent_records`` (grants, renewals, withdrawals, expiries; only erasure deletes a
subject's), ``consent_purpose_versions`` and ``consent_notices``. The current consent
state is never stored: it is the latest record of (subject, purpose).
"""

from __future__ import annotations

import sqlalchemy as sa

from piivault.db import UTCDateTime, metadata

BigId = sa.BigInteger().with_variant(sa.Integer, "sqlite")

# Customers, and the internal owners of standalone tokens (kind "standalone"), so
# that every token is sealed under a data key of its own owner and is erasable.
subjects = sa.Table(
    "tokenization_subjects",
    metadata,
    sa.Column("subject_id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    # The customer relationship began (migration 0012_binding) and ended: retention
    # anchored on the relationship's end applies only to subjects who had one.
    sa.Column("opened_at", UTCDateTime, nullable=True),
    sa.Column("closed_at", UTCDateTime, nullable=True),  # the business relationship ended
    sa.Column("state_changed_at", UTCDateTime, nullable=True),
    sa.CheckConstraint("state IN ('active', 'restricted', 'erased')", name="state"),
    sa.CheckConstraint("kind IN ('subject', 'standalone')", name="kind"),
)

# The purpose catalogue as it stands now, one row per purpose (seeded from the
# configuration, then managed through the API); every change is also written to
# ``consent_purpose_versions``. JSON lists are stored as text.
purposes = sa.Table(
    "consent_purposes",
    metadata,
    sa.Column("code", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("name_zh", sa.String(200), nullable=False),
    sa.Column("name_en", sa.String(200), nullable=False),
    sa.Column("legal_basis", sa.String(32), nullable=False),
    sa.Column("consent_required", sa.Boolean, nullable=False),
    sa.Column("separate_consent_required", sa.Boolean, nullable=False),
    sa.Column("separate_grounds", sa.Text, nullable=False),  # ["sensitive_pi", "third_party", ...]
    sa.Column("third_parties", sa.Text, nullable=False),  # recipient names (PIPL art. 23)
    sa.Column("field_types", sa.Text, nullable=True),  # NULL: every field type
    sa.Column("retention", sa.Text, nullable=False),  # as told to the subject
    sa.Column("retention_anchor", sa.String(32), nullable=True),  # "relationship_end"
    sa.Column("retention_years", sa.Integer, nullable=True),
    sa.Column("hold_roles", sa.Text, nullable=False),  # roles that may use it under a retention hold
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("notice_version", sa.Integer, nullable=False),  # the newest notice
    sa.Column("accepted_notice_version", sa.Integer, nullable=False),  # the oldest still accepted
    sa.Column("reconsent_grace", sa.Boolean, nullable=False),  # older consents count meanwhile
    sa.Column("retired_at", UTCDateTime, nullable=True),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("updated_by", sa.String(128), nullable=False),
)

purpose_versions = sa.Table(
    "consent_purpose_versions",
    metadata,
    sa.Column("code", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("change", sa.String(32), nullable=False),  # created, seeded, updated, notice, retired
    sa.Column("definition", sa.Text, nullable=False),  # canonical JSON of the purpose after the change
    sa.Column("changed_at", UTCDateTime, nullable=False),
    sa.Column("changed_by", sa.String(128), nullable=False),
)

notices = sa.Table(
    "consent_notices",
    metadata,
    sa.Column("purpose_code", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("text_zh", sa.Text, nullable=False),
    sa.Column("text_en", sa.Text, nullable=True),
    sa.Column("material", sa.Boolean, nullable=False),
    sa.Column("text_hash", sa.String(71), nullable=False),  # "sha256:<hex>" of the texts
    sa.Column("published_at", UTCDateTime, nullable=False),
    sa.Column("published_by", sa.String(128), nullable=False),
)

# Consent history, append-only. The latest record of (subject, purpose) by
# (``effective_at``, ``id``) is the current state: a paper form recorded late
# does not override a withdrawal made after it was signed. ``expiry_of`` is set on
# "expire" records (written by ``piivault jobs run``) and unique, so two job
# runs cannot expire the same grant twice.
records = sa.Table(
    "consent_records",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("record_id", sa.String(40), nullable=False, unique=True),
    sa.Column("subject_id", sa.String(64), nullable=False),
    sa.Column("purpose_code", sa.String(64), nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("notice_version", sa.Integer, nullable=True),
    sa.Column("separate", sa.Boolean, nullable=False),
    sa.Column("channel", sa.String(16), nullable=True),
    sa.Column("effective_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=True),
    sa.Column("evidence", sa.String(140), nullable=True),
    sa.Column("source", sa.String(16), nullable=False),  # api, import, dsr, job
    sa.Column("recorded_by", sa.String(128), nullable=False),
    sa.Column("recorded_at", UTCDateTime, nullable=False),
    sa.Column("receipt_id", sa.String(40), nullable=True),
    sa.Column("request_id", sa.String(64), nullable=True),
    sa.Column("expiry_of", BigId, nullable=True, unique=True),
    sa.CheckConstraint("action IN ('grant', 'renew', 'withdraw', 'expire')", name="action"),
)
sa.Index(
    "ix_consent_records_subject_purpose",
    records.c.subject_id,
    records.c.purpose_code,
    records.c.effective_at,
    records.c.id,
)
sa.Index("ix_consent_records_expires_at", records.c.expires_at)

# Retention and legal holds. A retention hold (kind "retention", one per subject
# and purpose: ``retention_key``) ends ``retention_years`` after the relationship
# ends, so its ``ends_at`` is NULL until the subject is closed.
holds = sa.Table(
    "consent_holds",
    metadata,
    sa.Column("hold_id", sa.String(40), primary_key=True),
    sa.Column("subject_id", sa.String(64), nullable=False, index=True),
    sa.Column("kind", sa.String(16), nullable=False),  # retention, legal
    sa.Column("purpose_code", sa.String(64), nullable=True),
    sa.Column("roles", sa.Text, nullable=False),
    sa.Column("reason_code", sa.String(32), nullable=False),
    sa.Column("note", sa.Text, nullable=True),
    sa.Column("retention_key", sa.String(140), nullable=True, unique=True),
    sa.Column("starts_at", UTCDateTime, nullable=False),
    sa.Column("ends_at", UTCDateTime, nullable=True),
    sa.Column("placed_by", sa.String(128), nullable=False),
    sa.Column("released_at", UTCDateTime, nullable=True),
    sa.Column("released_by", sa.String(128), nullable=True),
    sa.Column("release_reason", sa.String(32), nullable=True),
    sa.CheckConstraint("kind IN ('retention', 'legal')", name="kind"),
)

# Risk attributes of a subject (age, income, credit grade, ...): one JSON
# document per subject, sealed under the subject's data key, so erasing the
# subject (crypto-shredding) erases them too.
subject_attributes = sa.Table(
    "anonymize_subject_attributes",
    metadata,
    sa.Column("subject_id", sa.String(64), primary_key=True),
    sa.Column("sealed", sa.LargeBinary, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

# The attribute names ever stored (names only, no values): what a spec may name.
attribute_names = sa.Table(
    "anonymize_attribute_names",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("first_seen_at", UTCDateTime, nullable=False),
)

APPEND_ONLY = ("consent_records", "consent_purpose_versions", "consent_notices")
