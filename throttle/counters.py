"""A counter per key within a window, locked for a while once it reaches a limit.

Counters live in the database, so every worker and process sees the same ones.
A key is locked for ``lock_for`` once it reaches ``limit`` within ``window`` of
its first count; while locked, further counts do not extend the lock. Keys are
opaque strings of at most 64 characters (callers store hashes, never what
someone typed). The console's sign-in lock-out passes its own table
(``console_lockouts``, the same columns); everything else uses
``throttle_counters`` (migration ``0011_limits``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from piivault.db import UTCDateTime, metadata
from piivault.sql import for_update, insert_ignore


def counter_table(name: str) -> sa.Table:
    """A table of counters: key, count in the current window, its start, the lock's end."""
    return sa.Table(
        name,
        metadata,
        sa.Column("key_hash", sa.String(64), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("window_started_at", UTCDateTime, nullable=False),
        sa.Column("locked_until", UTCDateTime, nullable=True),
    )


counters = counter_table("throttle_counters")


@dataclasses.dataclass(frozen=True)
class Policy:
    limit: int
    window: dt.timedelta
    lock_for: dt.timedelta


def locked_until(
    session: Session, key: str, now: dt.datetime, *, table: sa.Table = counters
) -> dt.datetime | None:
    """When the lock on ``key`` ends, or None if it is not locked at ``now``."""
    until = session.scalar(sa.select(table.c.locked_until).where(table.c.key_hash == key))
    return until if until is not None and until > now else None


def locked_until_column(key_param: str, *, table: sa.Table = counters) -> sa.ScalarSelect[dt.datetime]:
    """The stored lock end of the key bound to ``key_param``, as a column another query can carry
    (NULL without a counter); compare it with the time as :func:`locked_until` does."""
    c = table.c
    return sa.select(c.locked_until).where(c.key_hash == sa.bindparam(key_param)).scalar_subquery()


def fail(
    session: Session,
    key: str,
    policy: Policy,
    now: dt.datetime,
    *,
    count: int = 1,
    table: sa.Table = counters,
) -> bool:
    """Count ``count`` failures for ``key`` (in the caller's transaction); True if it is now locked."""
    c = table.c
    insert_ignore(
        session,
        table,
        {"key_hash": key, "failures": 0, "window_started_at": now, "locked_until": None},
        ["key_hash"],
    )
    row = session.execute(for_update(sa.select(table).where(c.key_hash == key), session)).one()
    if row.locked_until is not None and row.locked_until > now:
        return True
    failures, started = row.failures, row.window_started_at
    if now - started >= policy.window:
        failures, started = 0, now
    failures += count
    locked = failures >= policy.limit
    session.execute(
        table.update()
        .where(c.key_hash == key)
        .values(
            failures=0 if locked else failures,
            window_started_at=now if locked else started,
            locked_until=now + policy.lock_for if locked else None,
        )
    )
    return locked


def clear(session: Session, key: str, *, table: sa.Table = counters) -> None:
    """Forget ``key``'s failures."""
    session.execute(table.delete().where(table.c.key_hash == key))


def forget_stale(
    session: Session, now: dt.datetime, older_than: dt.timedelta, *, table: sa.Table = counters
) -> None:
    """Drop counters whose window and lock are long over, so guessed keys do not pile up."""
    cutoff = now - older_than
    c = table.c
    session.execute(
        table.delete().where(
            c.window_started_at < cutoff, sa.or_(c.locked_until.is_(None), c.locked_until < cutoff)
        )
    )
