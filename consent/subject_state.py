"""Subjects as the privacy core sees them: a subject id's shape, the customer relationship
(opened, closed), a restriction the DPO lifts, and whether the subject was erased
(its tombstone).

:class:`SubjectStates` owns those use cases; each takes a unit of work, checks
the actor, records its audit event and commits. The subject's row itself lives
in :mod:`privacy.subjects`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from audit.events import AuditEvent
from consent import tables as t
from consent.holds import ensure_retention_of
from fieldtypes import FieldTypeRegistry
from piivault.db import UnitOfWork
from piivault.sql import insert_ignore
from privacy import holds, subjects
from privacy import model as m
from privacy.catalogue import LivePurposeCatalogue
from privacy.errors import ConsentConflict, InvalidConsent, NotAllowed, SubjectGone, SubjectUnknown
from privacy.guards import begin, check_note, require_role
from tokenization.model import valid_subject_id

LIFT_REASONS = ("request_resolved", "accuracy_verified", "legal_claim_ended", "dpo_decision", "other")


@dataclasses.dataclass(frozen=True)
class SubjectStates:
    """Subject ids, relationships, restrictions and erasure state (see the module)."""

    catalogue: LivePurposeCatalogue
    field_types: FieldTypeRegistry
    clock: Callable[[], dt.datetime]
    # Purposes that own the customer relationship: a purpose-bound client may open or close
    # it only holding one of them (PIIVAULT_RELATIONSHIP_PURPOSES).
    relationship_purposes: frozenset[str] = frozenset(m.RELATIONSHIP_PURPOSES)

    def check_subject_id(self, subject_id: Any) -> str:
        """Raise :class:`InvalidConsent` unless ``subject_id`` is an opaque subject id."""
        if not isinstance(subject_id, str) or not valid_subject_id(subject_id):
            raise InvalidConsent("subject_id must be 8-64 letters, digits, '_' or '-' (not starting 'std_')")
        if self.field_types.looks_like_identifier(subject_id):
            raise InvalidConsent("subject_id looks like a personal identifier: use an opaque id")
        return subject_id

    def erased(self, session: Session, subject_id: str) -> bool:
        if tombstone_exists(session, subject_id):
            return True
        found = subjects.states(session, [subject_id]).get(subject_id)
        return found is not None and found[1] == subjects.ERASED

    def live(self, session: Session, subject_id: str) -> Any:
        """The subject's row, for a writer: kept from erasure till the caller's transaction ends
        (:func:`privacy.subjects.keep_from_erasure`). Raises InvalidConsent (the id),
        SubjectUnknown, or SubjectGone when it was erased."""
        self.check_subject_id(subject_id)
        subjects.keep_from_erasure(session, [subject_id])
        row = subjects.get(session, subject_id)
        if row is None:
            if self.erased(session, subject_id):
                raise SubjectGone("the subject was erased")
            raise SubjectUnknown("no such subject")
        if row.state == subjects.ERASED:
            raise SubjectGone("the subject was erased")
        return row

    def _require_relationship_owner(self, actor: m.Actor, what: str) -> None:
        require_role(actor, m.CLOSE_ROLES, what)
        if actor.purpose_bound and not actor.purposes & self.relationship_purposes:
            owners = ", ".join(sorted(self.relationship_purposes))
            raise NotAllowed(
                f"only a client holding a purpose that owns the relationship ({owners}) may {what}"
            )

    def open_relationship(
        self, uow: UnitOfWork, actor: m.Actor, subject_id: str, *, request_id: str | None = None
    ) -> dict[str, Any]:
        """Record that the customer relationship began: from now on, retention rules anchored on
        the relationship's end (AML record keeping) apply to the subject.

        Only a client holding a purpose that owns the relationship
        (:attr:`relationship_purposes`), or the DPO. Raises NotAllowed,
        SubjectUnknown, SubjectGone, ConsentConflict (opened already, or
        closed), StorageUnavailable.
        """
        self._require_relationship_owner(actor, "open relationships")
        session = begin(self.catalogue, uow)
        row = self.live(session, subject_id)
        if row.closed_at is not None:
            raise ConsentConflict("the relationship was closed already")
        if row.opened_at is not None:
            raise ConsentConflict("the relationship was opened already")
        now = self.clock()
        subjects.set_opened(session, subject_id, now)
        uow.record(
            AuditEvent(action="subject.open", actor=actor.name, subject_id=subject_id, request_id=request_id)
        )
        uow.commit()
        return {"subject_id": subject_id, "opened_at": now, "closed_at": None}

    def close_relationship(
        self, uow: UnitOfWork, actor: m.Actor, subject_id: str, *, request_id: str | None = None
    ) -> dict[str, Any]:
        """Record that the relationship ended: retention clocks start (retention holds get an end).

        Only a client holding a purpose that owns the relationship
        (:attr:`relationship_purposes`), or the DPO. A shred waiting for those
        holds is rescheduled to their end. Raises NotAllowed, SubjectUnknown,
        SubjectGone, ConsentConflict (never opened, or closed already),
        StorageUnavailable.
        """
        self._require_relationship_owner(actor, "close relationships")
        session = begin(self.catalogue, uow)
        row = self.live(session, subject_id)
        if row.closed_at is not None:
            raise ConsentConflict("the relationship was closed already")
        if row.opened_at is None:
            raise ConsentConflict("no customer relationship was opened for this subject: nothing to close")
        now = self.clock()
        subjects.set_closed(session, subject_id, now)
        hold_ids = ensure_retention_of(session, subject_id, row.opened_at, now, actor.name, now)
        from consent import erasure

        due = erasure.reschedule(session, subject_id, now)
        uow.record(
            AuditEvent(
                action="subject.close",
                actor=actor.name,
                subject_id=subject_id,
                request_id=request_id,
                details={"retention_holds": hold_ids, "shred_due_at": m.iso(due)},
            )
        )
        uow.commit()
        return {
            "subject_id": subject_id,
            "opened_at": row.opened_at,
            "closed_at": now,
            "holds": [holds.get(session, h) for h in hold_ids] if hold_ids else [],
        }

    def lift_restriction(
        self,
        uow: UnitOfWork,
        actor: m.Actor,
        subject_id: str,
        *,
        reason_code: str,
        note: str | None = None,
        request_id: str | None = None,
    ) -> dict[str, Any]:
        """Make a restricted subject active again (the DPO, with a reason).

        Raises NotAllowed, InvalidConsent (reason), SubjectUnknown, SubjectGone,
        ConsentConflict (not restricted, or an erasure waits for a hold),
        StorageUnavailable.
        """
        require_role(actor, m.DSR_ROLES, "lift restrictions")
        if reason_code not in LIFT_REASONS:
            raise InvalidConsent(f"reason_code must be one of: {', '.join(LIFT_REASONS)}")
        check_note(note)
        session = begin(self.catalogue, uow)
        row = self.live(session, subject_id)
        if row.state != subjects.RESTRICTED:
            raise ConsentConflict("the subject is not restricted")
        from consent import erasure

        if erasure.pending_shred(session, subject_id) is not None:
            raise ConsentConflict("an erasure waits for a hold to end: the restriction stays")
        subjects.set_state(session, subject_id, subjects.ACTIVE, self.clock())
        uow.record(
            AuditEvent(
                action="subject.lift_restriction",
                actor=actor.name,
                subject_id=subject_id,
                reason=reason_code,
                request_id=request_id,
            )
        )
        uow.commit()
        return {"subject_id": subject_id, "state": subjects.ACTIVE}


def tombstone_exists(session: Session, subject_id: str) -> bool:
    return (
        session.execute(
            sa.select(t.tombstones.c.subject_id).where(t.tombstones.c.subject_id == subject_id)
        ).first()
        is not None
    )


def add_tombstone(
    session: Session,
    subject_id: str,
    erased_at: dt.datetime,
    dsr_id: str | None,
    certificate_id: str | None,
) -> None:
    insert_ignore(
        session,
        t.tombstones,
        {
            "subject_id": subject_id,
            "erased_at": erased_at,
            "dsr_id": dsr_id,
            "certificate_id": certificate_id,
        },
        ["subject_id"],
    )
