"""The PII values the test suite uses, and a scanner that looks for them where they must never be.

Issue 3: "after the suite's scenarios, no audit row contains any of the PII
values the tests used". Values reach :data:`REGISTRY` two ways:

* **registered** (for the whole session): the suite's shared made-up
  customer (:data:`COMMON`) and whatever a test module passes to :func:`register`;
* **captured** (:func:`capturing`, on for the whole session from
  ``tests/conftest.py``): every value a field type normalizes - tokenize,
  lookup, correction, anonymize's ``tokenize`` operator, valid or not (an
  invalid value is the likeliest to end up quoted in an error) - with its
  normalized form, and every string found *valid* as a resident ID, mobile,
  bank card, credit code or email (what ``looks_like_identifier`` tests in
  request and subject ids, what the free-text recognizers confirm). Captured
  values are kept until the next test starts (see :class:`Registry`).

:func:`forms` widens each value to the spellings it could be stored in:
digits only, a mobile with and without ``+86``, a card in groups of four, JSON
``\\u`` escapes, hex and base64 of its UTF-8. Matching ignores case (an ID's
``x``/``X``, an email's case).

:func:`scan_database` reads every column of every ``audit_*`` table;
:func:`scan_logs` reads log records; :func:`assert_clean` does both. The
``container`` fixture runs :func:`check_after_test` when each test ends: that
test's audit tables and log records, on whichever database it ran. Values too short to search
for without matching unrelated text (under 6 characters, 8 for digits, 2 for
Chinese) are not searched; a failure message masks the value it found.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import logging
import re
import threading
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from fieldtypes.checksums import GB11643, LUHN
from fieldtypes.model import FieldType

# The made-up customer most test modules share (tests/api_tokens, tests/consent, ...).
COMMON = (
    GB11643.complete("11010519900307123"),
    LUHN.complete("622202020011234567"),
    "13812345678",
    "张三丰",
    "zhang.sanfeng@example.com",
    "张伟",
)
# Field types whose *valid* values are personal data by themselves (checked by is_valid).
IDENTIFIER_CODES = frozenset({"cn_resident_id", "cn_mobile", "bank_card", "cn_uscc", "email"})
AUDIT_TABLE_PREFIX = "audit_"


@dataclasses.dataclass(frozen=True)
class Finding:
    """Where a PII value was found: ``table.column[key]`` or ``log:<logger>``, and which value (masked)."""

    where: str
    value: str

    def __str__(self) -> str:
        return f"{self.where}: {self.value}"


class Registry:
    """Thread-safe sets of PII values; :meth:`patterns` caches their searchable forms.

    ``registered`` values last the session. ``captured`` ones are forgotten
    when the next test starts (:meth:`forget_captured`): each test has a fresh
    database, so a captured value can only reach it if that test used it
    again - and then it is captured again. Searching every test's database for
    every value the session ever saw (thousands, with the demo data) would
    cost seconds per test and find nothing more.
    """

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._registered: set[str] = set()
        self._captured: set[str] = set()
        self._patterns: dict[str, str] | None = None
        self.add(*values)

    def add(self, *values: str, captured: bool = False) -> None:
        with self._lock:
            into = self._captured if captured else self._registered
            new = {v for v in values if isinstance(v, str) and v.strip()} - into
            if new:
                into |= new
                self._patterns = None

    def forget_captured(self) -> None:
        with self._lock:
            if self._captured:
                self._captured = set()
                self._patterns = None

    def __contains__(self, value: str) -> bool:
        return value in self._registered or value in self._captured

    def __len__(self) -> int:
        return len(self.values())

    def values(self) -> frozenset[str]:
        return frozenset(self._registered | self._captured)

    def patterns(self) -> dict[str, str]:
        """Upper-cased searchable form -> the masked value it stands for."""
        with self._lock:
            if self._patterns is None:
                patterns: dict[str, str] = {}
                for value in sorted(self._registered | self._captured):
                    for form in forms(value):
                        patterns.setdefault(form.upper(), mask(value))
                self._patterns = patterns
            return self._patterns


REGISTRY = Registry(COMMON)


def register(*values: str) -> None:
    """Add PII values a test uses to the session's registry."""
    REGISTRY.add(*values)


