"""Re-import the log's tail from its tiles after a database restore (``piivault audit restore-tail``).

A restored database holds the log as it was at the backup. The tiles
directory (:mod:`audit.tiles`), kept outside the backups, holds it up to its
last published checkpoint. :func:`restore_tail` puts back every event the
tiles hold beyond the restored log, and only if all of this holds:

1. the directory's checkpoint is signed by the pinned key, for this log's origin;
2. every level-0 tile up to the checkpoint's size is there and the tree they
   make has the checkpoint's root (RFC 6962), so the tiles are the signed log;
3. the restored log is a prefix of it: each of its leaf hashes equals the tile's;
4. every entry re-imported hashes to its level-0 tile hash.

Anything else is refused (:class:`TailRestoreRefused`) and nothing is written.
The events, their nodes, the head and the tiles' checkpoint are then written in
one transaction under the sequencer's lock; each event gets its entry MAC
(:mod:`audit.authenticity`), since the signed checkpoint has authenticated it.
Run it right after the restore (and ``keys replay-erasures``, whose own events
are only queued), before anything sequences new events: a restored log that
has grown differs from the tiles and is refused. Queued events are left alone;
the sequencer integrates them after the tail.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import sqlalchemy as sa

from audit import tables as t
from audit._storage import LOCK_NAMESPACE, TABLE_OID
from audit.authenticity import EventAuthenticator
from audit.chain import chain_hash
from audit.errors import AuditError
from audit.merkle import append_leaves, frontier_root, leaf_hash
from audit.note import Checkpoint, NoteError, open_checkpoint
from audit.store import LogHead, encode_frontier, read_head
from audit.tiles import ENTRIES, TILE_WIDTH, TileKey, read_checkpoint, read_tile, split_bundle
from piivault.db import utcnow
from vault import DataKey

_COLUMNS = ("actor", "action", "subject_id", "purpose", "outcome", "request_id")


class TailRestoreRefused(AuditError):
    """The tiles cannot be trusted, or do not extend the restored log: nothing was imported."""

    code = "audit_tail_restore_refused"
    http_status = 409


@dataclasses.dataclass(frozen=True)
class TailRestore:
    before: int
    """The restored log's size."""
    after: int
    """The log's size now (the tiles' checkpoint size, or ``before`` if they held nothing more)."""

    @property
    def imported(self) -> int:
        return self.after - self.before


def restore_tail(
    engine: sa.Engine, directory: Path, *, origin: str, public_key: bytes, mac_key: DataKey
) -> TailRestore:
    """Re-import the events the tiles in ``directory`` hold beyond the stored log; see the module docstring.

    Raises:
        TailRestoreRefused: a check failed; nothing was written.
        sqlalchemy.exc.DBAPIError: the database failed; nothing was written.
    """
    note = read_checkpoint(directory)
    if note is None:
        raise TailRestoreRefused(f"no checkpoint in {directory}: is it the tiles directory?")
    try:
        checkpoint = open_checkpoint(note, origin, public_key, origin=origin)
    except NoteError as e:
        raise TailRestoreRefused(f"the tiles' checkpoint does not verify with the pinned key: {e}") from None
    leaves = _tile_leaves(directory, checkpoint.size)
    if frontier_root(append_leaves(0, (), leaves)[1]) != checkpoint.root_hash:
        raise TailRestoreRefused("the level-0 tiles do not make the root their signed checkpoint states")
    with engine.begin() as conn:
        _lock(conn)
        head = read_head(conn, for_update=True)
        stored = list(
            conn.execute(
                sa.select(t.events.c.leaf_hash).where(t.events.c.seq < head.size).order_by(t.events.c.seq)
            ).scalars()
        )
        if len(stored) != head.size:
            raise TailRestoreRefused(
                "the stored log lacks events below its head: run `piivault audit verify`"
            )
        common = min(head.size, checkpoint.size)
        for seq in range(common):
            if bytes(stored[seq]) != leaves[seq]:
                raise TailRestoreRefused(
                    f"the stored log differs from the tiles at event {seq}: it is not a prefix of the "
                    "published log (did it record events before the tail was restored?)"
                )
        if checkpoint.size <= head.size:
            return TailRestore(head.size, head.size)
        entries = _entries(directory, head.size, checkpoint.size, leaves)
        _write(conn, head, entries, leaves, checkpoint, note, mac_key)
    return TailRestore(head.size, checkpoint.size)


