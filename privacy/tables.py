"""Tables owned by :mod:`privacy`: the purpose catalogue and its notices. Migration: ``0005_consent``.

The tables kept the names they were created with (``consent_*``), so moving them
here changed no schema. ``consent_purpose_versions`` and ``consent_notices`` are
append-only: triggers reject UPDATE, and every change to a purpose is a new
version row.
"""

from __future__ import annotations

import sqlalchemy as sa

from piivault.db import UTCDateTime, metadata

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

APPEND_ONLY = ("consent_purpose_versions", "consent_notices")
