"""The DPO's use cases on holds (list, place, release), and the retention holds a subject's data calls for.

What a hold is, when it is active and whom it lets through a restriction are
:mod:`privacy.holds`'. Placing or releasing one reschedules a waiting shred
(:mod:`consent.erasure`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from audit.events import AuditEvent
from piivault.db import UnitOfWork
from privacy import model as m
from privacy import purposes as _purposes
from privacy import subjects
from privacy.errors import ConsentConflict, HoldNotFound, InvalidConsent
from privacy.guards import begin, check_note, require_role
from privacy.holds import (
    LEGAL_REASONS,
    RELEASE_REASONS,
    ensure_retention,
    get,
    of_subject,
    place_legal,
    release,
    retention_purposes,
)
from tokenization import subject_tokens

if TYPE_CHECKING:
    from consent.subject_state import SubjectStates
    from privacy.catalogue import LivePurposeCatalogue


def ensure_retention_of(
    session: Session,
    subject_id: str,
    opened_at: dt.datetime | None,
    closed_at: dt.datetime | None,
    actor: str,
    now: dt.datetime,
) -> list[str]:
    """Create (and date, once closed) the retention holds that apply to the subject; their ids.

    They apply only if a relationship was opened (``opened_at``): the law ties
    record keeping to a customer relationship, not to holding data of a field
    type a retention purpose covers.
    """
    if opened_at is None:
        return []
    held = set(subject_tokens.held_field_types(session, subject_id))
    applying = retention_purposes(_purposes.all_purposes(session), held)
    return ensure_retention(session, subject_id, applying, closed_at, actor, now)


@dataclasses.dataclass(frozen=True)
class Holds:
    """The DPO's use cases on holds: list a subject's, place a legal hold, release one."""

    catalogue: LivePurposeCatalogue
    clock: Callable[[], dt.datetime]
    subjects: SubjectStates

    def list_holds(
        self, uow: UnitOfWork, actor: m.Actor, subject_id: str, *, request_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Every hold of the subject, released ones included. Raises NotAllowed, StorageUnavailable."""
        require_role(actor, m.DSR_ROLES, "read holds")
        session = begin(self.catalogue, uow)
        self.subjects.check_subject_id(subject_id)
        found = of_subject(session, subject_id)
        uow.commit()
        return found

    def place_hold(
        self,
        uow: UnitOfWork,
        actor: m.Actor,
        subject_id: str,
        *,
        reason_code: str,
        ends_at: dt.datetime,
        note: str | None = None,
        purpose: str | None = None,
        roles: Sequence[str] = ("dpo",),
        request_id: str | None = None,
    ) -> dict[str, Any]:
        """Place a legal hold until ``ends_at``: erasure then waits for it.

        ``purpose`` (optional) is what the held data may still be used for
        while the subject is restricted, by ``roles``. A pending shred is
        rescheduled to the new end. Raises NotAllowed, InvalidConsent,
        PurposeNotFound, SubjectUnknown, SubjectGone, StorageUnavailable.
        """
        require_role(actor, m.DSR_ROLES, "place holds")
        if reason_code not in LEGAL_REASONS:
            raise InvalidConsent(f"reason_code must be one of: {', '.join(LEGAL_REASONS)}")
        check_note(note)
        if not roles or any(r not in m.HOLD_ROLES for r in roles):
            raise InvalidConsent(f"roles must be among: {', '.join(m.HOLD_ROLES)}")
        session = begin(self.catalogue, uow)
        now = self.clock()
        if ends_at.tzinfo is None or ends_at <= now:
            raise InvalidConsent("ends_at must be a future time with a time zone")
        self.subjects.live(session, subject_id)  # kept from erasure, which releases the holds it finds
        if purpose is not None:
            _purposes.require(session, purpose)
        hold = place_legal(
            session,
            subject_id,
            purpose=purpose,
            roles=list(dict.fromkeys(roles)),
            reason_code=reason_code,
            note=note,
            ends_at=ends_at,
            actor=actor.name,
            now=now,
        )
        from consent import erasure

        due = erasure.reschedule(session, subject_id, now)
        uow.record(
            AuditEvent(
                action="hold.place",
                actor=actor.name,
                subject_id=subject_id,
                purpose=purpose,
                reason=reason_code,
                request_id=request_id,
                details={"hold_id": hold["hold_id"], "ends_at": m.iso(ends_at), "shred_due_at": m.iso(due)},
            )
        )
        uow.commit()
        return hold

    def release_hold(
        self,
        uow: UnitOfWork,
        actor: m.Actor,
        subject_id: str,
        hold_id: str,
        *,
        reason_code: str,
        request_id: str | None = None,
    ) -> dict[str, Any]:
        """Release a hold now; a waiting shred is rescheduled to the remaining holds' end.

        Raises NotAllowed, InvalidConsent, HoldNotFound, ConsentConflict
        (released already), StorageUnavailable.
        """
        require_role(actor, m.DSR_ROLES, "release holds")
        if reason_code not in RELEASE_REASONS:
            raise InvalidConsent(f"reason_code must be one of: {', '.join(RELEASE_REASONS)}")
        session = begin(self.catalogue, uow)
        # An erasure decides by the holds, and releases them: it and this take turns.
        subjects.keep_from_erasure(session, [subject_id])
        hold = get(session, hold_id)
        if hold is None or hold["subject_id"] != subject_id:
            raise HoldNotFound("no such hold")
        now = self.clock()
        if not release(session, hold_id, reason_code, actor.name, now):
            raise ConsentConflict("the hold was released already")
        from consent import erasure

        due = erasure.reschedule(session, subject_id, now)
        uow.record(
            AuditEvent(
                action="hold.release",
                actor=actor.name,
                subject_id=subject_id,
                reason=reason_code,
                request_id=request_id,
                details={"hold_id": hold_id, "shred_due_at": m.iso(due)},
            )
        )
        uow.commit()
        released = get(session, hold_id)
        assert released is not None
        return released
