"""Approval requests: ask, list, approve, deny, withdraw; an approved request becomes a grant.

Every use case is one unit of work whose audit events commit with the change
(``approval.*``, ``grant.create``); refused attempts that reach a request
(self-approval, a role that may not approve) are audited as denied. Two approvers
approving at once give one grant: the request's row is locked (:mod:`access.rows`)
and a grant's ``request_id`` is unique.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from access import errors, rows
from access import model as m
from access import tables as t
from access.checks import check_ask, person_of, scope_for
from access.deps import AccessDeps
from access.events import grant_event, request_event
from piivault.db import UnitOfWork, session_scope
from piivault.ids import new_id


def request(
    deps: AccessDeps,
    acting: m.Acting,
    action: str,
    scope: m.Scope,
    reason_code: str,
    reason_text: str,
    *,
    request_id: str | None = None,
) -> m.ApprovalRequest:
    """Ask for ``action`` on ``scope``, in a unit of work of its own. See :func:`request_in`.

    ``purpose.widen`` and ``identity.approver`` are filed by their own use cases
    (changing a purpose, creating a credential), never asked for directly: InvalidScope.
    """
    if action in m.FILED_BY_USE_CASE:
        raise errors.InvalidScope(f"{action} is filed by the change it approves, not asked for directly")
    with deps.uow() as uow:
        found = request_in(deps, uow, acting, action, scope, reason_code, reason_text, request_id=request_id)
        uow.commit()
    return found


def request_in(
    deps: AccessDeps,
    uow: UnitOfWork,
    acting: m.Acting,
    action: str,
    scope: m.Scope,
    reason_code: str,
    reason_text: str,
    *,
    request_id: str | None = None,
) -> m.ApprovalRequest:
    """Ask for ``action`` on ``scope`` inside ``uow`` (the caller commits).

    With four eyes off for the action (a count of 0) the request is
    approved as it is made and its grant exists at once. Raises NoPerson,
    RequesterRole, InvalidScope.
    """
    rule, person, reason_text = check_ask(deps, acting, action, reason_code, reason_text)
    scope = scope_for(deps, action, scope, deps.limits.max_grant_minutes)
    now = deps.clock()
    session = uow.session
    assert session is not None
    found = m.ApprovalRequest(
        id=new_id("apr_"),
        action=action,
        scope=scope,
        requester=person,
        requester_role=acting.role,
        requested_by=acting.actor,
        reason_code=reason_code,
        reason_text=reason_text,
        state=m.PENDING,
        approvals_needed=rule.count,
        approver_roles=rule.approvers,
        created_at=now,
        expires_at=now + dt.timedelta(hours=deps.limits.request_hours),
    )
    rows.insert_request(session, found)
    uow.record(request_event("approval.request", acting, found, request_id, four_eyes=rule.four_eyes))
    if not rule.four_eyes:
        return _approve(deps, uow, session, found, acting, now, request_id)
    return found


def get(deps: AccessDeps, approval_id: str) -> m.ApprovalRequest:
    """One request. Raises ApprovalNotFound, StorageUnavailable."""
    with session_scope(deps.session_factory) as session:
        found = rows.requests(session, t.approval_requests.c.id == approval_id)
    if not found:
        raise errors.ApprovalNotFound()
    return found[0]


def list_requests(
    deps: AccessDeps,
    *,
    state: str | None = None,
    action: str | None = None,
    requester: str | None = None,
    target: str | None = None,
    approvable_by: m.Acting | None = None,
    limit: int = 100,
) -> list[m.ApprovalRequest]:
    """Requests, newest first. ``state`` counts a pending request past its expiry as expired;
    ``approvable_by``: pending requests this person could approve (the inbox)."""
    c = t.approval_requests.c
    where: list[Any] = []
    now = deps.clock()
    if state == m.EXPIRED:
        where.append(sa.or_(c.state == m.EXPIRED, sa.and_(c.state == m.PENDING, c.expires_at <= now)))
    elif state == m.PENDING:
        where += [c.state == m.PENDING, c.expires_at > now]
    elif state is not None:
        where.append(c.state == state)
    if action is not None:
        where.append(c.action == action)
    if requester is not None:
        where.append(c.requester == requester)
    if target is not None:
        where.append(c.target == target)
    if approvable_by is not None:
        where += [c.state == m.PENDING, c.expires_at > now, c.requester != (approvable_by.person or "")]
    with session_scope(deps.session_factory) as session:
        found = rows.requests(session, *where, limit=min(limit, rows.MAX_LIST))
    if approvable_by is not None:
        found = [
            r
            for r in found
            if approvable_by.role in r.approver_roles
            and approvable_by.person not in {a.person for a in r.approvals}
        ]
    return found


def approve(
    deps: AccessDeps, acting: m.Acting, approval_id: str, *, request_id: str | None = None
) -> m.ApprovalRequest:
    """Approve as ``acting``: with enough approvals the request is approved and its grant made.

    Raises NoPerson, SelfApproval (the requester, through any credential, or the
    credential that asked, naming anyone), SameCredential (a credential that
    approved already as another person), NotApprover (a role whose approval does
    not count), AlreadyApproved (this person approved already), AlreadyDecided (not pending, expired
    included), ApprovalNotFound, StorageUnavailable.
    """
    with deps.uow() as uow:
        session = uow.session
        assert session is not None
        found = rows.locked_request(session, approval_id)
        now = deps.clock()
        _refuse_unless_decider(uow, acting, found, "approval.approve", now, request_id)
        person = person_of(acting)
        if person in {a.person for a in found.approvals}:
            raise errors.AlreadyApproved()
        session.execute(
            t.approvals.insert().values(
                request_id=found.id, person=person, role=acting.role, actor=acting.actor, at=now
            )
        )
        found = dataclasses.replace(
            found, approvals=(*found.approvals, m.Approval(person, acting.role, acting.actor, now))
        )
        uow.record(request_event("approval.approve", acting, found, request_id))
        if len(found.approvals) >= found.approvals_needed:
            found = _approve(deps, uow, session, found, acting, now, request_id)
        uow.commit()
    return found


def close(
    deps: AccessDeps, acting: m.Acting, approval_id: str, state: str, request_id: str | None
) -> m.ApprovalRequest:
    """Deny (final; refused as :func:`approve` refuses) or withdraw (the requester's own pending
    request: NoPerson, NotRequester, AlreadyDecided)."""
    with deps.uow() as uow:
        session = uow.session
        assert session is not None
        found = rows.locked_request(session, approval_id)
        now = deps.clock()
        if state == m.WITHDRAWN:
            _expire_if_due(uow, found, now)
            if person_of(acting) != found.requester:
                raise errors.NotRequester()
        else:
            _refuse_unless_decider(uow, acting, found, "approval.deny", now, request_id)
        session.execute(
            t.approval_requests.update()
            .where(t.approval_requests.c.id == found.id)
            .values(state=state, decided_at=now, decided_by=acting.person)
        )
        found = dataclasses.replace(found, state=state, decided_at=now, decided_by=acting.person)
        uow.record(
            request_event(
                f"approval.{'deny' if state == m.DENIED else 'withdraw'}", acting, found, request_id
            )
        )
        uow.commit()
    return found


def _refuse_unless_decider(
    uow: UnitOfWork,
    acting: m.Acting,
    found: m.ApprovalRequest,
    action: str,
    now: dt.datetime,
    request_id: str | None,
) -> None:
    """Refuse (and audit) a decision by nobody, by the requester, by the credential that asked
    or that approved already (whatever person it names now: a key, a console session or a
    terminal is one credential, never two persons), or by a role that does not count."""
    _expire_if_due(uow, found, now)
    refusal: errors.PiivaultError | None = None
    if not acting.person:
        refusal = errors.NoPerson()
    elif acting.person == found.requester:
        refusal = errors.SelfApproval()
    elif found.requested_by in (acting.actor, acting.via):
        # Say where to decide instead: at the CLI a newcomer meets this beside `make dev`, approving
        # from the terminal login that asked (the README's first steps).
        refusal = errors.SelfApproval(
            "the credential that asked cannot decide, whatever person it names: the deciding person "
            "signs in to the console (/console) or uses a key or terminal login of their own"
        )
    elif action == "approval.approve" and acting.actor in {
        a.actor for a in found.approvals if a.person != acting.person
    }:
        refusal = errors.SameCredential("this credential approved the request already, as another person")
    elif found.action == m.IDENTITY_APPROVER and acting.person == found.scope.person:
        refusal = errors.SelfApproval("nobody approves their own approving power")
    elif acting.role not in found.approver_roles:
        refusal = errors.NotApprover(
            f"{found.action} is approved by the role {' or '.join(found.approver_roles)}"
        )
    if refusal is None:
        return
    uow.record(request_event(action, acting, found, request_id, outcome="denied", reason=refusal.code))
    uow.commit()
    raise refusal


def _expire_if_due(uow: UnitOfWork, found: m.ApprovalRequest, now: dt.datetime) -> None:
    if found.state != m.PENDING:
        raise errors.AlreadyDecided(f"the request is {found.state}")
    if found.state_at(now) != m.EXPIRED:
        return
    session = uow.session
    assert session is not None
    session.execute(
        t.approval_requests.update()
        .where(t.approval_requests.c.id == found.id)
        .values(state=m.EXPIRED, decided_at=now)
    )
    uow.record(request_event("approval.expire", m.Acting(None, "system", "system"), found, None))
    uow.commit()
    raise errors.AlreadyDecided("the request expired")


def _approve(
    deps: AccessDeps,
    uow: UnitOfWork,
    session: Session,
    found: m.ApprovalRequest,
    acting: m.Acting,
    now: dt.datetime,
    request_id: str | None,
) -> m.ApprovalRequest:
    """Pending -> approved, and its grant (the row is locked, or just inserted)."""
    done = session.execute(
        t.approval_requests.update()
        .where(t.approval_requests.c.id == found.id, t.approval_requests.c.state == m.PENDING)
        .values(state=m.APPROVED, decided_at=now, decided_by=acting.person)
    )
    if done.rowcount != 1:  # pragma: no cover - the lock makes this impossible
        raise errors.AlreadyDecided("the request is no longer pending")
    apply = deps.on_approved.get(found.action)
    if apply is not None:
        apply(uow, found, acting, now)
    minutes = found.scope.minutes
    grant = m.Grant(
        id=new_id("grt_"),
        kind=m.APPROVAL,
        action=found.action,
        holder=found.requester,
        holder_role=found.requester_role,
        scope=found.scope,
        starts_at=now,
        expires_at=None if minutes is None else now + dt.timedelta(minutes=minutes),
        request_id=found.id,
        approved_by=tuple(sorted(a.person for a in found.approvals)),
        reason_code=found.reason_code,
        reason_text=found.reason_text,
    )
    rows.insert_grant(session, grant)
    uow.record(grant_event("grant.create", acting, grant, request_id))
    return dataclasses.replace(
        found, state=m.APPROVED, decided_at=now, decided_by=acting.person, grant_id=grant.id
    )
