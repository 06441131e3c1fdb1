"""Consent records: append, and derive the current state from them.

History is append-only (the table's triggers refuse UPDATE); the current
consent of (subject, purpose) is its latest record by (effective time, id):
a grant or renewal (granted, expired or needing reconsent), a withdrawal or
an expiry. Functions run inside the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from consent import check
from consent import model as m
from consent import tables as t
from consent.errors import InvalidConsent
from piivault.ids import new_id
from tokenization.fieldtypes import FieldTypeRegistry

_r, _p = t.records.c, t.purposes.c
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
    session.execute(t.records.insert().values(**row))
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
    verdict = check.verdict(
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
        .join_from(t.records, t.purposes, _p.code == _r.purpose_code)
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
        .join_from(t.records, t.purposes, _p.code == _r.purpose_code)
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
    result = session.execute(t.records.delete().where(_r.subject_id == subject_id))
    return int(result.rowcount or 0)
