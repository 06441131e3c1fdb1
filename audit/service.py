"""The audit log as a service: sequencing, checkpoints, and the read API.

Plain values in, plain dataclasses out (each with ``to_dict()`` for JSON); no
Flask. The HTTP layer (roles ``auditor`` and ``dpo``) and the CLI
(``piivault audit ...``) are thin wrappers over :class:`AuditLog`.

Sizes and proofs follow RFC 6962: the log of ``size`` events has leaves
``0 .. size-1``; an inclusion proof shows event ``seq`` is leaf ``seq`` of the
tree of ``size`` leaves; by default proofs are against the latest signed
checkpoint, so a client needs nothing but the published public key to check
them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.orm import Session, sessionmaker

from audit import tables as t
from audit.anchor import KeyPin, TrustAnchor
from audit.authenticity import check_macs
from audit.checkpoints import CHECKPOINT_ACTION
from audit.errors import CheckpointNotCut, EventNotFound, LogCorrupt, NotCheckpointed
from audit.events import AuditEvent
from audit.merkle import (
    MissingNodeError,
    consistency_proof_keys,
    inclusion_proof_keys,
    root_keys,
)
from audit.merkle import consistency_proof as _consistency_proof
from audit.merkle import inclusion_proof as _inclusion_proof
from audit.merkle import root_from as _root_from
from audit.note import verifier_key_string
from audit.sequencer import Sequencer
from audit.store import (
    CheckpointRecord,
    DbNodeReader,
    PrefetchedReader,
    checkpoint_at,
    latest_checkpoint,
    read_head,
)
from audit.tiles import PublishResult
from audit.tiles import checkpoint_size as tiles_checkpoint_size
from audit.tiles import publish as publish_tiles
from audit.tiles import read_checkpoint as read_tiles_checkpoint
from piivault.db import UnitOfWork, is_unavailable, utcnow
from piivault.errors import ConfigurationError, StorageUnavailable, ValidationFailed
from piivault.ids import urlsafe_token

if TYPE_CHECKING:
    from audit.restore import TailRestore
    from audit.verify_report import VerifyReport

log = logging.getLogger(__name__)

DETOKENIZE_ACTIONS = ("detokenize",)
"""Actions that reveal a subject's value to the actor (counted by :meth:`AuditLog.exposure`)."""
MAX_PAGE = 1_000
READ_ACTION = "audit.read"
"""Someone read events out of the log (search, inclusion proof, exposure report, subject export)."""
VERIFY_ACTION = "audit.verify"
"""Someone verified the log; the details carry the result (see :meth:`AuditLog.last_verification`)."""
ACCESS_ACTIONS = (READ_ACTION, VERIFY_ACTION, CHECKPOINT_ACTION)


@dataclasses.dataclass(frozen=True)
class EventRecord:
    """One logged event. ``entry`` is the exact canonical JSON that was hashed."""

    seq: int
    time: dt.datetime
    actor: str
    action: str
    subject_id: str | None
    purpose: str | None
    outcome: str
    request_id: str | None
    entry: str
    leaf_hash: bytes

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time": self.time.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
            "actor": self.actor,
            "action": self.action,
            "subject_id": self.subject_id,
            "purpose": self.purpose,
            "outcome": self.outcome,
            "request_id": self.request_id,
            "event": json.loads(self.entry),
            "entry": self.entry,
            "leaf_hash": self.leaf_hash.hex(),
        }


@dataclasses.dataclass(frozen=True)
class EventPage:
    events: list[EventRecord]
    next_cursor: str | None
    """Pass back as ``cursor`` for the next page; None on the last page."""

    def to_dict(self) -> dict[str, Any]:
        return {"events": [e.to_dict() for e in self.events], "next_cursor": self.next_cursor}


@dataclasses.dataclass(frozen=True)
class InclusionProof:
    """Event ``seq`` (with leaf hash ``leaf_hash``) is leaf ``seq`` of the tree ``root_hash``."""

    seq: int
    size: int
    leaf_hash: bytes
    proof: list[bytes]
    root_hash: bytes
    checkpoint: CheckpointRecord | None
    entry: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "size": self.size,
            "leaf_hash": self.leaf_hash.hex(),
            "proof": [h.hex() for h in self.proof],
            "root_hash": self.root_hash.hex(),
            "checkpoint": self.checkpoint.note if self.checkpoint else None,
            "entry": self.entry,
        }


