"""Tables owned by :mod:`audit`. All are append-only (database triggers enforce it,
except for the queue, whose rows the sequencer deletes once integrated, and the
single-row ``audit_state`` head)."""

from __future__ import annotations

import sqlalchemy as sa

from piivault.db import UTCDateTime, metadata

BigId = sa.BigInteger().with_variant(sa.Integer, "sqlite")

# Written by the action's own transaction; integrated into the log by the sequencer.
queue = sa.Table(
    "audit_queue",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("enqueued_at", UTCDateTime, nullable=False, index=True),
    sa.Column("payload", sa.Text, nullable=False),
)

# The log: leaf ``seq`` of the Merkle tree (0-based) and the running chain hash.
events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("seq", BigId, primary_key=True, autoincrement=False),
    sa.Column("time", UTCDateTime, nullable=False, index=True),
    sa.Column("actor", sa.String(128), nullable=False, index=True),
    sa.Column("action", sa.String(64), nullable=False, index=True),
    sa.Column("subject_id", sa.String(64), nullable=True, index=True),
    sa.Column("purpose", sa.String(64), nullable=True),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("request_id", sa.String(64), nullable=True),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
    sa.Column("chain_hash", sa.LargeBinary(32), nullable=False),
)

# Hashes of perfect subtrees (level, index); see audit.merkle.
nodes = sa.Table(
    "audit_nodes",
    metadata,
    sa.Column("level", sa.SmallInteger, primary_key=True, autoincrement=False),
    sa.Column("idx", BigId, primary_key=True, autoincrement=False),
    sa.Column("hash", sa.LargeBinary(32), nullable=False),
)

checkpoints = sa.Table(
    "audit_checkpoints",
    metadata,
    sa.Column("size", BigId, primary_key=True, autoincrement=False),
    sa.Column("root_hash", sa.LargeBinary(32), nullable=False),
    sa.Column("timestamp", sa.BigInteger, nullable=False),
    sa.Column("note", sa.Text, nullable=False),
)

# One row (id = 1): the sequencer's head. Locking it serializes sequencers.
state = sa.Table(
    "audit_state",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("size", BigId, nullable=False),
    sa.Column("chain_head", sa.LargeBinary(32), nullable=False),
    sa.Column("frontier", sa.Text, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)
