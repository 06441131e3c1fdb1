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

The indexed columns are compared with the entry without parsing it: the
entry is canonical JSON with sorted keys, so an entry whose fields equal the
columns begins with ``{"action":A,"actor":B,"details":``, ends with
``,"request_id":R,"seq":S,"subject_id":T,"time":"..."}`` and holds
``,"outcome":O,"purpose":P,"reason":`` right before its reason; those
fragments are built from the columns (JSON-escaped as the sequencer escapes
them) and compared as text. That is sound for any well-formed JSON entry
without duplicate keys, which every entry the sequencer wrote is (and the
tree and the signed checkpoints check that the entries are the ones it
wrote): the first fragment opens the top-level object; the others begin
with a comma, which cannot lie inside a string (the quote after it would end
the string and leave a bare word, which is not JSON); and nothing after them
opens or closes a nested value (the reason between the last two is checked
for brackets), so they are members of the top-level object. A row the
fragments do not confirm (an edited column, an entry that is not JSON, a
reason holding a bracket) is parsed as JSON and compared field by field,
which also says what differs. (On SQLite the database's JSON functions,
which run in this process and in C, compare a page first; only a page with
a row they do not confirm is compared here.)
Hashes and signatures are always computed here, over the bytes read.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import gc
import hashlib
import json
import os
import re
import sys
import time
import types
from collections.abc import Iterable, Iterator, Sequence
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from operator import itemgetter
from typing import Any

import sqlalchemy as sa

from audit.chain import GENESIS
from audit.errors import LogCorrupt
from audit.merkle import (
    EMPTY_ROOT,
    NodeKey,
    append_leaves,
    consistency_proof,
    decompose,
    fold,
)
from audit.note import NoteError, open_checkpoint
from audit.proof import ProofError, verify_consistency
from audit.store import decode_frontier

MAX_REPORTED = 100
DEFAULT_PAGE_BITS = 16
MAX_WORKERS = 8
_STREAM_ROWS = 1_000  # rows per chunk of a PostgreSQL stream
_PAGES_PER_WORKER = 4
_FIELDS = ("seq", "time", "actor", "action", "subject_id", "purpose", "outcome", "request_id")
_COLUMN_TIME = {
    "postgresql": "to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')",
    # SQLAlchemy stores SQLite datetimes as 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC here).
    "sqlite": "substr(time, 1, 10) || 'T' || substr(time, 12) || 'Z'",
}
# SQLite: the column check in the database's JSON functions, which run in this process
# and in C, and there cost less than fetching the seven columns and comparing them here.
_SQLITE_CHECKED_EVENTS = (
    """
SELECT seq, payload, leaf_hash, chain_hash,
       json_extract(payload, '$.seq') IS seq
       AND json_extract(payload, '$.time') IS """
    + _COLUMN_TIME["sqlite"]
    + """
       AND json_extract(payload, '$.actor') IS actor
       AND json_extract(payload, '$.action') IS action
       AND json_extract(payload, '$.subject_id') IS subject_id
       AND json_extract(payload, '$.purpose') IS purpose
       AND json_extract(payload, '$.outcome') IS outcome
       AND json_extract(payload, '$.request_id') IS request_id
FROM audit_events
WHERE seq >= ? AND seq < ?
ORDER BY seq
"""
)


@dataclasses.dataclass(frozen=True)
class Problem:
    """One thing that does not hold. ``index`` is the first event it concerns, if any."""

    kind: str
    index: int | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "index": self.index, "message": self.message}