def mask(value: str) -> str:
    """Enough of ``value`` to recognize it in a failure message, not the value."""
    keep = 1 if len(value) <= 4 else 3
    return value[:keep] + "*" * max(len(value) - keep - 2, 1) + (value[-2:] if len(value) > 4 else "")


def forms(value: str) -> set[str]:
    """The spellings of ``value`` to search for (long enough to be unambiguous)."""
    v = value.strip()
    squashed = "".join(v.split())
    if not _searchable(squashed):
        return set()  # nor its encodings: they would stand for a value too short to mean anything
    found = {v, " ".join(v.split()), squashed}
    digits = re.sub(r"[^0-9Xx]", "", squashed).upper()
    if len(digits) >= 8 and len(digits) >= 0.7 * len(squashed):
        found.add(digits)
        bare = digits[2:] if len(digits) == 13 and digits.startswith("86") else digits
        if len(bare) == 11 and bare.startswith("1"):  # a mobile: +86 or 0086 before it still contains it
            parts = (bare[:3], bare[3:7], bare[7:])
            found |= {bare, " ".join(parts), "-".join(parts)}
        if 15 <= len(digits) <= 19 and digits.isdigit():  # a card in groups of four
            groups = [digits[i : i + 4] for i in range(0, len(digits), 4)]
            found |= {" ".join(groups), "-".join(groups)}
    raw = v.encode("utf-8")
    found |= {json.dumps(v)[1:-1], raw.hex(), base64.b64encode(raw).decode("ascii")}
    return {f for f in found if _searchable(f)}


def _searchable(form: str) -> bool:
    if any(ord(c) > 0x7F for c in form):
        return len(form) >= 2
    return len(form) >= (8 if form.isdigit() else 6)


def find(text: str, patterns: dict[str, str]) -> list[str]:
    """The masked values whose forms occur in ``text`` (case-insensitive)."""
    return sorted(set(present(text.upper(), patterns).values()))


_DIRECT_LIMIT = 500  # forms; beyond this one pass over the text with a dict is faster
_ANCHOR = 6


def present(upper: str, patterns: dict[str, str]) -> dict[str, str]:
    """The patterns (upper-case forms) that occur in ``upper`` (an upper-cased text).

    Few patterns: one ``in`` per form. Many (a test that tokenized thousands of
    values): forms are indexed by their first six characters and the text is
    walked once, so the cost no longer grows with the number of forms.
    """
    if len(patterns) <= _DIRECT_LIMIT:
        return {form: label for form, label in patterns.items() if form in upper}
    found: dict[str, str] = {}
    by_anchor: dict[str, list[str]] = {}
    for form, label in patterns.items():
        if len(form) >= _ANCHOR:
            by_anchor.setdefault(form[:_ANCHOR], []).append(form)
        elif form in upper:
            found[form] = label
    get = by_anchor.get
    for i in range(len(upper) - _ANCHOR + 1):
        candidates = get(upper[i : i + _ANCHOR])
        if candidates:
            found.update((form, patterns[form]) for form in candidates if upper.startswith(form, i))
    return found


# -- where to look -----------------------------------------------------------------
def audit_tables(bind: sa.Engine | sa.Connection) -> list[str]:
    return sorted(t for t in sa.inspect(bind).get_table_names() if t.startswith(AUDIT_TABLE_PREFIX))


def scan_database(engine: sa.Engine, registry: Registry = REGISTRY) -> tuple[list[Finding], int]:
    """Every column of every ``audit_*`` table; returns the findings and the number of cells read.

    Bytes are read as Latin-1, so that a value stored raw in a binary column is found too.
    """
    patterns = registry.patterns()
    findings: list[Finding] = []
    cells = 0
    with engine.connect() as conn:
        for name in audit_tables(conn):
            # SELECT * rather than reflection: a new column is scanned too, and PostgreSQL's
            # catalogue queries would cost more than the scan.
            result = conn.execute(sa.select(sa.text("*")).select_from(sa.table(name)))
            columns = list(result.keys())
            key = columns[0]
            texts: list[tuple[str, str]] = []
            for row in result:
                for column, cell in zip(columns, row, strict=True):
                    if cell is None:
                        continue
                    cells += 1
                    texts.append((f"{name}.{column}[{key}={row[0]}]", _text(cell)))
            # One search of the whole table per form; rows only when something is there.
            hits = present("\n".join(text for _, text in texts).upper(), patterns)
            for where, text in texts:
                findings += [Finding(where, label) for label in find(text, hits)]
    return findings, cells


