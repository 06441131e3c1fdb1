"""Erasure: crypto-shred a subject now, or restrict it and schedule the shred for a hold's end.

Shredding (:func:`shred_now`) destroys the subject's data key through
:meth:`vault.Keyring.shred` (which writes the erasure ledger), deletes its
tokens (with their sealed values and blind indexes; a keyed digest of each
stays, so detokenizing one answers "erased"), its consent history and
receipts, releases its holds, clears the DPO's notes on its requests, and
keeps a tombstone (subject id, time, request id) and a signed erasure
certificate. Under an active hold (:mod:`consent.holds`) the subject is
restricted instead and a ``shred:<subject>`` job (unique) waits in
``consent_jobs`` for ``piivault jobs run``.

Functions run inside the caller's transaction.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from audit.events import AuditEvent
from consent import consents, receipts
from consent import tables as t
from consent.holds import ensure_retention_of
from consent.subject_state import add_tombstone
from piivault.db import UnitOfWork
from piivault.ids import new_id
from piivault.sql import insert_ignore
from privacy import holds, subjects
from privacy import model as m
from tokenization import subject_tokens

if TYPE_CHECKING:
    from consent.receipts import Receipts
    from vault import Keyring

SHRED = "shred"
ERASURE_REASON = "dsr-erasure"
_j = t.jobs.c


@dataclasses.dataclass(frozen=True)
class ErasureDeps:
    """What an erasure uses: the keyring that shreds the subject's key and deletes its tokens,
    and the receipts that keep its certificate."""

    keyring: Keyring
    receipts: Receipts


def job_key(subject_id: str) -> str:
    return f"{SHRED}:{subject_id}"


def pending_shred(session: Session, subject_id: str) -> Any | None:
    """The subject's pending shred job, or None."""
    return session.execute(
        sa.select(t.jobs).where(_j.job_key == job_key(subject_id), _j.state == "pending")
    ).first()


def reschedule(session: Session, subject_id: str, now: dt.datetime) -> dt.datetime | None:
    """Move a pending shred to the end of the subject's active holds (now if none is left).

    Returns the new due time (None: a hold has no end yet, or no shred is pending).
    """
    if pending_shred(session, subject_id) is None:
        return None
    active = holds.active(session, subject_id, now)
    every, end = holds.last_end(active)
    due = (end if every else None) if active else now
    session.execute(t.jobs.update().where(_j.job_key == job_key(subject_id)).values(due_at=due))
    return due


@dataclasses.dataclass(frozen=True)
class HoldDecision:
    """Whether erasing the subject now shreds it, or what keeps its data and until when."""

    holds: list[dict[str, Any]]  # the holds in force, retention ones that apply included
    shred_now: bool
    shred_due_at: dt.datetime | None  # when they all end (None: one has no end date yet)


def hold_decision(
    session: Session, subject: Any, subject_id: str, actor: str, now: dt.datetime
) -> HoldDecision:
    """The one decision erasure makes about holds (the console's preview runs it and rolls back).

    ``subject`` is the subject's row (:func:`privacy.subjects.get`) or
    None. Creates the retention holds that apply to it (a relationship was
    opened: :func:`consent.ensure_retention_of`) in the caller's
    transaction, then reads every hold in force.
    """
    if subject is not None:
        ensure_retention_of(session, subject_id, subject.opened_at, subject.closed_at, actor, now)
    active = holds.active(session, subject_id, now)
    every, end = holds.last_end(active)
    return HoldDecision(active, not active, end if active and every else None)


PREVIEW_ACTOR = "console:preview"  # the actor of the retention holds a preview creates and rolls back


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


def preview(session: Session, subject_id: str, now: dt.datetime) -> ErasurePreview:
    """Run erasure's hold decision (:func:`hold_decision`) for the DPO to see before approving.

    The very decision erasure makes, so what the DPO is shown is what will happen:
    retention holds that erasing would create are included. It creates them in the
    caller's transaction, which must roll back (a preview writes nothing).
    """
    row = subjects.get(session, subject_id)
    held = subject_tokens.held_field_types(session, subject_id) if row is not None else {}
    decision = hold_decision(session, row, subject_id, PREVIEW_ACTOR, now)
    return ErasurePreview(
        subject_id=subject_id,
        state=None if row is None else row.state,
        closed_at=None if row is None else row.closed_at,
        field_types=held,
        holds=decision.holds,
        shred_now=decision.shred_now,
        shred_due_at=decision.shred_due_at,
        pending_shred=pending_shred(session, subject_id) is not None,
    )


