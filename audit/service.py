"""The audit log as a service: the one object the API, the console and the CLI call.

Plain values in, plain dataclasses out (:mod:`audit.records`, each with ``to_dict()``
for JSON); no Flask. The HTTP layer (roles ``auditor`` and ``dpo``) and the CLI
(``piivault audit ...``) are thin wrappers over :class:`AuditLog`, which keeps the
sequencing, the checkpoints, the tiles and the record of who read the log, and hands
the rest to its owners, each given the read sessions and the parts it uses:

* searching events, one event, the exposure report: :mod:`audit.reads`;
* inclusion and consistency proofs, a subject's export: :mod:`audit.proving`;
* verification, its recorded result and the start-up check: :mod:`audit.verification`.

Sizes and proofs follow RFC 6962: the log of ``size`` events has leaves
``0 .. size-1``; an inclusion proof shows event ``seq`` is leaf ``seq`` of the
tree of ``size`` leaves; by default proofs are against the latest signed
checkpoint, so a client needs nothing but the published public key to check
them.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.orm import Session, sessionmaker

from audit import proving, reads, verification
from audit.anchor import KeyPin
from audit.checkpoints import CHECKPOINT_ACTION, request_details, request_seq
from audit.errors import CheckpointNotCut
from audit.events import AuditEvent
from audit.note import verifier_key_string
from audit.records import (
    ConsistencyProof,
    EventPage,
    EventRecord,
    ExposureReport,
    InclusionProof,
    SubjectExport,
    VerificationRecord,
)
from audit.sequencer import Sequencer
from audit.store import CheckpointRecord, latest_checkpoint, read_head
from audit.tiles import PublishResult
from audit.tiles import publish as publish_tiles
from audit.verification import VERIFY_ACTION
from piivault.db import UnitOfWork, is_unavailable
from piivault.errors import ConfigurationError, StorageUnavailable
from piivault.ids import urlsafe_token

if TYPE_CHECKING:
    from audit.restore import TailRestore
    from audit.verify_report import VerifyReport

log = logging.getLogger(__name__)

READ_ACTION = "audit.read"
"""Someone read events out of the log (search, inclusion proof, exposure report, subject export)."""
ACCESS_ACTIONS = (READ_ACTION, VERIFY_ACTION, CHECKPOINT_ACTION)


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
            details = request_details(request)
            self.record_access(uow, actor, CHECKPOINT_ACTION, request_id=request_id, details=details)
        wait = timeout if timeout is not None else max(2.0, 2 * self.merge_delay)
        deadline = time.monotonic() + wait
        seq: int | None = None
        while True:
            with self._read() as session:
                if seq is None:
                    seq = request_seq(session, start, request)
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

    # -- reading, proofs (audit.reads, audit.proving) ------------------------------------
    def search_events(self, **filters: Any) -> EventPage:
        """See :func:`audit.reads.search_events` (its keyword arguments: filters, page, order)."""
        return reads.search_events(self._read, **filters)

    def get_event(self, seq: int) -> EventRecord:
        """See :func:`audit.reads.get_event`."""
        return reads.get_event(self._read, seq)

    def exposure(self, actor: str, since: dt.datetime, until: dt.datetime) -> ExposureReport:
        """See :func:`audit.reads.exposure`."""
        return reads.exposure(self._read, actor, since, until)

    def inclusion_proof(self, seq: int, size: int | None = None) -> InclusionProof:
        """See :func:`audit.proving.inclusion_proof`."""
        return proving.inclusion_proof(self._read, seq, size)

    def consistency_proof(self, size1: int, size2: int | None = None) -> ConsistencyProof:
        """See :func:`audit.proving.consistency_proof`."""
        return proving.consistency_proof(self._read, size1, size2)

    def export_subject(self, subject_id: str) -> SubjectExport:
        """See :func:`audit.proving.export_subject`."""
        return proving.export_subject(self._read, subject_id, self.public_key)

    # -- verification (audit.verification) ------------------------------------------------
    def verify(
        self,
        *,
        saved_checkpoints: Sequence[str] = (),
        public_key: bytes | None = None,
        workers: int | None = None,
    ) -> VerifyReport:
        """See :func:`audit.verification.verify`."""
        return verification.verify(
            self._engine,
            self._session_factory,
            self.sequencer.authenticator,
            origin=self.origin,
            pin=self.pin,
            keyring_key=self.public_key_bytes,
            merge_delay=self.merge_delay,
            saved_checkpoints=saved_checkpoints,
            public_key=public_key,
            workers=workers,
        )

    def last_verification(self) -> VerificationRecord | None:
        """See :func:`audit.verification.last_verification`."""
        return verification.last_verification(self._read)

    def check(self) -> None:
        """See :func:`audit.verification.check_startup`."""
        verification.check_startup(self._read, self.sequencer.checkpoints, self.pin)

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
        details = verification.recorded(report)
        self.record_access(uow, actor, VERIFY_ACTION, request_id=request_id, details=details)

    # -- helpers ---------------------------------------------------------------------
    def _read(self) -> _ReadSession:
        return _ReadSession(self._session_factory)


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
