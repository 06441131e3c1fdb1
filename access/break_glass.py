"""Break-glass: an emergency grant taken at once, with a mandatory reason, for at most the
configured minutes; it raises an alert (the audit event ``break_glass.take`` and the alert
hook) and waits for a review by another person with an approving role for its action.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from access import errors, rows
from access import model as m
from access import tables as t
from access.checks import check_ask, check_text, person_of, scope_for
from access.deps import AccessDeps
from access.events import grant_event
from piivault import metrics
from piivault.ids import new_id


def take(
    deps: AccessDeps,
    acting: m.Acting,
    action: str,
    scope: m.Scope,
    reason_code: str,
    reason_text: str,
    *,
    request_id: str | None = None,
) -> m.Grant:
    """An emergency grant, at once. Raises NoPerson, RequesterRole, InvalidScope, StorageUnavailable."""
    if action in (m.CLIENT_DATA_ACCESS, *m.FILED_BY_USE_CASE):
        raise errors.InvalidScope(f"{action} is never taken by break-glass")
    _, person, reason_text = check_ask(deps, acting, action, reason_code, reason_text)
    limit = deps.limits.break_glass_max_minutes
    scope = scope_for(deps, action, dataclasses.replace(scope, minutes=scope.minutes or limit), limit)
    assert scope.minutes is not None
    now = deps.clock()
    grant = m.Grant(
        id=new_id("grt_"),
        kind=m.BREAK_GLASS,
        action=action,
        holder=person,
        holder_role=acting.role,
        scope=scope,
        starts_at=now,
        expires_at=now + dt.timedelta(minutes=scope.minutes),
        reason_code=reason_code,
        reason_text=reason_text,
    )
    with deps.uow() as uow:
        session = uow.session
        assert session is not None
        rows.insert_grant(session, grant)
        uow.record(grant_event("break_glass.take", acting, grant, request_id))
        alert = deps.alert
        uow.after_commit(lambda: alert(grant))
        uow.commit()
    metrics.BREAK_GLASS.labels(action=metrics.code(action)).inc()
    return grant


def review(
    deps: AccessDeps, acting: m.Acting, grant_id: str, note: str, *, request_id: str | None = None
) -> m.Grant:
    """Review a break-glass use: another person with an approving role for its action.

    Raises NoPerson, SelfApproval (the holder), NotApprover, GrantNotFound
    (or not a break-glass grant), AlreadyReviewed, InvalidScope (the note).
    """
    person = person_of(acting)
    note = check_text(note, deps.looks_like_identifier, "note")
    with deps.uow() as uow:
        session = uow.session
        assert session is not None
        found = rows.grants(session, t.grants.c.id == grant_id, t.grants.c.kind == m.BREAK_GLASS, lock=True)
        if not found:
            raise errors.GrantNotFound("no such break-glass use")
        grant = found[0]
        refusal: errors.PiivaultError | None = None
        approvers = deps.rules[grant.action].approvers
        if person == grant.holder:
            refusal = errors.SelfApproval("a break-glass use is reviewed by another person")
        elif acting.role not in approvers:
            refusal = errors.NotApprover(f"{grant.action} is reviewed by the role {' or '.join(approvers)}")
        if refusal is not None:
            uow.record(grant_event("break_glass.review", acting, grant, request_id, refusal.code))
            uow.commit()
            raise refusal
        if grant.reviewed_at is not None:
            raise errors.AlreadyReviewed()
        now = deps.clock()
        session.execute(
            t.grants.update()
            .where(t.grants.c.id == grant.id)
            .values(reviewed_at=now, reviewed_by=person, review_note=note)
        )
        grant = dataclasses.replace(grant, reviewed_at=now, reviewed_by=person, review_note=note)
        uow.record(grant_event("break_glass.review", acting, grant, request_id))
        uow.commit()
    return grant
