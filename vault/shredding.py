"""Crypto-shredding: destroying data keys, the erasure ledger's entries, and replaying them.

A data key's stored row is the only copy of the key: deleting it turns whatever
was sealed or keyed under it into noise. The :class:`Shredder` destroys a
subject's key (:meth:`Shredder.shred`) after appending the erasure to the
ledger file, then lists the subject in the ledger's table copy; it destroys a
system key whose use has ended the same way (:meth:`Shredder.destroy_system_key`);
after a database restore it finds the destroyed keys that came back
(:meth:`Shredder.pending_erasures`, :meth:`Shredder.pending_system_keys`) and
destroys them again (:meth:`Shredder.replay_erasures`). Whenever keys are
destroyed it tells its listeners (:meth:`Shredder.on_destroy`), in the same
transaction.

The :class:`vault.keyring.Keyring` holds one and hands it its callers' calls.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable, Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from piivault.db import utcnow
from piivault.errors import ConfigurationError, ValidationFailed
from piivault.sql import existing
from vault import keystore
from vault import tables as t
from vault.keystore import subject_owner, system_owner
from vault.ledger import ErasureEntry, ErasureLedger

# The keyring's logger, as before the split: log filters and alert rules name it.
log = logging.getLogger("vault.keyring")

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


class Shredder:
    """Destroys data keys and keeps the erasure ledger; every method runs in the caller's transaction."""

    def __init__(self, ledger: ErasureLedger | None, clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.ledger = ledger
        self._clock = clock
        self._destroy_listeners: list[DestroyListener] = []

    def on_destroy(self, listener: DestroyListener) -> None:
        """Have ``listener(session, owners)`` called whenever data keys are destroyed.

        Shredding, replaying the ledger and destroying system keys call it in
        their transaction with the owners whose keys they destroy (again, on a
        replay: it must be idempotent), in the order the listeners were added.
        Packages that keep data sealed under those keys outside the vault's
        tables delete it with the key; the composition root wires them, so this
        package imports none of them.
        """
        self._destroy_listeners.append(listener)

    def _destroyed(self, session: Session, owners: Sequence[str]) -> None:
        for listener in self._destroy_listeners:
            listener(session, owners)

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
