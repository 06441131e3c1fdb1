"""The log published as C2SP tlog-tiles (c2sp.org/tlog-tiles): a directory of static files.

Layout, under the directory (``PIIVAULT_AUDIT_TILES_DIR`` or ``piivault audit
publish --dir DIR``)::

    checkpoint                      the latest signed checkpoint (signed note, Ed25519)
    tile/<L>/<N>[.p/<W>]            Merkle tree tiles: 256 hashes of 32 bytes, or W < 256
    tile/entries/<N>[.p/<W>]        entry bundles: each entry as uint16 big-endian length || bytes

``<N>`` is written in 3-digit groups, all but the last prefixed with ``x``
(1234067 -> ``x001/x234/067``). Tile ``n`` of level ``l`` holds the Merkle
tree hashes of the subtrees of ``256**l`` leaves at indexes ``n*256 ..
n*256+255``: leaf hashes at level 0 (``audit_events.leaf_hash``) and, above,
the perfect subtrees of height ``8*l`` that the sequencer stores anyway
(``audit_nodes``), so publishing hashes nothing. A partial tile (the right
edge of the tree at a checkpoint's size) is written under its width and kept,
as the spec requires for every size a checkpoint was published at.

Publishing (:func:`publish`) writes what the newest stored checkpoint covers
beyond the directory's own ``checkpoint``: entry bundles and tiles first, each
atomically (a temporary file renamed into place), the checkpoint last, so a
reader never sees a checkpoint whose tiles are missing. Full tiles are
immutable: one that exists with other bytes, or a directory whose checkpoint
is ahead of the database's, means the database is not the log the tiles
publish (a restored backup): publishing stops (:class:`TilesDiverge`) until
``piivault audit restore-tail`` has re-imported the tail (:mod:`audit.restore`).

The directory is a copy of the log outside database backups: keep it on other
storage, or sync it to a web server (the files are served as they are).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import sqlalchemy as sa

from audit import tables as t
from audit.errors import LogCorrupt, TilesDiverge

TILE_WIDTH = 256
HASH_BYTES = 32
LEVEL_BITS = 8  # a tile spans 8 levels of the Merkle tree
MAX_ENTRY_BYTES = 0xFFFF
CHECKPOINT = "checkpoint"
ENTRIES = "entries"
_LOCK = ".publish.lock"
_PATH = re.compile(
    r"tile/(?P<level>0|[1-9][0-9]?|entries)/(?P<index>(?:x[0-9]{3}/)*[0-9]{3})(?:\.p/(?P<width>[1-9][0-9]{0,2}))?"
)


@dataclasses.dataclass(frozen=True)
class TileKey:
    """One resource: ``level`` 0..63 or ``"entries"``, index ``n``, and ``width`` if partial."""

    level: int | str
    index: int
    width: int | None = None

    def path(self) -> str:
        suffix = "" if self.width is None else f".p/{self.width}"
        return f"tile/{self.level}/{encode_index(self.index)}{suffix}"


def encode_index(n: int) -> str:
    """The tile index as path elements: 3-digit groups, ``x``-prefixed but the last."""
    if n < 0:
        raise ValueError("a tile index is not negative")
    groups = []
    while True:
        groups.append(f"{n % 1000:03d}")
        n //= 1000
        if n == 0:
            break
    return "/".join([f"x{g}" for g in reversed(groups[1:])] + [groups[0]])


def parse_path(path: str) -> TileKey | None:
    """The :class:`TileKey` a request path (relative to the prefix) names, or None if none."""
    match = _PATH.fullmatch(path)
    if match is None:
        return None
    level_text = match["level"]
    level: int | str = level_text if level_text == ENTRIES else int(level_text)
    if isinstance(level, int) and level > 63:
        return None
    groups = match["index"].replace("x", "").split("/")
    width = int(match["width"]) if match["width"] else None
    if width is not None and width >= TILE_WIDTH:
        return None
    return TileKey(level, int("".join(groups)), width)


def tiles_for(size: int, since: int = 0) -> list[TileKey]:
    """Every tile and entry bundle a tree of ``size`` needs that a tree of ``since`` did not."""
    keys: list[TileKey] = []
    level = 0
    while size >> (LEVEL_BITS * level):
        count, before = size >> (LEVEL_BITS * level), since >> (LEVEL_BITS * level)
        full, width = divmod(count, TILE_WIDTH)
        for n in range(before // TILE_WIDTH, full):
            keys.append(TileKey(level, n))
        if width:
            keys.append(TileKey(level, full, width))
        if level == 0:
            keys += [TileKey(ENTRIES, k.index, k.width) for k in keys]
        level += 1
    return keys


def checkpoint_size(note: str) -> int:
    """The tree size a checkpoint note's body states (its second line); signatures are not checked here."""
    lines = note.split("\n")
    if len(lines) < 3 or not lines[1].isdigit():
        raise TilesDiverge("the tiles directory's checkpoint is malformed")
    return int(lines[1])