def erase(
    deps: ErasureDeps,
    session: Session,
    uow: UnitOfWork,
    subject_id: str,
    *,
    dsr_id: str | None,
    actor: str,
    now: dt.datetime,
    request_id: str | None = None,
) -> dict[str, Any]:
    """Erase the subject, or restrict it and schedule the shred when a hold applies.

    Returns the outcome: ``{"action": "erased", "certificate_id"}`` or
    ``{"action": "restricted", "holds", "shred_due_at"}``. Raises
    ConfigurationError (no erasure ledger), StorageUnavailable.
    """
    # Before anything is read: a writer holding the subject (a consent, a hold being placed)
    # is waited for, and what it wrote is found below; one that comes later finds it erased.
    subjects.lock_for_erasure(session, subject_id)
    row = subjects.get(session, subject_id)
    if row is not None and row.state == subjects.ERASED:
        return {"action": "erased", "certificate_id": None, "already": True}
    decision = hold_decision(session, row, subject_id, actor, now)
    if decision.shred_now:
        certificate_id = shred_now(
            deps, session, uow, subject_id, dsr_id=dsr_id, actor=actor, now=now, request_id=request_id
        )
        return {"action": "erased", "certificate_id": certificate_id}
    if row is not None and row.state != subjects.RESTRICTED:
        subjects.set_state(session, subject_id, subjects.RESTRICTED, now)
    due = decision.shred_due_at
    scheduled = insert_ignore(
        session,
        t.jobs,
        {
            "job_key": job_key(subject_id),
            "kind": SHRED,
            "subject_id": subject_id,
            "dsr_id": dsr_id,
            "due_at": due,
            "state": "pending",
            "created_at": now,
        },
        ["job_key"],
    )
    if not scheduled:  # a finished or cancelled job of an earlier request: schedule it again
        session.execute(
            t.jobs.update()
            .where(_j.job_key == job_key(subject_id))
            .values(state="pending", dsr_id=dsr_id, due_at=due, done_at=None, result=None)
        )
    hold_ids = [h["hold_id"] for h in decision.holds]
    uow.record(
        AuditEvent(
            action="subject.restrict",
            actor=actor,
            subject_id=subject_id,
            reason="erasure under hold",
            request_id=request_id,
            details={"dsr_id": dsr_id, "holds": hold_ids, "shred_due_at": m.iso(due)},
        )
    )
    return {"action": "restricted", "holds": hold_ids, "shred_due_at": m.iso(due)}


def shred_now(
    deps: ErasureDeps,
    session: Session,
    uow: UnitOfWork,
    subject_id: str,
    *,
    dsr_id: str | None,
    actor: str,
    now: dt.datetime,
    request_id: str | None = None,
) -> str:
    """Crypto-shred the subject and keep only its tombstone; returns the certificate id, which
    every erasure request of the subject still waiting for its shred is given.

    The certificate is signed after the commit (:meth:`consent.receipts.Receipts.finalize_receipt`).
    Raises ConfigurationError (no erasure ledger), StorageUnavailable.
    """
    subjects.lock_for_erasure(session, subject_id)  # taken already by a caller that read first
    # The state first, then the key and the tokens. A tokenize writing for this subject checks
    # its state with the row locked (privacy.subjects.states_still): one that locked it first
    # commits before this update goes on, and its token and key are deleted below (statements
    # of their own, at READ COMMITTED, see them); one that comes later waits for this
    # transaction and sees "erased". So is a tokenize creating the subject now: the insert
    # below waits for it. Deleted before, a key or token committed in between would outlive
    # the erasure.
    if subjects.get(session, subject_id) is None:
        # Known only to consent: an erased row keeps tokenization from reviving the id.
        subjects.insert(session, [subject_id], subjects.SUBJECT, now)
    subjects.set_state(session, subject_id, subjects.ERASED, now)
    entry = deps.keyring.shred(session, subject_id, ERASURE_REASON, dsr_id)
    removed = {
        "tokens": subject_tokens.erase_tokens(session, deps.keyring, subject_id, now),
        **_forget(session, subject_id, actor, now),
    }
    # Its own shred too, when a request erases first: run later, it would shred again and sign
    # a second certificate. The scheduled shred marks its job done after this.
    session.execute(
        t.jobs.update()
        .where(_j.subject_id == subject_id, _j.state == "pending")
        .values(state="cancelled", done_at=now)
    )
    certificate_id = new_id("crt_")
    waited = _carried_out_for(session, subject_id, certificate_id, actor, now)
    body = receipts.erasure_certificate(
        certificate_id=certificate_id,
        subject_id=subject_id,
        dsr_id=dsr_id,
        erased_at=entry.erased_at,
        ledger_seq=entry.seq,
        ledger_hash=entry.hash,
        removed=removed,
        controller=deps.receipts.controller,
        public_key=deps.receipts.signer(session).public_key,
    )
    deps.receipts.store_receipt(session, certificate_id, "erasure", subject_id, "subject.erase", body, now)
    add_tombstone(session, subject_id, entry.erased_at, dsr_id, certificate_id)
    uow.record(
        AuditEvent(
            action="subject.erase",
            actor=actor,
            subject_id=subject_id,
            reason=ERASURE_REASON,
            request_id=request_id,
            details={
                "dsr_id": dsr_id,
                "receipt_id": certificate_id,
                "ledger_seq": entry.seq,
                **removed,
                **({"requests_waiting": waited} if waited else {}),  # given the certificate too
            },
        )
    )
    return certificate_id


