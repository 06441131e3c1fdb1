"""Destroyed system keys in the erasure ledger: the old format keeps verifying, entries chain on,
malformed lines are refused, and the keyring ledgers (and replays) only keys that existed."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest

from vault import ErasureLedger, system_owner
from vault.ledger import GENESIS, LedgerCorrupt

WHEN = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)


def _old_line(seq: int, subject_id: str, prev: str) -> tuple[str, str]:
    """A line exactly as piivault wrote them before system keys were ledgered."""
    fields = {
        "seq": seq,
        "subject_id": subject_id,
        "erased_at": WHEN.isoformat(),
        "reason": "dsr-erasure",
        "request_id": None,
        "prev": prev,
    }
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    fields["hash"] = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return json.dumps(fields, sort_keys=True, separators=(",", ":")), fields["hash"]


def test_old_entries_verify_and_new_kinds_chain_onto_them(tmp_path) -> None:
    first, h0 = _old_line(0, "cust-0001", GENESIS)
    second, _ = _old_line(1, "cust-0002", h0)
    path = tmp_path / "ledger.jsonl"
    path.write_text(first + "\n" + second + "\n")
    ledger = ErasureLedger(path)
    entry = ledger.append_system_key("extract/ext_a", "extract-expired", None, WHEN)
    ledger.append("cust-0003", "dsr-erasure", "dsr_1", WHEN)
    entries = ledger.entries()
    assert [(e.seq, e.subject_id, e.system_key) for e in entries] == [
        (0, "cust-0001", None),
        (1, "cust-0002", None),
        (2, None, "extract/ext_a"),
        (3, "cust-0003", None),
    ]
    assert entries[2] == entry and entry.as_json()["system_key"] == "extract/ext_a"
    assert "subject_id" not in entry.as_json()
    assert path.read_text().splitlines()[:2] == [first, second]  # the old lines are untouched


@pytest.mark.parametrize(
    ("updates", "drop"),
    [
        ({"subject_id": "cust-0009"}, None),  # both kinds on one line
        ({}, "system_key"),  # neither
        ({"system_key": "extract/ext_c"}, None),  # edited
    ],
    ids=["both", "neither", "edited"],
)
def test_malformed_or_edited_system_key_lines_are_refused(tmp_path, updates, drop) -> None:
    ledger = ErasureLedger(tmp_path / "ledger.jsonl")
    ledger.append("cust-0001", "dsr-erasure", None, WHEN)
    ledger.append_system_key("extract/ext_a", "extract-expired", None, WHEN)
    lines = ledger.path.read_text().splitlines()
    fields = json.loads(lines[1]) | updates
    fields.pop(drop, None)
    ledger.path.write_text(lines[0] + "\n" + json.dumps(fields) + "\n")
    with pytest.raises(LedgerCorrupt, match="line 2"):
        ledger.entries()


def test_only_existing_system_keys_are_ledgered_and_replayed(container) -> None:
    keyring = container.keyring
    with container.session_factory() as s:
        keyring.system_key(s, "extract/ext_live")
        keyring.system_key(s, "extract/ext_gone")
        s.commit()
    with container.session_factory() as s:
        assert keyring.destroy_system_key(s, "extract/ext_gone", "extract-expired") is True
        assert keyring.destroy_system_key(s, "extract/ext_never", "extract-expired") is False
        s.commit()
    ledgered = [e.system_key for e in keyring.ledger.entries()]
    assert ledgered == ["extract/ext_gone"]
    with container.session_factory() as s:
        assert keyring.pending_system_keys(s) == []
        report = keyring.replay_erasures(s)
        s.commit()
    assert report.system_keys == ("extract/ext_gone",)
    assert report.system_keys_destroyed == 0 and report.recorded == 0  # gone already; no subject rows
    with container.session_factory() as s:  # the live key is untouched
        assert system_owner("extract/ext_live") in keyring.data_keys(s, [system_owner("extract/ext_live")])
