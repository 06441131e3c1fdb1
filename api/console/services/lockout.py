"""Lock-out after repeated failed sign-ins, per username and per client address.

Counters live in the database, so every worker and process sees the same
ones. A key is locked for ``lock_for`` once it reaches ``limit`` failures
within ``window`` of its first; while locked, further failures do not extend
the lock. Keys are stored as HMAC-SHA256 of ``user:<name>`` or
``addr:<address>`` under the system data key ``console-lockout`` (a DEK
wrapped by the Vault KEK, as the API keys' digests are): what someone typed as
a username (sometimes a password) and the client addresses are never kept,
and a copy of the table cannot be searched for them without the key.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from api.console import tables as t
from consent.store import for_update, insert_ignore
from vault import Keyring

_l = t.lockouts.c
KEY_NAME = "console-lockout"
_LABEL = "console-lockout"


def keys(session: Session, keyring: Keyring, username: str | None, address: str) -> tuple[str | None, str]:
    """The counter keys of a username (None for none) and of a client address.

    Raises what :meth:`vault.Keyring.system_key` raises (the key is created on first use).
    """
    key = keyring.system_key(session, KEY_NAME)
    user = None if not username else key.keyed_hash(_LABEL, f"user:{username}".encode()).hex()
    return user, key.keyed_hash(_LABEL, f"addr:{address}".encode()).hex()


@dataclasses.dataclass(frozen=True)
class Policy:
    limit: int
    window: dt.timedelta
    lock_for: dt.timedelta


def locked_until(session: Session, key: str, now: dt.datetime) -> dt.datetime | None:
    """When the lock on ``key`` ends, or None if it is not locked at ``now``."""
    until = session.scalar(sa.select(_l.locked_until).where(_l.key_hash == key))
    return until if until is not None and until > now else None


def fail(session: Session, key: str, policy: Policy, now: dt.datetime) -> bool:
    """Count one failure for ``key`` (in the caller's transaction); True if it is now locked."""
    insert_ignore(
        session,
        t.lockouts,
        {"key_hash": key, "failures": 0, "window_started_at": now, "locked_until": None},
        ["key_hash"],
    )
    row = session.execute(for_update(sa.select(t.lockouts).where(_l.key_hash == key), session)).one()
    if row.locked_until is not None and row.locked_until > now:
        return True
    failures, started = row.failures, row.window_started_at
    if now - started >= policy.window:
        failures, started = 0, now
    failures += 1
    locked = failures >= policy.limit
    session.execute(
        t.lockouts.update()
        .where(_l.key_hash == key)
        .values(
            failures=0 if locked else failures,
            window_started_at=now if locked else started,
            locked_until=now + policy.lock_for if locked else None,
        )
    )
    return locked


def clear(session: Session, key: str) -> None:
    """Forget ``key``'s failures (a successful sign-in of that user)."""
    session.execute(t.lockouts.delete().where(_l.key_hash == key))


def forget_stale(session: Session, now: dt.datetime, older_than: dt.timedelta) -> None:
    """Drop counters whose window and lock are long over, so guessed usernames do not pile up."""
    cutoff = now - older_than
    session.execute(
        t.lockouts.delete().where(
            _l.window_started_at < cutoff, sa.or_(_l.locked_until.is_(None), _l.locked_until < cutoff)
        )
    )
