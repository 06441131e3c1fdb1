"""The separation-of-duties use cases: ask, approve, deny, withdraw; grants; break-glass.

Every method is one unit of work whose audit events commit with the change
(``approval.*``, ``grant.*``, ``break_glass.*``); refused attempts that reach a
request (self-approval, a role that may not approve) are audited as denied.
Two approvers approving at once give one grant: the request's row is locked
(PostgreSQL ``FOR UPDATE``; SQLite transactions take the write lock up front)
and a grant's ``request_id`` is unique.

Other use cases ask :meth:`AccessService.grant_for` and
:meth:`AccessService.reveal_grants` inside their own transaction, so a
revoked or expired grant stops working on the very next request.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
from collections.abc import Callable, Collection
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from access import errors
from access import model as m
from access import tables as t
from access.rules import ApprovalRules, Rule
from audit.events import AuditEvent
from piivault import metrics
from piivault.db import UnitOfWork, session_scope, utcnow
from piivault.ids import new_id

log = logging.getLogger(__name__)

SUBJECT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]{7,63}")
# Digit runs (with the spaces or dashes people type in card numbers) and long
# letter-digit runs: the parts of free text that could be an identifier.
_DIGIT_RUN = re.compile(r"(?<!\d)\d[\d \-]{6,}[\dXx](?!\d)")
_WORD_RUN = re.compile(r"[0-9A-Za-z]{8,}")
DEFAULT_GRANT_MINUTES = 60
# Grants that last until revoked: a client's data access, an approving identity.
UNTIL_REVOKED = frozenset({m.CLIENT_DATA_ACCESS, m.IDENTITY_APPROVER})
# Run inside the approving unit of work when a request of an action is approved, before its
# grant is made (``purpose.widen`` applies the approved change); what it raises undoes the approval.
OnApproved = Callable[[UnitOfWork, m.ApprovalRequest, m.Acting, dt.datetime], None]
MAX_LIST = 500


def log_alert(grant: m.Grant) -> None:
    """The default break-glass alert: a WARNING line (alert rules match on it)."""
    log.warning(
        "BREAK-GLASS: %s took %s (grant %s) until %s; it must be reviewed",
        grant.holder,
        grant.action,
        grant.id,
        grant.expires_at.isoformat() if grant.expires_at else "revoked",
    )


@dataclasses.dataclass(frozen=True)
class AccessLimits:
    request_hours: int = 72  # how long a request waits for approvals
    max_grant_minutes: int = 8 * 60  # the longest grant an approval gives (client access aside)
    break_glass_max_minutes: int = 60


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

    # -- checks -------------------------------------------------------------------------
    def check_text(self, text: Any, name: str = "reason_text") -> str:
        """Free text that holds no identifier; raises InvalidScope."""
        if not isinstance(text, str) or not text.strip():
            raise errors.InvalidScope(f"{name} is required")
        text = text.strip()
        if len(text) > m.MAX_REASON_TEXT:
            raise errors.InvalidScope(f"{name} is at most {m.MAX_REASON_TEXT} characters")
        candidates = {text, *(re.sub(r"[ \-]", "", c) for c in _DIGIT_RUN.findall(text))}
        candidates.update(_WORD_RUN.findall(text))
        if any(self._looks_like_identifier(c) for c in candidates):
            # The message never repeats the text.
            raise errors.InvalidScope(
                f"{name} must not hold an identifier (a phone, ID, card or credit code)"
            )
        return text

    def _check_scope(self, action: str, scope: m.Scope, *, max_minutes: int) -> m.Scope:
        if action in m.TARGETED:
            if not scope.target or not m.TARGET_PATTERN.fullmatch(scope.target):
                raise errors.InvalidScope(f"{action} needs a target (the id it is about)")
            if self._looks_like_identifier(scope.target):
                raise errors.InvalidScope("target must be an id, not an identifier")
        if action == m.REVEAL:
            if not 1 <= len(scope.subjects) <= m.MAX_SUBJECTS:
                raise errors.InvalidScope(f"a reveal names 1 to {m.MAX_SUBJECTS} subjects")
            for subject in scope.subjects:
                if not SUBJECT_ID.fullmatch(subject) or self._looks_like_identifier(subject):
                    raise errors.InvalidScope("subjects must be subject ids")
            if not scope.purpose or not m.CODE_PATTERN.fullmatch(scope.purpose):
                raise errors.InvalidScope("a reveal needs a purpose code")
            if self._purposes is not None and scope.purpose not in self._purposes:
                raise errors.InvalidScope("unknown purpose")
            if scope.field_types is not None and (
                len(scope.field_types) > m.MAX_CODES
                or not all(m.CODE_PATTERN.fullmatch(c) for c in scope.field_types)
            ):
                raise errors.InvalidScope("field_types must be lowercase codes")
        elif scope.subjects or scope.purpose or scope.field_types is not None:
            raise errors.InvalidScope(f"{action} takes a target only")
        if scope.person is not None and action != m.IDENTITY_APPROVER:
            raise errors.InvalidScope(f"{action} names no person")
        if (scope.digest is not None or scope.proposal is not None) and action != m.PURPOSE_WIDEN:
            raise errors.InvalidScope(f"{action} carries no proposal")
        if action == m.PURPOSE_WIDEN and (not scope.digest or scope.proposal is None):
            raise errors.InvalidScope("purpose.widen is filed with the proposed definition and its digest")
        if scope.reveal not in ("plain", "masked"):
            raise errors.InvalidScope("reveal must be plain or masked")
        minutes = scope.minutes
        if minutes is None and action not in UNTIL_REVOKED:
            minutes = min(DEFAULT_GRANT_MINUTES, max_minutes)
        if minutes is not None and not 1 <= minutes <= max_minutes:
            raise errors.InvalidScope(f"minutes must be 1 to {max_minutes}")
        return dataclasses.replace(scope, minutes=minutes)

    def _rule(self, action: str) -> Rule:
        if action not in m.ACTIONS:
            raise errors.InvalidScope(f"action must be one of: {', '.join(m.ACTIONS)}")
        return self.rules[action]

    def _check_ask(
        self, acting: m.Acting, action: str, reason_code: str, reason_text: str
    ) -> tuple[Rule, str, str]:
        """The action's rule, the asking person and the checked reason text (request or break-glass)."""
        rule = self._rule(action)
        person = self._person(acting)
        if acting.role not in rule.requesters:
            raise errors.RequesterRole(f"{action} is asked for by the role {' or '.join(rule.requesters)}")
        if reason_code not in m.REASON_CODES:
            raise errors.InvalidScope(f"reason_code must be one of: {', '.join(m.REASON_CODES)}")
        return rule, person, self.check_text(reason_text)

    @staticmethod
    def _person(acting: m.Acting) -> str:
        if not acting.person:
            raise errors.NoPerson()
        return acting.person

    # -- requests -----------------------------------------------------------------------
    def request(
        self,
        acting: m.Acting,
        action: str,
        scope: m.Scope,
        reason_code: str,
        reason_text: str,
        *,
        request_id: str | None = None,
    ) -> m.ApprovalRequest:
        """Ask for ``action`` on ``scope``, in a unit of work of its own. See :meth:`request_in`.

        ``purpose.widen`` and ``identity.approver`` are filed by their own use cases
        (changing a purpose, creating a credential), never asked for directly: InvalidScope.
        """
        if action in m.FILED_BY_USE_CASE:
            raise errors.InvalidScope(f"{action} is filed by the change it approves, not asked for directly")
        with self._uow() as uow:
            found = self.request_in(
                uow, acting, action, scope, reason_code, reason_text, request_id=request_id
            )
            uow.commit()
        return found

    def request_in(
        self,
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
        rule, person, reason_text = self._check_ask(acting, action, reason_code, reason_text)
        scope = self._check_scope(action, scope, max_minutes=self.limits.max_grant_minutes)
        now = self.clock()
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
            expires_at=now + dt.timedelta(hours=self.limits.request_hours),
        )
        session.execute(
            t.approval_requests.insert().values(
                id=found.id,
                action=action,
                scope=scope.as_dict(),
                target=scope.target,
                requester=person,
                requester_role=acting.role,
                requested_by=acting.actor,
                reason_code=reason_code,
                reason_text=reason_text,
                state=m.PENDING,
                approvals_needed=rule.count,
                approver_roles=list(rule.approvers),
                created_at=now,
                expires_at=found.expires_at,
            )
        )
        uow.record(self._event("approval.request", acting, found, request_id, four_eyes=rule.four_eyes))
        if not rule.four_eyes:
            return self._approve(uow, session, found, acting, now, request_id)
        return found

    def get(self, approval_id: str) -> m.ApprovalRequest:
        """One request. Raises ApprovalNotFound, StorageUnavailable."""
        with session_scope(self._session_factory) as session:
            found = self._requests(session, t.approval_requests.c.id == approval_id)
        if not found:
            raise errors.ApprovalNotFound()
        return found[0]

    def list_requests(
        self,
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
        now = self.clock()
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
        with session_scope(self._session_factory) as session:
            found = self._requests(session, *where, limit=min(limit, MAX_LIST))
        if approvable_by is not None:
            found = [
                r
                for r in found
                if approvable_by.role in r.approver_roles
                and approvable_by.person not in {a.person for a in r.approvals}
            ]
        return found

    def approve(
        self, acting: m.Acting, approval_id: str, *, request_id: str | None = None
    ) -> m.ApprovalRequest:
        """Approve as ``acting``: with enough approvals the request is approved and its grant made.

        Raises NoPerson, SelfApproval (the requester, through any credential, or the
        credential that asked, naming anyone), SameCredential (a credential that
        approved already as another person), NotApprover (a role whose approval does
        not count), AlreadyApproved (this person approved already), AlreadyDecided (not pending, expired
        included), ApprovalNotFound, StorageUnavailable.
        """
        with self._uow() as uow:
            session = uow.session
            assert session is not None
            found = self._locked(session, approval_id)
            now = self.clock()
            self._refuse_unless_decider(uow, acting, found, "approval.approve", now, request_id)
            person = self._person(acting)
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
            uow.record(self._event("approval.approve", acting, found, request_id))
            if len(found.approvals) >= found.approvals_needed:
                found = self._approve(uow, session, found, acting, now, request_id)
            uow.commit()
        return found

    def deny(self, acting: m.Acting, approval_id: str, *, request_id: str | None = None) -> m.ApprovalRequest:
        """Deny: final. Raises as :meth:`approve` does."""
        return self._close(acting, approval_id, m.DENIED, request_id)

    def withdraw(
        self, acting: m.Acting, approval_id: str, *, request_id: str | None = None
    ) -> m.ApprovalRequest:
        """The requester withdraws a pending request. Raises NoPerson, NotRequester, AlreadyDecided."""
        return self._close(acting, approval_id, m.WITHDRAWN, request_id)

    def _close(
        self, acting: m.Acting, approval_id: str, state: str, request_id: str | None
    ) -> m.ApprovalRequest:
        with self._uow() as uow:
            session = uow.session
            assert session is not None
            found = self._locked(session, approval_id)
            now = self.clock()
            if state == m.WITHDRAWN:
                self._expire_if_due(uow, found, now)
                if self._person(acting) != found.requester:
                    raise errors.NotRequester()
            else:
                self._refuse_unless_decider(uow, acting, found, "approval.deny", now, request_id)
            session.execute(
                t.approval_requests.update()
                .where(t.approval_requests.c.id == found.id)
                .values(state=state, decided_at=now, decided_by=acting.person)
            )
            found = dataclasses.replace(found, state=state, decided_at=now, decided_by=acting.person)
            uow.record(
                self._event(
                    f"approval.{'deny' if state == m.DENIED else 'withdraw'}", acting, found, request_id
                )
            )
            uow.commit()
        return found

    def _refuse_unless_decider(
        self,
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
        self._expire_if_due(uow, found, now)
        refusal: errors.PiivaultError | None = None
        if not acting.person:
            refusal = errors.NoPerson()
        elif acting.person == found.requester:
            refusal = errors.SelfApproval()
        elif found.requested_by in (acting.actor, acting.via):
            refusal = errors.SelfApproval("the credential that asked cannot decide, whatever person it names")
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
        uow.record(self._event(action, acting, found, request_id, outcome="denied", reason=refusal.code))
        uow.commit()
        raise refusal

    def _expire_if_due(self, uow: UnitOfWork, found: m.ApprovalRequest, now: dt.datetime) -> None:
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
        uow.record(self._event("approval.expire", m.Acting(None, "system", "system"), found, None))
        uow.commit()
        raise errors.AlreadyDecided("the request expired")

    def _approve(
        self,
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
        apply = self._on_approved.get(found.action)
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
        self._insert_grant(session, grant)
        uow.record(self._grant_event("grant.create", acting, grant, request_id))
        return dataclasses.replace(
            found, state=m.APPROVED, decided_at=now, decided_by=acting.person, grant_id=grant.id
        )

    # -- grants -------------------------------------------------------------------------
    def list_grants(
        self,
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
        now = self.clock()
        live = sa.and_(c.revoked_at.is_(None), sa.or_(c.expires_at.is_(None), c.expires_at > now))
        if active is True:
            where.append(live)
        elif active is False:
            where.append(sa.not_(live))
        with session_scope(self._session_factory) as session:
            return self._grants(session, *where, limit=min(limit, MAX_LIST))

    def get_grant(self, grant_id: str) -> m.Grant:
        """One grant. Raises GrantNotFound, StorageUnavailable."""
        with session_scope(self._session_factory) as session:
            found = self._grants(session, t.grants.c.id == grant_id)
        if not found:
            raise errors.GrantNotFound()
        return found[0]

    def revoke(self, acting: m.Acting, grant_id: str, *, request_id: str | None = None) -> m.Grant:
        """End a grant early. Its holder, or a person with an approving role for its action, may.

        Raises NoPerson, NotApprover, GrantNotFound, GrantInactive, StorageUnavailable.
        """
        person = self._person(acting)
        with self._uow() as uow:
            session = uow.session
            assert session is not None
            found = self._grants(session, t.grants.c.id == grant_id, lock=True)
            if not found:
                raise errors.GrantNotFound()
            grant = found[0]
            now = self.clock()
            if person != grant.holder and acting.role not in self.rules[grant.action].approvers:
                raise errors.NotApprover("only the holder or an approver of this action may revoke the grant")
            if not grant.active_at(now):
                raise errors.GrantInactive(f"the grant is {grant.state_at(now)}")
            session.execute(
                t.grants.update().where(t.grants.c.id == grant.id).values(revoked_at=now, revoked_by=person)
            )
            grant = dataclasses.replace(grant, revoked_at=now, revoked_by=person)
            uow.record(self._grant_event("grant.revoke", acting, grant, request_id))
            uow.commit()
        return grant

    def revoke_in(
        self, uow: UnitOfWork, acting: m.Acting, action: str, target: str, *, request_id: str | None = None
    ) -> list[m.Grant]:
        """End every live grant for ``action`` on ``target`` inside ``uow`` (the caller commits),
        each audited as ``grant.revoke``: the use case that made them void (a password reset)."""
        session = uow.session
        assert session is not None
        c = t.grants.c
        now = self.clock()
        live = self._grants(
            session,
            c.action == action,
            c.target == target,
            c.revoked_at.is_(None),
            sa.or_(c.expires_at.is_(None), c.expires_at > now),
            lock=True,
        )
        ended = []
        for grant in live:
            session.execute(
                t.grants.update().where(c.id == grant.id).values(revoked_at=now, revoked_by=acting.person)
            )
            grant = dataclasses.replace(grant, revoked_at=now, revoked_by=acting.person)
            uow.record(self._grant_event("grant.revoke", acting, grant, request_id))
            ended.append(grant)
        return ended

    def grant_for(
        self,
        session: Session,
        action: str,
        target: str,
        *,
        holder: str | None = None,
        now: dt.datetime | None = None,
        lock: bool = False,
    ) -> m.Grant | None:
        """The active grant for ``action`` on ``target`` (held by ``holder``, if given), read in
        the caller's transaction; None when there is none. ``lock``: the grant's row stays locked
        until that transaction ends, so a revocation waits for it (PostgreSQL; SQLite's
        transactions hold the write lock anyway)."""
        c = t.grants.c
        now = now or self.clock()
        where = [
            c.action == action,
            c.target == target,
            c.revoked_at.is_(None),
            sa.or_(c.expires_at.is_(None), c.expires_at > now),
        ]
        if holder is not None:
            where.append(c.holder == holder)
        found = self._grants(session, *where, lock=lock, limit=1)
        return found[0] if found else None

    def reveal_grants(
        self, session: Session, person: str | None, now: dt.datetime | None = None
    ) -> list[m.Grant]:
        """``person``'s active reveal grants (approved or break-glass), in the caller's transaction."""
        if not person:
            return []
        c = t.grants.c
        now = now or self.clock()
        return self._grants(
            session,
            c.holder == person,
            c.action == m.REVEAL,
            c.revoked_at.is_(None),
            sa.or_(c.expires_at.is_(None), c.expires_at > now),
        )

    def approvals_needed(self, action: str) -> int:
        return self.rules[action].count

    # -- break-glass --------------------------------------------------------------------
    def break_glass(
        self,
        acting: m.Acting,
        action: str,
        scope: m.Scope,
        reason_code: str,
        reason_text: str,
        *,
        request_id: str | None = None,
    ) -> m.Grant:
        """An emergency grant, at once, for at most the configured minutes, with a mandatory reason.

        Raises an alert (the audit event ``break_glass.take``, the alert hook)
        and waits for a review by another person. Raises NoPerson,
        RequesterRole, InvalidScope, StorageUnavailable.
        """
        if action in (m.CLIENT_DATA_ACCESS, *m.FILED_BY_USE_CASE):
            raise errors.InvalidScope(f"{action} is never taken by break-glass")
        _, person, reason_text = self._check_ask(acting, action, reason_code, reason_text)
        limit = self.limits.break_glass_max_minutes
        scope = self._check_scope(
            action, dataclasses.replace(scope, minutes=scope.minutes or limit), max_minutes=limit
        )
        assert scope.minutes is not None
        now = self.clock()
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
        with self._uow() as uow:
            session = uow.session
            assert session is not None
            self._insert_grant(session, grant)
            uow.record(self._grant_event("break_glass.take", acting, grant, request_id))
            uow.after_commit(lambda: self._alert(grant))
            uow.commit()
        metrics.BREAK_GLASS.labels(action=metrics.code(action)).inc()
        return grant

    def review(self, acting: m.Acting, grant_id: str, note: str, *, request_id: str | None = None) -> m.Grant:
        """Review a break-glass use: another person with an approving role for its action.

        Raises NoPerson, SelfApproval (the holder), NotApprover, GrantNotFound
        (or not a break-glass grant), AlreadyReviewed, InvalidScope (the note).
        """
        person = self._person(acting)
        note = self.check_text(note, "note")
        with self._uow() as uow:
            session = uow.session
            assert session is not None
            found = self._grants(
                session, t.grants.c.id == grant_id, t.grants.c.kind == m.BREAK_GLASS, lock=True
            )
            if not found:
                raise errors.GrantNotFound("no such break-glass use")
            grant = found[0]
            refusal: errors.PiivaultError | None = None
            if person == grant.holder:
                refusal = errors.SelfApproval("a break-glass use is reviewed by another person")
            elif acting.role not in self.rules[grant.action].approvers:
                roles = " or ".join(self.rules[grant.action].approvers)
                refusal = errors.NotApprover(f"{grant.action} is reviewed by the role {roles}")
            if refusal is not None:
                uow.record(self._grant_event("break_glass.review", acting, grant, request_id, refusal.code))
                uow.commit()
                raise refusal
            if grant.reviewed_at is not None:
                raise errors.AlreadyReviewed()
            now = self.clock()
            session.execute(
                t.grants.update()
                .where(t.grants.c.id == grant.id)
                .values(reviewed_at=now, reviewed_by=person, review_note=note)
            )
            grant = dataclasses.replace(grant, reviewed_at=now, reviewed_by=person, review_note=note)
            uow.record(self._grant_event("break_glass.review", acting, grant, request_id))
            uow.commit()
        return grant

    # -- rows -----------------------------------------------------------------------------
    def _locked(self, session: Session, approval_id: str) -> m.ApprovalRequest:
        found = self._requests(session, t.approval_requests.c.id == approval_id, lock=True)
        if not found:
            raise errors.ApprovalNotFound()
        return found[0]

    @staticmethod
    def _requests(
        session: Session, *where: Any, lock: bool = False, limit: int | None = None
    ) -> list[m.ApprovalRequest]:
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
                sa.select(t.approvals)
                .where(a.request_id.in_([row.id for row in rows]))
                .order_by(a.at, a.person)
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

    @staticmethod
    def _grants(session: Session, *where: Any, lock: bool = False, limit: int | None = None) -> list[m.Grant]:
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

    @staticmethod
    def _insert_grant(session: Session, grant: m.Grant) -> None:
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

    # -- audit --------------------------------------------------------------------------
    @staticmethod
    def _subject(scope: m.Scope) -> str | None:
        return scope.subjects[0] if len(scope.subjects) == 1 else None

    def _event(
        self,
        action: str,
        acting: m.Acting,
        found: m.ApprovalRequest,
        request_id: str | None,
        *,
        outcome: str = "success",
        reason: str | None = None,
        four_eyes: bool | None = None,
    ) -> AuditEvent:
        details: dict[str, Any] = {
            "approval_id": found.id,
            "action": found.action,
            "person": acting.person,
            "requester": found.requester,
            "target": found.scope.target,
            "subjects": list(found.scope.subjects),
            "reason_code": found.reason_code,
            "approvals": [a.person for a in found.approvals],
            "approvals_needed": found.approvals_needed,
        }
        if four_eyes is not None:
            details["four_eyes"] = four_eyes
        return AuditEvent(
            action=action,
            actor=acting.actor,
            outcome=outcome,
            subject_id=self._subject(found.scope),
            purpose=found.scope.purpose,
            field_types=tuple(found.scope.field_types or ()),
            reason=reason,
            request_id=request_id,
            details=details,
        )

    def _grant_event(
        self,
        action: str,
        acting: m.Acting,
        grant: m.Grant,
        request_id: str | None,
        refused: str | None = None,
    ) -> AuditEvent:
        return AuditEvent(
            action=action,
            actor=acting.actor,
            outcome="denied" if refused else "success",
            subject_id=self._subject(grant.scope),
            purpose=grant.scope.purpose,
            field_types=tuple(grant.scope.field_types or ()),
            reason=refused or grant.reason_code,
            request_id=request_id,
            details={
                "grant_id": grant.id,
                "kind": grant.kind,
                "action": grant.action,
                "person": acting.person,
                "holder": grant.holder,
                "target": grant.scope.target,
                "subjects": list(grant.scope.subjects),
                "approval_id": grant.request_id,
                "approved_by": list(grant.approved_by),
                "expires_at": grant.expires_at.isoformat() if grant.expires_at else None,
            },
        )


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
