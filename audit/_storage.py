"""The sequencer's database work, one class per backend (private to :mod:`audit.sequencer`).

A sequencer step needs: take the lock, lock the head and read the queue,
bulk-write events and nodes, move the head, delete the integrated queue rows,
read and write checkpoints, end the transaction, and (PostgreSQL) look at the
queue again after releasing the lock. Both classes do exactly that through the
DBAPI connection, because SQLAlchemy's executemany sends one statement per row
on psycopg and dominated the cost; table and column names are constants of
this module, never input.

PostgreSQL (:class:`PgStep`): one connection per process, kept open in
autocommit mode, and a *session* advisory lock keyed by the ``audit_state``
table's OID (so two schemas in one database do not share it). A failed try is
then one round trip and nothing to roll back; a step is four round trips (try
the lock; BEGIN + lock the head + read the queue; the writes; COMMIT + unlock +
look at the queue), the statements of each sent as one psycopg pipeline. Each
statement of a pipeline still starts after the previous one has finished, so
the queue is read after the lock is taken. COPY (not allowed in a pipeline)
writes large batches.

SQLite (:class:`SqliteStep`): an ordinary SQLAlchemy connection whose
``BEGIN IMMEDIATE`` (:mod:`piivault.db`) is the lock.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from audit.errors import LogCorrupt
from audit.store import CheckpointRecord, LogHead, head_from_row, read_head

EVENT_COLUMNS = (
    "seq",
    "time",
    "actor",
    "action",
    "subject_id",
    "purpose",
    "outcome",
    "request_id",
    "payload",
    "leaf_hash",
    "chain_hash",
)
NODE_COLUMNS = ("level", "idx", "hash")
LOCK_NAMESPACE = 0x50494956  # "PIIV": first key of the two-key advisory lock
TABLE_OID = "CAST(CAST(CAST('audit_state' AS regclass) AS oid) AS integer)"
SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy stores SQLite datetimes (naive UTC)

_COPY_FROM = 64  # rows from which COPY beats a pipelined INSERT on PostgreSQL
_SQL_CHUNK = 5_000
_HEAD = "SELECT size, chain_head, frontier, updated_at FROM audit_state WHERE id = 1"
_LATEST = "SELECT size, root_hash, timestamp, note FROM audit_checkpoints ORDER BY size DESC LIMIT 1"
_orphans: list[Any] = []  # connections inherited over fork: never used, never closed here


class PgStep:
    """One sequencer transaction on the process's own PostgreSQL connection."""

    def __init__(self, connection: PgConnection, session_factory: sessionmaker[Session]) -> None:
        self._owner = connection
        self._session_factory = session_factory
        self._db = connection.get()
        self._locked = False

    def session(self) -> Session:
        """A session for the keyring (loading the checkpoint key): a pooled connection of its own."""
        return self._session_factory()

    def lock_and_read(self, wait: bool, batch_size: int) -> tuple[bool, LogHead | None, list[Any]]:
        """Take the lock (or give up at once), then BEGIN, lock the head, read the queue.

        Returns ``(False, None, [])`` when ``wait`` is false and the lock is taken.

        Raises:
            LogCorrupt: the head row is missing.
        """
        function = "pg_advisory_lock" if wait else "pg_try_advisory_lock"
        got = self._db.execute(f"SELECT {function}({LOCK_NAMESPACE}, {TABLE_OID})").fetchone()[0]
        if not wait and not got:
            return False, None, []
        self._locked = True
        with self._db.pipeline():
            self._db.execute("BEGIN")
            head = self._db.execute(_HEAD + " FOR UPDATE")
            rows = self._db.execute("SELECT id, payload FROM audit_queue ORDER BY id LIMIT %s", (batch_size,))
        row = head.fetchone()
        if row is None:
            raise LogCorrupt("audit_state has no head row: run `piivault db upgrade`")
        return True, head_from_row(row), rows.fetchall()

    def write(
        self,
        events: Sequence[tuple[Any, ...]],
        nodes: Sequence[tuple[Any, ...]],
        old_size: int,
        head: tuple[int, bytes, str, dt.datetime],
        queue_ids: Sequence[int],
    ) -> tuple[int, int]:
        """Insert events and nodes, move the head, delete the queue rows.

        Returns (head rows updated, queue rows deleted).
        """
        big = len(events) >= _COPY_FROM
        if big:
            self._copy("audit_events", EVENT_COLUMNS, events)
            self._copy("audit_nodes", NODE_COLUMNS, nodes)
        with self._db.pipeline():
            if not big:
                self._insert("audit_events", EVENT_COLUMNS, events)
                self._insert("audit_nodes", NODE_COLUMNS, nodes)
            moved = self._db.execute(
                "UPDATE audit_state SET size = %s, chain_head = %s, frontier = %s, updated_at = %s "
                "WHERE id = 1 AND size = %s",
                (*head, old_size),
            )
            deleted = self._db.execute("DELETE FROM audit_queue WHERE id = ANY(%s)", (list(queue_ids),))
        return moved.rowcount, deleted.rowcount

    def latest_checkpoint(self) -> CheckpointRecord | None:
        row = self._db.execute(_LATEST).fetchone()
        return None if row is None else CheckpointRecord(int(row[0]), bytes(row[1]), int(row[2]), row[3])

    def insert_checkpoint(self, record: CheckpointRecord) -> None:
        self._db.execute(
            "INSERT INTO audit_checkpoints (size, root_hash, timestamp, note) VALUES (%s, %s, %s, %s)",
            (record.size, record.root_hash, record.timestamp, record.note),
        )

    def finish(self, commit: bool, recheck: bool) -> bool | None:
        """End the transaction, release the lock; with ``recheck``, return whether the queue is empty."""
        with self._db.pipeline():
            self._db.execute("COMMIT" if commit else "ROLLBACK")
            self._db.execute(f"SELECT pg_advisory_unlock({LOCK_NAMESPACE}, {TABLE_OID})")
            queued = self._db.execute("SELECT id FROM audit_queue LIMIT 1") if recheck else None
        self._locked = False
        return None if queued is None else queued.fetchone() is None

    def abort(self) -> None:
        """After an error: roll back and unlock, or drop the connection if that fails too."""
        try:
            self._db.execute("ROLLBACK")
            if self._locked:
                self._db.execute(f"SELECT pg_advisory_unlock({LOCK_NAMESPACE}, {TABLE_OID})")
        except Exception:  # noqa: BLE001 - a broken connection: the server drops its locks with it
            self._owner.discard()

    def _insert(self, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
        if rows:
            marks = ", ".join(["%s"] * len(columns))
            with self._db.cursor() as cursor:
                cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)  # noqa: S608

    def _copy(self, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
        if rows:
            statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
            with self._db.cursor() as cursor, cursor.copy(statement) as copy:
                for row in rows:
                    copy.write_row(row)


class PgConnection:
    """The sequencer's own PostgreSQL connection: one per process, autocommit, kept open.

    It never comes from or goes back to the application's pool (an autocommit
    connection handed to a unit of work would commit statement by statement):
    it is opened through a pool-less engine, so closing it, or losing it to
    the garbage collector, really closes it. Only one step uses it at a time
    (callers hold :attr:`lock`). A connection inherited across ``fork`` is
    left alone (closing it would end the parent's session) and a new one opened.
    """

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = sa.create_engine(engine.url, poolclass=sa.pool.NullPool)
        self._raw: Any = None
        self._pid = 0
        self.lock = threading.Lock()

    def get(self) -> Any:
        """The psycopg connection, (re)opened as needed.

        Raises:
            sqlalchemy.exc.DBAPIError: the database cannot be reached.
        """
        if self._raw is not None and self._pid != os.getpid():
            _orphans.append(self._raw)
            self._raw = None
        if self._raw is not None and (
            self._raw.driver_connection.closed or self._raw.driver_connection.broken
        ):
            self.discard()
        if self._raw is None:
            raw = self._engine.raw_connection()
            raw.driver_connection.autocommit = True
            self._raw, self._pid = raw, os.getpid()
        return self._raw.driver_connection

    def discard(self) -> None:
        if self._raw is not None:
            try:
                self._raw.invalidate()
            finally:
                self._raw = None

    def close(self) -> None:
        if self._raw is not None and self._pid == os.getpid():
            try:
                self._raw.close()  # pool-less: the connection is closed
            except Exception:  # noqa: BLE001 - a broken connection is simply dropped
                self.discard()
        self._raw = None
        self._engine.dispose()


class SqliteStep:
    """One sequencer transaction on a pooled SQLite connection (``BEGIN IMMEDIATE``)."""

    def __init__(self, conn: sa.Connection) -> None:
        self._conn = conn
        self._transaction = conn.begin()  # takes SQLite's write lock: the sequencer lock
        self._db = conn.connection.driver_connection

    def session(self) -> Session:
        """A session inside this transaction (another connection would wait for our write lock)."""
        return Session(bind=self._conn)

    def lock_and_read(self, wait: bool, batch_size: int) -> tuple[bool, LogHead | None, list[Any]]:
        head = read_head(self._conn)
        rows = self._db.execute("SELECT id, payload FROM audit_queue ORDER BY id LIMIT ?", (batch_size,))
        return True, head, rows.fetchall()

    def write(
        self,
        events: Sequence[tuple[Any, ...]],
        nodes: Sequence[tuple[Any, ...]],
        old_size: int,
        head: tuple[int, bytes, str, dt.datetime],
        queue_ids: Sequence[int],
    ) -> tuple[int, int]:
        for table, columns, rows in (
            ("audit_events", EVENT_COLUMNS, events),
            ("audit_nodes", NODE_COLUMNS, nodes),
        ):
            if rows:
                marks = ", ".join("?" * len(columns))
                self._db.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)  # noqa: S608
        size, chain, frontier, now = head
        moved = self._db.execute(
            "UPDATE audit_state SET size = ?, chain_head = ?, frontier = ?, updated_at = ? "
            "WHERE id = 1 AND size = ?",
            (size, chain, frontier, now.astimezone(dt.UTC).strftime(SQLITE_TIME), old_size),
        ).rowcount
        deleted = 0
        for start in range(0, len(queue_ids), _SQL_CHUNK):
            chunk = queue_ids[start : start + _SQL_CHUNK]
            marks = ", ".join("?" * len(chunk))
            deleted += self._db.execute(f"DELETE FROM audit_queue WHERE id IN ({marks})", chunk).rowcount  # noqa: S608
        return moved, deleted

    def latest_checkpoint(self) -> CheckpointRecord | None:
        row = self._db.execute(_LATEST).fetchone()
        return None if row is None else CheckpointRecord(int(row[0]), bytes(row[1]), int(row[2]), row[3])

    def insert_checkpoint(self, record: CheckpointRecord) -> None:
        self._db.execute(
            "INSERT INTO audit_checkpoints (size, root_hash, timestamp, note) VALUES (?, ?, ?, ?)",
            (record.size, record.root_hash, record.timestamp, record.note),
        )

    def finish(self, commit: bool, recheck: bool) -> bool | None:
        (self._transaction.commit if commit else self._transaction.rollback)()
        return None  # SQLite callers wait for the lock, so they never need to look again

    def abort(self) -> None:
        self._transaction.rollback()
