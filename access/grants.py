"""Grants: list and read them, revoke one or every grant a change made void, and the checks
other use cases make inside their own transaction (:func:`grant_for`, :func:`reveal_grants`)
or statement (:func:`in_force`), so a revoked or expired grant stops working on the very next
request.

Grants are made by :mod:`access.requests` (an approval) and :mod:`access.break_glass`.
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
from access.checks import person_of
from access.deps import AccessDeps
from access.events import grant_event
from piivault.db import UnitOfWork, session_scope


def list_grants(
    deps: AccessDeps,
    *,
    holder: str | None = None,
    action: str | None = None,
    target: str | None = None,
    kind: str | None = None,
    active: bool | None = None,
    unreviewed: bool = False,
    limit: int = 100,
) -> list[m.Grant]:
    """Grants, newest first; ``active`` True/False filters on the state now."""
    c = t.grants.c
    where: list[Any] = []
    for column, value in ((c.holder, holder), (c.action, action), (c.target, target), (c.kind, kind)):
        if value is not None:
            where.append(column == value)
    if unreviewed:
        where += [c.kind == m.BREAK_GLASS, c.reviewed_at.is_(None)]
    live = rows.live(deps.clock())
    if active is True:
        where.append(live)
    elif active is False:
        where.append(sa.not_(live))
    with session_scope(deps.session_factory) as session:
        return rows.grants(session, *where, limit=min(limit, rows.MAX_LIST))


def get_grant(deps: AccessDeps, grant_id: str) -> m.Grant:
    """One grant. Raises GrantNotFound, StorageUnavailable."""
    with session_scope(deps.session_factory) as session:
        found = rows.grants(session, t.grants.c.id == grant_id)
    if not found:
        raise errors.GrantNotFound()
    return found[0]


def revoke(deps: AccessDeps, acting: m.Acting, grant_id: str, *, request_id: str | None = None) -> m.Grant:
    """End a grant early. Its holder, or a person with an approving role for its action, may.

    Raises NoPerson, NotApprover, GrantNotFound, GrantInactive, StorageUnavailable.
    """
    person = person_of(acting)
    with deps.uow() as uow:
        session = uow.session
        assert session is not None
        found = rows.grants(session, t.grants.c.id == grant_id, lock=True)
        if not found:
            raise errors.GrantNotFound()
        grant = found[0]
        now = deps.clock()
        if person != grant.holder and acting.role not in deps.rules[grant.action].approvers:
            raise errors.NotApprover("only the holder or an approver of this action may revoke the grant")
        if not grant.active_at(now):
            raise errors.GrantInactive(f"the grant is {grant.state_at(now)}")
        session.execute(
            t.grants.update().where(t.grants.c.id == grant.id).values(revoked_at=now, revoked_by=person)
        )
        grant = dataclasses.replace(grant, revoked_at=now, revoked_by=person)
        uow.record(grant_event("grant.revoke", acting, grant, request_id))
        uow.commit()
    return grant


def revoke_in(
    deps: AccessDeps,
    uow: UnitOfWork,
    acting: m.Acting,
    action: str,
    target: str,
    *,
    request_id: str | None = None,
) -> list[m.Grant]:
    """End every live grant for ``action`` on ``target`` inside ``uow`` (the caller commits),
    each audited as ``grant.revoke``: the use case that made them void (a password reset)."""
    session = uow.session
    assert session is not None
    c = t.grants.c
    now = deps.clock()
    live = rows.grants(session, c.action == action, c.target == target, rows.live(now), lock=True)
    ended = []
    for grant in live:
        session.execute(
            t.grants.update().where(c.id == grant.id).values(revoked_at=now, revoked_by=acting.person)
        )
        grant = dataclasses.replace(grant, revoked_at=now, revoked_by=acting.person)
        uow.record(grant_event("grant.revoke", acting, grant, request_id))
        ended.append(grant)
    return ended


def grant_for(
    session: Session,
    action: str,
    target: str,
    now: dt.datetime,
    *,
    holder: str | None = None,
    lock: bool = False,
) -> m.Grant | None:
    """The grant in force at ``now`` for ``action`` on ``target`` (held by ``holder``, if given),
    read in the caller's transaction; None when there is none. ``lock``: the grant's row stays
    locked until that transaction ends, so a revocation waits for it (PostgreSQL; SQLite's
    transactions hold the write lock anyway)."""
    c = t.grants.c
    where = [c.action == action, c.target == target, rows.live(now)]
    if holder is not None:
        where.append(c.holder == holder)
    found = rows.grants(session, *where, lock=lock, limit=1)
    return found[0] if found else None


def in_force(action: Any, target: Any, now: Any) -> sa.Exists:
    """SQL: is a grant for ``action`` on ``target`` in force at ``now``? :func:`grant_for`'s
    answer, without the grant (no holder, no lock).

    Each argument is a value or a SQL expression, so a check made on every request rides in
    the caller's own statement: an API key's approval is read with its client's row
    (:func:`access.identity.client_approved`), one round trip where it took two and a transaction
    (bench/request_cpu.py, issue 22).
    """
    c = t.grants.c
    return sa.exists().where(c.action == action, c.target == target, rows.live(now))


def reveal_grants(session: Session, person: str | None, now: dt.datetime) -> list[m.Grant]:
    """``person``'s reveal grants in force at ``now`` (approved or break-glass), in the caller's
    transaction."""
    if not person:
        return []
    c = t.grants.c
    return rows.grants(session, c.holder == person, c.action == m.REVEAL, rows.live(now))
