"""The consent service: purposes and notices, consents and receipts, holds, subjects' rights.

Every use case takes plain values and a unit of work, checks the actor's
role, records its audit event and commits (the change and the event together),
and returns plain values. It never sees Flask: ``api/`` translates HTTP to
these calls. Nothing here logs or raises a value of a subject's data.

Receipts and erasure certificates carry the index of the audit event that
recorded their action, known only once that event is sequenced: they are
signed right after the commit (:meth:`ConsentService.finalize_receipt`), and
a receipt whose signing was interrupted is signed when it is next read.

Data-subject requests, erasure, the access package, jobs and the bulk
import live in their own modules and are reached through this service.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from audit.events import AuditEvent
from consent import check as _check
from consent import consents, holds, receipts
from consent import model as m
from consent import purposes as _purposes
from consent import tables as t
from consent.errors import (
    ConsentConflict,
    HoldNotFound,
    InvalidConsent,
    NotAllowed,
    ReceiptNotFound,
    SubjectGone,
    SubjectUnknown,
)
from consent.purposes import LivePurposeCatalogue
from consent.receipts import Controller
from piivault.db import UnitOfWork, utcnow
from piivault.errors import ConfigurationError, UnavailableError
from piivault.ids import new_id
from piivault.sql import insert_ignore
from tokenization import subjects
from tokenization.fieldtypes import FieldTypeRegistry
from tokenization.model import valid_subject_id
from tokenization.policy.consent import ConsentVerdict, JoinedConsent
from vault import Keyring

log = logging.getLogger(__name__)

LIFT_REASONS = ("request_resolved", "accuracy_verified", "legal_claim_ended", "dpo_decision", "other")


def _require_role(actor: m.Actor, roles: tuple[str, ...], what: str) -> None:
    if actor.role not in roles:
        raise NotAllowed(f"role {actor.role!r} may not {what}")


def _require_four_eyes(
    svc: ConsentService,
    session: Session,
    actor: m.Actor,
    action: str,
    target: str,
    request_id: str | None,
    *,
    lock: bool = False,
) -> dict[str, Any]:
    """Refuse ``action`` on ``target`` (a DSR id) without a grant another person approved
    (:class:`access.gate.FourEyes`); the audit details naming the grant and its approvers.
    ``lock``: the grant stays unrevoked until ``session``'s transaction ends.

    Raises ApprovalRequired (the request is filed or found and named), NoPerson,
    ConfigurationError when no gate is wired (fail closed).
    """
    from access.gate import granted_details
    from access.model import Acting

    grant = _four_eyes(svc, action).require(
        session,
        Acting(actor.person, actor.role, actor.name),
        action,
        target,
        request_id=request_id,
        lock=lock,
    )
    return granted_details(grant)


def _four_eyes(svc: ConsentService, action: str) -> Any:
    """The approval gate (:class:`access.gate.FourEyes`); ConfigurationError when none is wired
    (fail closed)."""
    if svc.four_eyes is None:
        raise ConfigurationError(f"{action} needs four eyes, and no approval gate is wired")
    return svc.four_eyes


def _require_purpose(actor: m.Actor, purpose: str, what: str) -> None:
    """A calling system records consent only for a purpose on its own key: a client that could
    grant another purpose's consent would unlock other clients' use of the data."""
    if not actor.acts_for(purpose):
        raise NotAllowed(f"this client may not {what} for a purpose it does not hold")


@dataclasses.dataclass(frozen=True)
class PurposeChange:
    """A purpose after a change: applied (``approval`` None), or as it stands with the
    ``purpose.widen`` request the change waits for and how it widens access."""

    purpose: m.PurposeDef
    approval: Any = None  # access.model.ApprovalRequest
    widens: tuple[str, ...] = ()


@dataclasses.dataclass
class ConsentService:
    session_factory: sessionmaker[Session]
    uow_factory: Callable[[], UnitOfWork]
    keyring: Keyring
    catalogue: LivePurposeCatalogue
    field_types: FieldTypeRegistry
    controller: Controller
    audit: Any = None  # audit.service.AuditLog
    due_days: int = 15
    clock: Callable[[], dt.datetime] = utcnow
    # Subjects' risk attributes (consent.access.SubjectAttributes), wired by the composition root:
    # the access package shows them, a correction request changes them. None: none are kept.
    subject_attributes: Any = None
    # Purposes that own the customer relationship: a purpose-bound client may open or close
    # it only holding one of them (PIIVAULT_RELATIONSHIP_PURPOSES).
    relationship_purposes: frozenset[str] = frozenset(m.RELATIONSHIP_PURPOSES)
    # Four eyes on purpose changes that widen access (consent.widening.PurposeApprovals), wired by
    # the composition root. None: changes apply as asked.
    widen_gate: Any = None
    # Four eyes on access packages and erasures (access.gate.FourEyes), wired by the composition
    # root; None refuses both (fail closed).
    four_eyes: Any = None
    # The customer's copy of an access request: client id -> the name an admin gave it (read in the
    # caller's session; wired by the composition root, which owns the clients' table), and the time
    # zone its times are written in.
    client_names: Callable[[Session], dict[str, str]] | None = None
    time_zone: str = "Asia/Shanghai"

    # -- the policy decision point's questions (hot path, caller's transaction) ---
    def check(
        self, session: Session, subject_id: str | None, purpose: str, field_type: str
    ) -> ConsentVerdict:
        """The consent verdict for detokenizing (see :func:`consent.check.check`).

        Raises SQLAlchemy errors of the caller's session.
        """
        return _check.check(session, subject_id, purpose, self.clock())

    def consent_join(self, subject: sa.ColumnElement[Any], purpose: str) -> JoinedConsent:
        """The same check, folded into the query that loads the tokens (see :func:`consent.check.joined`)."""
        return _check.joined(subject, purpose, self.clock())

    def restriction_exempt(self, session: Session, subject_id: str, purpose: str, role: str) -> bool:
        """Whether an active hold lets ``role`` use the restricted subject for ``purpose``."""
        return holds.exempts(session, subject_id, purpose, role, self.clock())

    # -- helpers ------------------------------------------------------------------
    def _session(self, uow: UnitOfWork) -> Session:
        # Seeding writes in its own transaction: do it before this one begins.
        self.catalogue.ensure_seeded()
        assert uow.session is not None
        return uow.session

    def _type_codes(self) -> tuple[str, ...]:
        return self.field_types.codes()

    def check_subject_id(self, subject_id: Any) -> str:
        """Raise :class:`InvalidConsent` unless ``subject_id`` is an opaque subject id."""
        if not isinstance(subject_id, str) or not valid_subject_id(subject_id):
            raise InvalidConsent("subject_id must be 8-64 letters, digits, '_' or '-' (not starting 'std_')")
        if self.field_types.looks_like_identifier(subject_id):
            raise InvalidConsent("subject_id looks like a personal identifier: use an opaque id")
        return subject_id

    def erased(self, session: Session, subject_id: str) -> bool:
        if _tombstone_exists(session, subject_id):
            return True
        found = subjects.states(session, [subject_id]).get(subject_id)
        return found is not None and found[1] == subjects.ERASED

    def sensitive_types(self) -> frozenset[str]:
        return frozenset(ft.code for ft in self.field_types if ft.pipl_sensitive)

    # -- purposes and notices -----------------------------------------------------
    def list_purposes(self, uow: UnitOfWork, *, include_retired: bool = False) -> list[m.PurposeDef]:
        """Every purpose (retired ones on request). Raises StorageUnavailable."""
        session = self._session(uow)
        found = [p for p in _purposes.all_purposes(session) if include_retired or p.active]
        uow.commit()
        return found

    def get_purpose(self, uow: UnitOfWork, code: str) -> m.PurposeDef:
        """Raises PurposeNotFound, StorageUnavailable."""
        purpose = _purposes.require(self._session(uow), code)
        uow.commit()
        return purpose

    def purpose_history(self, uow: UnitOfWork, code: str) -> list[dict[str, Any]]:
        """Every version of the purpose. Raises PurposeNotFound, StorageUnavailable."""
        found = _purposes.history(self._session(uow), code)
        uow.commit()
        return found

    def create_purpose(
        self, uow: UnitOfWork, actor: m.Actor, spec: Mapping[str, Any], *, request_id: str | None = None
    ) -> m.PurposeDef:
        """Create a purpose with its first notice.

        Raises NotAllowed, InvalidConsent, ConsentConflict (code taken), StorageUnavailable.
        """
        _require_role(actor, m.PURPOSE_ADMIN_ROLES, "manage purposes")
        session = self._session(uow)
        purpose = _purposes.create(session, spec, actor.name, self.clock(), self._type_codes())
        uow.record(
            AuditEvent(
                action="purpose.create",
                actor=actor.name,
                purpose=purpose.code,
                request_id=request_id,
                details={"version": purpose.version, "legal_basis": purpose.legal_basis},
            )
        )
        uow.after_commit(self.catalogue.invalidate)
        uow.commit()
        return purpose

    def update_purpose(
        self,
        uow: UnitOfWork,
        actor: m.Actor,
        code: str,
        changes: Mapping[str, Any],
        *,
        request_id: str | None = None,
    ) -> m.PurposeDef:
        """Change a purpose (a new version; the history keeps the old one) when the change does
        not widen access; one that does goes through :meth:`change_purpose`.

        Raises NotAllowed, PurposeNotFound, InvalidConsent, ApprovalRequired (a
        widening change with four eyes wired), StorageUnavailable.
        """
        found = self.change_purpose(uow, actor, code, changes, acting=None, request_id=request_id)
        return found.purpose

    def change_purpose(
        self,
        uow: UnitOfWork,
        actor: m.Actor,
        code: str,
        changes: Mapping[str, Any],
        *,
        acting: Any,
        request_id: str | None = None,
    ) -> PurposeChange:
        """Change a purpose; one that widens access (:func:`consent.purposes.widening`) is filed
        as a ``purpose.widen`` approval request bound to the digest of the exact definition it
        would make, and applied when another DPO approves it (``consent.widening``).

        ``acting`` is who asks (``access.model.Acting``: the person behind the key
        or console user). Returns the purpose as it stands and the approval
        request, if one was filed. Raises NotAllowed, PurposeNotFound,
        InvalidConsent, NoPerson, RequesterRole, ApprovalRequired (a widening
        change without ``acting``), StorageUnavailable.
        """
        _require_role(actor, m.PURPOSE_ADMIN_ROLES, "manage purposes")
        session = self._session(uow)
        now = self.clock()
        before = _purposes.require(session, code, lock=True)
        if self.widen_gate is not None:
            # Try the change in a savepoint: what it would make, and whether that widens access.
            with session.begin_nested() as trial:
                proposed, changed = _purposes.update(
                    session, code, changes, actor.name, now, self._type_codes()
                )
                trial.rollback()
            widened = _purposes.widening(before, proposed) if changed else []
            if widened:
                if acting is None:
                    from access.errors import ApprovalRequired

                    raise ApprovalRequired(
                        f"this change widens access ({', '.join(widened)}): it needs a purpose.widen approval"
                    )
                approval = self.widen_gate.file(
                    uow, acting, before, dict(changes), proposed, widened, request_id=request_id
                )
                uow.commit()
                if approval.state != "pending":  # four eyes off for purpose.widen: applied as asked
                    with self.uow_factory() as again:
                        before = _purposes.require(self._session(again), code)
                return PurposeChange(before, approval, tuple(widened))
        purpose, changed = _purposes.update(session, code, changes, actor.name, now, self._type_codes())
        if changed:
            uow.record(
                AuditEvent(
                    action="purpose.update",
                    actor=actor.name,
                    purpose=code,
                    request_id=request_id,
                    details={"version": purpose.version, "fields": sorted(changes)},
                )
            )
            uow.after_commit(self.catalogue.invalidate)
        uow.commit()
        return PurposeChange(purpose)

    def publish_notice(
        self,
        uow: UnitOfWork,
        actor: m.Actor,
        code: str,
        *,
        text_zh: Any,
        text_en: Any = None,
        material: bool = False,
        request_id: str | None = None,
    ) -> dict[str, Any]:
        """Publish the next notice version of a purpose.

        A material change makes consents under older notices ``reconsent_required``.
        Raises NotAllowed, PurposeNotFound, InvalidConsent, StorageUnavailable.
        """
        _require_role(actor, m.PURPOSE_ADMIN_ROLES, "manage purposes")
        session = self._session(uow)
        purpose, notice = _purposes.publish_notice(
            session, code, text_zh, text_en, material, actor.name, self.clock()
        )
        uow.record(
            AuditEvent(
                action="purpose.notice",
                actor=actor.name,
                purpose=code,
                request_id=request_id,
                details={
                    "notice_version": notice["version"],
                    "material": notice["material"],
                    "accepted_notice_version": purpose.accepted_notice_version,
                    "text_hash": notice["text_hash"],
                },
            )
        )
        uow.after_commit(self.catalogue.invalidate)
        uow.commit()
        return notice

    def list_notices(self, uow: UnitOfWork, code: str) -> list[dict[str, Any]]:
        """Raises PurposeNotFound, StorageUnavailable."""
        found = _purposes.notices(self._session(uow), code)
        uow.commit()
        return found

    def get_notice(self, uow: UnitOfWork, code: str, version: int) -> dict[str, Any]:
        """Raises PurposeNotFound, NoticeNotFound, StorageUnavailable."""
        found = _purposes.notice(self._session(uow), code, version)
        uow.commit()
        return found

    # -- consents -----------------------------------------------------------------
    def _consent_args(
        self,
        session: Session,
        actor: m.Actor,
        subject_id: Any,
        purpose_code: str,
        channel: Any,
        evidence: Any,
        effective_at: dt.datetime | None,
        now: dt.datetime,
    ) -> tuple[m.PurposeDef, dt.datetime]:
        self.check_subject_id(subject_id)
        if channel not in m.CHANNELS:
            raise InvalidConsent(f"channel must be one of: {', '.join(m.CHANNELS)}")
        consents.check_evidence(evidence, self.field_types)
        effective = now if effective_at is None else effective_at
        if effective.tzinfo is None:
            raise InvalidConsent("times must carry a time zone")
        if effective > now:
            raise InvalidConsent("effective_at must not be in the future")
        purpose = _purposes.require(session, purpose_code)
        _require_purpose(actor, purpose.code, "record consent")
        if self.erased(session, subject_id):
            raise SubjectGone("the subject was erased")
        return purpose, effective

    def _grant_like(
        self,
        uow: UnitOfWork,
        actor: m.Actor,
        action: str,
        subject_id: str,
        purpose_code: str,
        *,
        channel: Any,
        notice_version: int | None,
        separate: bool | None,
        expires_at: dt.datetime | None,
        evidence: str | None,
        effective_at: dt.datetime | None,
        request_id: str | None,
    ) -> dict[str, Any]:
        _require_role(actor, m.CONSENT_ROLES, "record consent")
        session = self._session(uow)
        now = self.clock()
        purpose, effective = self._consent_args(
            session, actor, subject_id, purpose_code, channel, evidence, effective_at, now
        )
        if not purpose.active:
            raise InvalidConsent("the purpose is retired: consent cannot be given to it")
        if not purpose.consent_required:
            raise InvalidConsent(
                f"purpose {purpose.code} rests on {purpose.legal_basis}, not consent: nothing to record"
            )
        previous = consents.current(session, subject_id, purpose.code, now)
        if action == m.RENEW:
            if previous is None or previous.state == m.WITHDRAWN:
                raise ConsentConflict("there is no consent to renew: grant one")
            if separate is None:
                separate = previous.separate
        separate = bool(separate)
        if purpose.separate_consent_required and not separate:
            raise InvalidConsent("this purpose needs a separate consent (separate: true)")
        version = purpose.notice_version if notice_version is None else notice_version
        if (
            type(version) is not int
            or not purpose.accepted_notice_version <= version <= purpose.notice_version
        ):
            raise InvalidConsent(
                f"notice_version must be between {purpose.accepted_notice_version} and "
                f"{purpose.notice_version} (the accepted notices of this purpose)"
            )
        if expires_at is not None:
            if expires_at.tzinfo is None:
                raise InvalidConsent("times must carry a time zone")
            if expires_at <= max(now, effective):
                raise InvalidConsent("expires_at must be in the future")
        receipt_id = new_id("rct_")
        record = consents.append(
            session,
            subject_id=subject_id,
            purpose_code=purpose.code,
            action=action,
            notice_version=version,
            separate=separate,
            channel=channel,
            effective_at=effective,
            expires_at=expires_at,
            evidence=evidence,
            source="api",
            recorded_by=actor.name,
            recorded_at=now,
            receipt_id=receipt_id,
            request_id=request_id,
        )
        self._receipt(session, receipt_id, action, record, purpose, f"consent.{action}", now)
        uow.record(
            AuditEvent(
                action=f"consent.{action}",
                actor=actor.name,
                subject_id=subject_id,
                purpose=purpose.code,
                request_id=request_id,
                details={
                    "record_id": record["record_id"],
                    "receipt_id": receipt_id,
                    "notice_version": version,
                    "channel": channel,
                    "separate": separate,
                    "expires_at": m.iso(expires_at),
                },
            )
        )
        uow.commit()
        return self._answer(record, purpose, receipt_id, now)

    def _answer(
        self, record: dict[str, Any], purpose: m.PurposeDef, receipt_id: str, now: dt.datetime
    ) -> dict[str, Any]:
        with self.session_factory() as session:
            state = consents.current(session, record["subject_id"], purpose.code, now)
        return {
            "record": record,
            "consent": None if state is None else state.to_dict(),
            "receipt_id": receipt_id,
            "receipt": self.finalize_receipt(receipt_id),
        }

    def grant(self, uow: UnitOfWork, actor: m.Actor, subject_id: str, purpose: str, **kw: Any) -> dict:
        """Record a consent: ``channel`` (app, branch, phone, web), optional ``notice_version``
        (default: the current notice), ``separate``, ``expires_at``, ``evidence``,
        ``effective_at`` (default now), ``request_id``.

        Returns ``{record, consent, receipt_id, receipt}`` (the signed receipt,
        None if signing must wait: read it later). Raises NotAllowed,
        InvalidConsent, PurposeNotFound, SubjectGone, StorageUnavailable.
        """
        return self._grant_like(
            uow,
            actor,
            m.GRANT,
            subject_id,
            purpose,
            channel=kw.get("channel"),
            notice_version=kw.get("notice_version"),
            separate=kw.get("separate", False),
            expires_at=kw.get("expires_at"),
            evidence=kw.get("evidence"),
            effective_at=kw.get("effective_at"),
            request_id=kw.get("request_id"),
        )

    def renew(self, uow: UnitOfWork, actor: m.Actor, subject_id: str, purpose: str, **kw: Any) -> dict:
        """Renew a granted or expired consent (new expiry, optionally the current notice).

        Arguments and result as :meth:`grant` (``separate`` defaults to the
        previous consent's). Raises as :meth:`grant`, and ConsentConflict when
        there is no consent or it was withdrawn.
        """
        return self._grant_like(
            uow,
            actor,
            m.RENEW,
            subject_id,
            purpose,
            channel=kw.get("channel"),
            notice_version=kw.get("notice_version"),
            separate=kw.get("separate"),
            expires_at=kw.get("expires_at"),
            evidence=kw.get("evidence"),
            effective_at=kw.get("effective_at"),
            request_id=kw.get("request_id"),
        )

    def withdraw(
        self,
        uow: UnitOfWork,
        actor: m.Actor,
        subject_id: str,
        purpose: str,
        *,
        channel: Any,
        evidence: str | None = None,
        effective_at: dt.datetime | None = None,
        request_id: str | None = None,
    ) -> dict[str, Any]:
        """Withdraw a consent: effective for the very next request, whatever the process.

        Returns as :meth:`grant`. Raises NotAllowed (role, or a purpose not
        on the caller's key), InvalidConsent, PurposeNotFound, SubjectGone,
        ConsentConflict (nothing to withdraw), StorageUnavailable.
        """
        _require_role(actor, m.CONSENT_ROLES, "record consent")
        session = self._session(uow)
        now = self.clock()
        record, purpose = self._withdraw(
            session,
            uow,
            actor,
            subject_id,
            purpose,
            channel,
            evidence,
            effective_at,
            request_id,
            now,
            "api",
            None,
        )
        uow.commit()
        return self._answer(record, purpose, record["receipt_id"], now)

    def _withdraw(
        self,
        session: Session,
        uow: UnitOfWork,
        actor: m.Actor,
        subject_id: str,
        purpose_code: str,
        channel: Any,
        evidence: str | None,
        effective_at: dt.datetime | None,
        request_id: str | None,
        now: dt.datetime,
        source: str,
        dsr_id: str | None,
    ) -> tuple[dict[str, Any], m.PurposeDef]:
        purpose, effective = self._consent_args(
            session, actor, subject_id, purpose_code, channel, evidence, effective_at, now
        )
        previous = consents.latest(session, subject_id, purpose.code)
        if previous is None or previous.action not in (m.GRANT, m.RENEW):
            raise ConsentConflict("there is no consent to withdraw")
        if effective < previous.effective_at:
            raise InvalidConsent("effective_at must not be before the consent it withdraws")
        receipt_id = new_id("rct_")
        record = consents.append(
            session,
            subject_id=subject_id,
            purpose_code=purpose.code,
            action=m.WITHDRAW,
            notice_version=previous.notice_version,
            separate=False,
            channel=channel,
            effective_at=effective,
            evidence=evidence,
            source=source,
            recorded_by=actor.name,
            recorded_at=now,
            receipt_id=receipt_id,
            request_id=request_id,
        )
        self._receipt(session, receipt_id, m.WITHDRAW, record, purpose, "consent.withdraw", now)
        details: dict[str, Any] = {
            "record_id": record["record_id"],
            "receipt_id": receipt_id,
            "channel": channel,
        }
        if dsr_id is not None:
            details["dsr_id"] = dsr_id
        uow.record(
            AuditEvent(
                action="consent.withdraw",
                actor=actor.name,
                subject_id=subject_id,
                purpose=purpose.code,
                request_id=request_id,
                details=details,
            )
        )
        return record, purpose

    def consents_of(
        self, uow: UnitOfWork, actor: m.Actor, subject_id: str, *, request_id: str | None = None
    ) -> dict[str, Any]:
        """The subject's current consents and their full history.

        A purpose-bound caller (a service client) sees those of the purposes on
        its key only: which other purposes a customer consented to is not its
        business. Raises NotAllowed, InvalidConsent, StorageUnavailable.
        """
        _require_role(actor, m.CONSENT_ROLES, "read consents")
        session = self._session(uow)
        self.check_subject_id(subject_id)
        now = self.clock()
        current = [
            s.to_dict() for s in consents.current_all(session, subject_id, now) if actor.acts_for(s.purpose)
        ]
        history = [r for r in consents.history(session, subject_id) if actor.acts_for(r["purpose"])]
        uow.record(
            AuditEvent(
                action="consent.read",
                actor=actor.name,
                subject_id=subject_id,
                request_id=request_id,
                details={"records": len(history)},
            )
        )
        uow.commit()
        return {"subject_id": subject_id, "consents": current, "history": history}

    # -- receipts -------------------------------------------------------------------
    def _signer(self, session: Session):  # noqa: ANN202 - vault.Signer
        return self.keyring.signer(session, receipts.SIGNING_KEY)

    def _receipt(
        self,
        session: Session,
        receipt_id: str,
        action: str,
        record: dict[str, Any],
        purpose: m.PurposeDef,
        audit_action: str,
        now: dt.datetime,
    ) -> None:
        notice = _purposes.notice(session, purpose.code, record["notice_version"] or purpose.notice_version)
        body = receipts.consent_receipt(
            receipt_id=receipt_id,
            action=action,
            record=record,
            purpose=purpose,
            notice=notice,
            sensitive_types=self.sensitive_types(),
            controller=self.controller,
            public_key=self._signer(session).public_key,
            issued_at=now,
        )
        self.store_receipt(session, receipt_id, "consent", record["subject_id"], audit_action, body, now)

    def store_receipt(
        self,
        session: Session,
        receipt_id: str,
        kind: str,
        subject_id: str,
        audit_action: str,
        body: dict[str, Any],
        now: dt.datetime,
    ) -> None:
        """Store an unsigned receipt or certificate; it is signed once its audit event is sequenced."""
        session.execute(
            t.receipts.insert().values(
                receipt_id=receipt_id,
                kind=kind,
                subject_id=subject_id,
                audit_action=audit_action,
                body=json.dumps(body, ensure_ascii=False),
                created_at=now,
            )
        )

    def _audit_index(self, subject_id: str, action: str, receipt_id: str) -> int | None:
        if self.audit is None:
            return None
        for attempt in range(2):
            cursor = None
            while True:
                page = self.audit.search_events(subject=subject_id, action=action, limit=1000, cursor=cursor)
                for event in page.events:
                    if json.loads(event.entry).get("details", {}).get("receipt_id") == receipt_id:
                        return event.seq
                cursor = page.next_cursor
                if cursor is None:
                    break
            if attempt == 0:
                self.audit.sequencer.drain(idle_checkpoint=False)
        return None

    def finalize_receipt(self, receipt_id: str) -> dict[str, Any] | None:
        """Sign a stored receipt with its audit event index; return the signed document.

        Returns None when the audit event is not sequenced yet (the receipt is
        signed on a later read). Never raises for an unavailable dependency:
        the action it documents has committed already.
        """
        try:
            return self._finalize(receipt_id)
        except UnavailableError as e:
            log.warning("consent: receipt signing deferred (%s)", e.code)
            return None

    def _finalize(self, receipt_id: str) -> dict[str, Any] | None:
        r = t.receipts.c
        with self.session_factory() as session:
            row = session.execute(sa.select(t.receipts).where(r.receipt_id == receipt_id)).first()
        if row is None:
            raise ReceiptNotFound("no such receipt")
        if row.signed is not None:
            return json.loads(row.signed)
        seq = self._audit_index(row.subject_id, row.audit_action, receipt_id)
        if seq is None:
            return None
        body = json.loads(row.body)
        body["auditEventIndex"] = seq
        with self.session_factory() as session:
            document = receipts.sign(self._signer(session), body)
            done = session.execute(
                t.receipts.update()
                .where(r.receipt_id == receipt_id, r.signed.is_(None))
                .values(
                    signed=json.dumps(document, ensure_ascii=False),
                    audit_seq=seq,
                    signed_at=self.clock(),
                )
            )
            session.commit()
            if not done.rowcount:  # signed by a concurrent reader: theirs stands
                signed = session.scalar(sa.select(r.signed).where(r.receipt_id == receipt_id))
                return json.loads(signed)
        return document

    def get_receipt(
        self, uow: UnitOfWork, actor: m.Actor, receipt_id: str, *, request_id: str | None = None
    ) -> dict[str, Any]:
        """A signed receipt or certificate (signed now if that was deferred).

        Raises NotAllowed, ReceiptNotFound, ConsentConflict (its audit event is
        not sequenced yet: retry), StorageUnavailable.
        """
        _require_role(actor, m.CONSENT_ROLES, "read receipts")
        session = self._session(uow)
        subject_id = session.scalar(
            sa.select(t.receipts.c.subject_id).where(t.receipts.c.receipt_id == receipt_id)
        )
        if subject_id is None:
            raise ReceiptNotFound("no such receipt")
        uow.record(
            AuditEvent(
                action="consent.receipt_read",
                actor=actor.name,
                subject_id=subject_id,
                request_id=request_id,
                details={"receipt_id": receipt_id},
            )
        )
        uow.commit()
        document = self.finalize_receipt(receipt_id)
        if document is None:
            raise ConsentConflict("the receipt is not signed yet: retry in a few seconds")
        return document

    def receipt_public_key(self) -> dict[str, str]:
        """The published receipt key: ``{alg, key_id, public_key}`` (base64).

        Raises StorageUnavailable, VaultUnavailable.
        """
        with self.session_factory() as session:
            key = self._signer(session).public_key
            session.commit()
        return {
            "alg": receipts.ALG,
            "key_id": receipts.key_id(key),
            "public_key": receipts.public_key_b64(key),
        }

    # -- subjects: close, restriction, holds -------------------------------------------
    def _subject(self, session: Session, subject_id: str) -> Any:
        self.check_subject_id(subject_id)
        row = subjects.get(session, subject_id)
        if row is None:
            if self.erased(session, subject_id):
                raise SubjectGone("the subject was erased")
            raise SubjectUnknown("no such subject")
        if row.state == subjects.ERASED:
            raise SubjectGone("the subject was erased")
        return row

    def _require_relationship_owner(self, actor: m.Actor, what: str) -> None:
        _require_role(actor, m.CLOSE_ROLES, what)
        if actor.purpose_bound and not actor.purposes & self.relationship_purposes:
            owners = ", ".join(sorted(self.relationship_purposes))
            raise NotAllowed(
                f"only a client holding a purpose that owns the relationship ({owners}) may {what}"
            )

    def open_relationship(
        self, uow: UnitOfWork, actor: m.Actor, subject_id: str, *, request_id: str | None = None
    ) -> dict[str, Any]:
        """Record that the customer relationship began: from now on, retention rules anchored on
        the relationship's end (AML record keeping) apply to the subject.

        Only a client holding a purpose that owns the relationship
        (:attr:`relationship_purposes`), or the DPO. Raises NotAllowed,
        SubjectUnknown, SubjectGone, ConsentConflict (opened already, or
        closed), StorageUnavailable.
        """
        self._require_relationship_owner(actor, "open relationships")
        session = self._session(uow)
        row = self._subject(session, subject_id)
        if row.closed_at is not None:
            raise ConsentConflict("the relationship was closed already")
        if row.opened_at is not None:
            raise ConsentConflict("the relationship was opened already")
        now = self.clock()
        subjects.set_opened(session, subject_id, now)
        uow.record(
            AuditEvent(action="subject.open", actor=actor.name, subject_id=subject_id, request_id=request_id)
        )
        uow.commit()
        return {"subject_id": subject_id, "opened_at": now, "closed_at": None}

    def close_relationship(
        self, uow: UnitOfWork, actor: m.Actor, subject_id: str, *, request_id: str | None = None
    ) -> dict[str, Any]:
        """Record that the relationship ended: retention clocks start (retention holds get an end).

        Only a client holding a purpose that owns the relationship
        (:attr:`relationship_purposes`), or the DPO. A shred waiting for those
        holds is rescheduled to their end. Raises NotAllowed, SubjectUnknown,
        SubjectGone, ConsentConflict (never opened, or closed already),
        StorageUnavailable.
        """
        self._require_relationship_owner(actor, "close relationships")
        session = self._session(uow)
        row = self._subject(session, subject_id)
        if row.closed_at is not None:
            raise ConsentConflict("the relationship was closed already")
        if row.opened_at is None:
            raise ConsentConflict("no customer relationship was opened for this subject: nothing to close")
        now = self.clock()
        subjects.set_closed(session, subject_id, now)
        hold_ids = holds.ensure_retention_of(session, subject_id, row.opened_at, now, actor.name, now)
        from consent import erasure

        due = erasure.reschedule(session, subject_id, now)
        uow.record(
            AuditEvent(
                action="subject.close",
                actor=actor.name,
                subject_id=subject_id,
                request_id=request_id,
                details={"retention_holds": hold_ids, "shred_due_at": m.iso(due)},
            )
        )
        uow.commit()
        return {
            "subject_id": subject_id,
            "opened_at": row.opened_at,
            "closed_at": now,
            "holds": [holds.get(session, h) for h in hold_ids] if hold_ids else [],
        }

    def lift_restriction(
        self,
        uow: UnitOfWork,
        actor: m.Actor,
        subject_id: str,
        *,
        reason_code: str,
        note: str | None = None,
        request_id: str | None = None,
    ) -> dict[str, Any]:
        """Make a restricted subject active again (the DPO, with a reason).

        Raises NotAllowed, InvalidConsent (reason), SubjectUnknown, SubjectGone,
        ConsentConflict (not restricted, or an erasure waits for a hold),
        StorageUnavailable.
        """
        _require_role(actor, m.DSR_ROLES, "lift restrictions")
        if reason_code not in LIFT_REASONS:
            raise InvalidConsent(f"reason_code must be one of: {', '.join(LIFT_REASONS)}")
        _check_note(note)
        session = self._session(uow)
        row = self._subject(session, subject_id)
        if row.state != subjects.RESTRICTED:
            raise ConsentConflict("the subject is not restricted")
        from consent import erasure

        if erasure.pending_shred(session, subject_id) is not None:
            raise ConsentConflict("an erasure waits for a hold to end: the restriction stays")
        subjects.set_state(session, subject_id, subjects.ACTIVE, self.clock())
        uow.record(
            AuditEvent(
                action="subject.lift_restriction",
                actor=actor.name,
                subject_id=subject_id,
                reason=reason_code,
                request_id=request_id,
            )
        )
        uow.commit()
        return {"subject_id": subject_id, "state": subjects.ACTIVE}

    def list_holds(
        self, uow: UnitOfWork, actor: m.Actor, subject_id: str, *, request_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Every hold of the subject, released ones included. Raises NotAllowed, StorageUnavailable."""
        _require_role(actor, m.DSR_ROLES, "read holds")
        session = self._session(uow)
        self.check_subject_id(subject_id)
        found = holds.of_subject(session, subject_id)
        uow.commit()
        return found

    def place_hold(
        self,
        uow: UnitOfWork,
        actor: m.Actor,
        subject_id: str,
        *,
        reason_code: str,
        ends_at: dt.datetime,
        note: str | None = None,
        purpose: str | None = None,
        roles: Sequence[str] = ("dpo",),
        request_id: str | None = None,
    ) -> dict[str, Any]:
        """Place a legal hold until ``ends_at``: erasure then waits for it.

        ``purpose`` (optional) is what the held data may still be used for
        while the subject is restricted, by ``roles``. A pending shred is
        rescheduled to the new end. Raises NotAllowed, InvalidConsent,
        PurposeNotFound, SubjectUnknown, SubjectGone, StorageUnavailable.
        """
        _require_role(actor, m.DSR_ROLES, "place holds")
        if reason_code not in holds.LEGAL_REASONS:
            raise InvalidConsent(f"reason_code must be one of: {', '.join(holds.LEGAL_REASONS)}")
        _check_note(note)
        if not roles or any(r not in m.HOLD_ROLES for r in roles):
            raise InvalidConsent(f"roles must be among: {', '.join(m.HOLD_ROLES)}")
        session = self._session(uow)
        now = self.clock()
        if ends_at.tzinfo is None or ends_at <= now:
            raise InvalidConsent("ends_at must be a future time with a time zone")
        self._subject(session, subject_id)
        if purpose is not None:
            _purposes.require(session, purpose)
        hold = holds.place_legal(
            session,
            subject_id,
            purpose=purpose,
            roles=list(dict.fromkeys(roles)),
            reason_code=reason_code,
            note=note,
            ends_at=ends_at,
            actor=actor.name,
            now=now,
        )
        from consent import erasure

        due = erasure.reschedule(session, subject_id, now)
        uow.record(
            AuditEvent(
                action="hold.place",
                actor=actor.name,
                subject_id=subject_id,
                purpose=purpose,
                reason=reason_code,
                request_id=request_id,
                details={"hold_id": hold["hold_id"], "ends_at": m.iso(ends_at), "shred_due_at": m.iso(due)},
            )
        )
        uow.commit()
        return hold

    def release_hold(
        self,
        uow: UnitOfWork,
        actor: m.Actor,
        subject_id: str,
        hold_id: str,
        *,
        reason_code: str,
        request_id: str | None = None,
    ) -> dict[str, Any]:
        """Release a hold now; a waiting shred is rescheduled to the remaining holds' end.

        Raises NotAllowed, InvalidConsent, HoldNotFound, ConsentConflict
        (released already), StorageUnavailable.
        """
        _require_role(actor, m.DSR_ROLES, "release holds")
        if reason_code not in holds.RELEASE_REASONS:
            raise InvalidConsent(f"reason_code must be one of: {', '.join(holds.RELEASE_REASONS)}")
        session = self._session(uow)
        hold = holds.get(session, hold_id)
        if hold is None or hold["subject_id"] != subject_id:
            raise HoldNotFound("no such hold")
        now = self.clock()
        if not holds.release(session, hold_id, reason_code, actor.name, now):
            raise ConsentConflict("the hold was released already")
        from consent import erasure

        due = erasure.reschedule(session, subject_id, now)
        uow.record(
            AuditEvent(
                action="hold.release",
                actor=actor.name,
                subject_id=subject_id,
                reason=reason_code,
                request_id=request_id,
                details={"hold_id": hold_id, "shred_due_at": m.iso(due)},
            )
        )
        uow.commit()
        released = holds.get(session, hold_id)
        assert released is not None
        return released

    # -- data-subject requests, jobs, import (see their modules) ------------------------
    def create_request(self, uow: UnitOfWork, actor: m.Actor, subject_id: str, type_: str, **kw: Any) -> dict:
        """See :func:`consent.dsr.create`."""
        from consent import dsr

        return dsr.create(self, uow, actor, subject_id, type_, **kw)

    def get_request(self, uow: UnitOfWork, actor: m.Actor, dsr_id: str, **kw: Any) -> dict:
        """See :func:`consent.dsr.get`."""
        from consent import dsr

        return dsr.get(self, uow, actor, dsr_id, **kw)

    def search_requests(self, uow: UnitOfWork, actor: m.Actor, **kw: Any) -> list[dict]:
        """See :func:`consent.dsr.search`."""
        from consent import dsr

        return dsr.search(self, uow, actor, **kw)

    def advance_request(self, uow: UnitOfWork, actor: m.Actor, dsr_id: str, to_state: str, **kw: Any) -> dict:
        """See :func:`consent.dsr.advance`."""
        from consent import dsr

        return dsr.advance(self, uow, actor, dsr_id, to_state, **kw)

    def access_package(self, uow: UnitOfWork, actor: m.Actor, dsr_id: str, fmt: str, **kw: Any) -> tuple:
        """See :func:`consent.access.download`."""
        from consent import access

        return access.download(self, uow, actor, dsr_id, fmt, **kw)

    def ask_package_approval(self, actor: m.Actor, dsr_id: str, **kw: Any) -> tuple:
        """See :func:`consent.access.ask_approval`."""
        from consent import access

        return access.ask_approval(self, actor, dsr_id, **kw)

    def import_consents(self, uow: UnitOfWork, actor: m.Actor, content: bytes, fmt: str, **kw: Any) -> dict:
        """See :func:`consent.importer.run`."""
        from consent import importer

        return importer.run(self, uow, actor, content, fmt, **kw)

    def forget_erased(self, session: Session, subject_ids: Sequence[str]) -> int:
        """See :func:`consent.erasure.forget_restored` (``piivault keys replay-erasures``)."""
        from consent import erasure

        return erasure.forget_restored(session, list(subject_ids), self.clock())

    def run_jobs(self) -> Any:
        """See :func:`consent.jobs.run`."""
        from consent import jobs

        return jobs.run(self)


def _check_note(note: Any) -> None:
    if note is not None and (not isinstance(note, str) or len(note) > m.MAX_NOTE):
        raise InvalidConsent(f"note must be at most {m.MAX_NOTE} characters")


def _tombstone_exists(session: Session, subject_id: str) -> bool:
    return (
        session.execute(
            sa.select(t.tombstones.c.subject_id).where(t.tombstones.c.subject_id == subject_id)
        ).first()
        is not None
    )


def add_tombstone(
    session: Session,
    subject_id: str,
    erased_at: dt.datetime,
    dsr_id: str | None,
    certificate_id: str | None,
) -> None:
    insert_ignore(
        session,
        t.tombstones,
        {
            "subject_id": subject_id,
            "erased_at": erased_at,
            "dsr_id": dsr_id,
            "certificate_id": certificate_id,
        },
        ["subject_id"],
    )


def build_consent_service(
    settings: Any,
    *,
    session_factory: sessionmaker[Session],
    uow_factory: Callable[[], UnitOfWork],
    keyring: Keyring,
    catalogue: LivePurposeCatalogue,
    field_types: FieldTypeRegistry,
    audit: Any = None,
    subject_attributes: Any = None,
    widen_gate: Any = None,
    four_eyes: Any = None,
    client_names: Callable[[Session], dict[str, str]] | None = None,
) -> ConsentService:
    """The service as the composition root wires it (:class:`piivault.container.Container`); no I/O.

    The controller named in receipts, the relationship purposes and DSR due days come from
    the settings; everything else is a collaborator the root made.
    """
    clock = utcnow
    controller = Controller(
        name=settings.controller_name,
        contact=settings.controller_contact,
        address=settings.controller_address,
        email=settings.controller_email,
        phone=settings.controller_phone,
        url=settings.controller_url,
        policy_url=settings.privacy_policy_url,
        jurisdiction=settings.consent_jurisdiction,
        language=settings.consent_language,
    )
    return ConsentService(
        relationship_purposes=frozenset(settings.relationship_purposes),
        session_factory=session_factory,
        uow_factory=uow_factory,
        keyring=keyring,
        catalogue=catalogue,
        field_types=field_types,
        controller=controller,
        audit=audit,
        due_days=settings.dsr_due_days,
        clock=clock,
        time_zone=_time_zone(settings.customer_time_zone),
        subject_attributes=subject_attributes,
        widen_gate=widen_gate,
        four_eyes=four_eyes,
        client_names=client_names,
    )


def _time_zone(name: str) -> str:
    """``name`` if it is an IANA time zone; raises ConfigurationError otherwise."""
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(name)
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        raise ConfigurationError(
            "PIIVAULT_CUSTOMER_TIME_ZONE: not a time zone (e.g. Asia/Shanghai)"
        ) from None
    return name
