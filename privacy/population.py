"""Who may be used for a purpose, decided for every subject at once (extract populations).

The per-request path (:func:`privacy.consent_check.check`, asked by the policy decision
point :func:`privacy.decide`) answers for one subject; an extract
needs the answer for all of them. :func:`eligible_subjects` gives it in three
queries - subjects and their states, the latest consent record of every
subject for the purpose (a window function), the holds that exempt a
restricted subject - and applies the same rules in the same order:

1. erased -> excluded;
2. restricted -> excluded, unless an active hold lets ``role`` use the
   subject for this purpose (:func:`privacy.holds.exempts`);
3. when the purpose needs consent: the latest record's verdict
   (:func:`privacy.consent_check.verdict`, the very function the per-request check
   uses: withdrawn, expired, reconsent required, or no consent at all);
4. a separate consent where the purpose or a PIPL-sensitive field type needs it.

A purpose whose legal basis is not consent needs steps 1 and 2 only. Nothing
here is cached: a withdrawal committed before the call is seen by it.
Functions run inside the caller's transaction and audit nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections import Counter

import sqlalchemy as sa
from sqlalchemy.orm import Session

from privacy import consent_check, holds, subjects
from privacy import model as m
from privacy import tables as pt
from privacy.verdict import ConsentVerdict

# Exclusion reasons as counted in an extract's report (consent's verdict reasons, snake_case).
ERASED, RESTRICTED = "erased", "restricted"
SEPARATE_MISSING = "separate_consent_missing"
_REASONS = {
    m.REASON_NO_CONSENT: "no_consent",
    m.REASON_WITHDRAWN: "withdrawn",
    m.REASON_EXPIRED: "expired",
    m.REASON_RECONSENT: "reconsent_required",
}
_r, _s, _h = pt.records.c, pt.subjects.c, pt.holds.c


@dataclasses.dataclass(frozen=True)
class PopulationDecision:
    """The subjects ``purpose`` may use (sorted) and how many were left out, by reason."""

    eligible: tuple[str, ...]
    excluded: dict[str, int]


def latest_verdicts(session: Session, purpose: m.PurposeDef, now: dt.datetime) -> dict[str, ConsentVerdict]:
    """The consent verdict of every subject with a consent record for ``purpose``, at ``now``.

    Subjects never asked are absent (their verdict is "no consent"). The
    latest record is chosen by (effective time, id), as the per-request check does.
    """
    order = sa.func.row_number().over(
        partition_by=_r.subject_id, order_by=(_r.effective_at.desc(), _r.id.desc())
    )
    ranked = (
        sa.select(
            _r.subject_id, _r.action, _r.notice_version, _r.expires_at, _r.separate, order.label("rank")
        )
        .where(_r.purpose_code == purpose.code)
        .subquery()
    )
    rows = session.execute(
        sa.select(
            ranked.c.subject_id,
            ranked.c.action,
            ranked.c.notice_version,
            ranked.c.expires_at,
            ranked.c.separate,
        ).where(ranked.c.rank == 1)
    )
    return {
        subject_id: consent_check.verdict(
            action,
            notice_version,
            expires_at,
            bool(separate),
            purpose.accepted_notice_version,
            purpose.reconsent_grace,
            now,
        )
        for subject_id, action, notice_version, expires_at, separate in rows
    }


def _exempt(session: Session, purpose: str, role: str, now: dt.datetime) -> set[str]:
    """Subjects an active hold lets ``role`` use for ``purpose`` although restricted.

    The same "active" condition as :func:`privacy.holds.exempts` (one subject at a time).
    """
    rows = session.execute(
        sa.select(_h.subject_id, _h.roles).where(_h.purpose_code == purpose, holds.active_at(now))
    )
    return {subject_id for subject_id, roles in rows if role in json.loads(roles)}


def eligible_subjects(
    session: Session, purpose: m.PurposeDef, now: dt.datetime, *, role: str, sensitive: bool
) -> PopulationDecision:
    """Every subject ``role`` may use for ``purpose`` at ``now``, and the others counted by reason.

    ``sensitive``: the use reads a PIPL-sensitive field type (a separate
    consent is then needed, as for detokenizing one). Reasons: erased,
    restricted, no_consent, withdrawn, expired, reconsent_required,
    separate_consent_missing. Raises SQLAlchemy errors of the caller's session.
    """
    states = session.execute(sa.select(_s.subject_id, _s.state).where(_s.kind == subjects.SUBJECT)).all()
    verdicts = latest_verdicts(session, purpose, now) if purpose.consent_required else {}
    restricted = [sid for sid, state in states if state == subjects.RESTRICTED]
    exempt = _exempt(session, purpose.code, role, now) if restricted else set()
    separate = purpose.separate_consent_required or sensitive
    eligible: list[str] = []
    excluded: Counter[str] = Counter()
    for subject_id, state in states:
        if state == subjects.ERASED:
            excluded[ERASED] += 1
        elif state == subjects.RESTRICTED and subject_id not in exempt:
            excluded[RESTRICTED] += 1
        elif purpose.consent_required:
            verdict = verdicts.get(subject_id, consent_check.NO_CONSENT)
            if not verdict.granted:
                excluded[_REASONS.get(verdict.reason, "no_consent")] += 1
            elif separate and not verdict.separate:
                excluded[SEPARATE_MISSING] += 1
            else:
                eligible.append(subject_id)
        else:
            eligible.append(subject_id)
    return PopulationDecision(tuple(sorted(eligible)), dict(sorted(excluded.items())))
