"""Counts over consent's tables for dashboards: open data-subject requests by due date, and
consent grants and withdrawals per purpose per day. Aggregates only, no subject, no PII.

Anything about one subject or one request is read through the use cases
(:mod:`consent.dsr`, :mod:`consent.consents`), which check roles and audit the read.
These run inside the caller's read session.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import zoneinfo
from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from consent import tables as t
from consent.dsr import OPEN
from privacy import tables as pt

_d, _r = t.dsr_requests.c, pt.records.c
SERIES_ACTIONS = ("grant", "withdraw")


@dataclasses.dataclass(frozen=True)
class DsrCounts:
    open: int
    overdue: int
    due_soon: int
    by_type: dict[str, int]


def dsr_counts(session: Session, now: dt.datetime, soon: dt.timedelta) -> DsrCounts:
    """Open requests: all, past due, due within ``soon``, and per type."""
    rows = session.execute(
        sa.select(
            _d.type,
            sa.func.count(),
            sa.func.sum(sa.case((_d.due_at < now, 1), else_=0)),
            sa.func.sum(sa.case((sa.and_(_d.due_at >= now, _d.due_at < now + soon), 1), else_=0)),
        )
        .where(_d.state.in_(OPEN))
        .group_by(_d.type)
    ).all()
    by_type = {kind: int(n) for kind, n, _, _ in rows}
    return DsrCounts(
        open=sum(by_type.values()),
        overdue=sum(int(o or 0) for _, _, o, _ in rows),
        due_soon=sum(int(s or 0) for _, _, _, s in rows),
        by_type=by_type,
    )


@dataclasses.dataclass(frozen=True)
class ConsentSeries:
    """Grants and withdrawals per purpose and local day, ``days`` ending today (in ``zone``)."""

    days: list[dt.date]
    purposes: dict[str, dict[str, list[int]]]  # purpose -> {"grant": [...], "withdraw": [...]}

    def total(self, purpose: str, action: str) -> int:
        return sum(self.purposes.get(purpose, {}).get(action, []))


def consent_series(session: Session, now: dt.datetime, zone: str, days: int) -> ConsentSeries:
    """Consent grants and withdrawals per purpose per day in the time zone ``zone``.

    Counted in 15-minute UTC buckets in SQL (every time zone's offset is a
    multiple of 15 minutes), then placed on local days here, so days are
    right across DST changes on both databases.
    """
    tz = zoneinfo.ZoneInfo(zone)
    today = now.astimezone(tz).date()
    first = today - dt.timedelta(days=days - 1)
    start = dt.datetime.combine(first, dt.time(), tz).astimezone(dt.UTC)
    bucket = _quarter_hour(session, _r.effective_at)
    rows = session.execute(
        sa.select(_r.purpose_code, _r.action, bucket, sa.func.count())
        .where(_r.effective_at >= start, _r.action.in_(SERIES_ACTIONS))
        .group_by(_r.purpose_code, _r.action, bucket)
    ).all()
    axis = [first + dt.timedelta(days=i) for i in range(days)]
    purposes: dict[str, dict[str, list[int]]] = defaultdict(lambda: {a: [0] * days for a in SERIES_ACTIONS})
    for purpose, action, when, count in rows:
        local = _bucket_time(when).astimezone(tz).date()
        index = (local - first).days
        if 0 <= index < days:
            purposes[purpose][action][index] += int(count)
    return ConsentSeries(axis, dict(sorted(purposes.items())))


def _quarter_hour(session: Session, column: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return sa.func.to_timestamp(sa.func.floor(sa.extract("epoch", column) / 900) * 900)
    # SQLite stores UTC text: "YYYY-MM-DD HH:" and the quarter's first minute.
    minute = sa.cast(sa.func.strftime("%M", column), sa.Integer) // 15 * 15
    return sa.func.strftime("%Y-%m-%d %H:", column, type_=sa.String) + sa.func.printf(
        "%02d", minute, type_=sa.String
    )


def _bucket_time(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return dt.datetime.strptime(value, "%Y-%m-%d %H:%M").replace(tzinfo=dt.UTC)
