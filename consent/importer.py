"""Bulk import of existing consents (CSV or JSON), all rows or none.

Columns / keys::

    subject_id, purpose, action (grant | withdraw; default grant), channel,
    effective_at (ISO 8601 with a time zone), expires_at (optional),
    notice_version (optional: the purpose's current notice), separate
    (true/false, default false), evidence (optional: sha256:..., ref:...)

Every row is checked first; if any fails, nothing is written and the answer
lists the failing rows (row number, column, rule - never the value). Otherwise
every row is appended to the consent history in ONE transaction with ONE audit
event (counts and a SHA-256 of the input), in effective-time order. Imported
consents get no receipts: the original collection has its own evidence.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import hashlib
import io
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from audit.events import AuditEvent
from consent import consents
from consent import tables as t
from piivault.db import UnitOfWork
from piivault.ids import new_id
from piivault.sql import chunked, existing
from privacy import model as m
from privacy import purposes as _purposes
from privacy import subjects
from privacy import tables as pt
from privacy.errors import ImportRejected, InvalidConsent
from privacy.guards import begin, require_role
from tokenization.model import valid_subject_id

if TYPE_CHECKING:
    from collections.abc import Callable

    from fieldtypes import FieldTypeRegistry
    from privacy.catalogue import LivePurposeCatalogue

COLUMNS = (
    "subject_id",
    "purpose",
    "action",
    "channel",
    "effective_at",
    "expires_at",
    "notice_version",
    "separate",
    "evidence",
)
REQUIRED = ("subject_id", "purpose", "channel", "effective_at")
MAX_ROWS = 200_000
MAX_ERRORS = 1_000
INSERT_BATCH = 5_000
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no", "")


def parse(content: bytes, fmt: str) -> list[dict[str, Any]]:
    """Rows of a CSV (header line) or JSON (a list, or ``{"rows": [...]}``) document.

    Raises :class:`InvalidConsent` for a malformed document.
    """
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidConsent("the import must be UTF-8") from None
    if fmt == "json":
        try:
            data = json.loads(text)
        except ValueError:
            raise InvalidConsent("the import is not valid JSON") from None
        if isinstance(data, dict) and set(data) == {"rows"}:
            data = data["rows"]
        if not isinstance(data, list):
            raise InvalidConsent('a JSON import is a list of rows or {"rows": [...]}')
        return data
    if fmt != "csv":
        raise InvalidConsent("format must be csv or json")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    unknown = [c for c in header if c not in COLUMNS]
    if unknown:
        raise InvalidConsent(f"unknown CSV column {unknown[0][:64]!r}; columns are: {', '.join(COLUMNS)}")
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise InvalidConsent(f"the CSV header lacks {', '.join(missing)}")
    try:
        return list(reader)
    except csv.Error:
        raise InvalidConsent("the CSV is malformed") from None


def _time(raw: Any) -> dt.datetime:
    if isinstance(raw, str) and raw:
        parsed = dt.datetime.fromisoformat(raw.replace("Z", "+00:00") if raw.endswith("Z") else raw)
        if parsed.tzinfo is None:
            raise ValueError("naive")
        return parsed.astimezone(dt.UTC)
    raise ValueError("missing")


class _RowError(Exception):
    def __init__(self, column: str, rule: str) -> None:
        self.column, self.rule = column, rule


def _row(
    raw: Any,
    purposes: dict[str, m.PurposeDef],
    now: dt.datetime,
    looks_like_pii: Any,
    field_types: Any,
) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise _RowError("-", "a row must be an object")
    unknown = [k for k in raw if k not in COLUMNS]
    if unknown:
        raise _RowError(str(unknown[0])[:64], "unknown column")
    subject_id = raw.get("subject_id")
    if not isinstance(subject_id, str) or not valid_subject_id(subject_id):
        raise _RowError("subject_id", "8-64 letters, digits, '_' or '-' (not starting 'std_')")
    if looks_like_pii(subject_id):
        raise _RowError("subject_id", "looks like a personal identifier: use an opaque id")
    purpose = purposes.get(raw.get("purpose")) if isinstance(raw.get("purpose"), str) else None
    if purpose is None or not purpose.active:
        raise _RowError("purpose", "no such active purpose")
    if not purpose.consent_required:
        raise _RowError("purpose", "the purpose does not rest on consent")
    action = raw.get("action") or m.GRANT
    if action not in (m.GRANT, m.WITHDRAW):
        raise _RowError("action", "grant or withdraw")
    channel = raw.get("channel")
    if channel not in m.CHANNELS:
        raise _RowError("channel", f"one of {', '.join(m.CHANNELS)}")
    try:
        effective = _time(raw.get("effective_at"))
    except (ValueError, TypeError):
        raise _RowError("effective_at", "ISO 8601 time with a time zone") from None
    if effective > now:
        raise _RowError("effective_at", "not in the future")
    expires = raw.get("expires_at")
    if expires in (None, ""):
        expires_at = None
    else:
        try:
            expires_at = _time(expires)
        except (ValueError, TypeError):
            raise _RowError("expires_at", "ISO 8601 time with a time zone") from None
        if expires_at <= effective:
            raise _RowError("expires_at", "after effective_at")
    version = raw.get("notice_version")
    if version in (None, ""):
        version = purpose.notice_version
    else:
        try:
            version = int(version)
        except (TypeError, ValueError):
            raise _RowError("notice_version", "an integer") from None
        if not 1 <= version <= purpose.notice_version:
            raise _RowError("notice_version", "a published notice version of the purpose")
    separate = raw.get("separate", False)
    if isinstance(separate, str):
        if separate.strip().lower() not in _TRUE + _FALSE:
            raise _RowError("separate", "true or false")
        separate = separate.strip().lower() in _TRUE
    elif not isinstance(separate, bool):
        raise _RowError("separate", "true or false")
    if action == m.GRANT and purpose.separate_consent_required and not separate:
        raise _RowError("separate", "the purpose needs a separate consent")
    try:
        evidence = consents.check_evidence(raw.get("evidence") or None, field_types)
    except InvalidConsent as e:
        raise _RowError("evidence", e.message) from None
    return {
        "subject_id": subject_id,
        "purpose_code": purpose.code,
        "action": action,
        "notice_version": version,
        "separate": bool(separate) and action == m.GRANT,
        "channel": channel,
        "effective_at": effective,
        "expires_at": expires_at if action == m.GRANT else None,
        "evidence": evidence,
    }


@dataclasses.dataclass(frozen=True)
class ImportDeps:
    """What an import uses: the catalogue (seeded first: rows name its purposes), the field
    types that tell an opaque subject id from a personal identifier, and the clock."""

    catalogue: LivePurposeCatalogue
    field_types: FieldTypeRegistry
    clock: Callable[[], dt.datetime]


def validate(
    field_types: FieldTypeRegistry, session: Any, rows: list[Any], now: dt.datetime
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(checked rows, errors) - errors as ``{row, column, rule}`` (row 1 = the first data row)."""
    purposes = {p.code: p for p in _purposes.all_purposes(session)}
    seen: dict[str, bool] = {}

    def looks_like_pii(subject_id: str) -> bool:
        found = seen.get(subject_id)
        if found is None:
            found = seen[subject_id] = field_types.looks_like_identifier(subject_id)
        return found

    checked: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for number, raw in enumerate(rows, start=1):
        try:
            checked.append(_row(raw, purposes, now, looks_like_pii, field_types))
        except _RowError as e:
            errors.append({"row": number, "column": e.column, "rule": e.rule})
    if errors:
        return checked, errors
    subject_ids = {r["subject_id"] for r in checked}
    subjects.keep_from_erasure(session, subject_ids)  # till the rows are in: an erasure deletes them
    erased = existing(session, t.tombstones.c.subject_id, subject_ids)
    erased |= existing(session, pt.subjects.c.subject_id, subject_ids, pt.subjects.c.state == subjects.ERASED)
    for number, row in enumerate(checked, start=1):
        if row["subject_id"] in erased:
            errors.append({"row": number, "column": "subject_id", "rule": "the subject was erased"})
    return checked, errors