@dataclasses.dataclass(frozen=True)
class ConsistencyProof:
    """The tree of ``size1`` leaves (``root1``) is a prefix of the tree of ``size2`` (``root2``).

    From ``size1 == 0`` the proof is empty and trivially holds: RFC 6962
    verifiers reject such proofs, so check ``size1 == 0`` before verifying.
    """

    size1: int
    size2: int
    root1: bytes
    root2: bytes
    proof: list[bytes]
    checkpoint1: CheckpointRecord | None
    checkpoint2: CheckpointRecord | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "size1": self.size1,
            "size2": self.size2,
            "root1": self.root1.hex(),
            "root2": self.root2.hex(),
            "proof": [h.hex() for h in self.proof],
            "checkpoint1": self.checkpoint1.note if self.checkpoint1 else None,
            "checkpoint2": self.checkpoint2.note if self.checkpoint2 else None,
        }


@dataclasses.dataclass(frozen=True)
class Exposure:
    subject_id: str
    events: int
    first: dt.datetime
    last: dt.datetime
    # Reveals under a grant or break-glass: grant id, kind, the approvers, how many events.
    grants: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject_id": self.subject_id,
            "events": self.events,
            "first": _iso(self.first),
            "last": _iso(self.last),
            "grants": [dict(g) for g in self.grants],
        }


@dataclasses.dataclass(frozen=True)
class ExposureReport:
    """Subjects whose values ``actor`` detokenized in ``[since, until)``, as of ``log_size``.

    ``queued`` events were committed but not yet sequenced when the report
    was made; they are not counted (re-run after the merge delay).
    """

    actor: str
    since: dt.datetime
    until: dt.datetime
    log_size: int
    queued: int
    subjects: list[Exposure]

    def to_dict(self) -> dict[str, Any]:
        return {
            "actor": self.actor,
            "since": _iso(self.since),
            "until": _iso(self.until),
            "actions": list(DETOKENIZE_ACTIONS),
            "log_size": self.log_size,
            "queued": self.queued,
            "subjects": [s.to_dict() for s in self.subjects],
        }


@dataclasses.dataclass(frozen=True)
class SubjectExport:
    """A subject's events, each with an inclusion proof against ``checkpoint``.

    Events logged after that checkpoint are listed with ``proof`` None.
    """

    subject_id: str
    checkpoint: CheckpointRecord | None
    public_key: str
    events: list[tuple[EventRecord, list[bytes] | None]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject_id": self.subject_id,
            "public_key": self.public_key,
            "checkpoint": self.checkpoint.note if self.checkpoint else None,
            "tree_size": self.checkpoint.size if self.checkpoint else 0,
            "events": [
                {**event.to_dict(), "inclusion_proof": None if proof is None else [h.hex() for h in proof]}
                for event, proof in self.events
            ],
        }


@dataclasses.dataclass(frozen=True)
class VerificationRecord:
    """The result of one recorded verification, as its ``audit.verify`` event says.

    ``seq`` is None while that event is still queued.
    """

    time: dt.datetime
    actor: str
    ok: bool
    head_size: int | None
    events: int
    checkpoints: int
    queued: int
    first_bad_index: int | None
    problem_count: int
    saved_checkpoint_size: int | None
    duration_ms: int
    seq: int | None

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "time": _iso(self.time)}


