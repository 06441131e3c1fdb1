"""Retention and legal holds: what keeps an erased subject's data, for whom, until when.

* A **retention hold** comes from a purpose's retention rule, e.g. ``aml_kyc``:
  "5 years after the relationship ends". It applies to a subject who has or
  had the relationship the rule counts from - a customer relationship was
  opened (``POST /v1/subjects/{id}/open``) - and holds data of a field type
  the purpose covers; a lead that only left a mobile for marketing never had
  one, and is shredded on erasure. It ends ``retention_years`` after the
  relationship was closed (``POST /v1/subjects/{id}/close``) and has no end
  date while the relationship lasts: its ``ends_when`` says what ends it.
* A **legal hold** is placed by the DPO, with a reason and an end date.

While a hold is active, erasure restricts the subject instead of shredding it
and schedules the shred for the last hold's end. A restricted subject is
denied every purpose except an active hold's own, for the roles the hold
names (:func:`exempts`).

Functions here run inside the caller's transaction and audit nothing. The DPO's use
cases (list, place, release) and the retention holds a subject's data calls for are
:mod:`consent.holds`'.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from piivault.ids import new_id
from piivault.sql import insert_ignore
from privacy import model as m
from privacy import tables as pt

RETENTION, LEGAL = "retention", "legal"
LEGAL_REASONS = ("litigation", "regulatory_investigation", "law_enforcement", "audit", "other")
RELEASE_REASONS = ("ended", "withdrawn_by_dpo", "court_order", "erased", "other")
_h = pt.holds.c


def active_at(now: dt.datetime) -> sa.ColumnElement[bool]:
    """The condition of a hold active at ``now``: not released, and no end or a later one."""
    return sa.and_(_h.released_at.is_(None), sa.or_(_h.ends_at.is_(None), _h.ends_at > now))


def ends_when(kind: str, retention_years: int | None) -> str:
    """What ends a hold, in words (a retention hold has no end date while the relationship lasts)."""
    if kind == RETENTION and retention_years:
        unit = "year" if retention_years == 1 else "years"
        return f"{retention_years} {unit} after the relationship closes"
    return "its end date, or its release by the DPO"


# A hold's row with its purpose's retention period (for ``ends_when``).
_SELECT = sa.select(pt.holds, pt.purposes.c.retention_years).outerjoin(
    pt.purposes, pt.purposes.c.code == _h.purpose_code
)


def _dict(row: Any) -> dict[str, Any]:
    return {
        "hold_id": row.hold_id,
        "subject_id": row.subject_id,
        "kind": row.kind,
        "purpose": row.purpose_code,
        "roles": json.loads(row.roles),
        "reason_code": row.reason_code,
        "note": row.note,
        "starts_at": row.starts_at,
        "ends_at": row.ends_at,
        "ends_when": ends_when(row.kind, row.retention_years),
        "retention_years": row.retention_years if row.kind == RETENTION else None,
        "placed_by": row.placed_by,
        "released_at": row.released_at,
        "released_by": row.released_by,
        "release_reason": row.release_reason,
    }


def active(session: Session, subject_id: str, now: dt.datetime) -> list[dict[str, Any]]:
    """The subject's holds in force at ``now`` (no end yet counts as in force)."""
    rows = session.execute(_SELECT.where(_h.subject_id == subject_id, active_at(now)).order_by(_h.starts_at))
    return [_dict(r) for r in rows]


def of_subject(session: Session, subject_id: str) -> list[dict[str, Any]]:
    rows = session.execute(_SELECT.where(_h.subject_id == subject_id).order_by(_h.starts_at))
    return [_dict(r) for r in rows]


def get(session: Session, hold_id: str) -> dict[str, Any] | None:
    row = session.execute(_SELECT.where(_h.hold_id == hold_id)).first()
    return None if row is None else _dict(row)


