"""The consent check on the detokenize path: one indexed query, no cache.

The verdict is derived from the latest consent record of (subject, purpose)
and the purpose's accepted notice versions, read in the caller's transaction,
so a withdrawal committed before a request began is seen by that request:
nothing may serve a withdrawn consent from memory.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from consent import model as m
from consent import tables as t
from tokenization.policy.consent import ConsentVerdict

NO_CONSENT = ConsentVerdict(granted=False, separate=False, reason=m.REASON_NO_CONSENT)
WITHDRAWN = ConsentVerdict(granted=False, separate=False, reason=m.REASON_WITHDRAWN)
EXPIRED = ConsentVerdict(granted=False, separate=False, reason=m.REASON_EXPIRED)
RECONSENT = ConsentVerdict(granted=False, separate=False, reason=m.REASON_RECONSENT)
GRANTED = ConsentVerdict(granted=True, separate=False, reason=m.REASON_GRANTED)
GRANTED_SEPARATELY = ConsentVerdict(granted=True, separate=True, reason=m.REASON_GRANTED)

_r, _p = t.records.c, t.purposes.c
LATEST = (
    sa.select(
        _r.action,
        _r.notice_version,
        _r.expires_at,
        _r.separate,
        _p.accepted_notice_version,
        _p.reconsent_grace,
    )
    .join_from(t.records, t.purposes, _p.code == _r.purpose_code)
    .where(_r.subject_id == sa.bindparam("subject"), _r.purpose_code == sa.bindparam("purpose"))
    .order_by(_r.effective_at.desc(), _r.id.desc())
    .limit(1)
)


def latest_order() -> tuple[sa.ColumnElement, ...]:
    """The order in which a subject's records for one purpose follow each other."""
    return (_r.effective_at, _r.id)


def verdict(
    action: str,
    notice_version: int | None,
    expires_at: dt.datetime | None,
    separate: bool,
    accepted_notice_version: int,
    reconsent_grace: bool,
    now: dt.datetime,
) -> ConsentVerdict:
    """The verdict of one latest record (pure)."""
    if action == m.WITHDRAW:
        return WITHDRAWN
    if action == m.EXPIRE or (expires_at is not None and expires_at <= now):
        return EXPIRED
    if (notice_version or 0) < accepted_notice_version and not reconsent_grace:
        return RECONSENT
    return GRANTED_SEPARATELY if separate else GRANTED


def check(session: Session, subject_id: str | None, purpose: str, now: dt.datetime) -> ConsentVerdict:
    """Has ``subject_id`` a valid consent to ``purpose`` at ``now``?

    Reasons when not: "no consent", "withdrawn", "expired", "reconsent
    required". ``subject_id`` None (a standalone token) has no consent.
    Raises SQLAlchemy errors of the caller's session (the caller maps them).
    """
    if subject_id is None:
        return NO_CONSENT
    row = session.execute(LATEST, {"subject": subject_id, "purpose": purpose}).first()
    if row is None:
        return NO_CONSENT
    return verdict(*row, now)
