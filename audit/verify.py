"""Verification for someone who trusts nothing but the published public key.

:func:`verify_log` reads the stored log and recomputes everything from the
events' own bytes:

* every event: its sequence number (no gap), its leaf hash
  ``SHA-256(0x00 || entry)``, its chain link (:mod:`audit.chain`), and that the
  indexed columns (time, actor, action, subject, purpose, outcome, request id,
  which searches and exposure reports use) say what the hashed entry says;
* the Merkle tree: every stored perfect subtree equals the recomputed one, no
  stored node is missing, none lies outside the tree;
* the head row: size, chain head and frontier;
* every stored checkpoint: its signature under ``public_key``, its origin, that
  its row matches its note, that timestamps do not go backwards, that its root
  is the recomputed root at its size, and an RFC 6962 consistency proof (served
  from the stored nodes, as the API serves it) from the previous checkpoint;
* checkpoints saved earlier outside the database (``saved_checkpoints``, each
  checked): the log must still contain each one's size and root, which is what
  catches a truncated tail whose checkpoints were removed with it;
* the queue: no event has waited longer than the merge delay.

How it stays fast
-----------------
Events are checked in aligned pages of ``2**page_bits`` sequence numbers. A
page is self-contained: its events, its chain links (from the stored chain
hash just before it), and its perfect subtrees (computed level by level, then
compared with the stored ones in one range query per level). Pages go to
worker processes when the log has several; the parent folds the page roots
into the upper tree, derives the root at every checkpoint size from the
frontier before the page plus the page's own subtrees, and checks head and
checkpoints. On PostgreSQL the workers read the parent's exported snapshot,
so everyone sees the same log; on SQLite they read up to the size the parent
saw (the tables are append-only). No per-event query is ever made, and on
PostgreSQL a page's events are streamed, so the server reads and sends rows
while this process hashes the ones before.

The pages are checked by :mod:`audit.verify_pages`, and the indexed columns
compared with the entries by :mod:`audit.verify_columns`; a :class:`VerifyReport`
(:mod:`audit.verify_report`) holds what they find. Hashes and signatures are always
computed in this process, over the bytes read.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from audit.chain import GENESIS
from audit.errors import LogCorrupt
from audit.merkle import EMPTY_ROOT, NodeKey, append_leaves, consistency_proof, fold
from audit.note import NoteError, open_checkpoint
from audit.proof import ProofError, verify_consistency
from audit.store import decode_frontier
from audit.verify_pages import PagePool, node_message, snapshot
from audit.verify_report import VerifyReport

DEFAULT_PAGE_BITS = 16


def verify_log(
    engine: sa.Engine,
    *,
    origin: str,
    public_key: bytes,
    saved_checkpoints: Sequence[str] = (),
    merge_delay: float,
    now: dt.datetime,
    page_bits: int = DEFAULT_PAGE_BITS,
    workers: int | None = None,
) -> VerifyReport:
    """Check the stored log end to end; see the module docstring.

    Never raises for what it finds: problems are in the report, whose ``ok``
    is true only when everything holds. ``workers`` defaults to the CPU count
    (at most 8, and at most one per four pages, since starting a process
    costs about what a page does); with 1, no child process is started.

    Raises:
        ValueError: ``page_bits`` outside 1..24 or ``workers`` below 1.
        sqlalchemy.exc.DBAPIError: the database failed while reading.
    """
    if not 1 <= page_bits <= 24:
        raise ValueError("page_bits must be between 1 and 24")
    if workers is not None and workers < 1:
        raise ValueError("workers must be at least 1")
    started = time.perf_counter()
    report = VerifyReport()
    with snapshot(engine) as (cursor, snapshot_id):
        parent = _Parent(cursor, engine.dialect.name, origin, public_key, page_bits, report)
        parent.run(saved_checkpoints, merge_delay, now, PagePool(engine, snapshot_id, page_bits, workers))
    report.seconds = time.perf_counter() - started
    return report


# -- the whole log ----------------------------------------------------------------------


class _Parent:
    def __init__(
        self, cursor: Any, dialect: str, origin: str, public_key: bytes, bits: int, report: VerifyReport
    ) -> None:
        self.cursor = cursor
        self.dialect = dialect
        self.mark = "%s" if dialect == "postgresql" else "?"
        self.origin = origin
        self.public_key = public_key
        self.bits = bits
        self.report = report
        self.flag = report.flag

    def sql(self, text: str) -> str:
        return text.replace("?", self.mark)

    def run(self, saved_notes: Sequence[str], merge_delay: float, now: dt.datetime, pool: PagePool) -> None:
        cur = self.cursor
        cur.execute("SELECT size, chain_head, frontier FROM audit_state WHERE id = 1")
        head = cur.fetchone()
        cur.execute("SELECT size, root_hash, timestamp, note FROM audit_checkpoints ORDER BY size")
        checkpoints = [(int(s), bytes(r), int(ts), note) for s, r, ts, note in cur.fetchall()]
        cur.execute("SELECT count(*), max(seq) FROM audit_events")
        count, max_seq = cur.fetchone()
        end = 0 if max_seq is None else int(max_seq) + 1  # pages cover every stored seq
        self.check_queue(merge_delay, now)
        several = len(saved_notes) > 1
        names = [
            f"saved checkpoint {i + 1}" if several else "the saved checkpoint"
            for i in range(len(saved_notes))
        ]
        opened = [(name, self.open_saved(note, name)) for name, note in zip(names, saved_notes, strict=True)]
        saved = [(name, checkpoint) for name, checkpoint in opened if checkpoint is not None]

        sizes = {size for size, *_ in checkpoints if 0 < size <= end} | {end} if end else set()
        sizes.update(c.size for _, c in saved if 0 < c.size <= end)
        roots, frontier, chain = self.scan(pool, end, sorted(sizes))
        roots[0] = EMPTY_ROOT
        self.report.events = int(count)

        self.check_head(head, end, int(count), chain, frontier)
        self.check_checkpoints(checkpoints, roots, end)
        for name, checkpoint in saved:
            self.report.saved_checkpoint_sizes.append(checkpoint.size)
            if checkpoint.size > end:
                self.flag(
                    "truncated",
                    end,
                    f"{name} commits to {checkpoint.size} events but the log has {end}: "
                    f"events from index {end} on are missing",
                )
            elif checkpoint.size in roots and roots[checkpoint.size] != checkpoint.root_hash:
                self.flag(
                    "saved_checkpoint",
                    None,
                    f"the log's first {checkpoint.size} events do not have {name}'s root",
                )
        if self.report.saved_checkpoint_sizes:
            self.report.saved_checkpoint_size = max(self.report.saved_checkpoint_sizes)

    def scan(
        self, pool: PagePool, end: int, sizes: list[int]
    ) -> tuple[dict[int, bytes], list[bytes] | None, bytes]:
        """Check every page; return the roots at ``sizes``, the final frontier and chain head."""
        pages = (end + (1 << self.bits) - 1) >> self.bits
        wanted: dict[int, list[int]] = {}
        for size in sizes:
            wanted.setdefault((size - 1) >> self.bits, []).append(size)
        roots: dict[int, bytes] = {}
        upper: list[bytes] = []  # frontier in units of pages
        expected_upper: dict[NodeKey, bytes] = {}
        tree_ok = True
        frontier: list[bytes] | None = []
        chain = GENESIS
        for result in pool.results(self.cursor, pages, end, wanted):
            self.report.merge(result.problems, result.problem_count)
            if result.last_chain is not None:
                chain = result.last_chain
            if tree_ok and not result.complete:
                tree_ok = False
                start = result.index << self.bits
                self.flag("tree", None, f"with events missing, the tree from index {start} on is not checked")
            if not tree_ok:
                frontier = None
                continue
            for size, partial in result.partials.items():
                roots[size] = fold(upper + partial)
            if result.root is not None:
                new_nodes, upper = append_leaves(result.index, upper, [result.root])
                for (level, idx), digest in new_nodes:
                    if level:
                        expected_upper[(level + self.bits, idx)] = digest
                frontier = list(upper)
            else:
                frontier = upper + result.partials.get(end, [])
        self.check_upper_nodes(expected_upper if tree_ok else None, end)
        return roots, frontier, chain

    def check_queue(self, merge_delay: float, now: dt.datetime) -> None:
        cutoff: Any = now - dt.timedelta(seconds=merge_delay)
        if self.dialect == "sqlite":
            cutoff = cutoff.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        self.cursor.execute("SELECT count(*) FROM audit_queue")
        self.report.queued = int(self.cursor.fetchone()[0])
        self.cursor.execute(self.sql("SELECT count(*) FROM audit_queue WHERE enqueued_at < ?"), (cutoff,))
        stale = int(self.cursor.fetchone()[0])
        if stale:
            self.flag(
                "queue_stale",
                None,
                f"{stale} queued event(s) have waited longer than the merge delay ({merge_delay:g}s): "
                "is the sequencer running?",
            )

    def open_saved(self, note: str, name: str) -> Any:
        try:
            return open_checkpoint(note, self.origin, self.public_key, origin=self.origin)
        except (NoteError, ValueError) as e:
            self.flag("saved_checkpoint", None, f"{name} does not verify: {e}")
            return None

    def check_upper_nodes(self, expected: dict[NodeKey, bytes] | None, size: int) -> None:
        if expected is not None:
            self.cursor.execute(
                self.sql("SELECT level, idx, hash FROM audit_nodes WHERE level > ?"), (self.bits,)
            )
            stored = {(int(level), int(idx)): bytes(h) for level, idx, h in self.cursor.fetchall()}
            for (level, idx), digest in sorted(expected.items(), key=lambda item: item[0][1] << item[0][0]):
                if (level, idx) not in stored:
                    self.flag("node_missing", None, node_message(level, idx, "is not stored"))
                elif stored[(level, idx)] != digest:
                    self.flag("node", None, node_message(level, idx, "differs from the recomputed one"))
        # Nodes outside the tree: leaves past the end, or level-0 rows (leaves live in audit_events).
        self.cursor.execute(
            self.sql(
                "SELECT level, idx FROM audit_nodes WHERE level < 1 OR ((idx + 1) << level) > ? "
                "ORDER BY level, idx LIMIT 5"
            ),
            (size,),
        )
        for level, idx in self.cursor.fetchall():
            self.flag(
                "node_extra", None, f"Merkle node ({level}, {idx}) is stored but not in a log of {size}"
            )

    def check_head(self, head: Any, end: int, count: int, chain: bytes, frontier: list[bytes] | None) -> None:
        if head is None:
            self.flag("head", None, "audit_state has no head row")
            return
        head_size, head_chain, head_frontier = int(head[0]), bytes(head[1]), head[2]
        self.report.head_size = head_size
        if head_size != count:
            self.flag(
                "head", min(head_size, count), f"the head says {head_size} events but {count} are stored"
            )
            return
        if count != end:
            return  # missing events, reported with their index
        if head_chain != chain:
            self.flag("head", None, "the head's chain hash is not the last event's")
        try:
            stored_frontier = list(decode_frontier(head_frontier, head_size))
        except LogCorrupt as e:
            self.flag("head", None, str(e))
            return
        if frontier is not None and stored_frontier != frontier:
            self.flag("head", None, "the head's Merkle frontier differs from the recomputed tree")

    def check_checkpoints(
        self, checkpoints: list[tuple[int, bytes, int, str]], roots: dict[int, bytes], size: int
    ) -> None:
        self.report.checkpoints = len(checkpoints)
        reader = _RawNodeReader(self.cursor, self.mark)
        previous: tuple[int, bytes, int] | None = None
        for row_size, row_root, row_time, note in checkpoints:
            try:
                checkpoint = open_checkpoint(note, self.origin, self.public_key, origin=self.origin)
            except (NoteError, ValueError) as e:
                self.flag("checkpoint_signature", None, f"checkpoint at size {row_size}: {e}")
                continue
            signed = (checkpoint.size, checkpoint.root_hash, checkpoint.timestamp)
            if signed != (row_size, row_root, row_time):
                self.flag("checkpoint", None, f"checkpoint row {row_size} does not match its signed note")
                continue
            if row_size > size:
                self.flag(
                    "truncated", size, f"a checkpoint commits to {row_size} events but the log has {size}"
                )
                continue
            if row_size not in roots:
                continue  # past a break in the tree, already reported
            if roots[row_size] != row_root:
                good = previous[0] if previous else 0
                self.flag(
                    "checkpoint_root",
                    None,
                    f"the first {row_size} events do not have the signed root "
                    f"(the change is at or after event {good}, where the last good checkpoint ends)",
                )
                continue
            if previous is not None:
                self.check_consistency(previous, (row_size, row_root, row_time), reader)
            previous = (row_size, row_root, row_time)

    def check_consistency(
        self, old: tuple[int, bytes, int], new: tuple[int, bytes, int], reader: Any
    ) -> None:
        size1, root1, time1 = old
        size2, root2, time2 = new
        if time2 < time1:
            self.flag(
                "checkpoint_order", None, f"checkpoint at size {size2} is older than the one at {size1}"
            )
        if size1 == 0:
            return  # everything is consistent with the empty tree
        try:
            verify_consistency(size1, size2, consistency_proof(size1, size2, reader), root1, root2)
        except (ProofError, LookupError, ValueError) as e:
            self.flag(
                "consistency", None, f"checkpoints at sizes {size1} and {size2} are not consistent: {e}"
            )


class _RawNodeReader:
    """Stored nodes through the verifier's snapshot (level 0 from ``audit_events``)."""

    def __init__(self, cursor: Any, mark: str) -> None:
        self.cursor = cursor
        self.mark = mark

    def get_nodes(self, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
        found: dict[NodeKey, bytes] = {}
        leaves = [idx for level, idx in keys if level == 0]
        inner = [(level, idx) for level, idx in keys if level > 0]
        # Only placeholders are formatted into these statements; values are bound.
        if leaves:
            marks = ", ".join([self.mark] * len(leaves))
            self.cursor.execute(f"SELECT seq, leaf_hash FROM audit_events WHERE seq IN ({marks})", leaves)  # noqa: S608
            found.update({(0, int(seq)): bytes(h) for seq, h in self.cursor.fetchall()})
        if inner:
            # Grouped by level so that SQLite, too, uses the primary key (not a row-value IN).
            by_level: dict[int, list[int]] = {}
            for level, idx in inner:
                by_level.setdefault(level, []).append(idx)
            terms, params = [], []
            for level, idxs in by_level.items():
                terms.append(f"(level = {self.mark} AND idx IN ({', '.join([self.mark] * len(idxs))}))")
                params += [level, *idxs]
            self.cursor.execute(
                f"SELECT level, idx, hash FROM audit_nodes WHERE {' OR '.join(terms)}",  # noqa: S608
                params,
            )
            found.update({(int(level), int(idx)): bytes(h) for level, idx, h in self.cursor.fetchall()})
        return found
