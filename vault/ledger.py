"""The erasure ledger file: which subjects were crypto-shredded, when and why.

A database restored from a backup taken before an erasure still holds the
wrapped data key of the erased subject. The ledger is therefore written to a
file that lives *outside* the database and its backups (configure
``PIIVAULT_ERASURE_LEDGER`` on separately backed-up, append-only storage), and
``piivault keys replay-erasures`` re-shreds every subject in it after a restore.

Format: one JSON object per line, ``{"seq", "subject_id", "erased_at",
"reason", "request_id", "prev", "hash"}`` where ``hash`` is SHA-256 over the
canonical JSON of the other fields including ``prev`` (the previous line's
hash), so an edited or removed line in the middle is detected. The entry is
written (and fsynced) before the shredding transaction commits: a crash in
between leaves an entry whose shred the next replay completes, never a shred
without an entry. No PII: subject ids are random and reasons are short codes.

A destroyed system key (an expired extract's pseudonym key) is ledgered the
same way, with ``"system_key": "<name>"`` in place of ``subject_id``, so that a
restore cannot bring it back either. Lines written before that field existed
hash and verify exactly as before (the hash covers the fields a line has);
a version of piivault that predates it refuses such a line as invalid
rather than misreading it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

from piivault.errors import ConfigurationError

GENESIS = "0" * 64


class LedgerCorrupt(ConfigurationError):
    """The erasure ledger file fails its hash chain check."""

    code = "erasure_ledger_corrupt"


@dataclasses.dataclass(frozen=True)
class ErasureEntry:
    """One ledgered destruction: a subject's key (``subject_id``) or a system key (``system_key``)."""

    seq: int
    subject_id: str | None
    erased_at: dt.datetime
    reason: str
    request_id: str | None
    prev: str
    hash: str
    system_key: str | None = None

    def as_json(self) -> dict:
        what = {"subject_id": self.subject_id} if self.system_key is None else {"system_key": self.system_key}
        return {
            "seq": self.seq,
            **what,
            "erased_at": self.erased_at.isoformat(),
            "reason": self.reason,
            "request_id": self.request_id,
            "prev": self.prev,
            "hash": self.hash,
        }


def _entry_hash(fields: dict) -> str:
    body = {k: v for k, v in fields.items() if k != "hash"}
    raw = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


class ErasureLedger:
    """Append-only, hash-chained JSON-lines file; safe across processes (flock)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if self.path.exists() and self.path.is_dir():
            raise ConfigurationError("PIIVAULT_ERASURE_LEDGER must be a file path, not a directory")
        if not self.path.parent.is_dir():
            raise ConfigurationError("the directory of PIIVAULT_ERASURE_LEDGER does not exist")

    def append(
        self, subject_id: str, reason: str, request_id: str | None, erased_at: dt.datetime
    ) -> ErasureEntry:
        """Append one subject's erasure durably (fsync) and return it."""
        return self._append({"subject_id": subject_id}, reason, request_id, erased_at)

    def append_system_key(
        self, name: str, reason: str, request_id: str | None, erased_at: dt.datetime
    ) -> ErasureEntry:
        """Append the destruction of the system key ``name`` durably (fsync) and return it."""
        return self._append({"system_key": name}, reason, request_id, erased_at)

    def _append(
        self, what: dict[str, str], reason: str, request_id: str | None, erased_at: dt.datetime
    ) -> ErasureEntry:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            last = None
            for entry in self._read_fd(fd):
                last = entry
            seq = 0 if last is None else last.seq + 1
            fields = {
                "seq": seq,
                **what,
                "erased_at": erased_at.isoformat(),
                "reason": reason,
                "request_id": request_id,
                "prev": GENESIS if last is None else last.hash,
            }
            fields["hash"] = _entry_hash(fields)
            line = json.dumps(fields, sort_keys=True, separators=(",", ":")) + "\n"
            os.write(fd, line.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)  # closing releases the lock
        return _entry_from(fields)

    def entries(self) -> list[ErasureEntry]:
        """Every entry, chain-checked; raises :class:`LedgerCorrupt`."""
        if not self.path.exists():
            return []
        fd = os.open(self.path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            return list(self._read_fd(fd))
        finally:
            os.close(fd)

    def _read_fd(self, fd: int) -> Iterator[ErasureEntry]:
        os.lseek(fd, 0, os.SEEK_SET)
        with os.fdopen(os.dup(fd), "rb") as fh:
            prev = GENESIS
            for lineno, raw in enumerate(fh, start=1):
                if not raw.strip():
                    continue
                try:
                    fields = json.loads(raw)
                    entry = _entry_from(fields)
                except (ValueError, KeyError, TypeError):
                    raise LedgerCorrupt(f"erasure ledger line {lineno} is not a valid entry") from None
                if entry.prev != prev or _entry_hash(fields) != entry.hash:
                    raise LedgerCorrupt(f"erasure ledger hash chain breaks at line {lineno}")
                prev = entry.hash
                yield entry


def _entry_from(fields: dict) -> ErasureEntry:
    # Exactly one of the two: a line naming both, or neither, is not an entry.
    if ("subject_id" in fields) == ("system_key" in fields):
        raise KeyError("subject_id or system_key")
    return ErasureEntry(
        seq=int(fields["seq"]),
        subject_id=str(fields["subject_id"]) if "subject_id" in fields else None,
        erased_at=dt.datetime.fromisoformat(fields["erased_at"]),
        reason=str(fields["reason"]),
        request_id=fields.get("request_id"),
        prev=str(fields["prev"]),
        hash=str(fields["hash"]),
        system_key=str(fields["system_key"]) if "system_key" in fields else None,
    )
