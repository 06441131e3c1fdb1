"""Verification as the service runs it: the trust anchor a report is checked against, the
operator's check of every event's MAC, the result recorded in the log and read back, and the
start-up check (the checkpoint key is the pinned one; the tiles are not ahead of the database).

The recomputation itself is :func:`audit.verify.verify_log`'s, imported only by the
commands that verify. Sessions come from ``read`` as in :mod:`audit.reads`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.orm import Session, sessionmaker

from audit import tables as t
from audit.anchor import KeyPin, TrustAnchor
from audit.authenticity import check_macs
from audit.errors import LogCorrupt
from audit.records import VerificationRecord
from audit.store import latest_checkpoint, read_head
from audit.tiles import checkpoint_size as tiles_checkpoint_size
from audit.tiles import read_checkpoint as read_tiles_checkpoint
from piivault.db import is_unavailable, utcnow
from piivault.errors import ConfigurationError, StorageUnavailable

if TYPE_CHECKING:
    from audit.authenticity import EventAuthenticator
    from audit.checkpoints import Checkpoints
    from audit.reads import Reader
    from audit.verify_report import VerifyReport

VERIFY_ACTION = "audit.verify"
"""Someone verified the log; the details carry the result (see :func:`last_verification`)."""


def verify(
    engine: sa.Engine,
    session_factory: sessionmaker[Session],
    authenticator: EventAuthenticator,
    *,
    origin: str,
    pin: KeyPin,
    keyring_key: Callable[[], bytes],
    merge_delay: float,
    saved_checkpoints: Sequence[str] = (),
    public_key: bytes | None = None,
    workers: int | None = None,
) -> VerifyReport:
    """Recompute and check everything; see :func:`audit.verify.verify_log`.

    The report names its trust anchor. With ``public_key`` (the published
    key an outsider brings) that key is the anchor. Without it the anchor
    is the key pinned outside the database (:mod:`audit.anchor`):
    signatures are checked with it, the report fails (``trust_anchor``)
    when the keyring's key (``keyring_key``) is another one or when nothing
    is pinned, and every event's MAC is checked under ``authenticator``'s key.

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
        keyring_public_key = keyring_key()
        pinned = pin.anchor()
        if pinned is None:
            anchor = TrustAnchor(keyring_public_key, "the keyring of the database being verified, not pinned")
            problem = pin.missing()
        else:
            anchor = pinned
            if pinned.public_key != keyring_public_key:
                problem = pin.mismatch(pinned)
    report = verify_log(
        engine,
        origin=origin,
        public_key=anchor.public_key,
        saved_checkpoints=saved_checkpoints,
        merge_delay=merge_delay,
        now=utcnow(),
        workers=workers,
    )
    report.trust_anchor = anchor.describe(origin)
    if problem is not None:
        report.flag("trust_anchor", None, problem)
    if public_key is None:
        _check_macs(report, session_factory, authenticator)
    return report


def _check_macs(
    report: VerifyReport, session_factory: sessionmaker[Session], authenticator: EventAuthenticator
) -> None:
    """The operator's check (who can reach the MAC key): every event's entry MAC.

    Raises:
        VaultUnavailable: the MAC key cannot be unwrapped.
        StorageUnavailable: the database failed.
    """
    stop = report.head_size if report.head_size is not None else report.events
    e = t.events.c
    query = sa.select(e.seq, e.payload, e.mac).where(e.seq < stop).order_by(e.seq)
    try:
        with session_factory() as session:
            key = authenticator.key(session)
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


def recorded(report: VerifyReport) -> dict[str, Any]:
    """The details of the ``audit.verify`` event that records ``report`` (see :func:`last_verification`)."""
    return {
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


def last_verification(read: Reader) -> VerificationRecord | None:
    """The newest recorded verification (queued or logged), or None if there was none.

    Raises:
        StorageUnavailable: the database failed.
        LogCorrupt: the newest ``audit.verify`` event does not hold what :func:`recorded` gives.
    """
    # Canonical JSON has sorted keys and no spaces, so the action appears exactly like this.
    marker = f'%"action":"{VERIFY_ACTION}"%'
    q, e = t.queue.c, t.events.c
    with read() as session:
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


def check_startup(read: Reader, checkpoints: Checkpoints, pin: KeyPin) -> None:
    """Start-up check: the head row and the checkpoint key exist, and the key is the pinned one.

    Raises:
        LogCorrupt: the head row is missing (schema not migrated).
        ConfigurationError: the checkpoint key is missing (``piivault keys bootstrap``),
            or it is not the key pinned outside the database, or the tiles directory
            publishes more of the log than the database holds (``audit restore-tail``).
        VaultUnavailable, StorageUnavailable: a dependency failed.
    """
    with read() as session:
        read_head(session)
        key = checkpoints.public_key(session)
        latest = latest_checkpoint(session)
    pinned = pin.anchor()
    if pinned is not None and pinned.public_key != key:
        raise ConfigurationError(pin.mismatch(pinned))
    _check_tiles(checkpoints.tiles_dir, latest.size if latest else 0)


def _check_tiles(directory: Path | None, size: int) -> None:
    """Refuse to start on a database whose log the tiles directory is ahead of (a restored backup).

    Serving would record events where the published tail belongs, and the
    tail could then never be restored.
    """
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