@dataclasses.dataclass
class VerifyReport:
    events: int = 0
    head_size: int | None = None
    checkpoints: int = 0
    saved_checkpoint_size: int | None = None
    saved_checkpoint_sizes: list[int] = dataclasses.field(default_factory=list)
    trust_anchor: str | None = None
    authenticity: dict[str, Any] | None = None
    """Entry MAC counts (:class:`audit.authenticity.MacReport`), when the operator's key checked them."""
    queued: int = 0
    workers: int = 1
    problems: list[Problem] = dataclasses.field(default_factory=list)
    problem_count: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    @property
    def first_bad_index(self) -> int | None:
        indexes = [p.index for p in self.problems if p.index is not None]
        return min(indexes) if indexes else None

    def flag(self, kind: str, index: int | None, message: str) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_REPORTED:
            self.problems.append(Problem(kind, index, message))

    def merge(self, problems: Sequence[Problem], count: int) -> None:
        self.problem_count += count
        room = MAX_REPORTED - len(self.problems)
        if room > 0:
            self.problems.extend(problems[:room])

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "head_size": self.head_size,
            "checkpoints": self.checkpoints,
            "saved_checkpoint_size": self.saved_checkpoint_size,
            "saved_checkpoint_sizes": list(self.saved_checkpoint_sizes),
            "trust_anchor": self.trust_anchor,
            "authenticity": self.authenticity,
            "queued": self.queued,
            "first_bad_index": self.first_bad_index,
            "problem_count": self.problem_count,
            "problems": [p.to_dict() for p in self.problems],
            "seconds": round(self.seconds, 3),
        }

    def summary(self) -> list[str]:
        """Human-readable lines: the verdict first."""
        rate = self.events / self.seconds if self.seconds else 0.0
        lines = [
            f"{'OK' if self.ok else 'FAILED'}: {self.events} events, {self.checkpoints} checkpoints, "
            f"{self.queued} queued ({self.seconds:.2f}s, {rate:,.0f} events/s)"
        ]
        if self.trust_anchor is not None:
            lines.append(f"trust anchor: {self.trust_anchor}")
        if self.authenticity is not None:
            a = self.authenticity
            lines.append(
                f"event MACs: {a['valid']} valid, {a['invalid']} forged ({a['recorded']} recorded as forged "
                f"by the sequencer), {a['legacy']} from before MACs"
            )
        else:
            lines.append("event MACs: not checked (needs the operator's key: run without --key)")
        for size in self.saved_checkpoint_sizes:
            lines.append(f"saved checkpoint at size {size} checked")
        if not self.ok:
            first = self.first_bad_index
            lines.append(
                f"{self.problem_count} problem(s); first bad index: {'-' if first is None else first}"
            )
            lines.extend(f"  [{p.kind}] {p.message}" for p in self.problems)
            if self.problem_count > len(self.problems):
                lines.append(f"  ... and {self.problem_count - len(self.problems)} more")
        return lines


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
    with _snapshot(engine) as (cursor, snapshot_id):
        parent = _Parent(cursor, engine.dialect.name, origin, public_key, page_bits, report)
        parent.run(saved_checkpoints, merge_delay, now, _PagePool(engine, snapshot_id, page_bits, workers))
    report.seconds = time.perf_counter() - started
    return report


@contextlib.contextmanager
def _snapshot(engine: sa.Engine, snapshot_id: str | None = None) -> Iterator[tuple[Any, str | None]]:
    """A DBAPI cursor in a read-only snapshot (PostgreSQL: exported, or imported from ``snapshot_id``)."""
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        if engine.dialect.name == "postgresql":
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            if snapshot_id is None:
                cursor.execute("SELECT pg_export_snapshot()")
                snapshot_id = cursor.fetchone()[0]
            else:
                # Not a bindable parameter; the id is PostgreSQL's own, checked to be plain hex.
                if not re.fullmatch(r"[0-9A-F]+(-[0-9A-F]+)+", snapshot_id):
                    raise ValueError("not a PostgreSQL snapshot id")
                cursor.execute(f"SET TRANSACTION SNAPSHOT '{snapshot_id}'")
        else:
            cursor.execute("BEGIN")  # deferred: a WAL snapshot without taking the write lock
        yield cursor, snapshot_id
    finally:
        try:
            raw.rollback()
        finally:
            raw.close()


