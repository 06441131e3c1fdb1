"""Tables owned by :mod:`tokenization`. Migration: ``0004_tokenization``.

Every token belongs to an owner of :data:`privacy.tables.subjects` (a foreign key).
"""

from __future__ import annotations

import sqlalchemy as sa

from piivault.db import UTCDateTime, metadata

# One row per token. The primary key is what makes a deterministic token unique
# when concurrent requests derive it together. ``sealed`` is the value sealed with
# Binding(owner, field_type, token). Erasure deletes the rows (see ``erased_tokens``);
# rows of databases erased before that keep NULL ``sealed`` and ``blind_index``.
tokens = sa.Table(
    "tokenization_tokens",
    metadata,
    sa.Column("token", sa.String(128), primary_key=True),
    sa.Column("kind", sa.String(24), nullable=False),
    sa.Column("field_type", sa.String(64), nullable=False),
    sa.Column(
        "subject_id",
        sa.String(64),
        sa.ForeignKey("tokenization_subjects.subject_id"),
        nullable=False,
        index=True,
    ),
    sa.Column("sealed", sa.LargeBinary, nullable=True),
    sa.Column("blind_index", sa.LargeBinary(32), nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.CheckConstraint("kind IN ('random', 'deterministic', 'format_preserving')", name="kind"),
    sa.Index("ix_tokenization_tokens_blind_index", "field_type", "blind_index"),
)

# What an erased subject's tokens leave behind: a keyed hash of each token (under a
# system data key, so a copy of the database cannot test guesses of a
# format-preserving token, which looks like a value), its owner and field type.
# Neither the value, its sealed form nor its blind index survives; the digest only
# lets detokenize answer "erased" rather than "not found" for a token it is shown.
erased_tokens = sa.Table(
    "tokenization_erased_tokens",
    metadata,
    sa.Column("token_digest", sa.LargeBinary(32), primary_key=True),
    sa.Column("subject_id", sa.String(64), nullable=False, index=True),
    sa.Column("field_type", sa.String(64), nullable=False),
    sa.Column("erased_at", UTCDateTime, nullable=False),
)

# Idempotency-Key -> the response it produced, for 24 hours. ``fingerprint`` is a
# keyed hash of the request body (which holds PII), never the body itself.
idempotency = sa.Table(
    "tokenization_idempotency",
    metadata,
    sa.Column("client_id", sa.String(64), primary_key=True),
    sa.Column("idempotency_key", sa.String(255), primary_key=True),
    sa.Column("fingerprint", sa.LargeBinary(32), nullable=False),
    sa.Column("response", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False, index=True),
)
