"""The erasure ledger file: which subjects were crypto-shredded, when and why.

A database restored from a backup taken before an erasure still holds the
wrapped data key of the erased subject. The ledger is therefore written to a
file that lives *outside* the database and its backups (configure
``PIIVAULT_ERASURE_LEDGER`` on separately backed-up, append-only storage), and
``piivault keys replay-erasures`` re-shreds every subject in it after a restore.

Format: one JSON object per line, ``{"seq", "subject_id", "erased_at",
"reason", "request_id", "prev", "hash"}`` where ``hash`` is SHA-256 over the
canonical JSON of the other fields including ``prev`` (the previous line's
hash), so an edited or removed line in the middle is detected. No PII: subject
ids are random and reasons are short codes.

Durability: the entry is written whole (a short write is continued) and
fsynced *before* the shredding transaction commits, so a crash in between
leaves an entry whose shred the next replay completes, never a shred without
an entry. When writing or syncing fails (a full disk, a read-only or vanished
file system), the file is cut back to its previous length and
:class:`LedgerUnavailable` (503, retry later) is raised: the caller's
transaction rolls back and nothing is shredded. Every ``OSError`` on the file
becomes that error, logged with the path and never with the subject.

A crash between the write and the fsync can still leave a torn last line.
Reading refuses it (:class:`LedgerTorn`) rather than guessing; ``piivault keys
ledger check`` reports it and only ``piivault keys ledger repair`` cuts it
off, after keeping a copy of the file (:meth:`ErasureLedger.repair`).

A destroyed system key (an expired extract's pseudonym key) is ledgered the
same way, with ``"system_key": "<name>"`` in place of ``subject_id``, so that a
restore cannot bring it back either. Lines written before that field existed
hash and verify exactly as before (the hash covers the fields a line has);
a version of piivault that predates it refuses such a line as invalid
rather than misreading it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import errno
import fcntl
import hashlib
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from piivault import counting
from piivault.errors import ConfigurationError, UnavailableError

log = logging.getLogger(__name__)

GENESIS = "0" * 64
_READ_CHUNK = 1 << 20
_REPAIR_HINT = "run `piivault keys ledger check`, then `piivault keys ledger repair`"


def _counted(result: str) -> None:
    """One append in the erasure ledger metric."""
    metrics = counting.metrics()
    if metrics is not None:
        metrics.LEDGER_WRITES.labels(result=result).inc()


class LedgerCorrupt(ConfigurationError):
    """The erasure ledger file fails its hash chain check."""

    code = "erasure_ledger_corrupt"
    http_status = 503  # no fault of the caller: erasures wait until an operator mends the file


class LedgerTorn(LedgerCorrupt):
    """The erasure ledger ends in a torn line (a crash between a write and its fsync)."""

    code = "erasure_ledger_torn"


class LedgerUnavailable(UnavailableError):
    """The erasure ledger file could not be read or written (full, read-only or missing storage)."""

    code = "erasure_ledger_unavailable"


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


@dataclasses.dataclass(frozen=True)
class LedgerCheck:
    """What :meth:`ErasureLedger.check` found. ``ok`` only with every line whole and chained.

    ``torn_at``/``torn_bytes``: where the torn last line starts and how long it is;
    ``tail_is_entry``: it is a whole, chained entry that only lacks its line end.
    ``problem``: a break in the middle (an edited or removed line), which no repair mends.
    """

    path: str
    size: int
    entries: int
    last_seq: int | None
    torn_at: int | None = None
    torn_bytes: int = 0
    tail_is_entry: bool = False
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.torn_at is None and self.problem is None


@dataclasses.dataclass(frozen=True)
class LedgerRepair:
    """What :meth:`ErasureLedger.repair` did: the copy it kept, the bytes cut, a line end added."""

    copy: str | None
    removed_bytes: int
    completed_entry: bool


@dataclasses.dataclass
class _Scan:
    entries: list[ErasureEntry]
    size: int
    torn_at: int | None = None
    torn_line: int | None = None
    tail_entry: ErasureEntry | None = None
    problem: str | None = None

    def raise_if_bad(self) -> None:
        if self.problem is not None:
            raise LedgerCorrupt(self.problem)
        if self.torn_at is not None:
            raise LedgerTorn(
                f"the erasure ledger ends in a torn line (line {self.torn_line}, byte {self.torn_at}; "
                f"a crash during a write?): {_REPAIR_HINT}"
            )


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
        """Append one subject's erasure durably (whole line, fsync) and return it.

        Raises LedgerUnavailable (nothing was appended), LedgerCorrupt or LedgerTorn.
        """
        return self._append({"subject_id": subject_id}, reason, request_id, erased_at)

    def append_system_key(
        self, name: str, reason: str, request_id: str | None, erased_at: dt.datetime
    ) -> ErasureEntry:
        """Append the destruction of the system key ``name`` durably; raises as :meth:`append`."""
        return self._append({"system_key": name}, reason, request_id, erased_at)

    def _append(
        self, what: dict[str, str], reason: str, request_id: str | None, erased_at: dt.datetime
    ) -> ErasureEntry:
        with self._open(os.O_RDWR | os.O_CREAT | os.O_APPEND, fcntl.LOCK_EX) as fd:
            scan = self._scan(fd)
            scan.raise_if_bad()
            last = scan.entries[-1] if scan.entries else None
            fields = {
                "seq": 0 if last is None else last.seq + 1,
                **what,
                "erased_at": erased_at.isoformat(),
                "reason": reason,
                "request_id": request_id,
                "prev": GENESIS if last is None else last.hash,
            }
            fields["hash"] = _entry_hash(fields)
            line = json.dumps(fields, sort_keys=True, separators=(",", ":")) + "\n"
            try:
                _write_all(fd, line.encode("utf-8"))
                os.fsync(fd)
                if scan.size == 0:
                    _sync_directory(self.path.parent)  # a new file's name must survive a crash too
            except OSError as e:
                self._cut_back(fd, scan.size)
                _counted("failed")
                raise self._unavailable(e, "written") from None
        _counted("ok")
        return _entry_from(fields)

    def entries(self) -> list[ErasureEntry]:
        """Every entry, chain-checked; raises LedgerCorrupt, LedgerTorn or LedgerUnavailable."""
        scan = self._read()
        scan.raise_if_bad()
        return scan.entries

    def check(self) -> LedgerCheck:
        """Read the whole file and say what holds; never raises for what it finds.

        Raises LedgerUnavailable when the file cannot be read.
        """
        return self._report(self._read())

    def repair(self, now: dt.datetime) -> LedgerRepair:
        """Mend a torn last line: keep a copy of the file, then cut the torn bytes off.

        A tail that is a whole, chained entry lacking only its line end is kept
        and completed instead (its shred may be waiting for a replay). Nothing
        is done to a file without a torn line. Raises LedgerCorrupt for a break
        in the middle (restore the file from its replica instead) and
        LedgerUnavailable.
        """
        with self._open(os.O_RDWR, fcntl.LOCK_EX) as fd:
            scan = self._scan(fd)
            if scan.problem is not None:
                raise LedgerCorrupt(f"{scan.problem}: not a torn line; restore the file from its replica")
            if scan.torn_at is None:
                return LedgerRepair(copy=None, removed_bytes=0, completed_entry=False)
            copy = self._keep_copy(fd, scan.size, now)
            try:
                if scan.tail_entry is not None:
                    _write_all(fd, b"\n")  # O_RDWR without O_APPEND: position at the end first
                    removed = 0
                else:
                    os.ftruncate(fd, scan.torn_at)
                    removed = scan.size - scan.torn_at
                os.fsync(fd)
            except OSError as e:
                raise self._unavailable(e, "repaired") from None
        log.warning("erasure ledger %s repaired: torn line removed, copy kept at %s", self.path, copy)
        completed = scan.tail_entry is not None
        return LedgerRepair(copy=str(copy), removed_bytes=removed, completed_entry=completed)

    # -- file access ------------------------------------------------------------------
    @contextlib.contextmanager
    def _open(self, flags: int, lock: int) -> Iterator[int]:
        try:
            fd = os.open(self.path, flags, 0o600)
        except OSError as e:
            raise self._unavailable(e, "opened") from None
        try:
            fcntl.flock(fd, lock)
            yield fd
        except OSError as e:
            raise self._unavailable(e, "read") from None
        finally:
            with contextlib.suppress(OSError):  # closing releases the lock; the data is synced already
                os.close(fd)

    def _read(self) -> _Scan:
        if not self.path.exists():
            if not self.path.parent.is_dir():  # unmounted or removed: not "no erasures yet"
                raise self._unavailable(FileNotFoundError(errno.ENOENT, "no directory"), "read")
            return _Scan(entries=[], size=0)
        with self._open(os.O_RDONLY, fcntl.LOCK_SH) as fd:
            return self._scan(fd)

    def _scan(self, fd: int) -> _Scan:
        # Exactly the file's length (under the lock): never more, so a device such as
        # /dev/full, which reads as endless zero bytes, reads as empty.
        size = os.fstat(fd).st_size
        chunks = []
        offset = 0
        while offset < size:
            chunk = os.pread(fd, min(_READ_CHUNK, size - offset), offset)
            if not chunk:
                break
            chunks.append(chunk)
            offset += len(chunk)
        return _parse(b"".join(chunks), size)

    def _cut_back(self, fd: int, size: int) -> None:
        try:
            os.ftruncate(fd, size)
            os.fsync(fd)
        except OSError as e:
            log.error(
                "erasure ledger %s could not be cut back to %d bytes after a failed write (%s): %s",
                self.path,
                size,
                _errno_name(e),
                _REPAIR_HINT,
            )

    def _keep_copy(self, fd: int, size: int, now: dt.datetime) -> Path:
        copy = self.path.with_name(f"{self.path.name}.torn-{now.strftime('%Y%m%dT%H%M%S%fZ')}")
        try:
            out = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                _write_all(out, os.pread(fd, size, 0))
                os.fsync(out)
            finally:
                os.close(out)
            _sync_directory(copy.parent)
        except OSError as e:
            raise self._unavailable(e, "copied before its repair") from None
        os.lseek(fd, 0, os.SEEK_END)
        return copy

    def _unavailable(self, e: OSError, what: str) -> LedgerUnavailable:
        # The path, never the subject: the caller's error carries neither.
        name = _errno_name(e)
        log.error("erasure ledger %s could not be %s: %s", self.path, what, name)
        return LedgerUnavailable(f"the erasure ledger file could not be {what} ({name}); nothing was erased")

    def _report(self, scan: _Scan) -> LedgerCheck:
        last = scan.entries[-1].seq if scan.entries else None
        return LedgerCheck(
            path=str(self.path),
            size=scan.size,
            entries=len(scan.entries),
            last_seq=last,
            torn_at=scan.torn_at,
            torn_bytes=0 if scan.torn_at is None else scan.size - scan.torn_at,
            tail_is_entry=scan.tail_entry is not None,
            problem=scan.problem,
        )


def _parse(data: bytes, size: int) -> _Scan:
    """Chain-check every line; a bad *last* line is a torn tail, a bad line before another a break."""
    entries: list[ErasureEntry] = []
    prev = GENESIS
    lines = data.split(b"\n")
    last_line = max((i for i, raw in enumerate(lines) if raw.strip()), default=-1)
    offset = 0
    for index, raw in enumerate(lines):
        unterminated = index == len(lines) - 1
        start, offset = offset, offset + len(raw) + 1
        if not raw.strip():
            continue
        try:
            fields = json.loads(raw)
        except ValueError:
            # A write cut short leaves no whole JSON object; any other bad line was put there.
            if index == last_line:
                return _Scan(entries, size, torn_at=start, torn_line=index + 1)
            fields = None
        try:
            entry = _entry_from(fields)
        except (ValueError, KeyError, TypeError):
            return _Scan(entries, size, problem=f"erasure ledger line {index + 1} is not a valid entry")
        if entry.prev != prev or _entry_hash(fields) != entry.hash:
            return _Scan(entries, size, problem=f"erasure ledger hash chain breaks at line {index + 1}")
        if unterminated:  # whole and chained, but the write that ended it never finished
            return _Scan(entries, size, torn_at=start, torn_line=index + 1, tail_entry=entry)
        prev = entry.hash
        entries.append(entry)
    return _Scan(entries, size)


def _write_all(fd: int, data: bytes) -> None:
    """Write every byte: a short write (a nearly full disk, a signal) is continued."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:
            raise OSError(errno.EIO, "the write made no progress")
        view = view[written:]


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _errno_name(e: OSError) -> str:
    return errno.errorcode.get(e.errno or 0, type(e).__name__)


def _entry_from(fields: dict | None) -> ErasureEntry:
    if not isinstance(fields, dict):
        raise TypeError("an entry is a JSON object")
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
