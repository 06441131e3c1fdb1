"""The sequencer's database work, one class per backend (private to :mod:`audit.sequencer`).

Holding the sequencer lock, the sequencer runs one or more transactions, each
of which locks the head and reads the queue, bulk-writes events and nodes,
moves the head, deletes the integrated queue rows, reads and writes
checkpoints, and ends; after releasing the lock it (PostgreSQL) looks at the
queue again. Both classes do exactly that through the DBAPI connection,
because SQLAlchemy's executemany sends one statement per row on psycopg and
dominated the cost; table and column names are constants of this module,
never input.

PostgreSQL (:class:`PgStep`): one connection per process, kept open in
autocommit mode, and a *session* advisory lock keyed by the ``audit_state``
table's OID (so two schemas in one database do not share it). A failed try is
then one call and nothing to roll back. Each transaction is three calls of
the driver: BEGIN + lock the head + read the queue; one write statement;
COMMIT, which for the last transaction of a holding also unlocks and looks at
the queue. Statements without
parameters travel together as one simple query (the server runs them in
order and stops at the first error); the write is one statement whose
data-modifying CTEs insert the events and nodes, move the head and delete the
queue rows, each column sent as one binary array that the driver encodes in
C. (A psycopg pipeline would save nothing here and costs several times the
client CPU of a multi-statement query, which matters on a machine whose cores
the writers need.)

SQLite (:class:`SqliteStep`): an ordinary SQLAlchemy connection whose
``BEGIN IMMEDIATE`` (:mod:`piivault.db`) takes the write lock, which is the
sequencer lock, for each transaction.
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
    "mac",
)
NODE_COLUMNS = ("level", "idx", "hash")
LOCK_NAMESPACE = 0x50494956  # "PIIV": first key of the two-key advisory lock
TABLE_OID = "CAST(CAST(CAST('audit_state' AS regclass) AS oid) AS integer)"
SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy stores SQLite datetimes (naive UTC)

_SQL_CHUNK = 5_000
_HEAD = "SELECT size, chain_head, frontier, updated_at FROM audit_state WHERE id = 1"
_LATEST = "SELECT size, root_hash, timestamp, note FROM audit_checkpoints ORDER BY size DESC LIMIT 1"
_FIRST_MAC = "SELECT min(seq) FROM audit_events WHERE mac IS NOT NULL"
_EVENT_MACS = "SELECT seq, payload, mac FROM audit_events WHERE seq >= {0} AND seq < {0} ORDER BY seq"
_LOCK_KEY = f"{LOCK_NAMESPACE}, {TABLE_OID}"
# Statements prepared once per connection, so that the simple queries below (one
# round trip for several statements) still run cached plans.
_PREPARED = {
    "audit_try_lock": f"SELECT pg_try_advisory_lock({_LOCK_KEY})",
    "audit_lock": f"SELECT pg_advisory_lock({_LOCK_KEY})",
    "audit_unlock": f"SELECT pg_advisory_unlock({_LOCK_KEY})",
    "audit_head": _HEAD,
    "audit_batch(bigint)": "SELECT id, payload, mac FROM audit_queue ORDER BY id LIMIT $1",
    "audit_pending": "SELECT EXISTS (SELECT 1 FROM audit_queue)",
}
_EVENT_TYPES = (
    "bigint",
    "timestamptz",
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "bytea",
    "bytea",
    "bytea",
)
# %b: a parameter sent in binary format (psycopg), here whole columns as arrays.
_WRITE = f"""
WITH new_events AS (
    INSERT INTO audit_events ({", ".join(EVENT_COLUMNS)})
    SELECT * FROM unnest({", ".join(f"%b::{kind}[]" for kind in _EVENT_TYPES)})
), new_nodes AS (
    INSERT INTO audit_nodes ({", ".join(NODE_COLUMNS)})
    SELECT * FROM unnest(%b::smallint[], %b::bigint[], %b::bytea[])
), moved AS (
    UPDATE audit_state SET size = %b, chain_head = %b, frontier = %b, updated_at = %b
    WHERE id = 1 AND size = %b
    RETURNING 1
), integrated AS (
    DELETE FROM audit_queue WHERE id = ANY(%b::bigint[])
    RETURNING 1
)
SELECT (SELECT count(*) FROM moved), (SELECT count(*) FROM integrated)
"""  # noqa: S608 - table and column names are this module's constants
_orphans: list[Any] = []  # connections inherited over fork: never used, never closed here


class PgStep:
    """One sequencer transaction on the process's own PostgreSQL connection."""

    def __init__(self, connection: PgConnection, session_factory: sessionmaker[Session]) -> None:
        self._owner = connection
        self._session_factory = session_factory
        self._db = connection.get()
        self._cursor = self._db.cursor()
        self._locked = False

    def session(self) -> Session:
        """A session for the keyring (loading the checkpoint key): a pooled connection of its own."""
        return self._session_factory()

    def lock(self, wait: bool) -> bool:
        """Take the sequencer lock; without ``wait``, give up at once if another process holds it."""
        if wait:
            self._cursor.execute("EXECUTE audit_lock")  # returns void once it has the lock
            self._locked = True
        else:
            self._locked = self._cursor.execute("EXECUTE audit_try_lock").fetchone()[0]
        return self._locked

    def read(self, batch_size: int) -> tuple[LogHead, list[Any]]:
        """BEGIN, read the head and up to ``batch_size`` queue rows in id order.

        The head is not locked: the advisory lock keeps other sequencers out,
        and the write moves the head only from the size read here (and the
        events' primary key refuses a sequence number twice), so a writer that
        bypassed the lock could only make this transaction fail, not fork the log.

        Raises:
            LogCorrupt: the head row is missing.
        """
        cursor = self._cursor
        # Statements without parameters go as one simple query; the batch size is an int.
        cursor.execute(f"BEGIN; EXECUTE audit_head; EXECUTE audit_batch({int(batch_size)})")
        cursor.nextset()
        row = cursor.fetchone()
        cursor.nextset()
        rows = cursor.fetchall()
        if row is None:
            raise LogCorrupt("audit_state has no head row: run `piivault db upgrade`")
        return head_from_row(row), rows

    def write(
        self,
        events: Sequence[tuple[Any, ...]],
        nodes: Sequence[tuple[Any, ...]],
        old_size: int,
        head: tuple[int, bytes, str, dt.datetime],
        queue_ids: Sequence[int],
    ) -> tuple[int, int]:
        """Insert events and nodes, move the head, delete the queue rows: one statement.

        Returns (head rows updated, queue rows deleted).
        """
        event_columns = [list(column) for column in zip(*events, strict=True)] or [[]] * len(EVENT_COLUMNS)
        node_columns = [list(column) for column in zip(*nodes, strict=True)] or [[]] * len(NODE_COLUMNS)
        self._cursor.execute(_WRITE, (*event_columns, *node_columns, *head, old_size, list(queue_ids)))
        moved, deleted = self._cursor.fetchone()
        return moved, deleted

    def events_between(self, start: int, stop: int) -> list[tuple[int, str, bytes | None]]:
        """(seq, entry, MAC) of the events in [start, stop), for the sequencer's MAC check."""
        rows = self._cursor.execute(_EVENT_MACS.format("%s"), (start, stop)).fetchall()
        return [(int(seq), payload, None if mac is None else bytes(mac)) for seq, payload, mac in rows]

    def first_mac_seq(self) -> int | None:
        return self._cursor.execute(_FIRST_MAC).fetchone()[0]

    def latest_checkpoint(self) -> CheckpointRecord | None:
        row = self._cursor.execute(_LATEST).fetchone()
        return None if row is None else CheckpointRecord(int(row[0]), bytes(row[1]), int(row[2]), row[3])

    def insert_checkpoint(self, record: CheckpointRecord) -> None:
        self._cursor.execute(
            "INSERT INTO audit_checkpoints (size, root_hash, timestamp, note) VALUES (%s, %s, %s, %s)",
            (record.size, record.root_hash, record.timestamp, record.note),
        )

    def end(self, commit: bool, release: bool = False, recheck: bool = False) -> bool | None:
        """End the transaction; with ``release``, also unlock, in the same call.

        With ``recheck``, return whether the queue was empty right after the unlock.
        """
        # A transaction that wrote nothing (``commit`` false) commits as cheaply as it
        # would roll back: it has no transaction id, so nothing to flush. COMMIT, because
        # psycopg answers a ROLLBACK by deallocating every prepared statement.
        statements = ["COMMIT"]
        if release:
            statements.append("EXECUTE audit_unlock")
            if recheck:
                statements.append("EXECUTE audit_pending")
        cursor = self._cursor
        cursor.execute("; ".join(statements))
        if release:
            self._locked = False
            if recheck:
                cursor.nextset()
                cursor.nextset()
                return not cursor.fetchone()[0]
        return None

    def abort(self) -> None:
        """After an error: drop the connection; the server rolls back and releases the lock with it.

        (Errors are rare; a ROLLBACK would also cost the prepared statements.)
        """
        self._locked = False
        self._owner.discard()


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
            try:
                raw.driver_connection.execute(
                    "; ".join(f"PREPARE {name} AS {sql}" for name, sql in _PREPARED.items())
                )
            except BaseException:
                raw.invalidate()
                raise
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
    """Sequencer transactions on a pooled SQLite connection (``BEGIN IMMEDIATE`` is the lock)."""

    def __init__(self, conn: sa.Connection) -> None:
        self._conn = conn
        self._db = conn.connection.driver_connection
        self._transaction: sa.RootTransaction | None = None

    def session(self) -> Session:
        """A session inside this transaction (another connection would wait for our write lock)."""
        return Session(bind=self._conn)

    def lock(self, wait: bool) -> bool:
        """SQLite's lock is the write lock each transaction takes: always waited for."""
        return True

    def read(self, batch_size: int) -> tuple[LogHead, list[Any]]:
        """Begin a transaction (taking SQLite's write lock), read the head and the queue.

        Raises:
            LogCorrupt: the head row is missing.
        """
        self._transaction = self._conn.begin()
        head = read_head(self._conn)
        rows = self._db.execute("SELECT id, payload, mac FROM audit_queue ORDER BY id LIMIT ?", (batch_size,))
        return head, rows.fetchall()

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

    def events_between(self, start: int, stop: int) -> list[tuple[int, str, bytes | None]]:
        """(seq, entry, MAC) of the events in [start, stop), for the sequencer's MAC check."""
        rows = self._db.execute(_EVENT_MACS.format("?"), (start, stop)).fetchall()
        return [(int(seq), payload, None if mac is None else bytes(mac)) for seq, payload, mac in rows]

    def first_mac_seq(self) -> int | None:
        return self._db.execute(_FIRST_MAC).fetchone()[0]

    def latest_checkpoint(self) -> CheckpointRecord | None:
        row = self._db.execute(_LATEST).fetchone()
        return None if row is None else CheckpointRecord(int(row[0]), bytes(row[1]), int(row[2]), row[3])

    def insert_checkpoint(self, record: CheckpointRecord) -> None:
        self._db.execute(
            "INSERT INTO audit_checkpoints (size, root_hash, timestamp, note) VALUES (?, ?, ?, ?)",
            (record.size, record.root_hash, record.timestamp, record.note),
        )

    def end(self, commit: bool, release: bool = False, recheck: bool = False) -> None:
        """Commit or roll back (which also releases SQLite's write lock, the sequencer lock)."""
        assert self._transaction is not None
        transaction, self._transaction = self._transaction, None
        (transaction.commit if commit else transaction.rollback)()
        # SQLite callers wait for the lock, so they never need to look at the queue again.

    def abort(self) -> None:
        if self._transaction is not None:
            transaction, self._transaction = self._transaction, None
            transaction.rollback()
