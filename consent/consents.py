"""Consent records: append, and derive the current state from them.

History is append-only (the table's triggers refuse UPDATE); the current
consent of (subject, purpose) is its latest record by (effective time, id):
a grant or renewal (granted, expired or needing reconsent), a withdrawal or
an expiry. Functions run inside the caller's transaction.

:class:`ConsentRecords` owns the use cases: grant, renew, withdraw (each with a
receipt, :class:`consent.receipts.Receipts`) and read a subject's consents.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from audit.events import AuditEvent
from fieldtypes import FieldTypeRegistry
from piivault.db import UnitOfWork
from piivault.ids import new_id
from privacy import consent_check, subjects
from privacy import model as m
from privacy import purposes as _purposes
from privacy import tables as pt
from privacy.errors import ConsentConflict, InvalidConsent, SubjectGone
from privacy.guards import begin, require_purpose, require_role

if TYPE_CHECKING:
    from consent.receipts import Receipts
    from consent.subject_state import SubjectStates
    from privacy.catalogue import LivePurposeCatalogue

_r, _p = pt.records.c, pt.purposes.c
RECORD_COLUMNS = (
    _r.record_id,
    _r.subject_id,
    _r.purpose_code,
    _r.action,
    _r.notice_version,
    _r.separate,
    _r.channel,
    _r.effective_at,
    _r.expires_at,
    _r.evidence,
    _r.source,
    _r.recorded_by,
    _r.recorded_at,
    _r.receipt_id,
)


def check_evidence(evidence: Any, field_types: FieldTypeRegistry) -> str | None:
    """``evidence`` if it is None, a digest, or a reference holding no personal identifier.

    Evidence is kept in the history and the signed receipt for good, so a
    reference that is a mobile or ID number (``ref:13812345678``) is refused
    by the same check as ids. Raises :class:`InvalidConsent` saying the rule.
    """
    if evidence is None:
        return None
    if not isinstance(evidence, str) or not m.EVIDENCE.fullmatch(evidence):
        raise InvalidConsent(
            "evidence must be sha256:<64 hex>, sm3:<64 hex>, sha512:<128 hex> or ref:<reference>"
        )
    if evidence.startswith("ref:") and field_types.holds_identifier(evidence[4:]):
        raise InvalidConsent("evidence must not hold a personal identifier: give a digest or a reference id")
    return evidence


def record_dict(row: Any) -> dict[str, Any]:
    return {
        "record_id": row.record_id,
        "subject_id": row.subject_id,
        "purpose": row.purpose_code,
        "action": row.action,
        "notice_version": row.notice_version,
        "separate": bool(row.separate),
        "channel": row.channel,
        "effective_at": row.effective_at,
        "expires_at": row.expires_at,
        "evidence": row.evidence,
        "source": row.source,
        "recorded_by": row.recorded_by,
        "recorded_at": row.recorded_at,
        "receipt_id": row.receipt_id,
    }


def append(session: Session, **fields: Any) -> dict[str, Any]:
    """Append one record; returns it (with its new ``record_id``)."""
    row = {
        "record_id": new_id("cns_"),
        "notice_version": None,
        "separate": False,
        "channel": None,
        "expires_at": None,
        "evidence": None,
        "receipt_id": None,
        "request_id": None,
        "expiry_of": None,
        **fields,
    }
    session.execute(pt.records.insert().values(**row))
    return {
        "record_id": row["record_id"],
        "subject_id": row["subject_id"],
        "purpose": row["purpose_code"],
        "action": row["action"],
        "notice_version": row["notice_version"],
        "separate": row["separate"],
        "channel": row["channel"],
        "effective_at": row["effective_at"],
        "expires_at": row["expires_at"],
        "evidence": row["evidence"],
        "source": row["source"],
        "recorded_by": row["recorded_by"],
        "recorded_at": row["recorded_at"],
        "receipt_id": row["receipt_id"],
    }


def state_of(row: Any, accepted: int, grace: bool, now: dt.datetime) -> m.ConsentState:
    """The consent state a latest record (a row of :data:`RECORD_COLUMNS`) stands for."""
    verdict = consent_check.verdict(
        row.action, row.notice_version, row.expires_at, bool(row.separate), accepted, grace, now
    )
    if row.action == m.WITHDRAW:
        state = m.WITHDRAWN
    elif verdict.reason == m.REASON_EXPIRED:
        state = m.EXPIRED
    elif (row.notice_version or 0) < accepted:
        state = m.RECONSENT_REQUIRED
    else:
        state = m.GRANTED
    return m.ConsentState(
        subject_id=row.subject_id,
        purpose=row.purpose_code,
        state=state,
        separate=bool(row.separate) and row.action in (m.GRANT, m.RENEW),
        notice_version=row.notice_version,
        effective_at=row.effective_at,
        expires_at=row.expires_at,
        record_id=row.record_id,
        counts=verdict.granted,
    )


def latest(session: Session, subject_id: str, purpose: str) -> Any | None:
    """The latest record of (subject, purpose) with the purpose's notice settings, or None."""
    return session.execute(
        sa.select(*RECORD_COLUMNS, _p.accepted_notice_version, _p.reconsent_grace)
        .join_from(pt.records, pt.purposes, _p.code == _r.purpose_code)
        .where(_r.subject_id == subject_id, _r.purpose_code == purpose)
        .order_by(_r.effective_at.desc(), _r.id.desc())
        .limit(1)
    ).first()