class AuditLog:
    """Sequencing, checkpoints, proofs, search and verification of the audit log."""

    def __init__(
        self,
        engine: sa.Engine,
        session_factory: sessionmaker[Session],
        sequencer: Sequencer,
        *,
        merge_delay: float,
        pin: KeyPin | None = None,
        sequences_inline: bool = True,
        uow_factory: Callable[[], UnitOfWork] | None = None,
    ) -> None:
        self._engine = engine
        # Whether this process sequences the events it commits; when not, it may lack the
        # right to write the log at all (deploy/'s grants) and asks the loop for checkpoints.
        self.sequences_inline = sequences_inline
        self._uow_factory = uow_factory
        self._session_factory = session_factory
        self.sequencer = sequencer
        self.origin = sequencer.origin
        self.merge_delay = merge_delay
        self.pin = pin if pin is not None else KeyPin(self.origin, value=None, path=None)

    # -- writing -------------------------------------------------------------------
    def sequence_pending(self) -> int:
        """Integrate queued events now (see :meth:`Sequencer.sequence_pending`).

        Raises:
            StorageUnavailable: the database failed.
        """
        return self.sequencer.sequence_pending()

    def sequence_after_commit(self) -> None:
        """The unit of work's after-commit hook: sequence, never raise.

        The action has committed already, so a failure here must not turn
        into an error for it: its events stay queued for the next step.
        """
        try:
            self.sequencer.sequence_pending()
        except Exception as e:  # noqa: BLE001 - see docstring
            # Only the type: database errors can quote statement parameters.
            log.warning("audit: inline sequencing deferred to the next step (%s)", type(e).__name__)

    def checkpoint_now(self) -> CheckpointRecord:
        """Integrate the queue and cut a checkpoint (see :meth:`Sequencer.checkpoint_now`).

        Raises:
            StorageUnavailable, VaultUnavailable: a dependency failed.
            ConfigurationError: the checkpoint key is missing.
        """
        return self.sequencer.checkpoint_now()

    def await_checkpoint(
        self, actor: str, *, request_id: str | None = None, timeout: float | None = None
    ) -> CheckpointRecord:
        """A checkpoint covering every event logged before this call, asked of the sequencer loop.

        For a process that does not sequence (``PIIVAULT_AUDIT_SEQUENCE_INLINE=false``, the
        production default), which under deploy/'s grants may not write the log at all: it
        queues an ``audit.checkpoint`` event by ``actor`` that asks for one (committed before
        anything else happens), and the loop cuts a checkpoint in the step that integrates it
        (:class:`audit.sequencer.Sequencer`). This waits until that checkpoint is there, at
        most ``timeout`` seconds (default: twice the merge delay, at least 2 s).

        Raises:
            CheckpointNotCut: none came in time (a 503: is the sequencer loop running?).
            StorageUnavailable: the database failed.
        """
        if self._uow_factory is None:
            raise ConfigurationError("this audit log has no unit of work to ask for a checkpoint with")
        request = urlsafe_token(12)  # finds the request among the events, whatever the request id
        start = self.size()
        with self._uow_factory() as uow:
            details = {"requested": True, "request": request}
            self.record_access(uow, actor, CHECKPOINT_ACTION, request_id=request_id, details=details)
        wait = timeout if timeout is not None else max(2.0, 2 * self.merge_delay)
        deadline = time.monotonic() + wait
        seq: int | None = None
        while True:
            with self._read() as session:
                if seq is None:
                    seq = _requested_seq(session, start, request)
                latest = latest_checkpoint(session) if seq is not None else None
            if latest is not None and seq is not None and latest.size > seq:
                return latest
            if time.monotonic() >= deadline:
                raise CheckpointNotCut(
                    f"no audit checkpoint was cut within {wait:g}s of asking: "
                    "is `piivault audit sequence --loop` running?"
                )
            time.sleep(0.05)

    def publish_tiles(self, directory: Path | None = None, *, cut: bool = True) -> PublishResult:
        """Write the log as C2SP tlog-tiles into ``directory`` (default ``PIIVAULT_AUDIT_TILES_DIR``).

        With ``cut``, integrate the queue and cut a checkpoint first, so the
        directory holds every event recorded so far.

        Raises:
            ConfigurationError: no directory given and none configured.
            TilesDiverge: the directory publishes a log this database does not extend.
            StorageUnavailable, VaultUnavailable: a dependency failed.
            OSError: the directory cannot be written.
        """
        directory = directory or self.sequencer.checkpoints.tiles_dir
        if directory is None:
            raise ConfigurationError("no tiles directory: pass --dir or set PIIVAULT_AUDIT_TILES_DIR")
        if cut:
            self.checkpoint_now()
        try:
            return publish_tiles(self._engine, directory)
        except exc.SQLAlchemyError as e:
            if is_unavailable(e):
                raise StorageUnavailable("database unavailable") from None
            raise

    def restore_tail(self, directory: Path) -> TailRestore:
        """After a database restore, re-import the events the tiles in ``directory`` hold beyond the log.

        The tiles' checkpoint must be signed by the pinned key (:mod:`audit.anchor`);
        see :mod:`audit.restore` for every check.

        Raises:
            ConfigurationError: no key is pinned outside the database.
            TailRestoreRefused: a check failed; nothing was imported.
            StorageUnavailable, VaultUnavailable: a dependency failed.
        """
        anchor = self.pin.anchor()
        if anchor is None:
            raise ConfigurationError(
                "no audit public key is pinned (PIIVAULT_AUDIT_PUBLIC_KEY or its file): the tiles' "
                "checkpoint cannot be checked against a key from outside the database"
            )
        from audit.restore import restore_tail  # only this command needs it (issue 13)

        key = self.sequencer.authenticator.key()
        try:
            result = restore_tail(
                self._engine, directory, origin=self.origin, public_key=anchor.public_key, mac_key=key
            )
        except exc.SQLAlchemyError as e:
            if is_unavailable(e):
                raise StorageUnavailable("database unavailable") from None
            raise
        self.sequencer.forget_verified()
        return result

    def close(self) -> None:
        """Release the sequencer's connection; the container calls this when it closes."""
        self.sequencer.close()

    # -- keys and checkpoints -----------------------------------------------------
    def public_key_bytes(self) -> bytes:
        """The raw Ed25519 checkpoint public key.

        Raises:
            ConfigurationError: the key was never created (``piivault keys bootstrap``).
            VaultUnavailable, StorageUnavailable: a dependency failed.
        """
        with self._read() as session:
            return self.sequencer.checkpoints.public_key(session)

    def public_key(self) -> str:
        """The checkpoint verifier key, ``<origin>+<key id>+<base64 key>`` (signed-note format).

        Raises:
            ConfigurationError, VaultUnavailable, StorageUnavailable: as :meth:`public_key_bytes`.
        """
        return verifier_key_string(self.origin, self.public_key_bytes())

    def pin_public_key(self) -> bool:
        """Pin the keyring's checkpoint key outside the database unless pinned (``keys bootstrap``).

        Returns whether it wrote the pin. Raises ConfigurationError when another key
        is pinned, or as :meth:`public_key_bytes`.
        """
        return self.pin.pin(self.public_key_bytes())

    def latest_checkpoint(self) -> CheckpointRecord | None:
        """The newest signed checkpoint, or None before the first.

        Raises:
            StorageUnavailable: the database failed.
        """
        with self._read() as session:
            return latest_checkpoint(session)

    def size(self) -> int:
        """Events in the log (sequenced; queued ones are not counted).

        Raises:
            StorageUnavailable: the database failed.
            LogCorrupt: the head row is missing or malformed.
        """
        with self._read() as session:
            return read_head(session).size

    # -- search -----------------------------------------------------------------------
    def search_events(
        self,
        *,
        subject: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        limit: int = 100,
        cursor: str | None = None,
        newest_first: bool = False,
    ) -> EventPage:
        """Events matching every given filter, oldest first (``newest_first``: the other way,
        as a person reading the log wants it), ``limit`` per page.

        ``since`` is inclusive and ``until`` exclusive; both must be timezone-aware.

        Raises:
            ValidationFailed: a naive datetime, ``limit`` outside 1..1000, or a
                malformed cursor.
            StorageUnavailable: the database failed.
        """
        if type(limit) is not int or not 1 <= limit <= MAX_PAGE:
            raise ValidationFailed(f"limit must be between 1 and {MAX_PAGE}")
        c = t.events.c
        order = c.seq.desc() if newest_first else c.seq
        stmt = sa.select(*_EVENT_COLUMNS).order_by(order).limit(limit + 1)
        if cursor is not None:
            after = _parse_cursor(cursor)
            stmt = stmt.where(c.seq < after if newest_first else c.seq > after)
        for column, value in ((c.subject_id, subject), (c.actor, actor), (c.action, action)):
            if value is not None:
                stmt = stmt.where(column == value)
        if since is not None:
            stmt = stmt.where(c.time >= _aware(since, "since"))
        if until is not None:
            stmt = stmt.where(c.time < _aware(until, "until"))
        with self._read() as session:
            records = [_record(row) for row in session.execute(stmt)]
        more = len(records) > limit
        records = records[:limit]
        return EventPage(records, str(records[-1].seq) if more else None)

    def get_event(self, seq: int) -> EventRecord:
        """The event with sequence number ``seq``.

        Raises:
            EventNotFound: there is none.
            StorageUnavailable: the database failed.
        """
        with self._read() as session:
            return self._event(session, seq)

    def exposure(self, actor: str, since: dt.datetime, until: dt.datetime) -> ExposureReport:
        """The subjects whose data ``actor`` detokenized (successfully) in ``[since, until)``.

        What a DPO needs when a client credential leaks.

        Raises:
            ValidationFailed: empty actor, naive datetimes, or ``since`` after ``until``.
            StorageUnavailable: the database failed.
        """
        if not actor:
            raise ValidationFailed("actor is required")
        since, until = _aware(since, "since"), _aware(until, "until")
        if since > until:
            raise ValidationFailed("since must not be after until")
        c = t.events.c
        where = (
            c.actor == actor,
            c.action.in_(DETOKENIZE_ACTIONS),
            c.outcome == "success",
            c.subject_id.is_not(None),
            c.time >= since,
            c.time < until,
        )
        stmt = (
            sa.select(c.subject_id, sa.func.count(), sa.func.min(c.time), sa.func.max(c.time))
            .where(*where)
            .group_by(c.subject_id)
            .order_by(c.subject_id)
        )
        # Reveals under a grant name it in their details (tokenization.detokenize): which ones,
        # of which kind, by whose approval.
        granted = sa.select(c.subject_id, c.payload).where(*where, c.payload.like('%"grant_kind"%'))
        with self._read() as session:
            size = read_head(session).size
            rows = session.execute(stmt).all()
            by_grant = _grants_by_subject(session.execute(granted).all())
            queued = session.scalar(sa.select(sa.func.count()).select_from(t.queue)) or 0
        subjects = [
            Exposure(subject, count, first, last, tuple(by_grant.get(subject, ())))
            for subject, count, first, last in rows
        ]
        return ExposureReport(actor, since, until, size, queued, subjects)

    # -- proofs -------------------------------------------------------------------------
    def inclusion_proof(self, seq: int, size: int | None = None) -> InclusionProof:
        """RFC 6962 inclusion proof of event ``seq`` in the tree of ``size`` events.

        ``size`` defaults to the latest checkpoint's, so the proof leads to a
        signed root.

        Raises:
            EventNotFound: no event ``seq``.
            NotCheckpointed: ``size`` is None and no checkpoint covers ``seq`` yet.
            ValidationFailed: ``size`` is not in ``(seq, log size]``.
            LogCorrupt: a stored node is missing or disagrees with the checkpoint.
            StorageUnavailable: the database failed.
        """
        _check_count("seq", seq)
        with self._read() as session:
            if size is None:  # the common case, in one round trip
                event, checkpoint = self._event_and_latest_checkpoint(session, seq)
                if checkpoint is None or checkpoint.size <= seq:
                    raise NotCheckpointed(_NOT_CHECKPOINTED)
                size = checkpoint.size
            else:
                event = self._event(session, seq)
                size, checkpoint = self._size_and_checkpoint(session, size, at_least=seq + 1)
            reader = PrefetchedReader(
                DbNodeReader(session), [*inclusion_proof_keys(seq, size), *[(k,) for k in root_keys(size)]]
            )
            try:
                proof = _inclusion_proof(seq, size, reader)
                root = _root_from(size, reader)
            except MissingNodeError as e:
                raise LogCorrupt(f"{e}: run `piivault audit verify`") from None
        _check_root(root, checkpoint)
        return InclusionProof(seq, size, event.leaf_hash, proof, root, checkpoint, event.entry)

    def consistency_proof(self, size1: int, size2: int | None = None) -> ConsistencyProof:
        """RFC 6962 consistency proof from ``size1`` events to ``size2`` (default: latest checkpoint).

        Raises:
            ValidationFailed: unless ``0 <= size1 <= size2 <= log size``.
            NotCheckpointed: ``size2`` is None and there is no checkpoint yet.
            LogCorrupt: a stored node is missing or disagrees with a checkpoint.
            StorageUnavailable: the database failed.
        """
        _check_count("size1", size1)
        with self._read() as session:
            size2, checkpoint2 = self._size_and_checkpoint(session, size2, at_least=size1)
            checkpoint1 = checkpoint_at(session, size1)
            composites = [(k,) for k in root_keys(size1) + root_keys(size2)]
            if size1:
                composites += consistency_proof_keys(size1, size2)
            reader = PrefetchedReader(DbNodeReader(session), composites)
            try:
                proof = _consistency_proof(size1, size2, reader) if size1 else []
                root1, root2 = _root_from(size1, reader), _root_from(size2, reader)
            except MissingNodeError as e:
                raise LogCorrupt(f"{e}: run `piivault audit verify`") from None
        _check_root(root1, checkpoint1)
        _check_root(root2, checkpoint2)
        return ConsistencyProof(size1, size2, root1, root2, proof, checkpoint1, checkpoint2)

    def export_subject(self, subject_id: str) -> SubjectExport:
        """A subject's events with inclusion proofs against the latest checkpoint (access request).

        Raises:
            ValidationFailed: empty subject id.
            LogCorrupt: a stored node is missing or disagrees with the checkpoint.
            ConfigurationError, VaultUnavailable: the public key cannot be read.
            StorageUnavailable: the database failed.
        """
        if not subject_id:
            raise ValidationFailed("subject id is required")
        public_key = self.public_key()
        c = t.events.c
        with self._read() as session:
            checkpoint = latest_checkpoint(session)
            size = checkpoint.size if checkpoint else 0
            events = [
                _record(row)
                for row in session.execute(
                    sa.select(*_EVENT_COLUMNS).where(c.subject_id == subject_id).order_by(c.seq)
                )
            ]
            proven = [e.seq for e in events if e.seq < size]
            composites = [key for seq in proven for key in inclusion_proof_keys(seq, size)]
            if proven:
                composites += [(k,) for k in root_keys(size)]
            reader = PrefetchedReader(DbNodeReader(session), composites)
            try:
                proofs = {seq: _inclusion_proof(seq, size, reader) for seq in proven}
                if proven:
                    _check_root(_root_from(size, reader), checkpoint)
            except MissingNodeError as e:
                raise LogCorrupt(f"{e}: run `piivault audit verify`") from None
        return SubjectExport(subject_id, checkpoint, public_key, [(e, proofs.get(e.seq)) for e in events])

    # -- verification -------------------------------------------------------------------
    def verify(
        self,
        *,
        saved_checkpoints: Sequence[str] = (),
        public_key: bytes | None = None,
        workers: int | None = None,
    ) -> VerifyReport:
        """Recompute and check everything; see :func:`audit.verify.verify_log`.

        The report names its trust anchor. With ``public_key`` (the published
        key an outsider brings) that key is the anchor. Without it the anchor
        is the key pinned outside the database (:mod:`audit.anchor`):
        signatures are checked with it, and the report fails (``trust_anchor``)
        when the keyring's key is another one or when nothing is pinned.

        Raises:
            ConfigurationError, VaultUnavailable: no ``public_key`` given and
                the keyring's key or the pin cannot be read.
            StorageUnavailable: the database failed.
        """
        from audit.verify import verify_log  # only the commands that verify need it

        problem = None
        if public_key is not None:
            anchor = TrustAnchor(public_key, "the public key given by the caller")
        else:
            keyring_key = self.public_key_bytes()
            pinned = self.pin.anchor()
            if pinned is None:
                anchor = TrustAnchor(keyring_key, "the keyring of the database being verified, not pinned")
                problem = self.pin.missing()
            else:
                anchor = pinned
                if pinned.public_key != keyring_key:
                    problem = self.pin.mismatch(pinned)
        report = verify_log(
            self._engine,
            origin=self.origin,
            public_key=anchor.public_key,
            saved_checkpoints=saved_checkpoints,
            merge_delay=self.merge_delay,
            now=utcnow(),
            workers=workers,
        )
        report.trust_anchor = anchor.describe(self.origin)
        if problem is not None:
            report.flag("trust_anchor", None, problem)
        if public_key is None:
            self._check_macs(report)
        return report

    def _check_macs(self, report: VerifyReport) -> None:
        """The operator's check (who can reach the MAC key): every event's entry MAC.

        Raises:
            VaultUnavailable: the MAC key cannot be unwrapped.
            StorageUnavailable: the database failed.
        """
        stop = report.head_size if report.head_size is not None else report.events
        e = t.events.c
        query = sa.select(e.seq, e.payload, e.mac).where(e.seq < stop).order_by(e.seq)
        try:
            with self._session_factory() as session:
                key = self.sequencer.authenticator.key(session)
                session.commit()  # the key may have been created just now
                rows = session.execute(query.execution_options(yield_per=5_000))
                macs = check_macs(key, rows)
        except exc.SQLAlchemyError as error:
            if is_unavailable(error):
                raise StorageUnavailable("database unavailable") from None
            raise
        report.authenticity = macs.to_dict()
        for seq in macs.invalid_seqs:
            report.flag("event_mac_invalid", seq, f"event {seq}: its MAC does not verify (forged)")
        report.problem_count += macs.invalid - len(macs.invalid_seqs)

    # -- auditing the auditors ---------------------------------------------------------
    def record_access(
        self,
        uow: UnitOfWork,
        actor: str,
        action: str,
        *,
        subject_id: str | None = None,
        request_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Record that ``actor`` read, verified or checkpointed the log, and commit ``uow``.

        Call it before the result leaves the service boundary: if the event
        cannot be written, the caller gets the error instead of the data.
        ``details`` hold sizes, counts, codes and ids only, never PII.

        Raises:
            ValueError: ``action`` is not one of :data:`ACCESS_ACTIONS`, or the
                event does not fit the log (see :class:`audit.sink.QueueSink`).
            StorageUnavailable: the database failed; nothing was written.
        """
        if action not in ACCESS_ACTIONS:
            raise ValueError(f"audit access action must be one of {', '.join(ACCESS_ACTIONS)}")
        uow.record(
            AuditEvent(
                action=action,
                actor=actor,
                subject_id=subject_id,
                request_id=request_id,
                details=dict(details or {}),
            )
        )
        uow.commit()

    def record_verification(
        self, uow: UnitOfWork, actor: str, report: VerifyReport, *, request_id: str | None = None
    ) -> None:
        """Store a verification result as an ``audit.verify`` event (in the log it checked), and commit.

        The result lives in the hash chain rather than in a table beside it:
        whoever rewrites it breaks the chain that the next verification checks.

        Raises:
            StorageUnavailable: the database failed; nothing was written.
        """
        details = {
            "ok": report.ok,
            "head_size": report.head_size,
            "events": report.events,
            "checkpoints": report.checkpoints,
            "queued": report.queued,
            "first_bad_index": report.first_bad_index,
            "problem_count": report.problem_count,
            "saved_checkpoint_size": report.saved_checkpoint_size,
            "duration_ms": round(report.seconds * 1000),
        }
        self.record_access(uow, actor, VERIFY_ACTION, request_id=request_id, details=details)

    def last_verification(self) -> VerificationRecord | None:
        """The newest recorded verification (queued or logged), or None if there was none.

        Raises:
            StorageUnavailable: the database failed.
            LogCorrupt: the newest ``audit.verify`` event is not one :meth:`record_verification` wrote.
        """
        # Canonical JSON has sorted keys and no spaces, so the action appears exactly like this.
        marker = f'%"action":"{VERIFY_ACTION}"%'
        q, e = t.queue.c, t.events.c
        with self._read() as session:
            for payload in session.scalars(
                sa.select(q.payload).where(q.payload.like(marker)).order_by(q.id.desc()).limit(50)
            ):
                parsed = json.loads(payload)
                if parsed.get("action") == VERIFY_ACTION:
                    return _verification(parsed, None)
            row = session.execute(
                sa.select(e.seq, e.payload).where(e.action == VERIFY_ACTION).order_by(e.seq.desc()).limit(1)
            ).first()
        return None if row is None else _verification(json.loads(row[1]), row[0])

    def check(self) -> None:
        """Start-up check: the head row and the checkpoint key exist, and the key is the pinned one.

        Raises:
            LogCorrupt: the head row is missing (schema not migrated).
            ConfigurationError: the checkpoint key is missing (``piivault keys bootstrap``),
                or it is not the key pinned outside the database, or the tiles directory
                publishes more of the log than the database holds (``audit restore-tail``).
            VaultUnavailable, StorageUnavailable: a dependency failed.
        """
        with self._read() as session:
            read_head(session)
            key = self.sequencer.checkpoints.public_key(session)
            latest = latest_checkpoint(session)
        pinned = self.pin.anchor()
        if pinned is not None and pinned.public_key != key:
            raise ConfigurationError(self.pin.mismatch(pinned))
        self._check_tiles(latest.size if latest else 0)

    def _check_tiles(self, size: int) -> None:
        """Refuse to start on a database whose log the tiles directory is ahead of (a restored backup).

        Serving would record events where the published tail belongs, and the
        tail could then never be restored.
        """
        directory = self.sequencer.checkpoints.tiles_dir
        note = read_tiles_checkpoint(directory) if directory is not None else None
        if note is None:
            return
        published = tiles_checkpoint_size(note)
        if published > size:
            raise ConfigurationError(
                f"the audit tiles in {directory} publish {published} events but this database's log "
                f"has a checkpoint at {size} only (a restored backup?): run "
                f"`piivault audit restore-tail --from {directory}` first"
            )

    # -- helpers ---------------------------------------------------------------------
    def _read(self) -> _ReadSession:
        return _ReadSession(self._session_factory)

    def _event(self, session: Session, seq: int) -> EventRecord:
        row = session.execute(sa.select(*_EVENT_COLUMNS).where(t.events.c.seq == seq)).first()
        if row is None:
            raise EventNotFound(f"no audit event {seq}")
        return _record(row)

    def _event_and_latest_checkpoint(
        self, session: Session, seq: int
    ) -> tuple[EventRecord, CheckpointRecord | None]:
        c = t.checkpoints.c
        latest = (
            sa.select(c.size, c.root_hash, c.timestamp, c.note).order_by(c.size.desc()).limit(1).subquery()
        )
        row = session.execute(
            sa.select(*_EVENT_COLUMNS, *latest.c)
            .select_from(t.events.outerjoin(latest, sa.true()))
            .where(t.events.c.seq == seq)
        ).first()
        if row is None:
            raise EventNotFound(f"no audit event {seq}")
        checkpoint = None if row[10] is None else CheckpointRecord(row[10], bytes(row[11]), row[12], row[13])
        return _record(row[:10]), checkpoint

    def _size_and_checkpoint(
        self, session: Session, size: int | None, *, at_least: int
    ) -> tuple[int, CheckpointRecord | None]:
        if size is None:
            checkpoint = latest_checkpoint(session)
            if checkpoint is None or checkpoint.size < at_least:
                raise NotCheckpointed(_NOT_CHECKPOINTED)
            return checkpoint.size, checkpoint
        _check_count("size", size)
        head = read_head(session).size
        if not at_least <= size <= head:
            raise ValidationFailed(f"size must be between {at_least} and the log size {head}")
        return size, checkpoint_at(session, size)


class _ReadSession:
    """A session for reads whose database failures become StorageUnavailable."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self._session = factory()

    def __enter__(self) -> Session:
        return self._session

    def __exit__(self, kind: Any, error: Any, tb: Any) -> None:
        try:
            self._session.rollback()
        finally:
            self._session.close()
        if isinstance(error, exc.SQLAlchemyError) and is_unavailable(error):
            raise StorageUnavailable("database unavailable") from None


_NOT_CHECKPOINTED = (
    "not yet covered by a signed checkpoint: retry after the next one "
    "or cut one (`piivault audit checkpoint`)"
)
_EVENT_COLUMNS = (
    t.events.c.seq,
    t.events.c.time,
    t.events.c.actor,
    t.events.c.action,
    t.events.c.subject_id,
    t.events.c.purpose,
    t.events.c.outcome,
    t.events.c.request_id,
    t.events.c.payload,
    t.events.c.leaf_hash,
)


def _record(row: Sequence[Any]) -> EventRecord:
    return EventRecord(*row[:9], bytes(row[9]))


def _grants_by_subject(rows: Sequence[Any]) -> dict[str, list[dict[str, Any]]]:
    """Per subject, the grants its reveals were made under (from the events' details)."""
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for subject, payload in rows:
        details = (json.loads(payload).get("details") or {}) if payload else {}
        grant = details.get("grant")
        if not isinstance(grant, str):
            continue
        entry = found.setdefault(subject, {}).setdefault(
            grant,
            {
                "grant": grant,
                "kind": details.get("grant_kind"),
                "approved_by": list(details.get("approved_by") or []),
                "events": 0,
            },
        )
        entry["events"] += 1
    return {subject: sorted(grants.values(), key=lambda g: g["grant"]) for subject, grants in found.items()}


def _check_root(root: bytes, checkpoint: CheckpointRecord | None) -> None:
    if checkpoint is not None and checkpoint.root_hash != root:
        raise LogCorrupt(
            f"stored tree disagrees with the checkpoint at size {checkpoint.size}: "
            "run `piivault audit verify`"
        )


def _check_count(name: str, value: int) -> None:
    if type(value) is not int or value < 0:
        raise ValidationFailed(f"{name} must be a non-negative integer")


def _parse_cursor(cursor: str) -> int:
    if not isinstance(cursor, str) or not cursor.isdigit() or len(cursor) > 20:
        raise ValidationFailed("cursor is not one this service returned")
    return int(cursor)


def _aware(value: dt.datetime, name: str) -> dt.datetime:
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise ValidationFailed(f"{name} must be a timezone-aware datetime")
    return value


def _verification(payload: dict[str, Any], seq: int | None) -> VerificationRecord:
    try:
        details = payload["details"]
        return VerificationRecord(
            time=dt.datetime.fromisoformat(payload["time"]),
            actor=payload["actor"],
            seq=seq,
            **{f.name: details[f.name] for f in dataclasses.fields(VerificationRecord) if f.name in details},
        )
    except (KeyError, TypeError, ValueError):
        raise LogCorrupt(
            f"the newest {VERIFY_ACTION} event is malformed: run `piivault audit verify`"
        ) from None


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def build_audit_log(
    settings: Any,
    engine: sa.Engine,
    session_factory: sessionmaker[Session],
    keyring: Any,
    uow_factory: Callable[[], UnitOfWork] | None = None,
) -> AuditLog:
    """The audit service as the composition root wires it (``Container.audit``)."""
    sequencer = Sequencer(
        engine,
        session_factory,
        keyring,
        origin=settings.audit_origin,
        batch_size=settings.audit_batch_size,
        checkpoint_every=settings.audit_checkpoint_every,
        checkpoint_seconds=settings.audit_checkpoint_seconds,
        tiles_dir=Path(settings.audit_tiles_dir) if settings.audit_tiles_dir else None,
    )
    return AuditLog(
        engine,
        session_factory,
        sequencer,
        merge_delay=settings.audit_merge_delay,
        pin=KeyPin.from_settings(settings),
        sequences_inline=settings.audit_sequence_inline,
        uow_factory=uow_factory,
    )


def _requested_seq(session: Session, start: int, request: str) -> int | None:
    """The sequence number of the checkpoint request ``request``, once sequenced (at or after ``start``)."""
    e = t.events.c
    rows = session.execute(
        sa.select(e.seq, e.payload).where(e.seq >= start, e.action == CHECKPOINT_ACTION).order_by(e.seq)
    )
    for seq, payload in rows:
        with contextlib.suppress(ValueError, TypeError, AttributeError, KeyError):
            if json.loads(payload)["details"].get("request") == request:
                return int(seq)
    return None
