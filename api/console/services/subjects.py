"""What the subject page needs beyond the domain services: what an erasure would do now, and
whether lifting a restriction would be refused.

Both run consent's own decisions (:mod:`consent.erasure`) and roll back. A token's subject
and a subject's tokens are :mod:`tokenization.subjects`' reads; no value is read here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING, Any

from consent import erasure
from tokenization import subjects

if TYPE_CHECKING:
    from consent.service import ConsentService

PREVIEW_ACTOR = "console:preview"


@dataclasses.dataclass(frozen=True)
class ErasurePreview:
    """What completing an erasure request would do if it ran now."""

    subject_id: str
    state: str | None  # None: no such subject (nothing to shred)
    closed_at: dt.datetime | None
    field_types: dict[str, int]
    holds: list[dict[str, Any]]  # the holds that would be in force, retention ones included
    shred_now: bool
    shred_due_at: dt.datetime | None  # when the holds all end (None: one has no end yet)
    pending_shred: bool  # an earlier erasure already waits for a hold


def erasure_preview(svc: ConsentService, subject_id: str, now: dt.datetime) -> ErasurePreview:
    """Run erasure's hold decision (:func:`consent.erasure.hold_decision`) and roll it back.

    The very decision erasure makes, so what the DPO is shown is what will
    happen: retention holds that erasing would create are included. Raises
    StorageUnavailable.
    """
    svc.catalogue.ensure_seeded()
    with svc.session_factory() as session:
        try:
            row = subjects.get(session, subject_id)
            held = subjects.held_field_types(session, subject_id) if row is not None else {}
            decision = erasure.hold_decision(session, row, subject_id, PREVIEW_ACTOR, now)
            pending = erasure.pending_shred(session, subject_id) is not None
        finally:
            session.rollback()  # a preview writes nothing
    return ErasurePreview(
        subject_id=subject_id,
        state=None if row is None else row.state,
        closed_at=None if row is None else row.closed_at,
        field_types=held,
        holds=decision.holds,
        shred_now=decision.shred_now,
        shred_due_at=decision.shred_due_at,
        pending_shred=pending,
    )


def lift_blocked(svc: ConsentService, subject_id: str) -> bool:
    """Whether lifting the restriction would be refused because an erasure waits for a hold
    (the service answers 409 then): the console does not offer a form that cannot work."""
    with svc.session_factory() as session:
        try:
            return erasure.pending_shred(session, subject_id) is not None
        finally:
            session.rollback()
