"""The keyring: per-subject data keys, wrapped by the KEK, and their life cycle.

This is the envelope-encryption service the rest of piivault uses:

* :meth:`Keyring.create_subject_keys` generates DEKs locally and wraps them in
  one batched provider call; only the wrapped form is stored.
* :meth:`Keyring.data_keys` returns usable keys for many owners at once:
  cached ones directly, the rest unwrapped in one batched call.
* :meth:`Keyring.shred` destroys a subject's DEK (crypto-shredding) and writes
  the erasure ledger, as :meth:`Keyring.destroy_system_key` does for a system
  key whose use has ended; :meth:`Keyring.replay_erasures` repeats every
  ledgered destruction after a database restore. Listeners
  (:meth:`Keyring.on_destroy`) delete what other packages sealed under a
  destroyed key, in the same transaction.
* :meth:`Keyring.rewrap` moves every wrapped DEK to the newest KEK version in
  committed batches (resumable), never touching sealed data;
  :meth:`Keyring.rewrap_retired` does it for a restored backup whose keys use
  retired KEK versions, lowering min_decryption_version only meanwhile. These
  and the other rotation methods hand the keyring's provider to
  :mod:`vault.rotation`, which owns them.

Methods that take a ``session`` run inside the caller's transaction. The rows
that hold the wrapped keys, and the statements on them, are :mod:`vault.keystore`'s.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable, Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.orm import Session, sessionmaker

from piivault.db import utcnow
from piivault.errors import ConfigurationError, ValidationFailed
from piivault.sql import existing
from vault import keystore, rotation
from vault import tables as t
from vault.cache import DekCache
from vault.datakey import DataKey
from vault.errors import SubjectShredded
from vault.keystore import SYSTEM, StoredKeys, subject_owner, system_owner
from vault.ledger import ErasureEntry, ErasureLedger
from vault.providers.base import KeyInfo, KeyProvider
from vault.rotation import KeyStatus, RetiredRewrap, RewrapReport
from vault.sealed import Binding
from vault.signing import Signer

log = logging.getLogger(__name__)

MAX_REASON = 200


@dataclasses.dataclass(frozen=True)
class ReplayReport:
    ledger_entries: int
    shredded: int
    recorded: int
    subject_ids: tuple[str, ...] = ()
    system_keys_destroyed: int = 0
    system_keys: tuple[str, ...] = ()


DestroyListener = Callable[[Session, Sequence[str]], None]
"""``(session, owners)``: told, in the destroying transaction, which data keys were destroyed."""


class Keyring:
    def __init__(
        self,
        provider: KeyProvider,
        *,
        cache: DekCache | None = None,
        ledger: ErasureLedger | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.provider = provider
        self.cache = cache if cache is not None else DekCache(maxsize=0, ttl=0)
        self.ledger = ledger
        self._clock = clock
        self._destroy_listeners: list[DestroyListener] = []

    def on_destroy(self, listener: DestroyListener) -> None:
        """Have ``listener(session, owners)`` called whenever data keys are destroyed.

        Shredding, replaying the ledger and destroying system keys call it in
        their transaction with the owners whose keys they destroy (again, on a
        replay: it must be idempotent). Packages that keep data sealed under
        those keys outside the vault's tables delete it with the key; the
        composition root wires them, so this package imports none of them.
        """
        self._destroy_listeners.append(listener)

    def _destroyed(self, session: Session, owners: Sequence[str]) -> None:
        self.cache.evict(owners)
        for listener in self._destroy_listeners:
            listener(session, owners)

    # -- creating and loading keys -------------------------------------------------
    def create_keys(self, session: Session, owners: Sequence[str]) -> dict[str, DataKey]:
        """Create DEKs for owners that have none; return keys for all of them.

        Wrapping happens before anything is written, so a Vault failure leaves
        no row behind. Raises VaultUnavailable/VaultAuthError/KeyNotFound.
        """
        owners = list(dict.fromkeys(owners))
        existing = keystore.read(session, owners)
        new = [DataKey.generate(o) for o in owners if o not in existing]
        if new:
            wrapped = self.provider.wrap([k._material() for k in new])
            now = self._clock()
            rows = [
                {
                    "owner": k.owner,
                    "key_id": k.key_id,
                    "wrapped_dek": w,
                    "kek_version": self.provider.version_of(w),
                    "created_at": now,
                }
                for k, w in zip(new, wrapped, strict=True)
            ]
            keystore.insert(session, rows)
        keys = {k.owner: k for k in new}
        if existing:
            keys.update(self._load(existing))
        # New keys are not cached until they are in use: if this transaction rolls
        # back, the key_id check below keeps a stale entry from ever matching.
        for k in new:
            self.cache.put(k)
        return keys

    def create_subject_keys(self, session: Session, subject_ids: Sequence[str]) -> None:
        self.create_keys(session, [subject_owner(s) for s in subject_ids])

    def data_keys(self, session: Session, owners: Iterable[str]) -> dict[str, DataKey]:
        """Keys for the owners that have one (shredded or unknown owners are absent)."""
        return self.unwrap(self.stored_keys(session, owners))

    def stored_keys(self, session: Session, owners: Iterable[str]) -> StoredKeys:
        """The owners' stored keys, still wrapped (shredded or unknown owners are absent).

        With :meth:`unwrap`, a bulk reader learns in its transaction which keys
        exist and asks Vault after it (a SQLite transaction holds the write
        lock), possibly in another thread.
        """
        return keystore.read(session, list(dict.fromkeys(owners)))

    def unwrap(self, stored: StoredKeys) -> dict[str, DataKey]:
        """Usable keys for ``stored``: cached ones, the rest in one batched unwrap; no database access.

        Raises VaultUnavailable/VaultAuthError/KeyVersionRetired.
        """
        return self._load(stored)

    def data_key(self, session: Session, owner: str) -> DataKey:
        """The owner's key; raises :class:`SubjectShredded` if there is none."""
        key = self.data_keys(session, [owner]).get(owner)
        if key is None:
            raise SubjectShredded("no data key: the subject was erased or never existed")
        return key

    def subject_key(self, session: Session, subject_id: str) -> DataKey:
        return self.data_key(session, subject_owner(subject_id))

    def system_key(self, session: Session, name: str) -> DataKey:
        """A named system DEK (blind-index and token secrets, signing-key seal), created once."""
        owner = system_owner(name)
        key = self.data_keys(session, [owner]).get(owner)
        if key is not None:
            return key
        try:
            with session.begin_nested():
                return self.create_keys(session, [owner])[owner]
        except exc.IntegrityError:
            # Another process created it first; use theirs.
            return self.data_key(session, owner)

    def _load(self, rows: StoredKeys) -> dict[str, DataKey]:
        keys: dict[str, DataKey] = {}
        to_unwrap: list[tuple[str, str, str]] = []
        for owner, (key_id, wrapped) in rows.items():
            cached = self.cache.get(owner)
            if cached is not None and cached.key_id == key_id:
                keys[owner] = cached
            else:
                to_unwrap.append((owner, key_id, wrapped))
        if to_unwrap:
            raw = self.provider.unwrap([w for _, _, w in to_unwrap])
            for (owner, key_id, _), material in zip(to_unwrap, raw, strict=True):
                key = DataKey(owner, material, key_id)
                self.cache.put(key)
                keys[owner] = key
        return keys

    # -- sealed secrets and signing keys -----------------------------------------
    def put_secret(self, session: Session, name: str, secret: bytes) -> None:
        """Store a small secret sealed under the system key ``secrets`` (insert only)."""
        key = self.system_key(session, "secrets")
        sealed = key.seal(secret, Binding(SYSTEM + "secrets", "secret", name))
        session.execute(t.sealed_secrets.insert().values(name=name, sealed=sealed, created_at=self._clock()))

    def get_secret(self, session: Session, name: str) -> bytes | None:
        """Open a stored secret; None if absent. Raises InvalidSealedValue if tampered."""
        sealed = session.scalar(sa.select(t.sealed_secrets.c.sealed).where(t.sealed_secrets.c.name == name))
        if sealed is None:
            return None
        key = self.system_key(session, "secrets")
        return key.open(bytes(sealed), Binding(SYSTEM + "secrets", "secret", name))

    def signer(self, session: Session, name: str, *, create: bool = True) -> Signer:
        """The Ed25519 signer stored as secret ``name``, generated on first use."""
        seed = self.get_secret(session, name)
        if seed is not None:
            return Signer(seed)
        if not create:
            raise ConfigurationError(f"signing key {name!r} missing: run `piivault keys bootstrap`")
        signer = Signer.generate()
        try:
            with session.begin_nested():
                self.put_secret(session, name, signer.export_seed())
        except exc.IntegrityError:
            seed = self.get_secret(session, name)
            assert seed is not None
            return Signer(seed)
        return signer

    # -- sealing convenience -----------------------------------------------------
    def seal(self, session: Session, binding: Binding, plaintext: bytes) -> bytes:
        return self.subject_key(session, binding.subject).seal(plaintext, binding)

    def open(self, session: Session, binding: Binding, sealed: bytes) -> bytes:
        """Open a subject's value; raises SubjectShredded or InvalidSealedValue."""
        return self.subject_key(session, binding.subject).open(sealed, binding)

    # -- crypto-shredding --------------------------------------------------------
    def shred(
        self, session: Session, subject_id: str, reason: str, request_id: str | None = None
    ) -> ErasureEntry:
        """Destroy a subject's DEK and record the erasure (file ledger first, then table).

        Raises ConfigurationError when no ledger file is configured,
        ValidationFailed for an over-long reason, and LedgerUnavailable /
        LedgerCorrupt when the entry cannot be written whole and synced (then
        nothing is deleted: the caller's transaction must roll back). Idempotent
        per subject.
        """
        if self.ledger is None:
            raise ConfigurationError("set PIIVAULT_ERASURE_LEDGER before erasing subjects")
        if not reason or len(reason) > MAX_REASON:
            raise ValidationFailed(f"erasure reason must be 1 to {MAX_REASON} characters")
        now = self._clock()
        entry = self.ledger.append(subject_id, reason, request_id, now)
        self._shred_rows(session, [subject_id])
        self._record_erasures(session, [entry])
        return entry

    def destroy_system_key(
        self, session: Session, name: str, reason: str, request_id: str | None = None
    ) -> bool:
        """Destroy the system DEK ``name``: whatever it sealed or keyed is noise from now on.

        For keys whose use has ended (an extract's pseudonym key when the extract
        expires). Like a shred, it is appended to the erasure ledger file first,
        so that a restored database backup does not bring the key back (replay
        destroys it again); without a ledger file (development only: production
        refuses to start without one) the key is destroyed unledgered.
        Returns whether the key existed. Runs in the caller's transaction.
        Raises ValidationFailed for an over-long reason.
        """
        if not reason or len(reason) > MAX_REASON:
            raise ValidationFailed(f"reason must be 1 to {MAX_REASON} characters")
        owner = system_owner(name)
        exists = session.execute(sa.select(t.data_keys.c.owner).where(t.data_keys.c.owner == owner)).first()
        if exists is not None:
            if self.ledger is not None:
                self.ledger.append_system_key(name, reason, request_id, self._clock())
            else:
                log.warning("a system key was destroyed without an erasure ledger: a restore brings it back")
            session.execute(t.data_keys.delete().where(t.data_keys.c.owner == owner))
        self._destroyed(session, [owner])
        return exists is not None

    def _shred_rows(self, session: Session, subject_ids: Sequence[str]) -> int:
        owners = [subject_owner(s) for s in subject_ids]
        return self._delete_keys(session, owners)

    def _delete_keys(self, session: Session, owners: Sequence[str]) -> int:
        removed = keystore.delete(session, owners)
        self._destroyed(session, owners)
        return removed

    def _record_erasures(self, session: Session, entries: Sequence[ErasureEntry]) -> int:
        # The table copy lists erased subjects; destroyed system keys are in the file only.
        entries = [e for e in entries if e.subject_id is not None]
        if not entries:
            return 0
        known = existing(session, t.erasures.c.subject_id, [e.subject_id for e in entries])
        new = [e for e in {e.subject_id: e for e in entries}.values() if e.subject_id not in known]
        if new:
            session.execute(
                t.erasures.insert(),
                [
                    {
                        "subject_id": e.subject_id,
                        "erased_at": e.erased_at,
                        "reason": e.reason,
                        "request_id": e.request_id,
                    }
                    for e in new
                ],
            )
        return len(new)

    def pending_erasures(self, session: Session) -> list[str]:
        """Subjects in the ledger file whose DEK still exists (a restore not yet replayed)."""
        return self._still_stored(session, lambda e: e.subject_id, subject_owner)

    def pending_system_keys(self, session: Session) -> list[str]:
        """System keys destroyed in the ledger file that exist again (a restore not yet replayed)."""
        return self._still_stored(session, lambda e: e.system_key, system_owner)

    def _still_stored(
        self, session: Session, name_of: Callable[[ErasureEntry], str | None], owner_of: Callable[[str], str]
    ) -> list[str]:
        if self.ledger is None:
            return []
        names = list(dict.fromkeys(n for e in self.ledger.entries() if (n := name_of(e)) is not None))
        rows = keystore.read(session, [owner_of(n) for n in names])
        return [n for n in names if owner_of(n) in rows]

    def replay_erasures(self, session: Session) -> ReplayReport:
        """Re-shred every subject named in the ledger file and the ledger table, and destroy
        again every system key the ledger file names."""
        if self.ledger is None:
            raise ConfigurationError("set PIIVAULT_ERASURE_LEDGER to replay erasures")
        entries = self.ledger.entries()
        in_table = list(session.scalars(sa.select(t.erasures.c.subject_id)))
        ledgered = [e.subject_id for e in entries if e.subject_id is not None]
        subjects = list(dict.fromkeys(ledgered + in_table))
        shredded = self._shred_rows(session, subjects)
        names = list(dict.fromkeys(e.system_key for e in entries if e.system_key is not None))
        destroyed = self._delete_keys(session, [system_owner(n) for n in names]) if names else 0
        recorded = self._record_erasures(session, entries)
        return ReplayReport(
            ledger_entries=len(entries),
            shredded=shredded,
            recorded=recorded,
            subject_ids=tuple(subjects),
            system_keys_destroyed=destroyed,
            system_keys=tuple(names),
        )

    # -- KEK rotation: vault.rotation -------------------------------------------
    def status(self, session: Session) -> KeyStatus:
        """:func:`vault.rotation.status`, with this keyring's cache."""
        return rotation.status(self.provider, session, len(self.cache))

    def rewrap(
        self,
        session_factory: sessionmaker[Session],
        *,
        batch_size: int = 500,
        progress: Callable[[int], None] | None = None,
        max_batches: int | None = None,
    ) -> RewrapReport:
        """:func:`vault.rotation.rewrap`: old DEKs to the newest KEK version, batch by batch."""
        return rotation.rewrap(
            self.provider,
            session_factory,
            clock=self._clock,
            batch_size=batch_size,
            progress=progress,
            max_batches=max_batches,
        )

    def outdated_count(self, session: Session) -> int:
        """:func:`vault.rotation.outdated_count`."""
        return rotation.outdated_count(self.provider, session)

    def retired_count(self, session: Session) -> int:
        """:func:`vault.rotation.retired_count`."""
        return rotation.retired_count(self.provider, session)

    def rewrap_retired(
        self,
        session_factory: sessionmaker[Session],
        *,
        batch_size: int = 500,
        on_change: Callable[[str, int, int], None] | None = None,
    ) -> RetiredRewrap:
        """:func:`vault.rotation.rewrap_retired`: a restored backup's keys off retired KEK versions."""
        return rotation.rewrap_retired(
            self.provider, session_factory, clock=self._clock, batch_size=batch_size, on_change=on_change
        )

    def retire_old_versions(self, session: Session) -> KeyInfo:
        """:func:`vault.rotation.retire_old_versions`."""
        return rotation.retire_old_versions(self.provider, session)
