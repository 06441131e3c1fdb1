"""The lookup use case: which subjects hold this value, answered under a declared purpose.

A lookup links a value to a subject without decrypting anything (the blind
index), which is as revealing as a detokenize: the same policy decision point
decides it (:func:`privacy.decide`). First for the request as a
whole - role, purpose known and on the caller's key, field type on the key and
covered by the purpose; a refusal there is a 403 - then for each subject found:
not erased, not restricted (unless a hold lets this role use it for this
purpose), consent where the purpose needs it. Only matches the policy allows
are returned; the others are left out, so a lookup does not tell that a
restricted or unconsented subject holds the value.

Every subject found gets an audit event naming it (allowed or denied), so a
lookup shows in the subject's access log, its access package and the
console's "who used the data". Matches of standalone tokens, or no match,
give one event without a subject.

The DPO, answering a data-subject request through the console, finds
subjects by a value without declaring a purpose: every match is returned
(restricted subjects too, whose rights the DPO handles), each audited.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Session

from audit.events import AuditEvent
from fieldtypes import FieldType, InvalidValue, UnknownFieldType
from piivault.db import UnitOfWork
from privacy import ConsentVerdict, Decision, Effect, decide, subjects
from privacy import tables as pt
from tokenization import tables as t
from tokenization.errors import InvalidRequest, NotPermitted
from tokenization.model import Caller, actor
from tokenization.tokenize import BLIND_INDEX_KEY
from tokenization.tokens import blind_index

if TYPE_CHECKING:
    from tokenization.service import TokenizationService

# Roles that may look values up under a purpose; the DPO may also do so without one.
LOOKUP_ROLES = frozenset({"service", "dpo"})
PURPOSELESS_ROLES = frozenset({"dpo"})
# Consent as good as it gets: what the request-level decision assumes of every subject.
_ANY_SUBJECT = ConsentVerdict(granted=True, separate=True, reason="granted")


def lookup(
    svc: TokenizationService,
    uow: UnitOfWork,
    caller: Caller,
    field_type: str,
    value: str,
    *,
    purpose: str | None,
    request_id: str | None = None,
) -> list[dict]:
    """See :meth:`TokenizationService.lookup`."""
    if caller.role not in LOOKUP_ROLES:
        raise NotPermitted(f"role {caller.role!r} may not look values up")
    if purpose is None and caller.role not in PURPOSELESS_ROLES:
        raise InvalidRequest("a lookup declares its purpose")
    try:
        ft = svc.field_types.get(field_type)
    except UnknownFieldType:
        raise InvalidRequest("unknown field type") from None
    session = uow.session
    assert session is not None
    who = actor(caller)
    catalogued = None if purpose is None else svc.purposes.get(purpose)
    audited_purpose = purpose if catalogued is not None else None  # never the caller's unknown text

    def decision(state: str | None, consent: ConsentVerdict | None = None, owner: str = "") -> Decision:
        assert purpose is not None
        return decide(
            role=caller.role,
            client_purposes=caller.purposes,
            client_field_types=caller.field_types,
            purpose_code=purpose,
            purpose=catalogued,
            field_type=ft.code,
            pipl_sensitive=ft.pipl_sensitive,
            subject_state=state,
            consent=lambda: consent or svc.consent_check(session, owner, purpose, ft.code),
            reveal=Effect.MASKED,  # a lookup reveals no value, only who holds it
            restriction_exempt=lambda: svc.restriction_exempt(session, owner, purpose, caller.role),
        )

    if svc.answer_budget is not None:
        svc.answer_budget.check(session, who)  # past its budget of not-found/denied answers: 429
    if purpose is not None:
        request_level = decision(None, _ANY_SUBJECT)
        if not request_level.allowed:
            if svc.answer_budget is not None:
                svc.answer_budget.spend(uow, who, 1, request_id=request_id)
            uow.record(
                AuditEvent(
                    action="lookup",
                    actor=who,
                    outcome="denied",
                    purpose=audited_purpose,
                    field_types=(ft.code,),
                    reason=request_level.reason.value,
                    request_id=request_id,
                )
            )
            uow.commit()
            raise NotPermitted(f"lookup denied: {request_level.reason.value}")
    elif caller.field_types is not None and ft.code not in caller.field_types:
        raise NotPermitted("this client may not use this field type")

    rows = _matches(svc, session, ft, value)
    found: list[dict] = []
    # subject -> (outcome, reason) -> tokens; standalone tokens counted apart.
    by_subject: dict[str, dict[tuple[str, str], int]] = defaultdict(lambda: defaultdict(int))
    standalone = 0
    for token, kind, owner, owner_kind, state in rows:
        is_subject = owner_kind == subjects.SUBJECT
        if purpose is None:
            allowed, outcome, reason = True, "success", "dpo request"
        else:
            consent = None if is_subject else ConsentVerdict(granted=False)  # nobody consented for it
            verdict = decision(state if is_subject else None, consent, owner)
            allowed, outcome, reason = verdict.allowed, verdict.outcome, verdict.reason.value
        if is_subject:
            by_subject[owner][(outcome, reason)] += 1
        elif allowed:
            standalone += 1
        if allowed:
            found.append({"token": token, "kind": kind, "subject_id": owner if is_subject else None})

    if svc.answer_budget is not None and not found:
        svc.answer_budget.spend(uow, who, 1, request_id=request_id)  # not found, or all left out
    for subject_id, outcomes in sorted(by_subject.items()):
        for (outcome, reason), count in sorted(outcomes.items()):
            uow.record(
                AuditEvent(
                    action="lookup",
                    actor=who,
                    outcome=outcome,
                    subject_id=subject_id,
                    purpose=audited_purpose,
                    field_types=(ft.code,),
                    reason=None if outcome == "success" else reason,
                    request_id=request_id,
                    details={"tokens": count},
                )
            )
    if standalone or not by_subject:
        uow.record(
            AuditEvent(
                action="lookup",
                actor=who,
                purpose=audited_purpose,
                field_types=(ft.code,),
                request_id=request_id,
                details={"standalone": standalone, "subjects": len(by_subject)},
            )
        )
    uow.commit()
    return found


def _matches(
    svc: TokenizationService, session: Session, ft: FieldType, value: str
) -> list[tuple[str, str, str, str, str]]:
    """(token, kind, owner, owner kind, owner state) of the tokens holding the value."""
    try:
        normalized = ft.normalize_and_validate(value)
    except InvalidValue as e:
        raise InvalidRequest(f"invalid value ({e.rule}): {e.message}") from None
    index = blind_index(svc.keyring.system_key(session, BLIND_INDEX_KEY), ft.code, normalized)
    k, s = t.tokens.c, pt.subjects.c
    return [
        tuple(row)  # type: ignore[misc]
        for row in session.execute(
            sa.select(k.token, k.kind, k.subject_id, s.kind, s.state)
            .join_from(t.tokens, pt.subjects, k.subject_id == s.subject_id)
            .where(k.field_type == ft.code, k.blind_index == index)
            .order_by(k.created_at, k.token)
        )
    ]
