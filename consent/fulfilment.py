"""What completing a data-subject request does, by its type, in the request's transaction.

* access: nothing to do here; the package (:mod:`consent.access`) may then be downloaded;
* correction: each listed token gets its new value, the token unchanged, and each listed
  risk attribute its new value (values used once, never stored or logged);
* erasure: shred now, or restrict and schedule the shred (:mod:`consent.erasure`);
* restriction: the subject is restricted until the DPO lifts it;
* withdraw_all: every consent standing is withdrawn, each with a receipt.

The request's life (states, steps, search) is :mod:`consent.dsr`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from audit.events import AuditEvent
from consent import consents, erasure
from piivault.db import UnitOfWork
from privacy import model as m
from privacy import subjects
from privacy.errors import ConsentConflict, InvalidConsent, SubjectGone
from tokenization.correct import replace_values
from tokenization.errors import InvalidRequest

if TYPE_CHECKING:
    from consent.dsr import DsrDeps

MAX_CORRECTIONS = 100


def carry_out(
    deps: DsrDeps,
    session: Any,
    uow: UnitOfWork,
    actor: m.Actor,
    row: Any,
    corrections: Sequence[dict[str, Any]] | None,
    now: dt.datetime,
    request_id: str | None,
) -> tuple[dict[str, Any], list[str]]:
    """Carry out the request ``row`` (a ``consent_dsr_requests`` row) in ``uow``, uncommitted:
    its outcome, and the receipts and certificates to sign once the transaction commits.

    The caller holds the subject's lock (:func:`consent.dsr.advance`): against erasure, or for
    it when this is an erasure request."""
    subject_id, dsr_id = row.subject_id, row.dsr_id
    if row.type == "access":
        return {"package": "available to the DPO while the request is completed"}, []
    if row.type == "correction":
        if not corrections:
            raise InvalidConsent(
                "completing a correction needs corrections: [{token, value}] or [{attribute, value}]"
            )
        if len(corrections) > MAX_CORRECTIONS:
            raise InvalidConsent(f"at most {MAX_CORRECTIONS} corrections per request")
        _live_subject(session, subject_id)
        field_types, names = _correct(deps, session, subject_id, corrections, now)
        details: dict[str, Any] = {"dsr_id": dsr_id, "values": len(field_types)}
        outcome: dict[str, Any] = {"corrected": len(field_types), "field_types": sorted(set(field_types))}
        if names:
            details["attributes"] = outcome["attributes"] = sorted(names)  # names only, never values
        uow.record(
            AuditEvent(
                action="subject.correct",
                actor=actor.name,
                subject_id=subject_id,
                field_types=tuple(sorted(set(field_types))),
                request_id=request_id,
                details=details,
            )
        )
        return outcome, []
    if row.type == "erasure":
        outcome = erasure.erase(
            deps.erasure,
            session,
            uow,
            subject_id,
            dsr_id=dsr_id,
            actor=actor.name,
            now=now,
            request_id=request_id,
        )
        cert = outcome.get("certificate_id")
        return outcome, [cert] if cert else []
    if row.type == "restriction":
        state = _live_subject(session, subject_id)
        if state != subjects.RESTRICTED:
            subjects.set_state(session, subject_id, subjects.RESTRICTED, now)
        uow.record(
            AuditEvent(
                action="subject.restrict",
                actor=actor.name,
                subject_id=subject_id,
                reason="dsr restriction",
                request_id=request_id,
                details={"dsr_id": dsr_id},
            )
        )
        return {"action": "restricted"}, []
    # withdraw_all
    withdrawn, receipt_ids = [], []
    for state in consents.current_all(session, subject_id, now):
        if state.state == m.WITHDRAWN:
            continue
        latest = consents.latest(session, subject_id, state.purpose)
        if latest is None or latest.action not in (m.GRANT, m.RENEW):
            continue
        record, _ = deps.consents.withdraw_in(
            session,
            uow,
            actor,
            subject_id,
            state.purpose,
            row.channel,
            None,
            None,
            request_id,
            now,
            "dsr",
            dsr_id,
        )
        withdrawn.append(state.purpose)
        receipt_ids.append(record["receipt_id"])
    return {"withdrawn": withdrawn, "receipts": receipt_ids}, receipt_ids


def _correct(
    deps: DsrDeps, session: Any, subject_id: str, corrections: Sequence[Any], now: dt.datetime
) -> tuple[list[str], list[str]]:
    """Carry out corrections: ``{token, value}`` replaces a value (the token stays), ``{attribute,
    value}`` sets a risk attribute. Returns the field types and the attribute names corrected.

    Errors name the item (``corrections[i]``) and the rule, never a value; the
    request's transaction is rolled back on any, so nothing is half-corrected.
    """
    field_types: list[str] = []
    changes: list[tuple[str, str, Any]] = []
    for i, item in enumerate(corrections):
        if isinstance(item, dict) and set(item) == {"attribute", "value"}:
            if not isinstance(item["attribute"], str):
                raise InvalidConsent(f"corrections[{i}].attribute must be a string")
            changes.append((f"corrections[{i}]", item["attribute"], item["value"]))
            continue
        try:
            # One item at a time, so that an error names the item's place in the request.
            field_types += replace_values(deps.keyring, deps.field_types, session, subject_id, [item])
        except InvalidRequest as e:
            raise InvalidRequest(e.message.replace("corrections[0]", f"corrections[{i}]", 1)) from None
    if changes:
        if deps.subject_attributes is None:
            raise InvalidConsent("this piivault keeps no risk attributes to correct")
        key = deps.keyring.subject_key(session, subject_id)
        return field_types, deps.subject_attributes.correct(session, key, subject_id, changes, now)
    return field_types, []


def _live_subject(session: Any, subject_id: str) -> str:
    found = subjects.states(session, [subject_id]).get(subject_id)
    if found is None or found[0] != subjects.SUBJECT:
        raise ConsentConflict("piivault holds no data for this subject")
    if found[1] == subjects.ERASED:
        raise SubjectGone("the subject was erased")
    return found[1]
