"""KEK rotation: which KEK versions wrap the stored data keys, and moving them to the newest.

Rotating the KEK (a new Transit key version) leaves every stored data key
wrapped with the version it was wrapped with. :func:`status` counts them per
version; :func:`rewrap` moves every wrapped DEK to the newest version in
committed batches (resumable), never touching sealed data;
:func:`rewrap_retired` does it for a restored backup whose keys use retired KEK
versions, lowering min_decryption_version only meanwhile; and
:func:`retire_old_versions` raises min_decryption_version to the oldest version
still in use. Only wrapped keys pass through here: nothing is unwrapped.

The :class:`vault.keyring.Keyring` hands these its provider; callers use its
methods of the same names.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from piivault.db import utcnow
from piivault.errors import ValidationFailed
from vault import tables as t
from vault.providers.base import KeyInfo, KeyProvider

# The keyring's logger, as before the split: log filters and alert rules name it.
log = logging.getLogger("vault.keyring")


@dataclasses.dataclass(frozen=True)
class KeyStatus:
    provider: str
    kek: KeyInfo
    deks_by_version: dict[int, int]
    erasures: int
    cache_entries: int

    @property
    def total_deks(self) -> int:
        return sum(self.deks_by_version.values())

    @property
    def outdated(self) -> int:
        return sum(n for v, n in self.deks_by_version.items() if v < self.kek.latest_version)


@dataclasses.dataclass(frozen=True)
class RewrapReport:
    rewrapped: int
    remaining: int
    target_version: int


@dataclasses.dataclass(frozen=True)
class RetiredRewrap:
    """What :func:`rewrap_retired` did: keys rewrapped, and the floor it lowered and restored."""

    rewrapped: int
    lowered_to: int
    restored_to: int


def status(provider: KeyProvider, session: Session, cache_entries: int) -> KeyStatus:
    """The KEK, the stored data keys per KEK version, the erasures and ``cache_entries``."""
    kek = provider.key_info()
    counts = dict(
        session.execute(
            sa.select(t.data_keys.c.kek_version, sa.func.count()).group_by(t.data_keys.c.kek_version)
        ).all()
    )
    erasures = session.scalar(sa.select(sa.func.count()).select_from(t.erasures)) or 0
    return KeyStatus(
        provider=provider.name,
        kek=kek,
        deks_by_version={int(v): int(n) for v, n in sorted(counts.items())},
        erasures=int(erasures),
        cache_entries=cache_entries,
    )


def rewrap(
    provider: KeyProvider,
    session_factory: sessionmaker[Session],
    *,
    clock: Callable[[], dt.datetime] = utcnow,
    batch_size: int = 500,
    progress: Callable[[int], None] | None = None,
    max_batches: int | None = None,
) -> RewrapReport:
    """Rewrap DEKs older than the newest KEK version, one committed batch at a time.

    Interrupting it loses at most the batch in flight; running it again
    continues where it stopped. ``max_batches`` stops early (for tests and
    for spreading the work over maintenance windows).
    """
    target = provider.key_info().latest_version
    done = 0
    batches = 0
    last_owner = ""
    while max_batches is None or batches < max_batches:
        with session_factory() as session:
            rows = session.execute(
                sa.select(t.data_keys.c.owner, t.data_keys.c.wrapped_dek)
                .where(t.data_keys.c.kek_version < target, t.data_keys.c.owner > last_owner)
                .order_by(t.data_keys.c.owner)
                .limit(batch_size)
            ).all()
            if not rows:
                break
            rewrapped = provider.rewrap([w for _, w in rows])
            now = clock()
            for (owner, old), new in zip(rows, rewrapped, strict=True):
                # Compare-and-set: a row shredded or rewrapped meanwhile is left alone.
                session.execute(
                    t.data_keys.update()
                    .where(t.data_keys.c.owner == owner, t.data_keys.c.wrapped_dek == old)
                    .values(
                        wrapped_dek=new,
                        kek_version=provider.version_of(new),
                        rewrapped_at=now,
                    )
                )
            session.commit()
        last_owner = rows[-1][0]
        done += len(rows)
        batches += 1
        if progress is not None:
            progress(len(rows))
    with session_factory() as session:
        remaining = session.scalar(
            sa.select(sa.func.count()).select_from(t.data_keys).where(t.data_keys.c.kek_version < target)
        )
    return RewrapReport(rewrapped=done, remaining=int(remaining or 0), target_version=target)


def outdated_count(provider: KeyProvider, session: Session) -> int:
    """Data keys wrapped with a KEK version older than the newest (what :func:`rewrap` moves)."""
    target = provider.key_info().latest_version
    return int(
        session.scalar(
            sa.select(sa.func.count()).select_from(t.data_keys).where(t.data_keys.c.kek_version < target)
        )
        or 0
    )


def retired_count(provider: KeyProvider, session: Session) -> int:
    """Data keys wrapped with a KEK version below min_decryption_version (a restored backup's)."""
    floor = provider.key_info().min_decryption_version
    count = sa.select(sa.func.count()).select_from(t.data_keys).where(t.data_keys.c.kek_version < floor)
    return int(session.scalar(count) or 0)


def rewrap_retired(
    provider: KeyProvider,
    session_factory: sessionmaker[Session],
    *,
    clock: Callable[[], dt.datetime] = utcnow,
    batch_size: int = 500,
    on_change: Callable[[str, int, int], None] | None = None,
) -> RetiredRewrap:
    """Bring a restored backup's data keys, wrapped with retired KEK versions, to the newest one.

    Transit cannot rewrap below min_decryption_version, so it is lowered to
    the oldest version still wrapping a key, every key is rewrapped
    (:func:`rewrap`), and min_decryption_version is set back to what it was,
    also when the rewrap fails. Needs the operator's Vault policy (update on
    ``transit/keys/<key>/config``). Run it after the ledgered erasures were
    replayed, so that no erased subject's key is ever rewrapped. Raises
    VaultUnavailable / VaultAuthError / KeyNotFound; when setting the version
    back fails, that error is raised and logged (run ``piivault keys retire``).

    ``on_change(what, version, other)`` is called with ``("lowered", lowered,
    original)`` right after min_decryption_version is lowered, before any key
    is rewrapped (if it raises, it is set back and nothing is rewrapped; it
    comes after because the audit log's own MAC key may be one of the
    backup's keys), and with ``("restored", original, rewrapped)`` once it is
    set back: the caller records both in the audit log.
    """
    info = provider.key_info()
    with session_factory() as session:
        oldest = session.scalar(sa.select(sa.func.min(t.data_keys.c.kek_version)))
    if oldest is None or int(oldest) >= info.min_decryption_version:
        return RetiredRewrap(0, info.min_decryption_version, info.min_decryption_version)
    lowered = int(oldest)
    log.warning("KEK min_decryption_version lowered to %d for a restore's rewrap", lowered)
    provider.set_min_decryption_version(lowered)
    rewrapped = 0
    try:
        if on_change is not None:
            on_change("lowered", lowered, info.min_decryption_version)
        report = rewrap(provider, session_factory, clock=clock, batch_size=batch_size)
        rewrapped = report.rewrapped
    finally:
        try:
            provider.set_min_decryption_version(info.min_decryption_version)
        except Exception:
            log.error(
                "KEK min_decryption_version is still %d: run `piivault keys retire` to retire "
                "the old versions again",
                lowered,
            )
            raise
        log.warning("KEK min_decryption_version set back to %d", info.min_decryption_version)
        if on_change is not None:
            on_change("restored", info.min_decryption_version, rewrapped)
    return RetiredRewrap(report.rewrapped, lowered, info.min_decryption_version)


def retire_old_versions(provider: KeyProvider, session: Session) -> KeyInfo:
    """Set min_decryption_version to the oldest version still wrapping a DEK.

    Raises ValidationFailed if that would not retire anything new.
    """
    info = provider.key_info()
    oldest = session.scalar(sa.select(sa.func.min(t.data_keys.c.kek_version)))
    floor = int(oldest) if oldest is not None else info.latest_version
    if floor <= info.min_decryption_version:
        raise ValidationFailed(f"data keys still use KEK version {floor}: run `piivault keys rewrap` first")
    return provider.set_min_decryption_version(floor)