def current(session: Session, subject_id: str, purpose: str, now: dt.datetime) -> m.ConsentState | None:
    row = latest(session, subject_id, purpose)
    if row is None:
        return None
    return state_of(row, row.accepted_notice_version, bool(row.reconsent_grace), now)


def current_all(session: Session, subject_id: str, now: dt.datetime) -> list[m.ConsentState]:
    """The subject's current consent per purpose (purposes never consented to are absent)."""
    rows = session.execute(
        sa.select(*RECORD_COLUMNS, _p.accepted_notice_version, _p.reconsent_grace)
        .join_from(pt.records, pt.purposes, _p.code == _r.purpose_code)
        .where(_r.subject_id == subject_id)
        .order_by(_r.purpose_code, _r.effective_at, _r.id)
    ).all()
    last: dict[str, Any] = {}
    for row in rows:
        last[row.purpose_code] = row
    return [state_of(r, r.accepted_notice_version, bool(r.reconsent_grace), now) for r in last.values()]


def recorded(session: Session, subject_id: str) -> bool:
    """Whether any consent (given or withdrawn) was ever recorded for the subject."""
    found = session.execute(sa.select(_r.subject_id).where(_r.subject_id == subject_id).limit(1)).first()
    return found is not None


def history(session: Session, subject_id: str, purpose: str | None = None) -> list[dict[str, Any]]:
    """Every record of the subject (for one purpose if given), in effect order."""
    stmt = sa.select(*RECORD_COLUMNS).where(_r.subject_id == subject_id)
    if purpose is not None:
        stmt = stmt.where(_r.purpose_code == purpose)
    return [record_dict(r) for r in session.execute(stmt.order_by(_r.effective_at, _r.id))]


def delete_subject(session: Session, subject_id: str) -> int:
    """Erasure only: remove the subject's consent history. Returns how many records."""
    result = session.execute(pt.records.delete().where(_r.subject_id == subject_id))
    return int(result.rowcount or 0)


