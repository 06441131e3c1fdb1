"""The access service: one object the API, the console, the CLI and the other packages call
for separation of duties. It owns no use case itself; each call goes to its owner:

* approval requests (ask, list, approve, deny, withdraw): :mod:`access.requests`;
* grants (list, revoke, and the checks other use cases make): :mod:`access.grants`;
* break-glass (take, review): :mod:`access.break_glass`;
* what may be asked for (free text, scopes): :mod:`access.checks`;
* the tables' rows and the audit events: :mod:`access.rows`, :mod:`access.events`.

Each is handed an :class:`access.deps.AccessDeps` made at the call from what the service
holds then: tests replace its ``rules`` and ``clock``.

Other use cases ask :meth:`AccessService.grant_for` and
:meth:`AccessService.reveal_grants` inside their own transaction, so a
revoked or expired grant stops working on the very next request.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Collection
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from access import break_glass as _break_glass
from access import grants as _grants
from access import model as m
from access import requests as _requests
from access.checks import check_text
from access.deps import AccessDeps, AccessLimits, OnApproved
from access.rules import ApprovalRules
from piivault.db import UnitOfWork, utcnow

log = logging.getLogger(__name__)

__all__ = ["AccessLimits", "AccessService", "OnApproved", "build_access_service", "log_alert"]


def log_alert(grant: m.Grant) -> None:
    """The default break-glass alert: a WARNING line (alert rules match on it)."""
    log.warning(
        "BREAK-GLASS: %s took %s (grant %s) until %s; it must be reviewed",
        grant.holder,
        grant.action,
        grant.id,
        grant.expires_at.isoformat() if grant.expires_at else "revoked",
    )


class AccessService:
    """Approval requests, grants and break-glass.

    ``looks_like_identifier`` is the vault's check (mobile, resident ID, card,
    credit code) that free text and ids must pass; ``purposes`` (anything
    supporting ``in``), when given, is the catalogue a reveal's purpose must
    be in; ``alert`` is called after a break-glass grant commits (a metric,
    a pager).
    """

    def __init__(
        self,
        uow_factory: Callable[[], UnitOfWork],
        session_factory: sessionmaker[Session],
        rules: ApprovalRules,
        *,
        looks_like_identifier: Callable[[str], bool],
        purposes: Collection[str] | None = None,
        limits: AccessLimits = AccessLimits(),
        alert: Callable[[m.Grant], None] = log_alert,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self._uow = uow_factory
        self._session_factory = session_factory
        self.rules = rules
        self._looks_like_identifier = looks_like_identifier
        self._purposes = purposes
        self.limits = limits
        self._alert = alert
        self.clock = clock
        self._on_approved: dict[str, OnApproved] = {}

    def on_approved(self, action: str, apply: OnApproved) -> None:
        """Run ``apply`` in the unit of work that approves a request for ``action`` (one per action)."""
        self._on_approved[action] = apply

    @property
    def deps(self) -> AccessDeps:
        """What the use cases are given, as the service holds it now."""
        return AccessDeps(
            uow=self._uow,
            session_factory=self._session_factory,
            rules=self.rules,
            limits=self.limits,
            clock=self.clock,
            looks_like_identifier=self._looks_like_identifier,
            purposes=self._purposes,
            on_approved=self._on_approved,
            alert=self._alert,
        )

    def check_text(self, text: Any, name: str = "reason_text") -> str:
        """Free text that holds no identifier; raises InvalidScope."""
        return check_text(text, self._looks_like_identifier, name)

    def approvals_needed(self, action: str) -> int:
        return self.rules[action].count

    # -- requests: access.requests --------------------------------------------------------
    def request(
        self, acting: m.Acting, action: str, scope: m.Scope, reason_code: str, reason_text: str, **kw: Any
    ) -> m.ApprovalRequest:
        """Ask in a unit of work of its own: :func:`access.requests.request`."""
        return _requests.request(self.deps, acting, action, scope, reason_code, reason_text, **kw)

    def request_in(
        self,
        uow: UnitOfWork,
        acting: m.Acting,
        action: str,
        scope: m.Scope,
        reason_code: str,
        reason_text: str,
        **kw: Any,
    ) -> m.ApprovalRequest:
        """Ask inside ``uow``, which the caller commits: :func:`access.requests.request_in`."""
        return _requests.request_in(self.deps, uow, acting, action, scope, reason_code, reason_text, **kw)

    def get(self, approval_id: str) -> m.ApprovalRequest:
        return _requests.get(self.deps, approval_id)

    def list_requests(self, **filters: Any) -> list[m.ApprovalRequest]:
        return _requests.list_requests(self.deps, **filters)

    def approve(self, acting: m.Acting, approval_id: str, **kw: Any) -> m.ApprovalRequest:
        return _requests.approve(self.deps, acting, approval_id, **kw)

    def deny(self, acting: m.Acting, approval_id: str, *, request_id: str | None = None) -> m.ApprovalRequest:
        """Deny: final. Raises as :meth:`approve` does."""
        return _requests.close(self.deps, acting, approval_id, m.DENIED, request_id)

    def withdraw(
        self, acting: m.Acting, approval_id: str, *, request_id: str | None = None
    ) -> m.ApprovalRequest:
        """The requester withdraws a pending request. Raises NoPerson, NotRequester, AlreadyDecided."""
        return _requests.close(self.deps, acting, approval_id, m.WITHDRAWN, request_id)

    # -- grants: access.grants ----------------------------------------------------------------
    def list_grants(self, **filters: Any) -> list[m.Grant]:
        return _grants.list_grants(self.deps, **filters)

    def get_grant(self, grant_id: str) -> m.Grant:
        return _grants.get_grant(self.deps, grant_id)

    def revoke(self, acting: m.Acting, grant_id: str, **kw: Any) -> m.Grant:
        return _grants.revoke(self.deps, acting, grant_id, **kw)

    def revoke_in(
        self, uow: UnitOfWork, acting: m.Acting, action: str, target: str, **kw: Any
    ) -> list[m.Grant]:
        """End the grants a change made void, inside ``uow``: :func:`access.grants.revoke_in`."""
        return _grants.revoke_in(self.deps, uow, acting, action, target, **kw)

    def grant_for(
        self, session: Session, action: str, target: str, *, now: dt.datetime | None = None, **kw: Any
    ) -> m.Grant | None:
        """:func:`access.grants.grant_for` in the caller's transaction, ``now`` the service's clock
        unless given."""
        return _grants.grant_for(session, action, target, now or self.clock(), **kw)

    def reveal_grants(
        self, session: Session, person: str | None, now: dt.datetime | None = None
    ) -> list[m.Grant]:
        """:func:`access.grants.reveal_grants` in the caller's transaction (clock as above)."""
        return _grants.reveal_grants(session, person, now or self.clock())

    # -- break-glass: access.break_glass --------------------------------------------------------
    def break_glass(
        self, acting: m.Acting, action: str, scope: m.Scope, reason_code: str, reason_text: str, **kw: Any
    ) -> m.Grant:
        """Take an emergency grant: :func:`access.break_glass.take`."""
        return _break_glass.take(self.deps, acting, action, scope, reason_code, reason_text, **kw)

    def review(self, acting: m.Acting, grant_id: str, note: str, **kw: Any) -> m.Grant:
        return _break_glass.review(self.deps, acting, grant_id, note, **kw)


def build_access_service(
    settings: Any,
    *,
    uow_factory: Callable[[], UnitOfWork],
    session_factory: sessionmaker[Session],
    looks_like_identifier: Callable[[str], bool],
    purposes: Any = None,
) -> AccessService:
    """The access service of a container: rules from ``PIIVAULT_APPROVALS``, the field types'
    identifier check, the purpose catalogue."""
    from access.rules import load_rules

    return AccessService(
        uow_factory,
        session_factory,
        load_rules(settings.approvals),
        looks_like_identifier=looks_like_identifier,
        purposes=purposes,
        limits=AccessLimits(
            request_hours=settings.approval_request_hours,
            max_grant_minutes=settings.grant_max_minutes,
            break_glass_max_minutes=settings.break_glass_max_minutes,
        ),
    )
