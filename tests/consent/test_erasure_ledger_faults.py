"""Completing an erasure whose ledger line cannot be written (issue 16): 503, nothing shredded.

The campaign's failure: with the ledger on a full file system the request
answered 200 with a certificate and destroyed the data key while the ledger
kept half a line. Here the ledger is on ``/dev/full`` (ENOSPC), on a location
no file can be created in (EACCES, even for root), or ends in a torn line left
by a crash: each time the answer is 503 with the problem's type, the request
stays approved, the subject's value still opens, and the ledger is as it was.
"""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from tests.conftest import make_settings
from tests.consent.conftest import second_dpo_approves
from tests.consent.test_api_scenarios import SUBJECT, detok, dsr, tokenize
from vault import subject_owner
from vault.ledger import ErasureLedger

EMAIL = "durable.ledger@example.com"  # an email only: no retention hold, so erasure shreds at once
UNWRITABLE = "/sys/piivault-erasure-ledger.jsonl"  # sysfs creates no file, not even for root


@pytest.fixture(params=["full-disk", "read-only", "torn"])
def fault(request) -> str:
    return request.param


@pytest.fixture
def settings(database_url, bao, tmp_path, fault):
    path = {"full-disk": "/dev/full", "read-only": UNWRITABLE}.get(fault, str(tmp_path / "ledger.jsonl"))
    pin = str(tmp_path / "audit-public-key.txt")  # not next to the ledger: /dev or /sys
    return make_settings(database_url, bao, tmp_path, erasure_ledger=path, audit_public_key_file=pin)


def _tear(ledger: ErasureLedger) -> bytes:
    ledger.append("cust-earlier", "dsr-erasure", None, dt.datetime.now(dt.UTC))
    line = ledger.path.read_bytes()
    ledger.path.write_bytes(line[: len(line) // 2])  # power lost before the fsync
    return ledger.path.read_bytes()


def test_an_erasure_the_ledger_cannot_record_is_503_and_shreds_nothing(
    client, keys, container, fault, caplog
):
    caplog.set_level(logging.ERROR, "vault.ledger")
    ledger = container.keyring.ledger
    torn = _tear(ledger) if fault == "torn" else None
    token = tokenize(client, keys, items=[{"field_type": "email", "value": EMAIL}])["email"]
    dsr_id = dsr(client, keys, "erasure")
    for step, body in (("verify-identity", {"method": "id_document"}), ("approve", {})):
        assert client.post(f"/v1/dsr/{dsr_id}/{step}", json=body, headers=keys["dpo"]).status_code == 200
    # Four eyes first: the refusal names the request, a second DPO approves it.
    second_dpo_approves(client, keys, client.post(f"/v1/dsr/{dsr_id}/complete", json={}, headers=keys["dpo"]))

    resp = client.post(f"/v1/dsr/{dsr_id}/complete", json={}, headers=keys["dpo"])

    assert resp.status_code == 503, resp.json
    assert resp.mimetype == "application/problem+json"
    expected = "erasure_ledger_torn" if fault == "torn" else "erasure_ledger_unavailable"
    assert resp.json["type"].endswith(expected) and SUBJECT not in resp.get_data(as_text=True)
    if fault != "torn":
        assert int(resp.headers["Retry-After"]) > 0
        logged = [r.getMessage() for r in caplog.records if r.name == "vault.ledger"]
        assert any(str(ledger.path) in m for m in logged) and not any(SUBJECT in m for m in logged)
    # Nothing was shredded: the value opens, the request is still approved, the ledger unchanged.
    assert detok(client, keys, "account_service", [token]) == [{"value": EMAIL}]
    assert client.get(f"/v1/dsr/{dsr_id}", headers=keys["dpo"]).json["state"] == "approved"
    with container.session_factory() as s:
        assert subject_owner(SUBJECT) in container.keyring.stored_keys(s, [subject_owner(SUBJECT)])
    if fault == "torn":
        assert ledger.path.read_bytes() == torn
        # The operator's explicit `piivault keys ledger repair`, then the erasure goes through.
        assert ledger.repair(dt.datetime.now(dt.UTC)).removed_bytes == len(torn)
        done = client.post(f"/v1/dsr/{dsr_id}/complete", json={}, headers=keys["dpo"])
        assert done.status_code == 200 and done.json["outcome"]["action"] == "erased"
        assert detok(client, keys, "account_service", [token]) == [{"error": "erased", "reason": "erased"}]
    else:
        assert ledger.entries() == []
