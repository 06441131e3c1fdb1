"""The access tables' rows as model values: approval requests with their approvals and grant,
and grants. Run inside the caller's transaction; the use cases decide what to read.

``lock`` takes the rows' locks until that transaction ends (PostgreSQL ``FOR UPDATE``;
SQLite's transactions hold the write lock from their start).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from access import errors
from access import model as m
from access import tables as t

MAX_LIST = 500  # the most rows one listing returns


def live(now: dt.datetime) -> Any:
    """The condition of a grant in force at ``now``: not revoked, not expired."""
    c = t.grants.c
    return sa.and_(c.revoked_at.is_(None), sa.or_(c.expires_at.is_(None), c.expires_at > now))


def insert_request(session: Session, found: m.ApprovalRequest) -> None:
    """Store a new request (pending, with no approvals yet)."""
    session.execute(
        t.approval_requests.insert().values(
            id=found.id,
            action=found.action,
            scope=found.scope.as_dict(),
            target=found.scope.target,
            requester=found.requester,
            requester_role=found.requester_role,
            requested_by=found.requested_by,
            reason_code=found.reason_code,
            reason_text=found.reason_text,
            state=found.state,
            approvals_needed=found.approvals_needed,
            approver_roles=list(found.approver_roles),
            created_at=found.created_at,
            expires_at=found.expires_at,
        )
    )


def locked_request(session: Session, approval_id: str) -> m.ApprovalRequest:
    """One request, its row locked. Raises ApprovalNotFound."""
    found = requests(session, t.approval_requests.c.id == approval_id, lock=True)
    if not found:
        raise errors.ApprovalNotFound()
    return found[0]


def requests(
    session: Session, *where: Any, lock: bool = False, limit: int | None = None
) -> list[m.ApprovalRequest]:
    """The requests matching ``where``, newest first, each with its approvals and grant id."""
    r, g = t.approval_requests, t.grants
    query = (
        sa.select(r, g.c.id.label("grant_id"))
        .outerjoin(g, g.c.request_id == r.c.id)
        .where(*where)
        .order_by(r.c.created_at.desc(), r.c.id)
    )
    if lock:
        query = query.with_for_update(of=r)
    if limit is not None:
        query = query.limit(limit)
    rows = session.execute(query).all()
    approvals: dict[str, list[m.Approval]] = {}
    if rows:
        a = t.approvals.c
        for row in session.execute(
            sa.select(t.approvals).where(a.request_id.in_([row.id for row in rows])).order_by(a.at, a.person)
        ):
            approvals.setdefault(row.request_id, []).append(
                m.Approval(row.person, row.role, row.actor, row.at)
            )
    return [
        m.ApprovalRequest(
            id=row.id,
            action=row.action,
            scope=m.Scope.from_dict(row.scope),
            requester=row.requester,
            requester_role=row.requester_role,
            requested_by=row.requested_by,
            reason_code=row.reason_code,
            reason_text=row.reason_text,
            state=row.state,
            approvals_needed=row.approvals_needed,
            approver_roles=tuple(row.approver_roles),
            created_at=row.created_at,
            expires_at=row.expires_at,
            approvals=tuple(approvals.get(row.id, ())),
            decided_at=row.decided_at,
            decided_by=row.decided_by,
            grant_id=row.grant_id,
        )
        for row in rows
    ]


def grants(session: Session, *where: Any, lock: bool = False, limit: int | None = None) -> list[m.Grant]:
    """The grants matching ``where``, newest first."""
    query = sa.select(t.grants).where(*where).order_by(t.grants.c.starts_at.desc(), t.grants.c.id)
    if lock:
        query = query.with_for_update()
    if limit is not None:
        query = query.limit(limit)
    return [
        m.Grant(
            id=row.id,
            kind=row.kind,
            action=row.action,
            holder=row.holder,
            holder_role=row.holder_role,
            scope=m.Scope.from_dict(row.scope),
            starts_at=row.starts_at,
            expires_at=row.expires_at,
            request_id=row.request_id,
            approved_by=tuple(row.approved_by),
            reason_code=row.reason_code,
            reason_text=row.reason_text,
            revoked_at=row.revoked_at,
            revoked_by=row.revoked_by,
            reviewed_at=row.reviewed_at,
            reviewed_by=row.reviewed_by,
            review_note=row.review_note,
        )
        for row in session.execute(query)
    ]


def insert_grant(session: Session, grant: m.Grant) -> None:
    """Store a new grant."""
    session.execute(
        t.grants.insert().values(
            id=grant.id,
            kind=grant.kind,
            action=grant.action,
            holder=grant.holder,
            holder_role=grant.holder_role,
            scope=grant.scope.as_dict(),
            target=grant.scope.target,
            request_id=grant.request_id,
            approved_by=list(grant.approved_by),
            reason_code=grant.reason_code,
            reason_text=grant.reason_text,
            starts_at=grant.starts_at,
            expires_at=grant.expires_at,
        )
    )
