"""Consents through the client: grant, renew, withdraw, history, signed receipts, bulk import."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from piivault_client import Conflict, ValidationFailed
from tests.client.conftest import new_customer


def test_grant_renew_withdraw_and_the_history(service):
    sid = new_customer(service, "cust-consent-01")
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    granted = service.consents.grant(sid, "risk_scoring", "web", expires_at=later, evidence="ref:web-1")
    assert granted["consent"]["state"] == "granted" and granted["record"]["action"] == "grant"
    assert granted["receipt"]["signature"] and granted["receipt_id"] == granted["record"]["receipt_id"]
    renewed = service.consents.renew(sid, "risk_scoring", "app", expires_at=later + dt.timedelta(days=365))
    assert renewed["record"]["action"] == "renew"
    withdrawn = service.consents.withdraw(sid, "risk_scoring", "phone", evidence="ref:call-77")
    assert withdrawn["consent"]["state"] == "withdrawn"
    history = service.consents.history(sid)
    assert [(r["purpose"], r["action"]) for r in history] == [
        ("marketing", "grant"),
        ("risk_scoring", "grant"),
        ("risk_scoring", "renew"),
        ("risk_scoring", "withdraw"),
    ]
    states = {c["purpose"]: c["state"] for c in service.consents.of(sid)["consents"]}
    assert states == {"marketing": "granted", "risk_scoring": "withdrawn"}
    with pytest.raises(Conflict):
        service.consents.renew(sid, "risk_scoring", "app")


def test_receipts_and_their_public_key(service):
    sid = new_customer(service, "cust-consent-02")
    receipt_id = service.consents.of(sid)["history"][0]["receipt_id"]
    signed = service.consents.receipt(receipt_id)
    assert signed["receipt"]["consentReceiptID"] == receipt_id and signed["signature"]
    key = service.consents.receipt_public_key()
    assert key["alg"].lower() == "ed25519" and key["public_key"]


def test_import_is_all_or_nothing_and_names_the_failing_rows(dpo, service):
    sid = new_customer(service, "cust-import-01")
    rows = [
        {
            "subject_id": sid,
            "purpose": "risk_scoring",
            "action": "grant",
            "channel": "branch",
            "effective_at": "2025-01-02T09:00:00+08:00",
        },
    ]
    summary = dpo.consents.import_(json.dumps(rows), format="json")
    assert summary["rows"] == 1 and summary["grants"] == 1 and summary["sha256"]
    csv = (
        "subject_id,purpose,action,channel,effective_at\n"
        + f"{sid},marketing,grant,carrier_pigeon,2025-01-02\n"
    )
    with pytest.raises(ValidationFailed) as e:
        dpo.consents.import_(csv)
    assert e.value.title == "import rejected" and e.value.errors["rows"]
    [refused] = e.value.item_errors
    assert refused.field == "channel" and refused.index == e.value.errors["rows"][0]["row"]
