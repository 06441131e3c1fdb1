"""Tables owned by :mod:`audit`.

``audit_events``, ``audit_nodes`` and ``audit_checkpoints`` are append-only:
triggers (migration ``0003_audit_log``) reject UPDATE, DELETE and, on
PostgreSQL, TRUNCATE. Queue rows cannot be updated, only deleted (by the
sequencer, once integrated); the single ``audit_state`` row cannot be deleted
and its size never decreases.
"""

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
    # The recording process's MAC over the payload (audit.authenticity); NULL: refused.
    sa.Column("mac", sa.LargeBinary(32), nullable=True),
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
    # The sequencer's MAC over the entry (audit.authenticity); NULL only before migration 0013.
    sa.Column("mac", sa.LargeBinary(32), nullable=True),
)
# "Which subjects did this credential touch, and when" (audit.reads.exposure).
sa.Index("ix_audit_events_actor_time", events.c.actor, events.c.time)

# Hashes of perfect subtrees (level, index) with level >= 1; see audit.merkle.
# Level 0 (the leaf hashes) is not duplicated here: it is audit_events.leaf_hash.
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