def _carried_out_for(
    session: Session, subject_id: str, certificate_id: str, actor: str, now: dt.datetime
) -> list[str]:
    """Note this erasure on every erasure request of the subject that is waiting for its shred
    (completed as "restricted" under a hold), with a step of its history each; their ids, which
    the erasure's audit event names.

    Not only the scheduled shred's own request: a subject has one scheduled shred, and a later
    request under a hold takes it over, while one that finds no hold left erases at once and
    cancels it. Either way an earlier request's outcome would have kept saying "restricted,
    shred due" for an erasure that had happened, with no certificate. (The request completing
    now, if any, has no outcome yet: its caller records this erasure as its outcome.)"""
    d = t.dsr_requests.c
    waiting = session.execute(
        sa.select(d.dsr_id, d.state, d.outcome)
        .where(d.subject_id == subject_id, d.type == "erasure", d.outcome.is_not(None))
        .order_by(d.dsr_id)
    ).all()
    noted: list[str] = []
    for row in waiting:
        outcome = json.loads(row.outcome)
        if outcome.get("action") != "restricted":
            continue
        outcome.update(action="erased", certificate_id=certificate_id, erased_at=m.iso(now))
        session.execute(
            t.dsr_requests.update()
            .where(d.dsr_id == row.dsr_id)
            .values(outcome=json.dumps(outcome, sort_keys=True), updated_at=now)
        )
        session.execute(
            t.dsr_steps.insert().values(
                dsr_id=row.dsr_id,
                from_state=row.state,
                to_state=row.state,
                actor=actor,
                at=now,
                reason_code="erasure_carried_out",
                detail=json.dumps({"certificate_id": certificate_id}),
            )
        )
        noted.append(row.dsr_id)
    return noted


def _forget(session: Session, subject_id: str, actor: str, now: dt.datetime) -> dict[str, int]:
    """Drop what consent keeps about an erased subject: records, receipts, holds, notes."""
    records = consents.delete_subject(session, subject_id)
    r = t.receipts.c
    deleted = session.execute(t.receipts.delete().where(r.subject_id == subject_id, r.kind == "consent"))
    holds.release_all(session, subject_id, "erased", actor, now)
    session.execute(
        t.dsr_requests.update().where(t.dsr_requests.c.subject_id == subject_id).values(note=None)
    )
    return {"consent_records": records, "receipts": int(deleted.rowcount or 0)}


def forget_restored(session: Session, subject_ids: list[str], now: dt.datetime) -> int:
    """After a restore and ``keys replay-erasures``: erase what a backup brought back.

    For each ledgered subject: its consent records, receipts, holds and notes
    go again, its pending jobs are cancelled, and its tombstone is put back
    (the erasure certificate, if the backup predates it, is in the audit log).
    Runs in the caller's transaction; returns the consent records deleted.
    """
    count = 0
    for subject_id in subject_ids:
        count += _forget(session, subject_id, "piivault.replay", now)["consent_records"]
        session.execute(
            t.jobs.update()
            .where(_j.subject_id == subject_id, _j.state == "pending")
            .values(state="cancelled", done_at=now)
        )
        add_tombstone(session, subject_id, now, None, None)
    return count
