"""The log's signed checkpoints as the sequencer cuts them: when one is due, its signature,
and the tiles published after it.

A checkpoint is due every ``AUDIT_CHECKPOINT_EVERY`` events, after
``AUDIT_CHECKPOINT_SECONDS`` with new events, on demand (``piivault audit
checkpoint``), or when a queued ``audit.checkpoint`` event asks for one
(a process that may not write the log asks that way, see
:meth:`audit.service.AuditLog.await_checkpoint`; the request's three steps are
:func:`request_details`, :func:`is_request` and :func:`request_seq`).
:class:`Checkpoints` decides it and signs the note (:mod:`audit.note`) with the
checkpoint key from the keyring, inside the sequencer's transaction; once that
has committed, it brings the tiles directory (:mod:`audit.tiles`) up to the new
checkpoint.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.orm import Session

from audit import tables as t
from audit.errors import LogCorrupt, TilesDiverge
from audit.note import Checkpoint, sign_checkpoint
from audit.store import CheckpointRecord
from audit.tiles import publish
from piivault.errors import UnavailableError

if TYPE_CHECKING:
    from audit._storage import PgStep, SqliteStep
    from vault import Keyring, Signer

log = logging.getLogger(__name__)

CHECKPOINT_KEY = "audit-checkpoint"
"""Name of the Ed25519 checkpoint key, stored sealed by :class:`vault.Keyring`."""
CHECKPOINT_ACTION = "audit.checkpoint"
"""Someone cut a checkpoint on demand, or asked the sequencer for one (details ``requested``)."""


class Checkpoints:
    """When the sequencer cuts a checkpoint, how it signs it, and the tiles it publishes after.

    ``every``, ``seconds`` and ``tiles_dir`` may be changed between steps (tests do).
    """

    def __init__(
        self,
        engine: sa.Engine,
        keyring: Keyring,
        *,
        origin: str,
        every: int,
        seconds: float,
        tiles_dir: Path | None = None,
    ) -> None:
        self._engine = engine
        self._keyring = keyring
        self.origin = origin
        self.every = every
        self.seconds = seconds
        self.tiles_dir = tiles_dir
        self._signer: Signer | None = None
        self._last = (0, 0)  # (size, timestamp) of the newest checkpoint seen

    def may_be_due(self, size: int, now: dt.datetime) -> bool:
        """Whether a checkpoint may be due at ``size``, without reading the table."""
        # What this process last saw is never ahead of the table (checkpoints only
        # grow), so "not due" by it means not due; "due" is confirmed from the table.
        last_size, last_time = self._last
        return size != last_size and (
            size - last_size >= self.every or now.timestamp() - last_time >= self.seconds
        )

    def maybe_cut(
        self,
        db: PgStep | SqliteStep,
        size: int,
        root: bytes,
        now: dt.datetime,
        forced: bool,
        *,
        asked: bool = False,
    ) -> CheckpointRecord | None:
        """Cut and insert a checkpoint at ``size`` if one is due (``forced``, ``asked``: it is).

        Returns None when none is due, one exists at this size, or the key cannot be
        read just now (the checkpoint stays due; a forced one raises instead).

        Raises:
            LogCorrupt: a checkpoint commits to more events than the log head has.
            VaultUnavailable: only for a forced checkpoint.
        """
        latest = db.latest_checkpoint()
        last_size, last_time = (latest.size, latest.timestamp) if latest else (None, 0)
        self._last = (last_size or 0, last_time)
        if last_size == size:
            return None
        if last_size is not None and last_size > size:
            raise LogCorrupt(f"a checkpoint commits to {last_size} events but the log head has {size}")
        seconds = now.timestamp()
        due = (
            forced
            or asked
            or size - (last_size or 0) >= self.every
            or (size > 0 and seconds - last_time >= self.seconds)
        )
        if not due:
            return None
        try:
            signer = self._signer
            if signer is None:
                with db.session() as session:
                    signer = self.signer(session)
        except UnavailableError as e:
            if forced:
                raise
            # Integration must not stop because Vault is briefly away; the
            # checkpoint stays due and is cut by a later step.
            log.warning("audit checkpoint at size %d deferred: %s", size, e.code)
            return None
        # Timestamps never go backwards, even if this host's clock is behind another's.
        checkpoint = Checkpoint(self.origin, size, root, max(int(seconds), last_time))
        record = CheckpointRecord(
            size, root, checkpoint.timestamp, sign_checkpoint(checkpoint, self.origin, signer)
        )
        db.insert_checkpoint(record)
        log.info("audit checkpoint cut at size %d", size)
        return record

    def committed(self, record: CheckpointRecord) -> None:
        """The transaction that inserted ``record`` has committed: remember it, publish the tiles."""
        self._last = (record.size, record.timestamp)
        self.publish_tiles()

    def publish_tiles(self) -> None:
        """Bring the tiles directory up to the newest checkpoint (:mod:`audit.tiles`), if one is set.

        Never raises: the checkpoint is committed; a directory that cannot be
        written (or that diverges from the database) is logged and tried again
        at the next checkpoint.
        """
        if self.tiles_dir is None:
            return
        try:
            publish(self._engine, self.tiles_dir)
        except TilesDiverge as e:
            log.error("audit tiles not published: %s", e)
        except (OSError, exc.SQLAlchemyError) as e:
            log.warning("audit tiles not published (%s); retried at the next checkpoint", type(e).__name__)

    def signer(self, session: Session) -> Signer:
        """The checkpoint key's signer, read from the keyring once per process."""
        if self._signer is None:
            self._signer = self._keyring.signer(session, CHECKPOINT_KEY, create=False)
        return self._signer

    def public_key(self, session: Session) -> bytes:
        """The checkpoint key's Ed25519 public key.

        Raises:
            ConfigurationError: the key was never created (run ``piivault keys bootstrap``).
            VaultUnavailable: the key is sealed under a data key Vault must unwrap.
        """
        return self.signer(session).public_key


def request_details(request: str) -> dict[str, Any]:
    """The details of an ``audit.checkpoint`` event that asks for a checkpoint; ``request`` finds it again."""
    return {"requested": True, "request": request}


def is_request(body: dict[str, Any]) -> bool:
    """Whether an ``audit.checkpoint`` event asks for a checkpoint (see AuditLog.await_checkpoint)."""
    details = body.get("details")
    return isinstance(details, dict) and details.get("requested") is True


def request_seq(session: Session, start: int, request: str) -> int | None:
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
