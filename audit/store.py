"""Reading the stored log: its head, and Merkle nodes for roots and proofs.

Level-0 nodes (leaf hashes) live in ``audit_events.leaf_hash``; perfect
subtrees of level 1 and up in ``audit_nodes``. :class:`DbNodeReader` serves
both from one statement, so a root or proof costs one round trip however large
the log is.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from audit import tables as t
from audit.errors import LogCorrupt
from audit.merkle import HASH_SIZE, CompositeKey, NodeKey, NodeReader
from piivault.sql import chunked

_SQL_CHUNK = 400  # keys per statement: well under SQLite's bound-parameter limit


@dataclasses.dataclass(frozen=True)
class LogHead:
    """The sequencer's head: how many events are in the log and what they hash to."""

    size: int
    chain_head: bytes
    frontier: tuple[bytes, ...]
    updated_at: dt.datetime


@dataclasses.dataclass(frozen=True)
class CheckpointRecord:
    """A stored signed checkpoint: the note and the fields it signs."""

    size: int
    root_hash: bytes
    timestamp: int
    note: str

    def to_dict(self) -> dict[str, object]:
        return {
            "size": self.size,
            "root_hash": self.root_hash.hex(),
            "timestamp": self.timestamp,
            "note": self.note,
        }


def latest_checkpoint(session: Session | sa.Connection) -> CheckpointRecord | None:
    """The checkpoint with the largest size, or None before the first one."""
    c = t.checkpoints.c
    row = session.execute(
        sa.select(c.size, c.root_hash, c.timestamp, c.note).order_by(c.size.desc()).limit(1)
    ).first()
    return None if row is None else CheckpointRecord(row[0], bytes(row[1]), row[2], row[3])


def checkpoint_at(session: Session, size: int) -> CheckpointRecord | None:
    """The checkpoint for exactly ``size`` events, if one was cut."""
    c = t.checkpoints.c
    row = session.execute(sa.select(c.size, c.root_hash, c.timestamp, c.note).where(c.size == size)).first()
    return None if row is None else CheckpointRecord(row[0], bytes(row[1]), row[2], row[3])


def encode_frontier(frontier: Sequence[bytes]) -> str:
    """The frontier as stored in ``audit_state.frontier``: a JSON list of hex hashes."""
    return json.dumps([digest.hex() for digest in frontier])


def decode_frontier(text: str, size: int) -> tuple[bytes, ...]:
    """Parse a stored frontier and check it fits a tree of ``size`` leaves.

    Raises:
        LogCorrupt: the text is not a JSON list of 32-byte hex hashes, one per
            set bit of ``size``.
    """
    try:
        items = json.loads(text)
        frontier = tuple(bytes.fromhex(item) for item in items)
    except (ValueError, TypeError):
        raise LogCorrupt("audit_state.frontier is not a JSON list of hex hashes") from None
    if len(frontier) != size.bit_count() or any(len(h) != HASH_SIZE for h in frontier):
        raise LogCorrupt(f"audit_state.frontier does not fit a log of {size} events")
    return frontier


def read_head(session: Session | sa.Connection, *, for_update: bool = False) -> LogHead:
    """The log head, optionally locked (``SELECT ... FOR UPDATE`` on PostgreSQL).

    Raises:
        LogCorrupt: the head row is missing (schema not migrated) or malformed.
    """
    stmt = sa.select(t.state.c.size, t.state.c.chain_head, t.state.c.frontier, t.state.c.updated_at).where(
        t.state.c.id == 1
    )
    if for_update:
        stmt = stmt.with_for_update()
    row = session.execute(stmt).first()
    if row is None:
        raise LogCorrupt("audit_state has no head row: run `piivault db upgrade`")
    return head_from_row(row)


def head_from_row(row: Sequence[Any]) -> LogHead:
    """A :class:`LogHead` from ``(size, chain_head, frontier, updated_at)``.

    Raises:
        LogCorrupt: the values are malformed.
    """
    size, chain_head, frontier, updated_at = row
    if size < 0 or len(chain_head) != HASH_SIZE:
        raise LogCorrupt("audit_state head is malformed")
    return LogHead(int(size), bytes(chain_head), decode_frontier(frontier, int(size)), updated_at)


# PostgreSQL: one statement of fixed shape whatever the keys (arrays, not lists of
# placeholders), so psycopg prepares it and the planner is not paid per proof.
_PG_NODES = sa.text(
    "SELECT 0, seq, leaf_hash FROM audit_events WHERE seq = ANY(CAST(:seqs AS bigint[])) "
    "UNION ALL "
    "SELECT n.level, n.idx, n.hash FROM audit_nodes AS n "
    "JOIN unnest(CAST(:levels AS smallint[]), CAST(:idxs AS bigint[])) AS k(level, idx) "
    "ON n.level = k.level AND n.idx = k.idx"
)


class DbNodeReader:
    """A :class:`audit.merkle.NodeReader` over the stored tree, in the caller's session."""

    def __init__(self, session: Session | sa.Connection) -> None:
        self._session = session
        bind = session.get_bind() if isinstance(session, Session) else session
        self._postgres = bind.dialect.name == "postgresql"

    def get_nodes(self, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
        found: dict[NodeKey, bytes] = {}
        keys = list(dict.fromkeys(keys))
        for chunk in chunked(keys, _SQL_CHUNK):
            leaves = [idx for level, idx in chunk if level == 0]
            inner = [(level, idx) for level, idx in chunk if level > 0]
            if self._postgres:
                rows = self._session.execute(
                    _PG_NODES,
                    {
                        "seqs": leaves,
                        "levels": [level for level, _ in inner],
                        "idxs": [idx for _, idx in inner],
                    },
                )
            else:
                rows = self._session.execute(_sqlite_nodes(leaves, inner))
            for level, idx, digest in rows:
                found[(int(level), int(idx))] = bytes(digest)
        return found


def _sqlite_nodes(leaves: list[int], inner: list[NodeKey]) -> sa.Executable:
    parts = []
    if leaves:
        parts.append(
            sa.select(sa.literal(0, sa.Integer).label("level"), t.events.c.seq, t.events.c.leaf_hash).where(
                t.events.c.seq.in_(leaves)
            )
        )
    if inner:
        # One (level = ? AND idx IN (...)) term per level, so that SQLite uses the
        # primary key (for a row-value IN list it scans the whole table).
        by_level: dict[int, list[int]] = {}
        for level, idx in inner:
            by_level.setdefault(level, []).append(idx)
        parts.append(
            sa.select(t.nodes.c.level, t.nodes.c.idx, t.nodes.c.hash).where(
                sa.or_(
                    *(
                        sa.and_(t.nodes.c.level == level, t.nodes.c.idx.in_(idxs))
                        for level, idxs in by_level.items()
                    )
                )
            )
        )
    return parts[0] if len(parts) == 1 else sa.union_all(*parts)


class PrefetchedReader:
    """Serves many proofs from one batched read of all the nodes they need."""

    def __init__(self, reader: NodeReader, composites: Iterable[CompositeKey]) -> None:
        wanted = list(dict.fromkeys(key for composite in composites for key in composite))
        self._nodes: Mapping[NodeKey, bytes] = reader.get_nodes(wanted) if wanted else {}

    def get_nodes(self, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
        return {key: self._nodes[key] for key in keys if key in self._nodes}
