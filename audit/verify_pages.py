"""One aligned page of the audit log, checked on its own, inline or in a worker process
(for :mod:`audit.verify`, whose docstring says what a page is and why).

A worker process reads the parent's snapshot (PostgreSQL: exported by the parent
and imported here; SQLite: up to the size the parent saw, the tables being
append-only) and returns what the parent folds into the upper tree: the page's
root, the subtrees at the checkpoint sizes inside it, its last chain hash and its
problems.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import hashlib
import os
import re
import sys
import types
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa

from audit.chain import GENESIS
from audit.merkle import decompose
from audit.verify_columns import COLUMN_TIME, SQLITE_CHECKED_EVENTS, ColumnCheck, check_columns_parsed
from audit.verify_report import Problem, VerifyReport

MAX_WORKERS = 8
_STREAM_ROWS = 1_000  # rows per chunk of a PostgreSQL stream
_PAGES_PER_WORKER = 4


@contextlib.contextmanager
def snapshot(engine: sa.Engine, snapshot_id: str | None = None) -> Iterator[tuple[Any, str | None]]:
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


@dataclasses.dataclass
class PageResult:
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


class PageChecker:
    """Checks one aligned page of events and its perfect subtrees."""

    def __init__(self, cursor: Any, dialect: str, bits: int) -> None:
        self.cursor = cursor
        self.postgres = dialect == "postgresql"
        self.mark = "%s" if self.postgres else "?"
        self.bits = bits
        self.events_query = self.sql(
            "SELECT seq, payload, leaf_hash, chain_hash, "
            + COLUMN_TIME[dialect]
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

    def check(self, index: int, end: int, wanted: Sequence[int]) -> PageResult:
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
            levels = levels_of_page(leaves, self.bits)
            self.check_nodes(start, levels, report)
            if len(leaves) == 1 << self.bits:
                root = levels[self.bits][0]
            for size in wanted:
                partials[size] = [
                    levels[level][idx - (start >> level)] for level, idx in decompose(start, size)
                ]
        return PageResult(
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
            self.cursor.execute(SQLITE_CHECKED_EVENTS, (start, stop))
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
        columns_agree = ColumnCheck()
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
                check_columns_parsed(row, report)
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
                    report.flag("node_missing", None, node_message(level, idx, "is not stored"))
                elif stored[idx] != digest:
                    report.flag("node", None, node_message(level, idx, "differs from the recomputed one"))


class PagePool:
    """Runs page checks inline or in worker processes, yielding results in page order."""

    def __init__(self, engine: sa.Engine, snapshot_id: str | None, bits: int, workers: int | None) -> None:
        self.engine = engine
        self.snapshot_id = snapshot_id
        self.bits = bits
        self.workers = workers

    def results(
        self, cursor: Any, pages: int, end: int, wanted: dict[int, list[int]]
    ) -> Iterator[PageResult]:
        tasks = [(index, end, wanted.get(index, [])) for index in range(pages)]
        # By default a worker process only when it gets a few pages: starting one costs
        # about what checking a page does.
        workers = self.workers or min(os.cpu_count() or 1, MAX_WORKERS, pages // _PAGES_PER_WORKER)
        workers = min(workers, pages)
        if workers <= 1 or not _shareable(self.engine):
            checker = PageChecker(cursor, self.engine.dialect.name, self.bits)
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
        cursor, _ = stack.enter_context(snapshot(engine, snapshot_id))
        _worker.update(stack=stack, checker=PageChecker(cursor, engine.dialect.name, bits))
        # This process only checks pages, whose rows (millions of tuples, no cycles) would
        # otherwise set off the cycle collector again and again.
        gc.disable()
    except Exception as e:  # noqa: BLE001 - re-raised by _worker_check
        _worker["error"] = RuntimeError(f"verification worker could not start: {type(e).__name__}")


def _worker_check(task: tuple[int, int, list[int]]) -> PageResult:
    if "error" in _worker:
        raise _worker["error"]
    return _worker["checker"].check(*task)


def levels_of_page(leaves: list[bytes], max_level: int) -> list[list[bytes]]:
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


def node_message(level: int, idx: int, what: str) -> str:
    first = idx << level
    return f"Merkle node ({level}, {idx}) over events {first}..{first + (1 << level) - 1} {what}"
