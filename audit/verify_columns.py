"""Whether an event's indexed columns say what its hashed entry says (for :mod:`audit.verify`).

The indexed columns are compared with the entry without parsing it: the
entry is canonical JSON with sorted keys, so an entry whose fields equal the
columns begins with ``{"action":A,"actor":B,"details":``, ends with
``,"request_id":R,"seq":S,"subject_id":T,"time":"..."}`` and holds
``,"outcome":O,"purpose":P,"reason":`` right before its reason; those
fragments are built from the columns (JSON-escaped as the sequencer escapes
them) and compared as text. That is sound for any well-formed JSON entry
without duplicate keys, which every entry the sequencer wrote is (and the
tree and the signed checkpoints check that the entries are the ones it
wrote): the first fragment opens the top-level object; the others begin
with a comma, which cannot lie inside a string (the quote after it would end
the string and leave a bare word, which is not JSON); and nothing after them
opens or closes a nested value (the reason between the last two is checked
for brackets), so they are members of the top-level object. A row the
fragments do not confirm (an edited column, an entry that is not JSON, a
reason holding a bracket) is parsed as JSON and compared field by field,
which also says what differs. (On SQLite the database's JSON functions,
which run in this process and in C, compare a page first; only a page with
a row they do not confirm is compared here.)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from operator import itemgetter
from typing import Any

from audit.verify_report import VerifyReport

FIELDS = ("seq", "time", "actor", "action", "subject_id", "purpose", "outcome", "request_id")
COLUMN_TIME = {
    "postgresql": "to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')",
    # SQLAlchemy stores SQLite datetimes as 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC here).
    "sqlite": "substr(time, 1, 10) || 'T' || substr(time, 12) || 'Z'",
}
# SQLite: the column check in the database's JSON functions, which run in this process
# and in C, and there cost less than fetching the seven columns and comparing them here.
SQLITE_CHECKED_EVENTS = (
    """
SELECT seq, payload, leaf_hash, chain_hash,
       json_extract(payload, '$.seq') IS seq
       AND json_extract(payload, '$.time') IS """
    + COLUMN_TIME["sqlite"]
    + """
       AND json_extract(payload, '$.actor') IS actor
       AND json_extract(payload, '$.action') IS action
       AND json_extract(payload, '$.subject_id') IS subject_id
       AND json_extract(payload, '$.purpose') IS purpose
       AND json_extract(payload, '$.outcome') IS outcome
       AND json_extract(payload, '$.request_id') IS request_id
FROM audit_events
WHERE seq >= ? AND seq < ?
ORDER BY seq
"""
)


class ColumnCheck:
    """Whether a row's indexed columns are the fields of its entry, without parsing the entry.

    Builds the fragments a canonical entry with those fields must begin with,
    end with and hold before its reason (see the module docstring for why
    finding them is enough), with the sequencer's JSON string escaping. The
    fragments of the few columns that repeat across many events (action and
    actor; outcome and purpose) are kept. False means "not confirmed", not
    "different": the caller then parses the entry.
    """

    def __init__(self) -> None:
        self._heads: dict[tuple[Any, Any], str] = {}
        self._middles: dict[tuple[Any, Any], str] = {}

    def __call__(self, row: Sequence[Any]) -> bool:
        seq, payload, _, _, when, actor, action, subject_id, purpose, outcome, request_id = row
        try:
            head = self._heads.get((action, actor)) or self._head(action, actor)
            # encode_basestring raises TypeError for a column that is not text (SQLite).
            request = "null" if request_id is None else encode_basestring(request_id)
            subject = "null" if subject_id is None else encode_basestring(subject_id)
            stamp = encode_basestring(when)
            tail = f',"request_id":{request},"seq":{seq:d},"subject_id":{subject},"time":{stamp}}}'
            if not (payload.startswith(head) and payload.endswith(tail)):
                return False
            middle = self._middles.get((outcome, purpose)) or self._middle(outcome, purpose)
        except (TypeError, ValueError, AttributeError):  # a column or entry of another type (SQLite)
            return False
        end = len(payload) - len(tail)
        at = payload.rfind(middle, len(head), end)
        if at < 0:
            return False
        # The reason itself: a string or null, with no bracket that could open a nested value.
        reason = payload[at + len(middle) : end]
        return reason == "null" or not _BRACKETS.intersection(reason)

    def _head(self, action: Any, actor: Any) -> str:
        head = f'{{"action":{_json_string(action)},"actor":{_json_string(actor)},"details":'
        self._heads[(action, actor)] = head
        return head

    def _middle(self, outcome: Any, purpose: Any) -> str:
        middle = f',"outcome":{_json_string(outcome)},"purpose":{_json_string(purpose)},"reason":'
        self._middles[(outcome, purpose)] = middle
        return middle


_BRACKETS = frozenset("{}[]")


def _json_string(value: str | None) -> str:
    """A string column as canonical JSON writes it (json.dumps with ensure_ascii=False).

    Raises:
        TypeError: the value is neither a string nor None.
    """
    if value is None:
        return "null"
    if type(value) is not str:
        raise TypeError("not a string column")
    return encode_basestring(value)


def check_columns_parsed(row: Sequence[Any], report: VerifyReport) -> None:
    """Parse the entry and compare its fields with the row's indexed columns, saying what differs."""
    seq = row[0]
    try:
        claimed = _claimed_fields(json.loads(row[1]))
    except (ValueError, TypeError, KeyError):
        report.flag("entry", seq, f"event {seq}: its entry is not a complete JSON event")
        return
    if claimed != (seq, *row[4:]):
        report.flag("columns", seq, _column_message(seq, claimed, row))


_claimed_fields = itemgetter(*FIELDS)


def _column_message(seq: int, claimed: tuple[Any, ...], row: Sequence[Any]) -> str:
    stored = (seq, *row[4:])
    differing = [name for name, a, b in zip(FIELDS, claimed, stored, strict=True) if a != b]
    if differing == ["seq"]:
        return f"event {seq}: its entry is for sequence number {claimed[0]}"
    return f"event {seq}: stored {', '.join(differing)} differ(s) from the hashed entry"