# -- one page --------------------------------------------------------------------------


@dataclasses.dataclass
class _PageResult:
    index: int
    count: int
    complete: bool
    """Every sequence number of the page's range (up to the log's end) is there, in order."""
    root: bytes | None
    """The page's perfect subtree, when it holds a full page of events."""
    partials: dict[int, list[bytes]]
    """For each wanted size ``s`` inside the page: the page's subtrees covering [start, s)."""
    last_chain: bytes | None
    problems: list[Problem]
    problem_count: int


class _PageChecker:
    """Checks one aligned page of events and its perfect subtrees."""

    def __init__(self, cursor: Any, dialect: str, bits: int) -> None:
        self.cursor = cursor
        self.postgres = dialect == "postgresql"
        self.mark = "%s" if self.postgres else "?"
        self.bits = bits
        self.events_query = self.sql(
            "SELECT seq, payload, leaf_hash, chain_hash, "
            + _COLUMN_TIME[dialect]
            + ", actor, action, subject_id, purpose, outcome, request_id "
            "FROM audit_events WHERE seq >= ? AND seq < ? ORDER BY seq"
        )
        self.chain_query = self.sql("SELECT chain_hash FROM audit_events WHERE seq = ?")
        self.nodes_query = self.sql(
            "SELECT idx, hash FROM audit_nodes WHERE level = ? AND idx >= ? AND idx < ? ORDER BY idx"
        )
        concat = "string_agg(hash, '' ORDER BY idx)" if self.postgres else "group_concat(hex(hash), '')"
        # SQLite's group_concat has no ORDER BY (before 3.44): order the rows in a subquery.
        self.nodes_concat_query = self.sql(
            f"SELECT count(*), {concat} FROM (SELECT idx, hash FROM audit_nodes "  # noqa: S608 - constants
            "WHERE level = ? AND idx >= ? AND idx < ? ORDER BY idx) AS page"
        )

    def sql(self, text: str) -> str:
        return text.replace("?", self.mark)

    def check(self, index: int, end: int, wanted: Sequence[int]) -> _PageResult:
        report = VerifyReport()
        start = index << self.bits
        stop = min(start + (1 << self.bits), end)
        chain = GENESIS
        if start:
            self.cursor.execute(self.chain_query, (start - 1,))
            row = self.cursor.fetchone()
            chain = bytes(row[0]) if row else None
        leaves, last_chain, complete = self.check_events(self.events(start, stop), start, stop, chain, report)
        root = None
        partials: dict[int, list[bytes]] = {}
        if complete:
            levels = _levels(leaves, self.bits)
            self.check_nodes(start, levels, report)
            if len(leaves) == 1 << self.bits:
                root = levels[self.bits][0]
            for size in wanted:
                partials[size] = [
                    levels[level][idx - (start >> level)] for level, idx in decompose(start, size)
                ]
        return _PageResult(
            index, len(leaves), complete, root, partials, last_chain, report.problems, report.problem_count
        )

    def events(self, start: int, stop: int) -> Iterable[Sequence[Any]]:
        """The page's events in sequence order (see :meth:`check_events` for the columns).

        PostgreSQL streams them in chunks: the server reads and sends the
        next rows while this process hashes the last ones, and a page is never
        held in memory whole. SQLite first tries the page with the column
        check done by its JSON functions (rows then carry only its verdict);
        if any row fails it, or an entry is not even JSON, the page is read
        again with the columns, to be checked and explained here.
        """
        if self.postgres:
            import psycopg  # the PostgreSQL driver (a dependency); chunked mode needs libpq 17

            if psycopg.pq.version() >= 170000:
                return self.cursor.stream(self.events_query, (start, stop), size=_STREAM_ROWS)
            # Row-by-row streaming costs a round of libpq calls per row: with an older
            # libpq, fetch chunks from a server-side cursor in the same snapshot instead.
            return self._server_side(start, stop)
        try:
            self.cursor.execute(_SQLITE_CHECKED_EVENTS, (start, stop))
            rows = self.cursor.fetchall()
        except Exception:  # noqa: BLE001 - malformed JSON: the row-by-row path reports it
            rows = None
        if rows is not None and all(row[4] for row in rows):
            return rows
        self.cursor.execute(self.events_query, (start, stop))
        return self.cursor.fetchall()

    def _server_side(self, start: int, stop: int) -> Iterator[Sequence[Any]]:
        with self.cursor.connection.cursor(name=f"audit_page_{start}") as named:
            named.itersize = _STREAM_ROWS
            named.execute(self.events_query, (start, stop))
            yield from named

    def check_events(
        self,
        rows: Iterable[Sequence[Any]],
        start: int,
        stop: int,
        chain: bytes | None,
        report: VerifyReport,
    ) -> tuple[list[bytes], bytes | None, bool]:
        """Sequence numbers, leaf hashes, chain links and the indexed columns.

        Rows are ``(seq, payload, leaf_hash, chain_hash, time text, actor,
        action, subject_id, purpose, outcome, request_id)``, or (SQLite)
        ``(seq, payload, leaf_hash, chain_hash, true)`` when the database
        found every row's columns equal to its entry's fields.
        """
        sha256 = hashlib.sha256
        flag = report.flag
        columns_agree = _ColumnCheck()
        leaves: list[bytes] = []
        append = leaves.append
        position = start
        complete = True
        # chain is None when the event before the page is missing: the page before reports it.
        for row in rows:
            seq, payload, stored_leaf, stored_chain = row[0], row[1], row[2], row[3]
            if seq != position:
                flag("sequence", position, f"event {position} is missing (next stored is {seq})")
                complete = False
                position = seq
            data = payload.encode() if type(payload) is str else bytes(payload)  # a BLOB on SQLite
            leaf = sha256(b"\x00" + data).digest()
            append(leaf)
            if leaf != stored_leaf:
                flag("leaf_hash", seq, f"event {seq}: its entry does not hash to its leaf hash")
            # Each link is checked from the stored hash before it, so one bad row is one problem.
            if chain is not None and sha256(chain + leaf).digest() != stored_chain:
                flag("chain", seq, f"event {seq}: its chain hash does not follow from the one before")
            chain = stored_chain
            position += 1
            if len(row) > 5 and not columns_agree(row):
                _check_columns_parsed(row, report)
        if position != stop:
            flag("sequence", position, f"event {position} is missing")
            complete = False
        return leaves, (bytes(chain) if leaves and chain is not None else None), complete

    def check_nodes(self, start: int, levels: list[list[bytes]], report: VerifyReport) -> None:
        for level in range(1, len(levels)):
            expected = levels[level]
            first = start >> level
            bounds = (level, first, first + len(expected))
            # First one value per level (all hashes in index order, concatenated);
            # only when that differs, row by row to say which node.
            self.cursor.execute(self.nodes_concat_query, bounds)
            count, joined = self.cursor.fetchone()
            if count == len(expected) and _as_bytes(joined) == b"".join(expected):
                continue  # (level, idx) is the key: the right count means every idx is there
            self.cursor.execute(self.nodes_query, bounds)
            rows = self.cursor.fetchall()
            stored = {int(idx): bytes(h) for idx, h in rows}
            for offset, digest in enumerate(expected):
                idx = first + offset
                if idx not in stored:
                    report.flag("node_missing", None, _node_message(level, idx, "is not stored"))
                elif stored[idx] != digest:
                    report.flag("node", None, _node_message(level, idx, "differs from the recomputed one"))


