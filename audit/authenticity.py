"""Authentication of audit events at their source: who may put an event into the log.

The hash chain, the Merkle tree and the signed checkpoints prove that the log
was not changed *after* it was written; they cannot tell an event the
application recorded from one that someone with write access to the database
appended with a correct leaf, chain link, head and nodes. So every event
carries a MAC under a system key the database alone does not hold:

* the process that records an action (:mod:`audit.sink`) adds a **source MAC**
  over the queued payload (``audit_queue.mac``);
* the sequencer integrates a queued row only if its source MAC verifies (if
  not, it records a ``audit.queue_entry_rejected`` event in its place), and
  stores an **entry MAC** over the entry it hashed, sequence number included,
  so an event cannot be moved or replayed elsewhere (``audit_events.mac``);
* before building on the log, the sequencer checks the entry MAC of every
  event it did not write itself (see :meth:`audit.sequencer.Sequencer`): an
  event appended straight into ``audit_events`` is recorded as forged
  (``audit.forged_event_detected``), never silently signed over;
* ``piivault audit verify``, run by the operator who can reach the key, checks
  every entry MAC (:func:`check_macs`). Outsiders, who must not hold the key,
  keep checking signatures and proofs.

The key is the system data key ``audit-events``: generated locally, stored
only wrapped by the Transit KEK (:class:`vault.Keyring`), so reading it needs
Vault. Each process unwraps it once and keeps it (no Vault call per event);
the MACs are HMAC-SHA256 under subkeys derived per use (:meth:`vault.DataKey.keyed_hash`).

Events integrated before this existed (migration ``0013_audit_macs``) have no
MAC; they are accepted only as a prefix of the log: once one event has a MAC,
every later one must.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from vault import DataKey, Keyring, constant_time_equal

MAC_KEY = "audit-events"
"""The system data key (``system:audit-events``) both MACs are derived from."""
SOURCE_LABEL = "audit/source"
ENTRY_LABEL = "audit/entry"
FORGED_ACTION = "audit.forged_event_detected"
MAC_BYTES = 32
MAX_LISTED = 20


class EventAuthenticator:
    """Computes and checks event MACs with the process's cached ``audit-events`` key."""

    def __init__(self, keyring: Keyring, session_factory: sessionmaker[Session] | None = None) -> None:
        self._keyring = keyring
        self._session_factory = session_factory
        self._key: DataKey | None = None
        self._lock = threading.Lock()

    @property
    def cached(self) -> DataKey | None:
        return self._key

    def key(self, session: Session | None = None) -> DataKey:
        """The MAC key, unwrapped once per process (created on first use).

        Raises:
            VaultUnavailable, VaultAuthError: Vault cannot unwrap it.
            StorageUnavailable: the database failed.
        """
        key = self._key
        if key is not None:
            return key
        with self._lock:
            if self._key is None:
                if session is not None:
                    self._key = self._keyring.system_key(session, MAC_KEY)
                else:
                    assert self._session_factory is not None, "no session to load the MAC key with"
                    with self._session_factory.begin() as own:
                        self._key = self._keyring.system_key(own, MAC_KEY)
            return self._key

    @staticmethod
    def source_mac(key: DataKey, payload: bytes) -> bytes:
        return key.keyed_hash(SOURCE_LABEL, payload)

    @staticmethod
    def entry_mac(key: DataKey, entry: bytes) -> bytes:
        return key.keyed_hash(ENTRY_LABEL, entry)

    @staticmethod
    def source_ok(key: DataKey, payload: bytes, mac: bytes | None) -> bool:
        return mac is not None and constant_time_equal(key.keyed_hash(SOURCE_LABEL, payload), bytes(mac))

    @staticmethod
    def entry_ok(key: DataKey, entry: bytes, mac: bytes | None) -> bool:
        return mac is not None and constant_time_equal(key.keyed_hash(ENTRY_LABEL, entry), bytes(mac))


@dataclasses.dataclass
class MacReport:
    """What :func:`check_macs` found: counts, and the first few sequence numbers of forged events."""

    checked: int = 0
    valid: int = 0
    legacy: int = 0
    """Events without a MAC before the first event that has one (integrated before MACs existed)."""
    invalid: int = 0
    recorded: int = 0
    """Of the invalid ones, those the sequencer recorded as forged (``audit.forged_event_detected``)."""
    invalid_seqs: list[int] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def check_macs(key: DataKey, rows: Iterable[Sequence[Any]]) -> MacReport:
    """Check the entry MAC of every ``(seq, entry, mac)`` row, in sequence order."""
    report = MacReport()
    flagged: set[int] = set()
    bad: list[int] = []
    authenticated = False
    for seq, entry, mac in rows:
        report.checked += 1
        data = entry.encode("utf-8") if isinstance(entry, str) else bytes(entry)
        if mac is None and not authenticated:
            report.legacy += 1
            continue
        if EventAuthenticator.entry_ok(key, data, mac):
            authenticated = True
            report.valid += 1
            flagged.update(forged_seqs(data))
            continue
        bad.append(int(seq))
    report.invalid = len(bad)
    report.recorded = sum(1 for seq in bad if seq in flagged)
    report.invalid_seqs = bad[:MAX_LISTED]
    return report


def forged_seqs(entry: bytes) -> list[int]:
    """The sequence numbers an authentic ``audit.forged_event_detected`` entry names."""
    if FORGED_ACTION.encode() not in entry:
        return []
    body = json.loads(entry)
    if body.get("action") != FORGED_ACTION:
        return []
    seq = body.get("details", {}).get("forged_seq")
    return [seq] if isinstance(seq, int) else []
