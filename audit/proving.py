"""Proofs out of the stored tree (RFC 6962), against the signed checkpoints: an event's
inclusion, the consistency of two sizes, and a subject's events each with its inclusion proof.

By default a proof leads to the latest checkpoint's root, so a client needs
nothing but the published public key to check it (:mod:`audit.proof` is how).
Each proof reads the nodes it needs in one round trip
(:class:`audit.store.PrefetchedReader`); a missing node, or a root that
disagrees with its checkpoint, is LogCorrupt. Sessions come from ``read`` as
in :mod:`audit.reads`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Session

from audit import tables as t
from audit.errors import EventNotFound, LogCorrupt, NotCheckpointed
from audit.merkle import (
    MissingNodeError,
    consistency_proof_keys,
    inclusion_proof_keys,
    root_keys,
)
from audit.merkle import consistency_proof as _consistency_proof
from audit.merkle import inclusion_proof as _inclusion_proof
from audit.merkle import root_from as _root_from
from audit.reads import EVENT_COLUMNS, event_record, read_event
from audit.records import ConsistencyProof, EventRecord, InclusionProof, SubjectExport
from audit.store import (
    CheckpointRecord,
    DbNodeReader,
    PrefetchedReader,
    checkpoint_at,
    latest_checkpoint,
    read_head,
)
from piivault.errors import ValidationFailed

if TYPE_CHECKING:
    from audit.reads import Reader

_NOT_CHECKPOINTED = (
    "not yet covered by a signed checkpoint: retry after the next one "
    "or cut one (`piivault audit checkpoint`)"
)


def inclusion_proof(read: Reader, seq: int, size: int | None = None) -> InclusionProof:
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
    with read() as session:
        if size is None:  # the common case, in one round trip
            event, checkpoint = _event_and_latest_checkpoint(session, seq)
            if checkpoint is None or checkpoint.size <= seq:
                raise NotCheckpointed(_NOT_CHECKPOINTED)
            size = checkpoint.size
        else:
            event = read_event(session, seq)
            size, checkpoint = _size_and_checkpoint(session, size, at_least=seq + 1)
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


def consistency_proof(read: Reader, size1: int, size2: int | None = None) -> ConsistencyProof:
    """RFC 6962 consistency proof from ``size1`` events to ``size2`` (default: latest checkpoint).

    Raises:
        ValidationFailed: unless ``0 <= size1 <= size2 <= log size``.
        NotCheckpointed: ``size2`` is None and there is no checkpoint yet.
        LogCorrupt: a stored node is missing or disagrees with a checkpoint.
        StorageUnavailable: the database failed.
    """
    _check_count("size1", size1)
    with read() as session:
        size2, checkpoint2 = _size_and_checkpoint(session, size2, at_least=size1)
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


def export_subject(read: Reader, subject_id: str, verifier_key: Callable[[], str]) -> SubjectExport:
    """A subject's events with inclusion proofs against the latest checkpoint (access request).

    ``verifier_key`` gives the checkpoint verifier key the export names, asked once the
    subject id has passed.

    Raises:
        ValidationFailed: empty subject id.
        LogCorrupt: a stored node is missing or disagrees with the checkpoint.
        ConfigurationError, VaultUnavailable: the public key cannot be read.
        StorageUnavailable: the database failed.
    """
    if not subject_id:
        raise ValidationFailed("subject id is required")
    public_key = verifier_key()
    c = t.events.c
    with read() as session:
        checkpoint = latest_checkpoint(session)
        size = checkpoint.size if checkpoint else 0
        events = [
            event_record(row)
            for row in session.execute(
                sa.select(*EVENT_COLUMNS).where(c.subject_id == subject_id).order_by(c.seq)
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


def _event_and_latest_checkpoint(session: Session, seq: int) -> tuple[EventRecord, CheckpointRecord | None]:
    c = t.checkpoints.c
    latest = sa.select(c.size, c.root_hash, c.timestamp, c.note).order_by(c.size.desc()).limit(1).subquery()
    row = session.execute(
        sa.select(*EVENT_COLUMNS, *latest.c)
        .select_from(t.events.outerjoin(latest, sa.true()))
        .where(t.events.c.seq == seq)
    ).first()
    if row is None:
        raise EventNotFound(f"no audit event {seq}")
    checkpoint = None if row[10] is None else CheckpointRecord(row[10], bytes(row[11]), row[12], row[13])
    return event_record(row[:10]), checkpoint


def _size_and_checkpoint(
    session: Session, size: int | None, *, at_least: int
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


def _check_root(root: bytes, checkpoint: CheckpointRecord | None) -> None:
    if checkpoint is not None and checkpoint.root_hash != root:
        raise LogCorrupt(
            f"stored tree disagrees with the checkpoint at size {checkpoint.size}: "
            "run `piivault audit verify`"
        )


def _check_count(name: str, value: int) -> None:
    if type(value) is not int or value < 0:
        raise ValidationFailed(f"{name} must be a non-negative integer")