def _tile_leaves(directory: Path, size: int) -> list[bytes]:
    leaves: list[bytes] = []
    for n in range((size + TILE_WIDTH - 1) // TILE_WIDTH):
        width = min(TILE_WIDTH, size - n * TILE_WIDTH)
        key = TileKey(0, n, None if width == TILE_WIDTH else width)
        data = _read(directory, key)
        if len(data) != 32 * width:
            raise TailRestoreRefused(f"tile {key.path()} has the wrong length")
        leaves += [data[i : i + 32] for i in range(0, len(data), 32)]
    return leaves


def _entries(directory: Path, start: int, stop: int, leaves: list[bytes]) -> list[bytes]:
    entries: list[bytes] = []
    for n in range(start // TILE_WIDTH, (stop + TILE_WIDTH - 1) // TILE_WIDTH):
        width = min(TILE_WIDTH, stop - n * TILE_WIDTH)
        key = TileKey(ENTRIES, n, None if width == TILE_WIDTH else width)
        try:
            bundle = split_bundle(_read(directory, key))
        except ValueError as e:
            raise TailRestoreRefused(f"entry bundle {key.path()}: {e}") from None
        if len(bundle) != width:
            raise TailRestoreRefused(f"entry bundle {key.path()} holds {len(bundle)} entries, not {width}")
        for i, entry in enumerate(bundle):
            seq = n * TILE_WIDTH + i
            if seq >= start:
                if leaf_hash(entry) != leaves[seq]:
                    raise TailRestoreRefused(f"entry {seq} does not hash to its tile's leaf hash")
                entries.append(entry)
    return entries


def _read(directory: Path, key: TileKey) -> bytes:
    try:
        return read_tile(directory, key)
    except FileNotFoundError:
        raise TailRestoreRefused(f"{key.path()} is missing from the tiles directory") from None


def _lock(conn: sa.Connection) -> None:
    """The sequencer's lock: the same advisory key on PostgreSQL (SQLite: the write lock, already held)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({LOCK_NAMESPACE}, {TABLE_OID})")


def _write(
    conn: sa.Connection,
    head: LogHead,
    entries: list[bytes],
    leaves: list[bytes],
    checkpoint: Checkpoint,
    note: str,
    mac_key: DataKey,
) -> None:
    chain, rows = head.chain_head, []
    for offset, entry in enumerate(entries):
        seq = head.size + offset
        try:
            body = json.loads(entry)
            if body.get("seq") != seq:
                raise ValueError("sequence number")
            when = dt.datetime.fromisoformat(body["time"])
        except (ValueError, KeyError, TypeError):
            raise TailRestoreRefused(f"entry {seq} is not an audit event of this log") from None
        chain = chain_hash(chain, leaves[seq])
        rows.append(
            {
                "seq": seq,
                "time": when,
                **{name: body.get(name) for name in _COLUMNS},
                "payload": entry.decode("utf-8"),
                "leaf_hash": leaves[seq],
                "chain_hash": chain,
                "mac": EventAuthenticator.entry_mac(mac_key, entry),
            }
        )
    nodes, frontier = append_leaves(head.size, head.frontier, leaves[head.size : checkpoint.size])
    conn.execute(t.events.insert(), rows)
    inner = [{"level": level, "idx": idx, "hash": digest} for (level, idx), digest in nodes if level]
    if inner:
        conn.execute(t.nodes.insert(), inner)
    moved = conn.execute(
        sa.update(t.state)
        .where(t.state.c.id == 1, t.state.c.size == head.size)
        .values(
            size=checkpoint.size, chain_head=chain, frontier=encode_frontier(frontier), updated_at=utcnow()
        )
    ).rowcount
    if moved != 1:
        raise TailRestoreRefused("the log head moved during the restore")
    exists = conn.execute(
        sa.select(t.checkpoints.c.size).where(t.checkpoints.c.size == checkpoint.size)
    ).first()
    if exists is None:
        conn.execute(
            t.checkpoints.insert().values(
                size=checkpoint.size,
                root_hash=checkpoint.root_hash,
                timestamp=checkpoint.timestamp,
                note=note,
            )
        )
