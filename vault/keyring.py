"""The keyring: per-owner data keys, wrapped by the KEK, and the facade of their life cycle.

This is the envelope-encryption service the rest of piivault uses. It owns
making and loading keys, and the secrets sealed under its system keys:

* :meth:`Keyring.create_subject_keys` generates DEKs locally and wraps them in
  one batched provider call; only the wrapped form is stored.
* :meth:`Keyring.data_keys` returns usable keys for many owners at once:
  cached ones directly, the rest unwrapped in one batched call.
* :meth:`Keyring.put_secret`, :meth:`Keyring.get_secret` and
  :meth:`Keyring.signer` keep small secrets sealed under the system key
  ``secrets``.

The rest of the life cycle it hands on, so that callers need only the keyring:

* :mod:`vault.keystore` holds the rows of wrapped keys and the statements on them.
* :mod:`vault.shredding` (the :class:`Shredder` at :attr:`Keyring.shredder`):
  :meth:`Keyring.shred` destroys a subject's DEK (crypto-shredding) and writes
  the erasure ledger, as :meth:`Keyring.destroy_system_key` does for a system
  key whose use has ended; :meth:`Keyring.replay_erasures` repeats every
  ledgered destruction after a database restore. Listeners
  (:meth:`Keyring.on_destroy`) delete what other packages sealed under a
  destroyed key, in the same transaction; the keyring's own, first, evicts it
  from the cache.
* :mod:`vault.rotation`, given the keyring's provider: :meth:`Keyring.rewrap`
  moves every wrapped DEK to the newest KEK version in committed batches
  (resumable), never touching sealed data; :meth:`Keyring.rewrap_retired` does
  it for a restored backup whose keys use retired KEK versions, lowering
  min_decryption_version only meanwhile.

Methods that take a ``session`` run inside the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.orm import Session, sessionmaker

from piivault.db import utcnow
from piivault.errors import ConfigurationError
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
from vault.shredding import DestroyListener, ReplayReport, Shredder
from vault.signing import Signer


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
        self._clock = clock
        self.shredder = Shredder(ledger, clock)
        # The first listener: a destroyed key leaves the cache before anyone else hears of it.
        self.shredder.on_destroy(self._evict)

    @property
    def ledger(self) -> ErasureLedger | None:
        """The erasure ledger file the shredder appends to (None: development without one)."""
        return self.shredder.ledger

    def _evict(self, session: Session, owners: Sequence[str]) -> None:
        self.cache.evict(owners)

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
        # back, the key_id check in _load (and stored_as, for held) keeps a stale entry
        # from ever being used.
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

    def held_system_key(self, name: str) -> DataKey | None:
        """A system key while the data-key cache holds it, else None: no database, no Vault.

        With :meth:`stored_system_key` when it says None, a read path's way to a system key;
        neither makes one, so a read-only session will do. For a key needed on every request
        (the API keys' HMAC key), reading its row each time would be a round trip to learn
        what the cache already holds. The cache bounds how long it is held
        (``PIIVAULT_DEK_CACHE_TTL``); with a cache of size 0 this always says None."""
        return self.cache.get(system_owner(name))

    def held(self, owners: Sequence[str]) -> dict[str, DataKey] | None:
        """The keys of ``owners`` if the cache holds every one, else None: no database, no Vault.
        A key held here may have been shredded or replaced since it was cached (in another
        process): a caller checks it is stored still (:func:`vault.keystore.stored_as`) where it
        uses it, as :meth:`unwrap` checks a cached key against the key id it was given."""
        return self.cache.get_all(owners)

    def stored_system_key(self, session: Session, name: str) -> DataKey | None:
        """A system key :meth:`system_key` made, its row read from the database (unwrapped unless
        the cache holds that key); None if it was never made. It never makes one."""
        owner = system_owner(name)
        return self.data_keys(session, [owner]).get(owner)

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

    # -- destroying keys: vault.shredding -----------------------------------------
    def on_destroy(self, listener: DestroyListener) -> None:
        """:meth:`Shredder.on_destroy`: ``listener(session, owners)`` hears of every destroyed key."""
        self.shredder.on_destroy(listener)

    def shred(
        self, session: Session, subject_id: str, reason: str, request_id: str | None = None
    ) -> ErasureEntry:
        """:meth:`Shredder.shred`: destroy a subject's DEK, ledgered first."""
        return self.shredder.shred(session, subject_id, reason, request_id)

    def destroy_system_key(
        self, session: Session, name: str, reason: str, request_id: str | None = None
    ) -> bool:
        """:meth:`Shredder.destroy_system_key`: destroy a system DEK whose use has ended."""
        return self.shredder.destroy_system_key(session, name, reason, request_id)

    def pending_erasures(self, session: Session) -> list[str]:
        """:meth:`Shredder.pending_erasures`."""
        return self.shredder.pending_erasures(session)

    def pending_system_keys(self, session: Session) -> list[str]:
        """:meth:`Shredder.pending_system_keys`."""
        return self.shredder.pending_system_keys(session)

    def replay_erasures(self, session: Session) -> ReplayReport:
        """:meth:`Shredder.replay_erasures`: destroy again what the ledger names, after a restore."""
        return self.shredder.replay_erasures(session)

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
