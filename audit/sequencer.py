"""The sequencer: gives queued events their place in the chain and the Merkle tree.

An action's own transaction only inserts its events into ``audit_queue``
(:mod:`audit.sink`), so actions never wait for each other on the log's head.
The sequencer then integrates queued events in batches, as Certificate
Transparency logs merge submissions within a maximum merge delay. The
sequencer takes its lock: a session advisory lock keyed by the
``audit_state`` table's OID on PostgreSQL (so two schemas in one database do
not share it), the database write lock on SQLite (``BEGIN IMMEDIATE``, see
:mod:`piivault.db`). Holding it, it runs steps until one finds the queue
drained (on PostgreSQL the lock is kept from one step to the next). One step
is ONE transaction:

1. read the head (``audit_state``, which the lock protects; on PostgreSQL
   step 4 guards it as well) and up to ``AUDIT_BATCH_SIZE`` queue rows in id
   order;
2. give each event ``seq = size, size + 1, ...``; its entry is the canonical
   JSON of its payload with ``"seq"`` added; its leaf hash is RFC 6962's; its
   chain hash is defined in :mod:`audit.chain` (:mod:`audit.entries`);
3. insert the events and every perfect subtree they complete
   (:func:`audit.merkle.append_leaves` needs only the stored frontier);
4. move the head (size, chain head, frontier), only from the old size (a
   sequencer that moved it meanwhile makes this one fail: the log never forks);
5. delete exactly the integrated queue rows (on PostgreSQL steps 3 to 5 are
   one statement, see :mod:`audit._storage`);
6. cut a signed checkpoint when due: every ``AUDIT_CHECKPOINT_EVERY`` events,
   after ``AUDIT_CHECKPOINT_SECONDS`` with new events, or on demand
   (:mod:`audit.checkpoints`).

If any of it fails, none of it happened; the queue rows wait for the next step.
A step that finds nothing to do writes nothing, which costs no commit flush.
Events that arrive while a step runs are integrated together by the next
one: under load every step takes in what the writers committed meanwhile,
which is how the log batches commits that arrive together.

Who runs it, and why nothing is left behind
-------------------------------------------
Any process may call :meth:`Sequencer.sequence_pending` right after committing
events (the container does, through the unit of work's ``after_commit``), and
``piivault audit sequence --loop`` runs it as a worker. Under load, callers
must not queue up behind the lock: on PostgreSQL a caller *tries* the lock and,
if another process holds it, returns at once. That is safe because every lock
holder, after releasing, checks the queue again and goes round while it is not
empty: an event committed before a failed try is committed before the
holder's release, so the holder's check (or the read of whoever took the lock
after it) sees it. Threads of one process follow the same rule with a local
lock and a "wanted" flag (an inline caller never waits behind the worker or a
CLI command in its own process either). On SQLite the write lock is simply
waited for.
The inline call has a time budget so a request does not sequence for others
for long; an event left when a budget runs out at the very end of a burst is
picked up by the next append or the worker, and ``piivault audit verify``
flags any queued event older than ``AUDIT_MERGE_DELAY``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.orm import Session, sessionmaker

from audit._storage import PgConnection, PgStep, SqliteStep
from audit.authenticity import EventAuthenticator, forged_seqs
from audit.checkpoints import Checkpoints
from audit.entries import make_batch
from audit.errors import LogCorrupt
from audit.merkle import append_leaves, frontier_root, leaf_hash
from audit.store import CheckpointRecord, LogHead, encode_frontier, latest_checkpoint
from piivault.db import is_unavailable, utcnow
from piivault.errors import StorageUnavailable, UnavailableError
from vault import DataKey, Keyring

log = logging.getLogger(__name__)

INLINE_BUDGET_SECONDS = 0.5


@dataclasses.dataclass(frozen=True)
class StepResult:
    """What one sequencer transaction did."""

    integrated: int
    size: int
    drained: bool
    """The queue held less than a batch: it was empty when this step ended."""
    checkpoint: CheckpointRecord | None


@dataclasses.dataclass(frozen=True)
class _Held:
    """What one holding of the sequencer lock did: events integrated, and its last transaction."""

    integrated: int
    last: StepResult


class Sequencer:
    """Integrates queued audit events into the log; safe from many threads and processes."""

    def __init__(
        self,
        engine: sa.Engine,
        session_factory: sessionmaker[Session],
        keyring: Keyring,
        *,
        origin: str,
        batch_size: int,
        checkpoint_every: int,
        checkpoint_seconds: float,
        clock: Callable[[], dt.datetime] = utcnow,
        tiles_dir: Path | None = None,
    ) -> None:
        self._engine = engine
        self._session_factory = session_factory
        self._pg = PgConnection(engine) if engine.dialect.name == "postgresql" else None
        self._postgres = engine.dialect.name == "postgresql"
        self.origin = origin
        self.batch_size = batch_size
        self.checkpoints = Checkpoints(
            engine,
            keyring,
            origin=origin,
            every=checkpoint_every,
            seconds=checkpoint_seconds,
            tiles_dir=tiles_dir,
        )
        self._clock = clock
        self._local = threading.Lock()
        self._wanted = False
        self.authenticator = EventAuthenticator(keyring, session_factory)
        self._authentic_until: int | None = None  # events below it are authentic (checked or written here)
        self._first_mac: int | None = None  # the first event with a MAC; those before are legacy
        self._asked = False  # the step being run integrated a request for a checkpoint

    # -- entry points ------------------------------------------------------------
    def sequence_pending(self, *, budget_seconds: float | None = INLINE_BUDGET_SECONDS) -> int:
        """Integrate what is queued without waiting behind another sequencer.

        Returns how many events this call integrated (0 when another thread or
        process was already at it: that one re-checks the queue when it is done).

        Raises:
            StorageUnavailable: the database failed; nothing of that step happened.
            LogCorrupt: the stored head is malformed or moved under the lock.
        """
        deadline = None if budget_seconds is None else time.monotonic() + budget_seconds
        total = 0
        while True:
            self._wanted = True
            if not self._local.acquire(blocking=False):
                return total
            try:
                self._wanted = False
                total += self._drain(deadline)
            finally:
                self._local.release()
            if not self._wanted or _past(deadline):
                return total

    def drain(self, *, idle_checkpoint: bool = True) -> int:
        """Integrate everything queued, waiting for the lock; for the worker and the CLI.

        With ``idle_checkpoint``, also cut a checkpoint when new events have
        waited ``AUDIT_CHECKPOINT_SECONDS`` for one.

        Raises:
            StorageUnavailable: the database failed.
            LogCorrupt: the stored head is malformed.
        """
        with self._local:
            self._wanted = False
            held = self._hold(wait=True, idle_checkpoint=idle_checkpoint)
        assert held is not None
        return held.integrated + self._handover()

    def checkpoint_now(self) -> CheckpointRecord:
        """Integrate the queue, then cut a checkpoint (unless one exists at this size).

        Raises:
            StorageUnavailable, VaultUnavailable: a dependency failed.
            ConfigurationError: the checkpoint key is missing (run ``piivault keys bootstrap``).
        """
        with self._local:
            self._wanted = False
            held = self._hold(wait=True, force_checkpoint=True)
        assert held is not None
        self._handover()
        if held.last.checkpoint is not None:
            return held.last.checkpoint
        with self._session_factory() as session:
            latest = latest_checkpoint(session)
        assert latest is not None  # a forced step cuts one unless one exists at this size
        return latest

    def _handover(self) -> int:
        # Inline callers that found this thread busy (the "wanted" flag) left their
        # events to it; its last read may have come before their commit.
        return self.sequence_pending() if self._wanted else 0

    def run(self, stop: threading.Event, *, interval: float) -> None:
        """Sequence until ``stop`` is set, every ``interval`` seconds; the background worker.

        Database and Vault outages are logged and retried, not raised.
        """
        while not stop.is_set():
            try:
                self.drain()
            except UnavailableError as e:
                log.warning("audit sequencer: %s; retrying", e.code)
            stop.wait(interval)

    # -- holding the lock ------------------------------------------------------------
    def step(
        self,
        *,
        wait: bool = True,
        force_checkpoint: bool = False,
        idle_checkpoint: bool = True,
        recheck: bool = False,
    ) -> StepResult | None:
        """One sequencer transaction (see the module docstring), under the lock.

        Returns None when ``wait`` is false and another process holds the lock
        (PostgreSQL; SQLite always waits). With ``recheck`` (PostgreSQL), look
        at the queue again right after releasing the lock and set
        :attr:`StepResult.drained` from that.

        Raises:
            StorageUnavailable: the database failed; the step rolled back.
            LogCorrupt: the stored head is malformed or moved under the lock.
            VaultUnavailable: only for a forced checkpoint (otherwise deferred).
        """
        held = self._hold(
            wait=wait,
            force_checkpoint=force_checkpoint,
            idle_checkpoint=idle_checkpoint,
            recheck=recheck,
            once=True,
        )
        return None if held is None else held.last

    def _hold(
        self,
        *,
        wait: bool,
        force_checkpoint: bool = False,
        idle_checkpoint: bool = True,
        recheck: bool = False,
        once: bool = False,
        deadline: float | None = None,
    ) -> _Held | None:
        """Take the lock, run sequencer transactions until one drains the queue, release it.

        ``once``: a single transaction; ``deadline``: none begins after it.
        Keeping the lock between transactions (PostgreSQL) spares a lock and an
        unlock per transaction, and keeps the work with one process while the
        queue refills, instead of handing it to whichever writer tries next.
        Returns None when ``wait`` is false and another process holds the lock.

        Raises:
            StorageUnavailable: the database failed; the transaction under way rolled back.
            LogCorrupt: the stored head is malformed or moved under the lock.
            VaultUnavailable: only for a forced checkpoint (otherwise deferred).
        """
        try:
            if self._pg is not None:
                with self._pg.lock:
                    db = PgStep(self._pg, self._session_factory)
                    return self._run(db, wait, force_checkpoint, idle_checkpoint, recheck, once, deadline)
            with self._engine.connect() as conn:
                return self._run(
                    SqliteStep(conn), wait, force_checkpoint, idle_checkpoint, recheck, once, deadline
                )
        except Exception as e:
            if _is_outage(e):
                raise StorageUnavailable("database unavailable") from None
            raise

    def _run(
        self,
        db: PgStep | SqliteStep,
        wait: bool,
        force: bool,
        idle_checkpoint: bool,
        recheck: bool,
        once: bool,
        deadline: float | None,
    ) -> _Held | None:
        if not db.lock(wait):
            return None
        integrated = 0
        try:
            while True:
                result, released = self._transaction(db, force, idle_checkpoint, recheck, once, deadline)
                integrated += result.integrated
                if released:
                    return _Held(integrated, result)
        except BaseException:
            db.abort()
            raise

    def _transaction(
        self,
        db: PgStep | SqliteStep,
        force: bool,
        idle_checkpoint: bool,
        recheck: bool,
        once: bool,
        deadline: float | None,
    ) -> tuple[StepResult, bool]:
        """One step; the last of a holding (``once``, drained, or past the deadline) releases the lock.

        Returns the step's result and whether it was the last.
        """
        head, rows = db.read(self.batch_size)
        now = self._clock()
        self._asked = False
        drained = len(rows) < self.batch_size
        forged = self._check_tail(db, head)
        if rows or forged:
            size, root = self._integrate(db, head, rows, now, forged)
        else:
            size, root = head.size, frontier_root(head.frontier)
        checkpoint = None
        # A process that may not write the log (the API under deploy/'s grants) asks for a
        # checkpoint by queuing a request (AuditLog.await_checkpoint): it is cut in the step
        # that integrates the request, so it covers every event queued before it.
        asked = self._asked
        if (rows or force or idle_checkpoint) and (
            force and drained or asked or self.checkpoints.may_be_due(size, now)
        ):
            checkpoint = self.checkpoints.maybe_cut(db, size, root, now, force and drained, asked=asked)
        last = once or drained or _past(deadline)
        # A transaction that wrote nothing ends without a commit flush.
        wrote = bool(rows or forged) or checkpoint is not None
        empty = db.end(commit=wrote, release=last, recheck=recheck and last)
        self._authentic_until = size  # committed: every event below ``size`` is authentic or recorded
        if checkpoint is not None:
            self.checkpoints.committed(checkpoint)
        return StepResult(len(rows), size, drained if empty is None else empty, checkpoint), last

    # -- authenticity (audit.authenticity) --------------------------------------------
    def forget_verified(self) -> None:
        """Check the MACs from the newest checkpoint again at the next step (the log was changed outside)."""
        self._authentic_until = None

    def _mac_key(self, db: PgStep | SqliteStep) -> DataKey:
        """The MAC key, unwrapped once per process (the session is only opened the first time)."""
        key = self.authenticator.cached
        if key is None:
            with db.session() as session:
                key = self.authenticator.key(session)
                session.commit()
        return key

    def _check_tail(self, db: PgStep | SqliteStep, head: LogHead) -> list[tuple[int, bytes]]:
        """Check the MACs of the events this process did not write; the forged ones, not yet recorded.

        Only events since the last checkpoint this process knows of, or since
        its own last step, are read: normally none (nothing moved the head but
        this process). Returns (seq, leaf hash) of each forged event that no
        authentic ``audit.forged_event_detected`` event names yet.
        """
        start = self._authentic_until
        if start is None or start > head.size:  # first step, or the database was restored
            latest = db.latest_checkpoint()
            start = min(latest.size if latest else 0, head.size)
            self._first_mac = db.first_mac_seq()
        if start == head.size:
            return []
        key = self._mac_key(db)
        flagged: set[int] = set()
        forged: list[tuple[int, bytes]] = []
        for seq, payload, mac in db.events_between(start, head.size):
            entry = payload.encode("utf-8")
            if mac is None and (self._first_mac is None or seq < self._first_mac):
                continue  # integrated before events had MACs (migration 0013)
            if EventAuthenticator.entry_ok(key, entry, mac):
                flagged.update(forged_seqs(entry))
            else:
                forged.append((seq, leaf_hash(entry)))
        forged = [(seq, leaf) for seq, leaf in forged if seq not in flagged]
        if forged:
            log.warning(
                "audit sequencer: %d event(s) in the log fail their MAC (first seq %d): "
                "recorded as forged, see `piivault audit verify`",
                len(forged),
                forged[0][0],
            )
        return forged

    def _integrate(
        self,
        db: PgStep | SqliteStep,
        head: LogHead,
        rows: Sequence[Any],
        now: dt.datetime,
        forged: Sequence[tuple[int, bytes]] = (),
    ) -> tuple[int, bytes]:
        key = self._mac_key(db)
        if self._first_mac is None:
            self._first_mac = head.size  # from here on every event has a MAC
        batch = make_batch(head, key, rows, forged, now, postgres=self._postgres)
        if batch.asked:
            self._asked = True
        if batch.rejected:
            log.warning(
                "audit sequencer: %d malformed or unauthenticated queue entr(ies) recorded as rejected "
                "(first queue id %d)",
                len(batch.rejected),
                batch.rejected[0],
            )
        new_nodes, frontier = append_leaves(head.size, head.frontier, batch.leaves)
        nodes = [(level, idx, digest) for (level, idx), digest in new_nodes if level]
        size = head.size + len(batch.rows)
        moved, deleted = db.write(
            batch.rows,
            nodes,
            head.size,
            (size, batch.chain, encode_frontier(frontier), now),
            [row[0] for row in rows],
        )
        if moved != 1:
            raise LogCorrupt("the audit head moved while the sequencer held its lock")
        if deleted != len(rows):
            raise LogCorrupt("queued audit events were removed while the sequencer held its lock")
        log.debug("audit sequencer: integrated %d events, log size %d", len(rows), size)
        return size, frontier_root(frontier)

    def close(self) -> None:
        """Return the sequencer's own connection (PostgreSQL) to the pool."""
        if self._pg is not None:
            with self._pg.lock:
                self._pg.close()

    # -- draining ----------------------------------------------------------------
    def _drain(self, deadline: float | None) -> int:
        total = 0
        while True:
            # PostgreSQL: try the lock, and after releasing it look at the queue again
            # (the holder's duty, see the module docstring). SQLite: wait for the lock.
            held = self._hold(
                wait=not self._postgres, idle_checkpoint=False, recheck=self._postgres, deadline=deadline
            )
            if held is None:
                return total  # another process holds the lock and re-checks after releasing it
            total += held.integrated
            if held.last.drained or _past(deadline):
                return total


def _is_outage(error: Exception) -> bool:
    """True for database errors that mean "try again later" (SQLAlchemy's or the drivers')."""
    if isinstance(error, exc.SQLAlchemyError):
        return is_unavailable(error)
    if isinstance(error, sqlite3.OperationalError):
        return True  # locked, busy, disk I/O
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency
        return False
    return isinstance(error, psycopg.OperationalError | psycopg.InterfaceError)


def _past(deadline: float | None) -> bool:
    return deadline is not None and time.monotonic() > deadline