class _PagePool:
    """Runs page checks inline or in worker processes, yielding results in page order."""

    def __init__(self, engine: sa.Engine, snapshot_id: str | None, bits: int, workers: int | None) -> None:
        self.engine = engine
        self.snapshot_id = snapshot_id
        self.bits = bits
        self.workers = workers

    def results(
        self, cursor: Any, pages: int, end: int, wanted: dict[int, list[int]]
    ) -> Iterator[_PageResult]:
        tasks = [(index, end, wanted.get(index, [])) for index in range(pages)]
        # By default a worker process only when it gets a few pages: starting one costs
        # about what checking a page does.
        workers = self.workers or min(os.cpu_count() or 1, MAX_WORKERS, pages // _PAGES_PER_WORKER)
        workers = min(workers, pages)
        if workers <= 1 or not _shareable(self.engine):
            checker = _PageChecker(cursor, self.engine.dialect.name, self.bits)
            for task in tasks:
                yield checker.check(*task)
            return
        url = self.engine.url.render_as_string(hide_password=False)
        import multiprocessing  # a log large enough for worker processes only (issue 13)

        context = multiprocessing.get_context("spawn")
        setup = (url, self.snapshot_id, self.bits)
        with _without_main_module():
            pool = context.Pool(workers, initializer=_worker_init, initargs=setup)
        with pool:
            yield from pool.imap(_worker_check, tasks)


@contextlib.contextmanager
def _without_main_module() -> Iterator[None]:
    """Start processes that do not import the parent's main module.

    A spawned child first imports the parent's ``__main__`` (its script or
    ``-m`` module); for ``piivault audit verify`` that is the whole CLI, seconds
    of imports per worker, more than checking a page costs. The workers need
    only this module, which unpickling their tasks imports. The pool starts
    its processes in its constructor, inside this block.
    """
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def _shareable(engine: sa.Engine) -> bool:
    database = engine.url.database
    return engine.dialect.name == "postgresql" or bool(database and database != ":memory:")


_worker: dict[str, Any] = {}


def _worker_init(url: str, snapshot_id: str | None, bits: int) -> None:
    # An initializer that raises makes the pool respawn workers forever: keep
    # the error and raise it from the first task instead, in the parent.
    try:
        from piivault.db import make_engine

        engine = make_engine(url)
        stack = contextlib.ExitStack()
        cursor, _ = stack.enter_context(_snapshot(engine, snapshot_id))
        _worker.update(stack=stack, checker=_PageChecker(cursor, engine.dialect.name, bits))
        # This process only checks pages, whose rows (millions of tuples, no cycles) would
        # otherwise set off the cycle collector again and again.
        gc.disable()
    except Exception as e:  # noqa: BLE001 - re-raised by _worker_check
        _worker["error"] = RuntimeError(f"verification worker could not start: {type(e).__name__}")


def _worker_check(task: tuple[int, int, list[int]]) -> _PageResult:
    if "error" in _worker:
        raise _worker["error"]
    return _worker["checker"].check(*task)


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

    def run(self, saved_notes: Sequence[str], merge_delay: float, now: dt.datetime, pool: _PagePool) -> None:
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
        self, pool: _PagePool, end: int, sizes: list[int]
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
                    self.flag("node_missing", None, _node_message(level, idx, "is not stored"))
                elif stored[(level, idx)] != digest:
                    self.flag("node", None, _node_message(level, idx, "differs from the recomputed one"))
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


class _ColumnCheck:
    """Whether a row's indexed columns are the fields of its entry, without parsing the entry.

    Builds the fragments a canonical entry with those fields must begin with,
    end with and hold before its reason (see the module docstring for why
    finding them is enough), with the sequencer's JSON string escaping. The
    fragments of the few columns that repeat across many events (action and
    actor; outcome and purpose) are kept. False means "not confirmed", not
    "different": the caller then parses the entry.
    """

    def __init__(self) -> None:
        self._heads: dict[tuple[Any, Any], str] = {}
        self._middles: dict[tuple[Any, Any], str] = {}

    def __call__(self, row: Sequence[Any]) -> bool:
        seq, payload, _, _, when, actor, action, subject_id, purpose, outcome, request_id = row
        try:
            head = self._heads.get((action, actor)) or self._head(action, actor)
            # encode_basestring raises TypeError for a column that is not text (SQLite).
            request = "null" if request_id is None else encode_basestring(request_id)
            subject = "null" if subject_id is None else encode_basestring(subject_id)
            stamp = encode_basestring(when)
            tail = f',"request_id":{request},"seq":{seq:d},"subject_id":{subject},"time":{stamp}}}'
            if not (payload.startswith(head) and payload.endswith(tail)):
                return False
            middle = self._middles.get((outcome, purpose)) or self._middle(outcome, purpose)
        except (TypeError, ValueError, AttributeError):  # a column or entry of another type (SQLite)
            return False
        end = len(payload) - len(tail)
        at = payload.rfind(middle, len(head), end)
        if at < 0:
            return False
        # The reason itself: a string or null, with no bracket that could open a nested value.
        reason = payload[at + len(middle) : end]
        return reason == "null" or not _BRACKETS.intersection(reason)

    def _head(self, action: Any, actor: Any) -> str:
        head = f'{{"action":{_json_string(action)},"actor":{_json_string(actor)},"details":'
        self._heads[(action, actor)] = head
        return head

    def _middle(self, outcome: Any, purpose: Any) -> str:
        middle = f',"outcome":{_json_string(outcome)},"purpose":{_json_string(purpose)},"reason":'
        self._middles[(outcome, purpose)] = middle
        return middle


_BRACKETS = frozenset("{}[]")


def _json_string(value: str | None) -> str:
    """A string column as canonical JSON writes it (json.dumps with ensure_ascii=False).

    Raises:
        TypeError: the value is neither a string nor None.
    """
    if value is None:
        return "null"
    if type(value) is not str:
        raise TypeError("not a string column")
    return encode_basestring(value)


def _check_columns_parsed(row: Sequence[Any], report: VerifyReport) -> None:
    """Parse the entry and compare its fields with the row's indexed columns, saying what differs."""
    seq = row[0]
    try:
        claimed = _claimed_fields(json.loads(row[1]))
    except (ValueError, TypeError, KeyError):
        report.flag("entry", seq, f"event {seq}: its entry is not a complete JSON event")
        return
    if claimed != (seq, *row[4:]):
        report.flag("columns", seq, _column_message(seq, claimed, row))


_claimed_fields = itemgetter(*_FIELDS)


def _levels(leaves: list[bytes], max_level: int) -> list[list[bytes]]:
    """Perfect subtrees of an aligned page, level by level (only complete ones)."""
    sha256 = hashlib.sha256
    levels = [leaves]
    level = leaves
    while len(level) > 1 and len(levels) <= max_level:
        pairs = zip(level[0::2], level[1::2], strict=False)
        level = [sha256(b"\x01" + left + right).digest() for left, right in pairs]
        levels.append(level)
    return levels


def _as_bytes(value: Any) -> bytes:
    # string_agg over bytea gives bytes; SQLite's group_concat of hex() gives text.
    if value is None:
        return b""
    return bytes.fromhex(value) if isinstance(value, str) else bytes(value)


def _node_message(level: int, idx: int, what: str) -> str:
    first = idx << level
    return f"Merkle node ({level}, {idx}) over events {first}..{first + (1 << level) - 1} {what}"


def _column_message(seq: int, claimed: tuple[Any, ...], row: Sequence[Any]) -> str:
    stored = (seq, *row[4:])
    differing = [name for name, a, b in zip(_FIELDS, claimed, stored, strict=True) if a != b]
    if differing == ["seq"]:
        return f"event {seq}: its entry is for sequence number {claimed[0]}"
    return f"event {seq}: stored {', '.join(differing)} differ(s) from the hashed entry"
