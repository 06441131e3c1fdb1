"""The consent check on the detokenize path: one indexed lookup, no cache.

The verdict is derived from the latest consent record of (subject, purpose)
and the purpose's accepted notice versions, read in the caller's transaction,
so a withdrawal committed before a request began is seen by that request:
nothing may serve a withdrawn consent from memory.

Two forms of the same lookup: :func:`check`, one query for one subject, and
:func:`joined`, the lookup folded into the query that loads the tokens (a
correlated subquery for the latest record of each row's subject), which costs
no round trip of its own and answers for every subject of a batch at once.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from privacy import model as m
from privacy import tables as pt
from privacy.verdict import ConsentVerdict, JoinedConsent

NO_CONSENT = ConsentVerdict(granted=False, separate=False, reason=m.REASON_NO_CONSENT)
WITHDRAWN = ConsentVerdict(granted=False, separate=False, reason=m.REASON_WITHDRAWN)
EXPIRED = ConsentVerdict(granted=False, separate=False, reason=m.REASON_EXPIRED)
RECONSENT = ConsentVerdict(granted=False, separate=False, reason=m.REASON_RECONSENT)
GRANTED = ConsentVerdict(granted=True, separate=False, reason=m.REASON_GRANTED)
GRANTED_SEPARATELY = ConsentVerdict(granted=True, separate=True, reason=m.REASON_GRANTED)

_r, _p = pt.records.c, pt.purposes.c
LATEST = (
    sa.select(
        _r.action,
        _r.notice_version,
        _r.expires_at,
        _r.separate,
        _p.accepted_notice_version,
        _p.reconsent_grace,
    )
    .join_from(pt.records, pt.purposes, _p.code == _r.purpose_code)
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


def joined(subject: sa.ColumnElement[Any], purpose: str, now: dt.datetime) -> JoinedConsent:
    """:func:`check` for the subject of each row of the caller's query, inside that query.

    Rows whose subject is NULL (standalone tokens) or has no record get "no
    consent". The columns and the join are built once per (column, purpose),
    so a caller can keep the statement it builds from them.
    """
    columns, join = _joined(subject, purpose)

    def verdict_of(values: Sequence[Any]) -> ConsentVerdict:
        # No record, or (as check's inner join has it) a record of a purpose no longer stored.
        return NO_CONSENT if values[0] is None or values[4] is None else verdict(*values, now)

    return JoinedConsent(columns, join, verdict_of)


@functools.lru_cache(maxsize=256)
def _joined(
    subject: sa.ColumnElement[Any], purpose: str
) -> tuple[tuple[sa.ColumnElement[Any], ...], Callable[[sa.Select[Any]], sa.Select[Any]]]:
    latest_id = (
        sa.select(_r.id)
        .where(_r.subject_id == subject, _r.purpose_code == purpose)
        .order_by(_r.effective_at.desc(), _r.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    record = pt.records.alias("latest_consent")
    of = pt.purposes.alias("latest_consent_purpose")
    r, p = record.c, of.c
    columns = (r.action, r.notice_version, r.expires_at, r.separate)
    columns += (p.accepted_notice_version, p.reconsent_grace)

    def join(query: sa.Select[Any]) -> sa.Select[Any]:
        return query.outerjoin(record, r.id == latest_id).outerjoin(of, p.code == r.purpose_code)

    return columns, join