@dataclasses.dataclass(frozen=True)
class ConsentRecords:
    """Recording consents and reading them back (see the module)."""

    session_factory: sessionmaker[Session]
    catalogue: LivePurposeCatalogue
    field_types: FieldTypeRegistry
    clock: Callable[[], dt.datetime]
    subjects: SubjectStates
    receipts: Receipts

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
        self.subjects.check_subject_id(subject_id)
        if channel not in m.CHANNELS:
            raise InvalidConsent(f"channel must be one of: {', '.join(m.CHANNELS)}")
        check_evidence(evidence, self.field_types)
        effective = now if effective_at is None else effective_at
        if effective.tzinfo is None:
            raise InvalidConsent("times must carry a time zone")
        if effective > now:
            raise InvalidConsent("effective_at must not be in the future")
        purpose = _purposes.require(session, purpose_code)
        require_purpose(actor, purpose.code, "record consent")
        subjects.keep_from_erasure(session, [subject_id])  # the record and receipt go with an erasure
        if self.subjects.erased(session, subject_id):
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
        require_role(actor, m.CONSENT_ROLES, "record consent")
        session = begin(self.catalogue, uow)
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
        previous = current(session, subject_id, purpose.code, now)
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
        record = append(
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
        self.receipts.issue_consent_receipt(
            session, receipt_id, action, record, purpose, f"consent.{action}", now
        )
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
            state = current(session, record["subject_id"], purpose.code, now)
        return {
            "record": record,
            "consent": None if state is None else state.to_dict(),
            "receipt_id": receipt_id,
            "receipt": self.receipts.finalize_receipt(receipt_id),
        }

    def grant(self, uow: UnitOfWork, actor: m.Actor, subject_id: str, purpose: str, **kw: Any) -> dict:
        """Record a consent: ``channel`` (app, branch, phone, web), optional ``notice_version``
        (default: the current notice), ``separate``, ``expires_at``, ``evidence``,
        ``effective_at`` (default now), ``request_id``.

        Returns ``{record, consent, receipt_id, receipt}`` (the signed receipt,
        None if signing must wait: read it later). Raises NotAllowed,
        InvalidConsent, PurposeNotFound, SubjectGone, StorageUnavailable.
        """
        return self._grant_like(uow, actor, m.GRANT, subject_id, purpose, **_grant_args(kw, separate=False))

    def renew(self, uow: UnitOfWork, actor: m.Actor, subject_id: str, purpose: str, **kw: Any) -> dict:
        """Renew a granted or expired consent (new expiry, optionally the current notice).

        Arguments and result as :meth:`grant` (``separate`` defaults to the
        previous consent's). Raises as :meth:`grant`, and ConsentConflict when
        there is no consent or it was withdrawn.
        """
        return self._grant_like(uow, actor, m.RENEW, subject_id, purpose, **_grant_args(kw, separate=None))

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
        require_role(actor, m.CONSENT_ROLES, "record consent")
        session = begin(self.catalogue, uow)
        now = self.clock()
        record, found = self.withdraw_in(
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
        return self._answer(record, found, record["receipt_id"], now)

    def withdraw_in(
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
        """Withdraw in the caller's unit of work, uncommitted (a withdraw-all request withdraws
        every consent in its own): the record and its purpose. Raises as :meth:`withdraw`."""
        purpose, effective = self._consent_args(
            session, actor, subject_id, purpose_code, channel, evidence, effective_at, now
        )
        previous = latest(session, subject_id, purpose.code)
        if previous is None or previous.action not in (m.GRANT, m.RENEW):
            raise ConsentConflict("there is no consent to withdraw")
        if effective < previous.effective_at:
            raise InvalidConsent("effective_at must not be before the consent it withdraws")
        receipt_id = new_id("rct_")
        record = append(
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
        self.receipts.issue_consent_receipt(
            session, receipt_id, m.WITHDRAW, record, purpose, "consent.withdraw", now
        )
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
        require_role(actor, m.CONSENT_ROLES, "read consents")
        session = begin(self.catalogue, uow)
        self.subjects.check_subject_id(subject_id)
        now = self.clock()
        found = [s.to_dict() for s in current_all(session, subject_id, now) if actor.acts_for(s.purpose)]
        records = [r for r in history(session, subject_id) if actor.acts_for(r["purpose"])]
        uow.record(
            AuditEvent(
                action="consent.read",
                actor=actor.name,
                subject_id=subject_id,
                request_id=request_id,
                details={"records": len(records)},
            )
        )
        uow.commit()
        return {"subject_id": subject_id, "consents": found, "history": records}


def _grant_args(kw: dict[str, Any], *, separate: bool | None) -> dict[str, Any]:
    """A grant's or renewal's keyword arguments, each defaulted (``separate`` as given)."""
    names = ("channel", "notice_version", "expires_at", "evidence", "effective_at", "request_id")
    return {"separate": kw.get("separate", separate), **{name: kw.get(name) for name in names}}
