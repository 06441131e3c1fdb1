"""Tables owned by :mod:`vault`."""

from __future__ import annotations

import sqlalchemy as sa

from piivault.db import UTCDateTime, metadata

# One row per data key. ``owner`` is ``subject:<id>`` or ``system:<name>``.
# Shredding deletes the row: the wrapped key is the only copy of the DEK.
data_keys = sa.Table(
    "vault_data_keys",
    metadata,
    sa.Column("owner", sa.String(100), primary_key=True),
    # Random id of the key material; cache entries are valid only while it matches.
    sa.Column("key_id", sa.String(32), nullable=False),
    sa.Column("wrapped_dek", sa.Text, nullable=False),
    sa.Column("kek_version", sa.Integer, nullable=False, index=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("rewrapped_at", UTCDateTime, nullable=True),
)

# The erasure ledger, database copy. The authoritative copy is the ledger file
# (PIIVAULT_ERASURE_LEDGER), kept outside database backups; no PII in either.
erasures = sa.Table(
    "vault_erasures",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("subject_id", sa.String(64), nullable=False, unique=True),
    sa.Column("erased_at", UTCDateTime, nullable=False),
    sa.Column("reason", sa.String(200), nullable=False),
    sa.Column("request_id", sa.String(64), nullable=True),
)

# Small secrets piivault itself needs (e.g. the audit signing seed), sealed under
# the system DEK "secrets"; never stored in clear.
sealed_secrets = sa.Table(
    "vault_sealed_secrets",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("sealed", sa.LargeBinary, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)