def run(
    deps: ImportDeps,
    uow: UnitOfWork,
    actor: m.Actor,
    content: bytes,
    fmt: str,
    *,
    request_id: str | None = None,
) -> dict[str, Any]:
    """Import every row or none; returns ``{rows, grants, withdrawals, subjects, sha256}``.

    Raises NotAllowed, InvalidConsent (a malformed document), ImportRejected
    (with ``row_errors``; nothing written), StorageUnavailable.
    """
    require_role(actor, m.IMPORT_ROLES, "import consents")
    rows = parse(content, fmt)
    if not rows:
        raise InvalidConsent("the import has no rows")
    if len(rows) > MAX_ROWS:
        raise InvalidConsent(f"at most {MAX_ROWS} rows per import")
    session = begin(deps.catalogue, uow)
    now = deps.clock()
    checked, errors = validate(deps.field_types, session, rows, now)
    if errors:
        raise ImportRejected(f"{len(errors)} row(s) invalid; nothing was imported", errors[:MAX_ERRORS])
    digest = hashlib.sha256(content).hexdigest()
    ordered = sorted(checked, key=lambda r: r["effective_at"])
    insert(session, ordered, actor.name, now, request_id)
    grants = sum(1 for r in checked if r["action"] == m.GRANT)
    summary = {
        "rows": len(checked),
        "grants": grants,
        "withdrawals": len(checked) - grants,
        "subjects": len({r["subject_id"] for r in checked}),
        "sha256": digest,
    }
    uow.record(AuditEvent(action="consent.import", actor=actor.name, request_id=request_id, details=summary))
    uow.commit()
    return summary


