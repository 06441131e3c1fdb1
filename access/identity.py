"""Four eyes on identities that approve (``identity.approver``): the identity hole closed.

Four eyes count persons, and a person is whoever a credential names. Without
this module an admin could create a ``dpo`` key naming an invented person and
approve their own service client with it: one admin, two "persons". So a
credential (API key) or console user whose role approves anything under the
configured rules (:meth:`access.rules.ApprovalRules.approving_roles`; ``dpo``
by default, ``auditor`` or ``admin`` too when a deployment makes them
approvers) is created with an ``identity.approver`` request, and works only
once an existing DPO approves it who is neither the admin asking nor the
person the credential names. Until then a key is refused with 403
``client_pending_approval`` and a console user cannot sign in; revoking the
grant stops it again on the next request.

The one exception is **bootstrap**: the command line (run with the service's
database credentials, out of band) may create an approving identity without
approval while no active one exists at all - the very first DPO. Over the API
or the console there is no exception: with no DPO to approve, a request waits.

An admin resetting the password of a console user with an approving role
takes over that identity just as well; it too needs approval (the user's
approval grant is revoked and a new request filed in the same transaction).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from access import model as m
from access import tables as t
from access.errors import NoPerson
from access.grants import in_force
from identity.clients.model import SERVICE
from piivault.db import UnitOfWork

if TYPE_CHECKING:
    from access.service import AccessService
    from identity.users.users import ConsoleUser, UserStore

USER_TARGET = "user:"  # an approval's target naming a console user: user:<username>
REASON_TEXT = "new credential with an approving role"
RESET_TEXT = "password reset of a user with an approving role"


def approving_roles(access: AccessService) -> frozenset[str]:
    return access.rules.approving_roles()


def needs_approval(access: AccessService, role: str) -> bool:
    """Does a credential or console user in ``role`` need an ``identity.approver`` grant?"""
    return role in approving_roles(access)


def user_target(username: str) -> str:
    return USER_TARGET + username


def ask_in(
    uow: UnitOfWork,
    access: AccessService,
    acting: m.Acting,
    target: str,
    person: str | None,
    *,
    reason_text: str = REASON_TEXT,
    request_id: str | None = None,
) -> m.ApprovalRequest:
    """File the ``identity.approver`` request for ``target`` (a client id or ``user:<name>``)."""
    return access.request_in(
        uow,
        acting,
        m.IDENTITY_APPROVER,
        m.Scope(target=target, person=person),
        "identity_change",
        reason_text,
        request_id=request_id,
    )


def approver_exists(
    session: Session,
    roles: Collection[str],
    now: dt.datetime,
    *,
    but_user: str | None = None,
    but_client: str | None = None,
) -> bool:
    """Is there an active API client or enabled console user in one of ``roles``, other than
    ``but_user`` / ``but_client`` (the one being created or recovered)? Bootstrap asks."""
    from identity.clients.tables import clients
    from identity.users.tables import users

    if not roles:
        return False
    c, u = clients.c, users.c
    key = sa.select(c.id).where(
        c.role.in_(list(roles)),
        c.revoked_at.is_(None),
        sa.or_(c.expires_at.is_(None), c.expires_at > now),
        c.id != (but_client or ""),
    )
    user = sa.select(u.username).where(
        u.role.in_(list(roles)), u.disabled_at.is_(None), u.username != (but_user or "")
    )
    return session.execute(key.limit(1)).first() is not None or (
        session.execute(user.limit(1)).first() is not None
    )


def refuse_unless_first(
    uow: UnitOfWork, access: AccessService, *, but_user: str | None = None, but_client: str | None = None
) -> None:
    """Bootstrap: only while no other approving identity exists. Raises ApprovalRequired."""
    from access.errors import ApprovalRequired

    session = uow.session
    assert session is not None
    if approver_exists(
        session, approving_roles(access), access.clock(), but_user=but_user, but_client=but_client
    ):
        raise ApprovalRequired(
            "an approving identity exists: name the admin asking (--as ADMIN); a DPO, another "
            "person, approves it"
        )


def client_approved(client_id: Any, role: Any, now: Any) -> sa.ColumnElement[bool]:
    """SQL: does a live grant approve this client (data access for a service client, its identity
    for any other role)? ``client_id`` and ``role`` are the columns of the statement that reads the
    client (:class:`identity.clients.store.ClientStore` reads both in one), ``now`` a value or a
    bind parameter."""
    action = sa.case((role == SERVICE, m.CLIENT_DATA_ACCESS), else_=m.IDENTITY_APPROVER)
    return in_force(action, client_id, now)


def user_approved(access: AccessService, session: Session, username: str, now: dt.datetime) -> bool:
    """May this console user act? Yes unless an ``identity.approver`` request was ever filed for
    them (created or reset by an admin) and no live grant approves them now. Users made before
    this rule, and the bootstrap DPO, have no request."""
    r = t.approval_requests.c
    target = user_target(username)
    asked = session.execute(
        sa.select(r.id).where(r.action == m.IDENTITY_APPROVER, r.target == target).limit(1)
    ).first()
    return asked is None or access.grant_for(session, m.IDENTITY_APPROVER, target, now=now) is not None


def create_user(
    users: UserStore,
    access: AccessService,
    acting: m.Acting,
    *,
    bootstrap: bool = False,
    request_id: str | None = None,
    **fields: Any,
) -> tuple[ConsoleUser, m.ApprovalRequest | None]:
    """Create a console user as ``acting`` (an admin); one in an approving role waits for approval.

    ``bootstrap`` (the command line only): create it without approval if no
    approving identity exists at all; refused (ApprovalRequired) otherwise.
    ``fields`` are :meth:`UserStore.create`'s. Raises what it raises, and
    NoPerson, RequesterRole; nothing is created then.
    """
    asked: list[m.ApprovalRequest] = []
    role = fields.get("role")

    def ask(uow: UnitOfWork, user: ConsoleUser) -> None:
        if not needs_approval(access, user.role):
            return
        if bootstrap:
            refuse_unless_first(uow, access, but_user=user.username)
            return
        asked.append(
            ask_in(uow, access, acting, user_target(user.username), user.username, request_id=request_id)
        )

    if not bootstrap and needs_approval(access, str(role)) and not acting.person:
        raise NoPerson()  # before the slow password hash
    user = users.create(actor=acting.actor, request_id=request_id, in_transaction=ask, **fields)
    return user, asked[0] if asked else None


def reset_password(
    users: UserStore,
    access: AccessService,
    acting: m.Acting,
    username: str,
    password: Any,
    *,
    bootstrap: bool = False,
    request_id: str | None = None,
) -> m.ApprovalRequest | None:
    """An admin sets a user's password; for a user in an approving role that is a new identity:
    their grant is revoked and a new request filed (``bootstrap``: only when no other approving
    identity exists, the command line's recovery of the only DPO). Returns the request."""
    asked: list[m.ApprovalRequest] = []

    def ask(uow: UnitOfWork, user: ConsoleUser) -> None:
        if not needs_approval(access, user.role):
            return
        session = uow.session
        assert session is not None
        if bootstrap:
            refuse_unless_first(uow, access, but_user=user.username)
            return
        target = user_target(user.username)
        access.revoke_in(uow, acting, m.IDENTITY_APPROVER, target, request_id=request_id)
        asked.append(
            ask_in(uow, access, acting, target, user.username, reason_text=RESET_TEXT, request_id=request_id)
        )

    users.reset_password(username, password, actor=acting.actor, request_id=request_id, in_transaction=ask)
    return asked[0] if asked else None
