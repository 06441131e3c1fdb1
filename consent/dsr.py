"""Data-subject requests: access, correction, erasure, restriction, withdraw-all.

A request moves ``received -> identity_verified -> approved -> completed``, or
to ``rejected`` (with a reason code) from any open state. Every step is a row
of ``consent_dsr_steps`` (who, when, from, to, why) and an audit event
``dsr.<state>``; the request is due ``PIIVAULT_DSR_DUE_DAYS`` (15) days after
it was received, and open requests past it are listed as overdue.

Completing a request carries it out, in the same transaction (:mod:`consent.fulfilment`:
a package, corrections, an erasure, a restriction, or every consent withdrawn).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from access.model import DSR_ERASURE
from audit.events import AuditEvent
from consent import consents, erasure
from consent import tables as t
from consent.fulfilment import carry_out
from piivault.db import UnitOfWork
from piivault.ids import new_id
from piivault.sql import for_update
from privacy import model as m
from privacy import subjects
from privacy.errors import (
    InvalidConsent,
    InvalidTransition,
    RequestNotFound,
    SubjectGone,
    SubjectUnknown,
)
from privacy.guards import begin, check_note, require_four_eyes, require_role

if TYPE_CHECKING:
    from collections.abc import Callable

    from consent.consents import ConsentRecords
    from consent.receipts import Receipts
    from consent.subject_state import SubjectStates
    from fieldtypes import FieldTypeRegistry
    from privacy.attributes import AttributeStore
    from privacy.catalogue import LivePurposeCatalogue
    from vault import Keyring

TYPES = ("access", "correction", "erasure", "restriction", "withdraw_all")
RECEIVED, VERIFIED, APPROVED, COMPLETED, REJECTED = (
    "received",
    "identity_verified",
    "approved",
    "completed",
    "rejected",
)
OPEN = (RECEIVED, VERIFIED, APPROVED)
NEXT = {RECEIVED: VERIFIED, VERIFIED: APPROVED, APPROVED: COMPLETED}
IDENTITY_METHODS = ("in_person", "id_document", "app_login", "phone_callback", "other")
REJECT_REASONS = (
    "identity_not_verified",
    "manifestly_unfounded",
    "excessive",
    "legal_obligation",
    "duplicate",
    "withdrawn_by_subject",
    "other",
)
MAX_PAGE = 500
_d, _s = t.dsr_requests.c, t.dsr_steps.c


def _dict(
    row: Any, steps: list[dict[str, Any]] | None = None, now: dt.datetime | None = None
) -> dict[str, Any]:
    found = {
        "dsr_id": row.dsr_id,
        "subject_id": row.subject_id,
        "type": row.type,
        "state": row.state,
        "channel": row.channel,
        "received_at": row.received_at,
        "due_at": row.due_at,
        "closed_at": row.closed_at,
        "overdue": now is not None and row.state in OPEN and row.due_at < now,
        "outcome": None if row.outcome is None else json.loads(row.outcome),
        "reject_reason": row.reject_reason,
        "note": row.note,
        "created_by": row.created_by,
        "updated_at": row.updated_at,
    }
    if steps is not None:
        found["steps"] = steps
    return found


def _steps(session: Any, dsr_id: str) -> list[dict[str, Any]]:
    rows = session.execute(sa.select(t.dsr_steps).where(_s.dsr_id == dsr_id).order_by(_s.id))
    return [
        {
            "from_state": r.from_state,
            "to_state": r.to_state,
            "actor": r.actor,
            "at": r.at,
            "reason_code": r.reason_code,
            "detail": None if r.detail is None else json.loads(r.detail),
        }
        for r in rows
    ]


def _step(
    session: Any,
    dsr_id: str,
    from_state: str | None,
    to_state: str,
    actor: str,
    now: dt.datetime,
    reason_code: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    session.execute(
        t.dsr_steps.insert().values(
            dsr_id=dsr_id,
            from_state=from_state,
            to_state=to_state,
            actor=actor,
            at=now,
            reason_code=reason_code,
            detail=None if detail is None else json.dumps(detail, sort_keys=True),
        )
    )


@dataclasses.dataclass(frozen=True)
class DsrDeps:
    """What data-subject requests use: the catalogue (seeded first), the clock and the due days,
    subjects' ids and state, consents (a withdraw-all withdraws each), receipts (signed after
    the commit), the erasure, the keyring and field types a correction re-seals values with,
    risk attributes, and four eyes on erasures."""

    catalogue: LivePurposeCatalogue
    clock: Callable[[], dt.datetime]
    subjects: SubjectStates
    consents: ConsentRecords
    receipts: Receipts
    erasure: erasure.ErasureDeps
    keyring: Keyring
    field_types: FieldTypeRegistry
    due_days: int = 15
    subject_attributes: AttributeStore | None = None  # None: none are kept
    four_eyes: Any = None  # access.gate.FourEyes; None refuses erasures (fail closed)


def create(
    deps: DsrDeps,
    uow: UnitOfWork,
    actor: m.Actor,
    subject_id: str,
    type_: str,
    *,
    channel: str,
    note: str | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """Receive a request; it is due ``deps.due_days`` days from now.

    Raises NotAllowed, InvalidConsent, SubjectGone, SubjectUnknown (piivault
    holds neither data nor a consent record for the id: a typo, not a person),
    StorageUnavailable.
    """
    require_role(actor, m.DSR_CREATE_ROLES, "file data-subject requests")
    if type_ not in TYPES:
        raise InvalidConsent(f"type must be one of: {', '.join(TYPES)}")
    if channel not in m.CHANNELS:
        raise InvalidConsent(f"channel must be one of: {', '.join(m.CHANNELS)}")
    check_note(note)
    session = begin(deps.catalogue, uow)
    deps.subjects.check_subject_id(subject_id)
    subjects.keep_from_erasure(session, [subject_id])  # an erasure clears its requests' notes
    if deps.subjects.erased(session, subject_id):
        raise SubjectGone("the subject was erased")
    if subjects.get(session, subject_id) is None and not consents.recorded(session, subject_id):
        raise SubjectUnknown("piivault holds no data and no consent for this subject")
    now = deps.clock()
    dsr_id = new_id("dsr_")
    due = now + dt.timedelta(days=deps.due_days)
    session.execute(
        t.dsr_requests.insert().values(
            dsr_id=dsr_id,
            subject_id=subject_id,
            type=type_,
            state=RECEIVED,
            channel=channel,
            received_at=now,
            due_at=due,
            note=note,
            created_by=actor.name,
            updated_at=now,
        )
    )
    _step(session, dsr_id, None, RECEIVED, actor.name, now)
    uow.record(
        AuditEvent(
            action="dsr.received",
            actor=actor.name,
            subject_id=subject_id,
            request_id=request_id,
            details={"dsr_id": dsr_id, "type": type_, "channel": channel, "due_at": m.iso(due)},
        )
    )
    uow.commit()
    return get(deps, uow, actor, dsr_id, audit=False)


def get(
    deps: DsrDeps,
    uow: UnitOfWork,
    actor: m.Actor,
    dsr_id: str,
    *,
    audit: bool = True,
    request_id: str | None = None,
) -> dict[str, Any]:
    """One request with its steps. Raises NotAllowed, RequestNotFound, StorageUnavailable."""
    if audit:
        require_role(actor, m.DSR_ROLES, "read data-subject requests")
    session = begin(deps.catalogue, uow)
    row = session.execute(sa.select(t.dsr_requests).where(_d.dsr_id == dsr_id)).first()
    if row is None:
        raise RequestNotFound("no such data-subject request")
    found = _dict(row, _steps(session, dsr_id), deps.clock())
    if audit:
        uow.record(
            AuditEvent(
                action="dsr.read",
                actor=actor.name,
                subject_id=row.subject_id,
                request_id=request_id,
                details={"dsr_id": dsr_id},
            )
        )
        uow.commit()
    certificate_id = (found.get("outcome") or {}).get("certificate_id")
    found["certificate_id"] = certificate_id
    if audit and certificate_id:
        # The signed erasure certificate itself (None while its audit event awaits sequencing).
        found["certificate"] = deps.receipts.finalize_receipt(certificate_id)
    return found


def search(
    deps: DsrDeps,
    uow: UnitOfWork,
    actor: m.Actor,
    *,
    state: str | None = None,
    type_: str | None = None,
    subject_id: str | None = None,
    overdue: bool = False,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Requests matching every given filter, soonest due first; ``overdue``: open and past due.

    Raises NotAllowed, InvalidConsent, StorageUnavailable.
    """
    require_role(actor, m.DSR_ROLES, "read data-subject requests")
    if state is not None and state not in (*OPEN, COMPLETED, REJECTED):
        raise InvalidConsent("unknown state")
    if type_ is not None and type_ not in TYPES:
        raise InvalidConsent("unknown type")
    if type(limit) is not int or not 1 <= limit <= MAX_PAGE:
        raise InvalidConsent(f"limit must be between 1 and {MAX_PAGE}")
    session = begin(deps.catalogue, uow)
    now = deps.clock()
    stmt = sa.select(t.dsr_requests).order_by(_d.due_at, _d.dsr_id).limit(limit)
    if state is not None:
        stmt = stmt.where(_d.state == state)
    if type_ is not None:
        stmt = stmt.where(_d.type == type_)
    if subject_id is not None:
        stmt = stmt.where(_d.subject_id == subject_id)
    if overdue:
        stmt = stmt.where(_d.state.in_(OPEN), _d.due_at < now)
    found = [_dict(r, None, now) for r in session.execute(stmt)]
    uow.commit()
    return found