def insert(
    session: Any, rows: Iterable[dict[str, Any]], actor: str, now: dt.datetime, request_id: str | None
) -> None:
    """Append checked rows in the caller's transaction, as fast as the database takes them.

    PostgreSQL: ``COPY ... FROM STDIN``; SQLite: one prepared INSERT, executemany,
    with the columns' own bind processing (so stored times read back as usual).
    """
    values = [
        (
            new_id("cns_"),
            r["subject_id"],
            r["purpose_code"],
            r["action"],
            r["notice_version"],
            r["separate"],
            r["channel"],
            r["effective_at"],
            r["expires_at"],
            r["evidence"],
            "import",
            actor,
            now,
            request_id,
        )
        for r in rows
    ]
    connection = session.connection()
    names = ", ".join(_COLUMNS)
    if connection.dialect.name == "postgresql":
        driver = connection.connection.driver_connection
        with driver.cursor() as cursor, cursor.copy(f"COPY {pt.records.name} ({names}) FROM STDIN") as copy:
            for row in values:
                copy.write_row(row)
        return
    processors = [pt.records.c[c].type.bind_processor(connection.dialect) for c in _COLUMNS]
    marks = ", ".join("?" for _ in _COLUMNS)
    statement = f"INSERT INTO {pt.records.name} ({names}) VALUES ({marks})"  # noqa: S608 - fixed names
    for chunk in chunked(values, INSERT_BATCH):
        connection.exec_driver_sql(
            statement,
            [tuple(v if p is None else p(v) for p, v in zip(processors, row, strict=True)) for row in chunk],
        )


_COLUMNS = (
    "record_id",
    "subject_id",
    "purpose_code",
    "action",
    "notice_version",
    "separate",
    "channel",
    "effective_at",
    "expires_at",
    "evidence",
    "source",
    "recorded_by",
    "recorded_at",
    "request_id",
)
