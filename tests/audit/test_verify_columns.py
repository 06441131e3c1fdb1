"""Verification compares the indexed columns with the entry without parsing it: never wrongly."""

from __future__ import annotations

import datetime as dt
import itertools
import json

import pytest
import sqlalchemy as sa

from audit import tables as at
from audit.canonical import canonical_json
from audit.events import AuditEvent
from audit.verify_columns import ColumnCheck
from tests.audit.conftest import append, tampering

TIME = dt.datetime(2026, 5, 17, 8, 30, 1, 250, tzinfo=dt.UTC)
STAMP = "2026-05-17T08:30:01.000250Z"

TRICKY = ['say "hi"', "back\\slash", "line\nbreak", "tab\t\x01", "中文", "\u2028", ',"x":', "{[]}"]


def _row(seq: int = 7, **fields: object) -> tuple:
    """A stored row whose entry is what the sequencer writes for these fields."""
    event = AuditEvent(**{"action": "detokenize", "actor": "crm", **fields})  # type: ignore[arg-type]
    body = event.payload(TIME)
    body["seq"] = seq
    entry = canonical_json(body).decode()
    return (
        seq,
        entry,
        b"leaf",
        b"chain",
        STAMP,
        body["actor"],
        body["action"],
        body["subject_id"],
        body["purpose"],
        body["outcome"],
        body["request_id"],
    )


def _columns_match_parsed(row: tuple) -> bool:
    parsed = json.loads(row[1])
    fields = ("seq", "time", "actor", "action", "subject_id", "purpose", "outcome", "request_id")
    return tuple(parsed[name] for name in fields) == (row[0], *row[4:])


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"subject_id": "sub-1", "purpose": "aml_kyc", "request_id": "req-1", "reason": "why not"},
        {"outcome": "denied", "reason": None, "details": {"n": 1, "outcome": "success", "seq": 3}},
        # The suffix a forger would want the check to find, inside the details and the reason.
        {
            "details": {"request_id": None, "seq": 7, "subject_id": None, "time": STAMP},
            "reason": ',"request_id":null,"seq":7,"subject_id":null,"time":"' + STAMP + '"',
        },
        {"field_types": ("cn_mobile", "email"), "details": {"list": [1, {"a": "b"}]}},
    ],
)
def test_rows_the_sequencer_wrote_are_confirmed(fields):
    row = _row(**fields)
    assert ColumnCheck()(row)
    assert _columns_match_parsed(row)


@pytest.mark.parametrize("value", TRICKY)
def test_values_that_need_escaping_are_confirmed(value):
    row = _row(actor=value, subject_id=value, purpose=value, request_id=value)
    assert ColumnCheck()(row)


def test_a_reason_holding_a_bracket_is_left_to_the_parser():
    # Not confirmed (the caller parses it), although the columns agree.
    row = _row(reason="a {bracket}")
    assert not ColumnCheck()(row)
    assert _columns_match_parsed(row)


@pytest.mark.parametrize("position", range(4, 11))
@pytest.mark.parametrize("replacement", ["other", None, 'crm"', "crm\\", "", 5])
def test_a_changed_column_is_never_confirmed(position, replacement):
    row = _row(subject_id="sub-1", purpose="aml_kyc", request_id="req-1")
    changed = (*row[:position], replacement, *row[position + 1 :])
    if changed == row:
        return
    assert not ColumnCheck()(changed)


def test_a_changed_sequence_number_is_never_confirmed():
    row = _row()
    assert not ColumnCheck()((8, *row[1:]))


@pytest.mark.parametrize(
    "entry",
    [
        "{not json",
        "[]",
        "",
        '{"action":"detokenize","actor":"crm","details":{}}',
        # Columns of one event, moved into a nested object of another.
        '{"action":"detokenize","actor":"crm","details":{"outcome":"success","purpose":null,"reason":null,'
        '"request_id":null,"seq":7,"subject_id":null,"time":"' + STAMP + '"}}',
    ],
)
def test_entries_that_are_not_that_event_are_never_confirmed(entry):
    row = _row()
    assert not ColumnCheck()((row[0], entry, *row[2:]))


def test_the_fragment_cache_keeps_columns_apart():
    check = ColumnCheck()
    rows = [
        _row(seq, actor=actor, outcome=outcome, purpose=purpose)
        for seq, (actor, outcome, purpose) in enumerate(
            itertools.product(["crm", "risk"], ["success", "denied"], [None, "aml_kyc"])
        )
    ]
    assert all(check(row) for row in rows)
    # Swap the entries of two rows that share some columns but not all.
    for a, b in itertools.combinations(rows, 2):
        assert not check((a[0], b[1], *a[2:]))


def test_verification_of_escaped_and_bracketed_values(container, audit_log):
    append(container, 3, actor='crm "east"', purpose="aml\\kyc")
    append(container, 2, start=3, reason="held {for review}", subject_id="sub-\n")
    audit_log.checkpoint_now()
    report = audit_log.verify()
    assert report.ok, report.summary()

    with tampering(container) as conn:
        conn.execute(sa.update(at.events).where(at.events.c.seq == 4).values(subject_id="sub-"))
        conn.execute(sa.update(at.events).where(at.events.c.seq == 1).values(actor='crm "west"'))
    report = audit_log.verify()
    assert {(p.kind, p.index) for p in report.problems} == {("columns", 1), ("columns", 4)}


def test_verification_workers_do_not_import_the_main_module():
    # A spawned child imports the parent's __main__ first: for `piivault audit verify`,
    # the whole CLI, which costs more than the pages a worker checks.
    import multiprocessing.spawn
    import sys

    from audit.verify_pages import _without_main_module

    main = sys.modules["__main__"]
    with _without_main_module():
        data = multiprocessing.spawn.get_preparation_data("verify-worker")
    assert "init_main_from_path" not in data and "init_main_from_name" not in data
    assert sys.modules["__main__"] is main