def exempts(session: Session, subject_id: str, purpose: str, role: str, now: dt.datetime) -> bool:
    """Whether an active hold lets ``role`` use a restricted subject's data for ``purpose``."""
    rows = session.execute(
        sa.select(_h.roles).where(_h.subject_id == subject_id, _h.purpose_code == purpose, active_at(now))
    )
    return any(role in json.loads(roles) for (roles,) in rows)


def last_end(holds: list[dict[str, Any]]) -> tuple[bool, dt.datetime | None]:
    """(whether every hold has an end, the latest end)."""
    ends = [h["ends_at"] for h in holds]
    if any(e is None for e in ends):
        return False, None
    return True, max(ends) if ends else None


def retention_purposes(purposes: list[m.PurposeDef], held_field_types: set[str]) -> list[m.PurposeDef]:
    """The active purposes with a retention rule that applies to data of these field types."""
    return [
        p
        for p in purposes
        if p.active
        and p.retention_anchor == "relationship_end"
        and p.retention_years
        and held_field_types
        and (p.field_types is None or held_field_types & set(p.field_types))
    ]


def ensure_retention(
    session: Session,
    subject_id: str,
    purposes: list[m.PurposeDef],
    closed_at: dt.datetime | None,
    actor: str,
    now: dt.datetime,
) -> list[str]:
    """Create the subject's retention holds for ``purposes``; date their end once it is closed.

    Idempotent (one hold per subject and purpose). Returns the hold ids.
    """
    ids = []
    for purpose in purposes:
        assert purpose.retention_years is not None
        ends_at = m.add_years(closed_at, purpose.retention_years) if closed_at else None
        key = f"{subject_id}:{purpose.code}"
        insert_ignore(
            session,
            pt.holds,
            {
                "hold_id": new_id("hld_"),
                "subject_id": subject_id,
                "kind": RETENTION,
                "purpose_code": purpose.code,
                "roles": json.dumps(list(purpose.hold_roles)),
                "reason_code": "retention_rule",
                "note": None,
                "retention_key": key,
                "starts_at": now,
                "ends_at": ends_at,
                "placed_by": actor,
            },
            ["retention_key"],
        )
        if ends_at is not None:
            session.execute(
                pt.holds.update()
                .where(_h.retention_key == key, _h.ends_at.is_(None), _h.released_at.is_(None))
                .values(ends_at=ends_at)
            )
        ids.append(session.scalar(sa.select(_h.hold_id).where(_h.retention_key == key)))
    return ids


def place_legal(
    session: Session,
    subject_id: str,
    *,
    purpose: str | None,
    roles: list[str],
    reason_code: str,
    note: str | None,
    ends_at: dt.datetime,
    actor: str,
    now: dt.datetime,
) -> dict[str, Any]:
    """Place a legal hold (arguments checked by the caller); return it."""
    hold_id = new_id("hld_")
    session.execute(
        pt.holds.insert().values(
            hold_id=hold_id,
            subject_id=subject_id,
            kind=LEGAL,
            purpose_code=purpose,
            roles=json.dumps(roles),
            reason_code=reason_code,
            note=note,
            retention_key=None,
            starts_at=now,
            ends_at=ends_at,
            placed_by=actor,
        )
    )
    found = get(session, hold_id)
    assert found is not None
    return found


def release(session: Session, hold_id: str, reason: str, actor: str, now: dt.datetime) -> bool:
    """Release a hold now; False if it was released already."""
    result = session.execute(
        pt.holds.update()
        .where(_h.hold_id == hold_id, _h.released_at.is_(None))
        .values(released_at=now, released_by=actor, release_reason=reason)
    )
    return bool(result.rowcount)


def release_all(session: Session, subject_id: str, reason: str, actor: str, now: dt.datetime) -> int:
    result = session.execute(
        pt.holds.update()
        .where(_h.subject_id == subject_id, _h.released_at.is_(None))
        .values(released_at=now, released_by=actor, release_reason=reason, note=None)
    )
    return int(result.rowcount or 0)