def advance(
    deps: DsrDeps,
    uow: UnitOfWork,
    actor: m.Actor,
    dsr_id: str,
    to_state: str,
    *,
    reason_code: str | None = None,
    method: str | None = None,
    note: str | None = None,
    corrections: Sequence[dict[str, Any]] | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """Move a request one step: identity_verified (``method``), approved, completed, or rejected
    (``reason_code``). Completing carries the request out (``corrections`` for a correction).

    Completing an erasure needs a ``dsr.erasure`` grant another DPO approved
    (:mod:`access.gate`). Returns the request, with ``receipts`` (signed
    withdrawal receipts or the erasure certificate) when completing produced
    them. Raises ApprovalRequired, NoPerson, NotAllowed,
    RequestNotFound, InvalidTransition, InvalidConsent, SubjectGone,
    ConsentConflict, ConfigurationError (no erasure ledger), StorageUnavailable.
    """
    require_role(actor, m.DSR_ROLES, "work on data-subject requests")
    check_note(note)
    session = begin(deps.catalogue, uow)
    _lock_subject(session, dsr_id, to_state)
    row = session.execute(for_update(sa.select(t.dsr_requests).where(_d.dsr_id == dsr_id), session)).first()
    if row is None:
        raise RequestNotFound("no such data-subject request")
    if row.state not in OPEN:
        raise InvalidTransition(f"the request is {row.state}: it cannot change any more")
    if to_state != REJECTED and NEXT.get(row.state) != to_state:
        raise InvalidTransition(f"a {row.state} request can move to {NEXT[row.state]} or rejected only")
    if note is not None:
        if deps.subjects.erased(session, row.subject_id):
            raise SubjectGone("the subject was erased: its requests keep no notes")
        # Before the request is carried out: an erasure clears it with the subject's other notes.
        session.execute(t.dsr_requests.update().where(_d.dsr_id == dsr_id).values(note=note))
    now = deps.clock()
    detail: dict[str, Any] | None = None
    outcome: dict[str, Any] | None = None
    receipt_ids: list[str] = []
    if to_state == VERIFIED:
        if method not in IDENTITY_METHODS:
            raise InvalidConsent(f"method must be one of: {', '.join(IDENTITY_METHODS)}")
        detail = {"method": method}
    elif to_state == REJECTED:
        if reason_code not in REJECT_REASONS:
            raise InvalidConsent(f"reason_code must be one of: {', '.join(REJECT_REASONS)}")
    elif to_state == COMPLETED:
        if corrections is not None and row.type != "correction":
            raise InvalidConsent("corrections are given for correction requests only")
        approval: dict[str, Any] = {}
        if row.type == "erasure":
            # Irreversible: a second DPO approved it (four eyes, access.gate).
            approval = require_four_eyes(deps.four_eyes, session, actor, DSR_ERASURE, dsr_id, request_id)
        outcome, receipt_ids = carry_out(deps, session, uow, actor, row, corrections, now, request_id)
        detail = {**{k: v for k, v in outcome.items() if k != "receipts"}, **approval}
    values: dict[str, Any] = {"state": to_state, "updated_at": now}
    if to_state in (COMPLETED, REJECTED):
        values["closed_at"] = now
    if to_state == REJECTED:
        values["reject_reason"] = reason_code
    if outcome is not None:
        values["outcome"] = json.dumps(outcome, sort_keys=True)
    session.execute(t.dsr_requests.update().where(_d.dsr_id == dsr_id).values(**values))
    _step(session, dsr_id, row.state, to_state, actor.name, now, reason_code, detail)
    uow.record(
        AuditEvent(
            action=f"dsr.{to_state}",
            actor=actor.name,
            subject_id=row.subject_id,
            reason=reason_code,
            request_id=request_id,
            details={"dsr_id": dsr_id, "type": row.type, "from": row.state, **(detail or {})},
        )
    )
    uow.commit()
    found = get(deps, uow, actor, dsr_id, audit=False)
    session.rollback()  # end the read before signing: SQLite writers would wait for it
    if receipt_ids:
        found["receipts"] = [deps.receipts.finalize_receipt(r) for r in receipt_ids]
    return found


def _lock_subject(session: Any, dsr_id: str, to_state: str) -> None:
    """Lock the request's subject before the request's row: for its erasure when this completes
    an erasure request, else against one (:mod:`privacy.subjects`). An erasure takes the lock,
    then updates every request of the subject (their notes): taken after the row, a deadlock."""
    found = session.execute(sa.select(_d.subject_id, _d.type).where(_d.dsr_id == dsr_id)).first()
    if found is None:
        return
    if to_state == COMPLETED and found.type == "erasure":
        subjects.lock_for_erasure(session, found.subject_id)
    else:
        subjects.keep_from_erasure(session, [found.subject_id])
