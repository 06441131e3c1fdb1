"""Group commit: the audit events of read-only units of work, queued in shared transactions.

Most appends to the log come from requests that change nothing but the log
itself: a detokenize reads tokens, keys and consent, decides, and records
what it decided. For those, the one write of the request is its queue row,
and the cost of the request is the commit's flush to disk, about what the
rest of the request costs. Requests that arrive together in one process can
share that flush, as a database's own group commit does for its clients:

* the request reads through connections on which every transaction is
  ``READ ONLY``, each statement its own (:func:`piivault.db.make_read_only_engine`;
  PostgreSQL refuses any write there, so a unit of work wrongly declared
  read-only fails loudly instead of writing outside its events' transaction);
* it hands its events, already checked and serialized by
  :meth:`audit.sink.QueueSink.prepare`, to :meth:`GroupCommit.submit`, which
  returns only once a transaction that inserted them into ``audit_queue``
  has committed (or raises, and then the caller returns no data: no audit
  record, no access);
* a caller whose events are still waiting when one of the ``leaders``
  slots (default 2) is free becomes a leader: it takes the waiting
  submissions in arrival order (its own, or the batch before it), inserts
  them in one statement, marks their callers done and wakes them. While
  every slot is busy, callers queue up, and the next free slot takes them
  all: that is where batches form. With two slots, PostgreSQL flushes one
  batch while the next is on its way, as it would two clients' commits.

Each leader's insert is one statement on one of the committer's own
autocommit connections (one round trip, atomic by itself), opened through a
pool-less engine and kept for the next batch; after a failure it is dropped,
and in a forked child the inherited ones are left alone. A batch holds at
most one statement's rows; a caller whose events alone need more gets a
transaction of its own.

A batch's rows are still only queued: the sequencer integrates them as it
does any other (each leader runs it inline after its batch, when so
configured; a failure there is logged, never the callers' error).
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

from audit.sink import ROWS_PER_STATEMENT, Queued, insert_queued
from piivault.db import is_unavailable, utcnow
from piivault.errors import StorageUnavailable

log = logging.getLogger(__name__)


@dataclasses.dataclass(eq=False)
class _Submission:
    payloads: Sequence[Queued]
    taken: bool = False  # in a batch under way
    done: bool = False
    error: BaseException | None = None


class GroupCommit:
    """Commits the queue rows of concurrent callers of one process together.

    At most ``leaders`` batches are committed at once (each on its own
    connection): with one, a caller arriving during a commit always waits for
    it to end before its own batch starts; with two, PostgreSQL can flush one
    batch while the next is sent, and batching starts only when both are busy.
    """

    def __init__(
        self,
        engine: sa.Engine,
        *,
        after_batch: Callable[[], None] | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
        leaders: int = 2,
    ) -> None:
        if leaders < 1:
            raise ValueError("leaders must be at least 1")
        # Pool-less: closing a connection really closes it, and none goes to a unit of work.
        self._engine = sa.create_engine(engine.url, poolclass=sa.pool.NullPool)
        self._idle: list[sa.Connection] = []
        self._after_batch = after_batch
        self._clock = clock
        self._max_leaders = leaders
        self._cond = threading.Condition()
        self._waiting: list[_Submission] = []
        self._leaders = 0
        self.batches = 0
        """Transactions committed so far (for tests and benchmarks)."""
        _committers.add(self)

    def submit(self, payloads: Sequence[Queued]) -> None:
        """Queue ``payloads`` (from :meth:`QueueSink.prepare`) in a committed transaction.

        Returns once they are committed; blocks meanwhile.

        Raises:
            StorageUnavailable: the database failed; nothing of the batch was written.
            GroupCommitFailed: any other failure of the batch's insert.
        """
        if not payloads:
            return
        mine = _Submission(payloads)
        committed = False
        with self._cond:
            self._waiting.append(mine)
            while not mine.done:
                if mine.taken or self._leaders >= self._max_leaders:
                    self._cond.wait()
                    continue
                # A free slot and this caller's events not yet taken: lead the next batch
                # (the oldest callers first; this one's, or the batch before it).
                self._leaders += 1
                batch, self._waiting = _take(self._waiting)
                self._cond.release()
                try:
                    committed = self._run(batch) or committed
                finally:
                    self._cond.acquire()
                    self._leaders -= 1
                    self._cond.notify_all()
        if committed and self._after_batch is not None:
            try:
                self._after_batch()
            except Exception as e:  # noqa: BLE001 - the batch is committed: its callers succeeded
                log.warning("audit group commit: after-batch step failed (%s)", type(e).__name__)
        if mine.error is not None:
            raise mine.error

    def _run(self, batch: list[_Submission]) -> bool:
        """Commit ``batch``; every caller in it is then done, with an error if it failed."""
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
        return committed

    def _commit(self, batch: list[_Submission]) -> None:
        payloads = [payload for submission in batch for payload in submission.payloads]
        if len(payloads) > ROWS_PER_STATEMENT:
            # One caller's events alone need several statements: one transaction of their own
            # (the autocommit connection would commit statement by statement).
            with self._engine.begin() as conn:
                insert_queued(conn, self._clock(), payloads)
            self.batches += 1
            return
        with self._cond:
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            insert_queued(conn, self._clock(), payloads)  # one statement: atomic by itself
        except BaseException:
            _drop(conn)
            raise
        with self._cond:
            self._idle.append(conn)
            self.batches += 1

    def _after_fork_in_child(self) -> None:
        # The parent's state is not this process's: a fresh lock and queue, and the inherited
        # connections kept referenced, never closed (closing one would end the parent's session).
        self._cond = threading.Condition()
        self._waiting = []
        self._leaders = 0
        _orphans.extend(self._idle)
        self._idle = []
        self._engine.dispose(close=False)

    def close(self) -> None:
        """Close the committer's connections (the container calls this when it closes)."""
        with self._cond:
            idle, self._idle = self._idle, []
        for conn in idle:
            _drop(conn)
        self._engine.dispose()


def _drop(conn: sa.Connection) -> None:
    try:
        conn.invalidate()
        conn.close()
    except Exception:  # noqa: BLE001 - a broken connection is simply dropped
        log.debug("audit group commit: dropping a broken connection")


def _take(waiting: list[_Submission]) -> tuple[list[_Submission], list[_Submission]]:
    """The next batch (callers in arrival order, at most one statement's rows, at least one
    caller), marked taken, and those left waiting."""
    rows, count = 0, 0
    for submission in waiting:
        if count and rows + len(submission.payloads) > ROWS_PER_STATEMENT:
            break
        rows += len(submission.payloads)
        submission.taken = True
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
