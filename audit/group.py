"""Group commit: the audit events of read-only units of work, queued in shared transactions.

Most appends to the log come from requests that change nothing but the log
itself: a detokenize reads tokens, keys and consent, decides, and records
what it decided. For those, the one write of the request is its queue row,
and the cost of the request is the commit's flush to disk, about what the
rest of the request costs. Requests that arrive together in one process can
share that flush, as a database's own group commit does for its clients:

* the request reads in a ``READ ONLY`` transaction (PostgreSQL then refuses
  any write in it, so a unit of work wrongly declared read-only fails loudly
  instead of losing a change), and ends it;
* it hands its events, already checked and serialized by
  :meth:`audit.sink.QueueSink.prepare`, to :meth:`GroupCommit.submit`, which
  returns only once a transaction that inserted them into ``audit_queue``
  has committed (or raises, and then the caller returns no data: no audit
  record, no access);
* the first caller to find no batch under way becomes the leader: it takes
  every submission waiting, inserts them in one statement, commits, wakes
  their callers, and hands the lead to the first caller that arrived
  meanwhile. A leader commits exactly one batch, so no caller waits behind
  more than the batch before its own.

The leader's insert is one statement on the committer's own autocommit
connection (one round trip, atomic by itself), opened through a pool-less
engine and kept for the next batch; after a failure, or in a forked child, it
is replaced. A batch holds at most one statement's rows; a caller whose
events alone need more gets a transaction of its own.

A batch's rows are still only queued: the sequencer integrates them as it
does any other (the leader runs it inline once per batch, when so configured).
If the insert or the commit fails, every caller of that batch gets the error;
nothing of the batch was written.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc

from audit.sink import ROWS_PER_STATEMENT, insert_queued
from piivault.db import is_unavailable, utcnow
from piivault.errors import StorageUnavailable

log = logging.getLogger(__name__)


@dataclasses.dataclass(eq=False)
class _Submission:
    payloads: Sequence[str]
    wake: threading.Event = dataclasses.field(default_factory=threading.Event)
    leads: bool = False
    done: bool = False
    error: BaseException | None = None


class GroupCommit:
    """Commits the queue rows of concurrent callers of one process together."""

    def __init__(
        self,
        engine: sa.Engine,
        *,
        after_batch: Callable[[], None] | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        # Pool-less: closing the connection really closes it, and it never goes to a unit of work.
        self._engine = sa.create_engine(engine.url, poolclass=sa.pool.NullPool)
        self._conn: sa.Connection | None = None
        self._after_batch = after_batch
        self._clock = clock
        self._lock = threading.Lock()
        self._waiting: list[_Submission] = []
        self._busy = False
        self.batches = 0
        """Transactions committed so far (for tests and benchmarks)."""
        _committers.add(self)

    def submit(self, payloads: Sequence[str]) -> None:
        """Queue ``payloads`` (from :meth:`QueueSink.prepare`) in a committed transaction.

        Returns once they are committed; blocks meanwhile.

        Raises:
            StorageUnavailable: the database failed; nothing of the batch was written.
            GroupCommitFailed: any other failure of the batch's insert.
        """
        if not payloads:
            return
        mine = _Submission(payloads)
        with self._lock:
            self._waiting.append(mine)
            if not self._busy:
                self._busy = mine.leads = True
        if not mine.leads:
            mine.wake.wait()
        if not mine.done:  # the lead is this caller's: from the start or handed over
            self._lead()
        if mine.error is not None:
            raise mine.error

    def _lead(self) -> None:
        with self._lock:
            batch, self._waiting = _take(self._waiting)
        committed = False
        try:
            self._commit(batch)
            committed = True
        except Exception as e:  # noqa: BLE001 - handed to every caller of the batch
            if not (isinstance(e, exc.SQLAlchemyError) and is_unavailable(e)):
                # Only the type: database errors can quote statement parameters (event payloads).
                log.error("audit group commit failed: %s", type(e).__name__)
            for submission in batch:  # each its own instance: they are raised in several threads
                submission.error = _public(e)
        finally:
            # Even when this thread is interrupted (a BaseException), no caller is left waiting.
            for submission in batch:
                if not committed and submission.error is None:
                    submission.error = GroupCommitFailed("audit group commit interrupted")
                submission.done = True
            with self._lock:
                nxt = self._waiting[0] if self._waiting else None
                if nxt is not None:
                    nxt.leads = True
                else:
                    self._busy = False
            for submission in batch:
                submission.wake.set()
            if nxt is not None:
                nxt.wake.set()
        if committed and self._after_batch is not None:
            try:
                self._after_batch()
            except Exception as e:  # noqa: BLE001 - the batch is committed: its callers succeeded
                log.warning("audit group commit: after-batch step failed (%s)", type(e).__name__)

    def _commit(self, batch: list[_Submission]) -> None:
        payloads = [payload for submission in batch for payload in submission.payloads]
        if len(payloads) > ROWS_PER_STATEMENT:
            # One caller's events alone need several statements: one transaction of their own
            # (the autocommit connection would commit statement by statement).
            with self._engine.begin() as conn:
                insert_queued(conn, self._clock(), payloads)
            self.batches += 1
            return
        conn = self._connection()
        try:
            insert_queued(conn, self._clock(), payloads)  # one statement: atomic by itself
        except BaseException:
            self._discard()
            raise
        self.batches += 1

    def _connection(self) -> sa.Connection:
        # Only the leader of the moment calls this: no lock needed.
        if self._conn is None:
            self._conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return self._conn

    def _after_fork_in_child(self) -> None:
        # The parent's state is not this process's: a fresh lock and queue, and the inherited
        # connection kept referenced, never closed (closing it would end the parent's session).
        self._lock = threading.Lock()
        self._waiting = []
        self._busy = False
        if self._conn is not None:
            _orphans.append(self._conn)
            self._conn = None
        self._engine.dispose(close=False)

    def _discard(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.invalidate()
                conn.close()
            except Exception:  # noqa: BLE001 - a broken connection is simply dropped
                log.debug("audit group commit: dropping a broken connection")

    def close(self) -> None:
        """Close the committer's connection (the container calls this when it closes)."""
        self._discard()
        self._engine.dispose()


def _take(waiting: list[_Submission]) -> tuple[list[_Submission], list[_Submission]]:
    """The next batch (callers in arrival order, at most one statement's rows, at least one
    caller), and those left waiting."""
    rows, count = 0, 0
    for submission in waiting:
        if count and rows + len(submission.payloads) > ROWS_PER_STATEMENT:
            break
        rows += len(submission.payloads)
        count += 1
    return waiting[:count], waiting[count:]


_orphans: list[Any] = []  # connections inherited over fork: never used, never closed here
_committers: weakref.WeakSet[GroupCommit] = weakref.WeakSet()


def _reset_in_child() -> None:
    for committer in list(_committers):
        committer._after_fork_in_child()


os.register_at_fork(after_in_child=_reset_in_child)


def _public(error: Exception) -> Exception:
    """What each caller of a failed batch raises: a database outage as StorageUnavailable."""
    if isinstance(error, exc.SQLAlchemyError) and is_unavailable(error):
        return StorageUnavailable("database unavailable")
    return GroupCommitFailed(f"audit group commit failed ({type(error).__name__})")


class GroupCommitFailed(RuntimeError):
    """A batch failed for a reason other than an outage; none of it was written."""