LogEntry = tuple[str, str]
"""A log record as scanned: logger name, and its message, arguments and exception text."""


def scan_logs(
    records: Iterable[logging.LogRecord | LogEntry], registry: Registry = REGISTRY
) -> list[Finding]:
    """Each record's message, arguments and exception text."""
    patterns = registry.patterns()
    findings = []
    for record in records:
        name, text = record if isinstance(record, tuple) else log_entry(record)
        findings += [Finding(f"log:{name}", label) for label in find(text, patterns)]
    return findings


def log_entry(record: logging.LogRecord) -> LogEntry:
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a bad format string still has its parts scanned
        message = str(record.msg)
    exc_text = record.exc_text
    if record.exc_info and not exc_text:
        exc_text = logging.Formatter().formatException(record.exc_info)
    parts = (message, record.msg, record.args, exc_text)
    return record.name, "\n".join(str(part) for part in parts if part)


def _text(cell: Any) -> str:
    if isinstance(cell, bytes | bytearray | memoryview):
        return bytes(cell).decode("latin-1")
    return str(cell)


def assert_clean(engine: sa.Engine, records: Iterable[logging.LogRecord | LogEntry] = ()) -> int:
    """Fail if an audit row or a log record holds a registered PII value; returns cells read.

    Raises:
        AssertionError: listing where each value was found (masked).
    """
    findings, cells = scan_database(engine)
    _fail_on(findings + scan_logs(records))
    return cells


def _fail_on(findings: list[Finding]) -> None:
    if findings:
        shown = "\n  ".join(str(f) for f in findings[:20])
        more = f"\n  ... and {len(findings) - 20} more" if len(findings) > 20 else ""
        raise AssertionError(f"PII found where it must never be:\n  {shown}{more}")


def start_test() -> int:
    """What the ``container`` fixture runs first: forget the last test's captured values; a log mark."""
    REGISTRY.forget_captured()
    return LOGS.mark()


def check_after_test(engine: sa.Engine, log_mark: int) -> None:
    """What the ``container`` fixture runs at teardown: this test's logs, then its audit tables.

    A test that took its database away (an outage test, a dropped schema) leaves
    nothing to scan there; its log records are still checked.

    Raises:
        AssertionError: a registered PII value was found.
    """
    findings = scan_logs(LOGS.since(log_mark))
    with contextlib.suppress(sa.exc.SQLAlchemyError):
        findings += scan_database(engine)[0]
    _fail_on(findings)


# -- collecting values and log records ----------------------------------------------
@contextlib.contextmanager
def capturing(registry: Registry = REGISTRY) -> Iterator[Registry]:
    """Register every value field types normalize, and every valid identifier, while active."""
    normalize, is_valid = FieldType.normalize_and_validate, FieldType.is_valid

    def normalize_and_register(self: FieldType, value: str) -> str:
        registry.add(value, captured=True)
        result = normalize(self, value)
        registry.add(result, captured=True)
        return result

    def is_valid_and_register(self: FieldType, value: str) -> bool:
        valid = is_valid(self, value)
        if valid and self.code in IDENTIFIER_CODES:
            registry.add(value, captured=True)
        return valid

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(FieldType, "normalize_and_validate", normalize_and_register)
        patch.setattr(FieldType, "is_valid", is_valid_and_register)
        yield registry


class LogCollector(logging.Handler):
    """Keeps the text of every record that reaches the root logger, for :func:`scan_logs`.

    Text, not records: a record's traceback would keep every frame of the session alive.
    """

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.entries: list[LogEntry] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.entries.append(log_entry(record))

    def mark(self) -> int:
        return len(self.entries)

    def since(self, mark: int) -> list[LogEntry]:
        return self.entries[mark:]


LOGS = LogCollector()