@dataclasses.dataclass(frozen=True)
class PublishResult:
    size: int
    """The size of the checkpoint the directory now publishes."""
    written: int
    """Tiles and entry bundles written by this call."""


def publish(engine: sa.Engine, directory: Path) -> PublishResult:
    """Bring ``directory`` up to the newest stored checkpoint; see the module docstring.

    Raises:
        TilesDiverge: the directory publishes a log the database does not extend.
        OSError: the directory cannot be written.
        sqlalchemy.exc.DBAPIError: the database failed.
    """
    directory.mkdir(parents=True, exist_ok=True)
    with _locked(directory), engine.connect() as conn:
        row = conn.execute(
            sa.select(t.checkpoints.c.size, t.checkpoints.c.note)
            .order_by(t.checkpoints.c.size.desc())
            .limit(1)
        ).first()
        published = read_checkpoint(directory)
        since = 0 if published is None else checkpoint_size(published)
        if row is None:
            if since:
                raise _ahead(since, 0)
            return PublishResult(0, 0)
        size, note = int(row[0]), row[1]
        if since > size or since == size and published != note:
            raise _ahead(since, size)
        if since == size:
            return PublishResult(size, 0)
        written = 0
        for key in tiles_for(size, since):
            written += _write_tile(directory, key, _tile_bytes(conn, key))
        _write_atomic(directory / CHECKPOINT, note.encode("utf-8"))
        return PublishResult(size, written)


def read_checkpoint(directory: Path) -> str | None:
    """The directory's checkpoint note, or None if it has none yet."""
    try:
        return (directory / CHECKPOINT).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def read_tile(directory: Path, key: TileKey) -> bytes:
    """A tile's bytes. Raises FileNotFoundError if it was not published."""
    return (directory / key.path()).read_bytes()


def split_bundle(data: bytes) -> list[bytes]:
    """The entries of an entry bundle. Raises ValueError unless it is uint16-prefixed entries."""
    entries, at = [], 0
    while at < len(data):
        if at + 2 > len(data):
            raise ValueError("an entry bundle ends inside a length prefix")
        length = int.from_bytes(data[at : at + 2], "big")
        if at + 2 + length > len(data):
            raise ValueError("an entry bundle ends inside an entry")
        entries.append(data[at + 2 : at + 2 + length])
        at += 2 + length
    return entries


def _ahead(published: int, size: int) -> TilesDiverge:
    return TilesDiverge(
        f"the tiles directory publishes a checkpoint at size {published} that the database "
        f"(newest checkpoint at size {size}) does not extend: after a database restore, run "
        "`piivault audit restore-tail --from DIR`"
    )


def _tile_bytes(conn: sa.Connection, key: TileKey) -> bytes:
    start = key.index * TILE_WIDTH
    stop = start + (key.width or TILE_WIDTH)
    if key.level == ENTRIES or key.level == 0:
        e = t.events.c
        column = e.payload if key.level == ENTRIES else e.leaf_hash
        values = list(
            conn.execute(sa.select(column).where(e.seq >= start, e.seq < stop).order_by(e.seq)).scalars()
        )
    else:
        n = t.nodes.c
        query = (
            sa.select(n.hash)
            .where(n.level == LEVEL_BITS * int(key.level), n.idx >= start, n.idx < stop)
            .order_by(n.idx)
        )
        values = list(conn.execute(query).scalars())
    if len(values) != stop - start:
        raise LogCorrupt(f"the log lacks what tile {key.path()} needs: run `piivault audit verify`")
    if key.level == ENTRIES:
        return _bundle([v.encode("utf-8") for v in values])
    return b"".join(bytes(v) for v in values)


def _bundle(entries: Sequence[bytes]) -> bytes:
    parts = []
    for entry in entries:
        if len(entry) > MAX_ENTRY_BYTES:
            raise LogCorrupt("an audit entry is too long for an entry bundle")
        parts.append(len(entry).to_bytes(2, "big") + entry)
    return b"".join(parts)


def _write_tile(directory: Path, key: TileKey, data: bytes) -> int:
    """Write a tile unless it exists; an existing one with other bytes means the logs diverge."""
    path = directory / key.path()
    try:
        existing = path.read_bytes()
    except FileNotFoundError:
        _write_atomic(path, data)
        return 1
    if existing != data:
        raise TilesDiverge(
            f"tile {key.path()} in the tiles directory differs from the database's log: the "
            "database is not the log the tiles publish (a restored backup that has recorded "
            "new events since?)"
        )
    return 0


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """One publisher at a time per directory (processes of one host)."""
    with open(directory / _LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
