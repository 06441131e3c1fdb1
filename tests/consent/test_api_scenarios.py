"""Scenarios through the HTTP API: consent enforcement, receipts, erasure under an AML hold, DSRs."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from consent import tables as t
from piivault.cli import main
from privacy import tables as pt
from tests.consent.conftest import (
    CARD,
    ID_NUMBER,
    MOBILE,
    NAME,
    audit_payloads,
    package_approved,
    second_dpo_approves,
)

SUBJECT = "cust-0001"


def tokenize(client, keys, subject_id=SUBJECT, items=None) -> dict[str, str]:
    items = items or [
        {"field_type": "name", "value": NAME},
        {"field_type": "cn_mobile", "value": MOBILE},
        {"field_type": "cn_resident_id", "value": ID_NUMBER},
        {"field_type": "bank_card", "value": CARD},
    ]
    body = {"items": [{**i, "subject_id": subject_id} for i in items]}
    resp = client.post("/v1/tokenize", json=body, headers=keys["service"])
    assert resp.status_code == 200, resp.json
    return {i["field_type"]: r["token"] for i, r in zip(items, resp.json["items"], strict=True)}


def detok(client, keys, purpose, tokens, role="service"):
    resp = client.post("/v1/detokenize", json={"purpose": purpose, "tokens": tokens}, headers=keys[role])
    assert resp.status_code == 200, resp.json
    return resp.json["items"]


def grant(client, keys, purpose="marketing", subject_id=SUBJECT, **body):
    resp = client.post(
        f"/v1/subjects/{subject_id}/consents",
        json={"purpose": purpose, "channel": "app", **body},
        headers=keys["service"],
    )
    assert resp.status_code == 201, resp.json
    return resp.json


def dsr(client, keys, type_, subject_id=SUBJECT):
    resp = client.post(
        "/v1/dsr", json={"subject_id": subject_id, "type": type_, "channel": "app"}, headers=keys["service"]
    )
    assert resp.status_code == 201, resp.json
    return resp.json["dsr_id"]


def work(client, keys, dsr_id, **complete):
    for step, body in (("verify-identity", {"method": "id_document"}), ("approve", {})):
        resp = client.post(f"/v1/dsr/{dsr_id}/{step}", json=body, headers=keys["dpo"])
        assert resp.status_code == 200, resp.json
    resp = client.post(f"/v1/dsr/{dsr_id}/complete", json=complete, headers=keys["dpo"])
    if resp.status_code == 403 and resp.json["type"].endswith("/approval_required"):  # an erasure: four eyes
        second_dpo_approves(client, keys, resp)
        resp = client.post(f"/v1/dsr/{dsr_id}/complete", json=complete, headers=keys["dpo"])
    assert resp.status_code == 200, resp.json
    return resp.json


def test_withdrawn_consent_blocks_the_very_next_detokenize(client, keys, container):
    mobile = tokenize(client, keys)["cn_mobile"]
    grant(client, keys)
    assert detok(client, keys, "marketing", [mobile]) == [{"value": MOBILE}]
    resp = client.post(
        f"/v1/subjects/{SUBJECT}/consents/marketing/withdraw",
        json={"channel": "app"},
        headers=keys["service"],
    )
    assert resp.status_code == 201 and resp.json["consent"]["state"] == "withdrawn"
    assert resp.json["receipt"]["receipt"]["action"] == "withdraw"
    assert detok(client, keys, "marketing", [mobile]) == [{"error": "denied", "reason": "withdrawn"}]
    denied = [
        e for e in audit_payloads(container) if e["action"] == "detokenize" and e["outcome"] == "denied"
    ]
    assert denied[-1]["reason"] == "withdrawn" and denied[-1]["purpose"] == "marketing"
    assert MOBILE not in json.dumps(audit_payloads(container))


def test_expired_consent(client, keys, clock):
    mobile = tokenize(client, keys)["cn_mobile"]
    grant(client, keys, expires_at=_in(clock, days=30))
    assert detok(client, keys, "marketing", [mobile]) == [{"value": MOBILE}]
    clock.advance(days=31)
    assert detok(client, keys, "marketing", [mobile]) == [{"error": "denied", "reason": "expired"}]
    state = client.get(f"/v1/subjects/{SUBJECT}/consents", headers=keys["dpo"]).json["consents"][0]
    assert state["state"] == "expired"


def _in(clock, **delta):
    import datetime as dt

    return (clock.now + dt.timedelta(**delta)).isoformat()


def test_reasons_for_separate_and_no_consent(client, keys):
    tokens = tokenize(client, keys)
    assert detok(client, keys, "risk_scoring", [tokens["name"]]) == [
        {"error": "denied", "reason": "no consent"}
    ]
    grant(client, keys, purpose="risk_scoring")
    assert detok(client, keys, "risk_scoring", [tokens["name"], tokens["bank_card"]]) == [
        {"value": NAME},
        {"error": "denied", "reason": "separate consent missing"},
    ]


def test_receipt_verifies_offline_and_fails_after_one_changed_byte(client, keys, tmp_path, container):
    receipt = grant(client, keys)["receipt"]
    key = client.get("/v1/consent-receipts/public-key", headers=keys["analyst"]).json["public_key"]
    good = tmp_path / "receipt.json"
    good.write_text(json.dumps(receipt, ensure_ascii=False, indent=2), encoding="utf-8")
    runner = CliRunner()
    ok = runner.invoke(main, ["consent", "verify-receipt", str(good), "--public-key", key])
    assert ok.exit_code == 0, ok.output
    assert "valid" in ok.output and receipt["receipt"]["consentReceiptID"] in ok.output
    raw = good.read_bytes()
    spot = raw.index(b'"marketing"') + 3
    bad = tmp_path / "tampered.json"
    bad.write_bytes(raw[:spot] + bytes([raw[spot] ^ 0x01]) + raw[spot + 1 :])
    failed = runner.invoke(main, ["consent", "verify-receipt", str(bad), "--public-key", key])
    assert failed.exit_code == 1 and failed.output.startswith("invalid:")


def test_erasure_under_an_aml_hold(client, keys, container, clock):
    tokens = tokenize(client, keys)
    opened = client.post(f"/v1/subjects/{SUBJECT}/open", json={}, headers=keys["service"])
    assert opened.status_code == 200 and opened.json["opened_at"], opened.json
    grant(client, keys)
    dsr_id = dsr(client, keys, "erasure")
    done = work(client, keys, dsr_id)
    assert done["state"] == "completed" and done["outcome"]["action"] == "restricted"
    assert done["outcome"]["shred_due_at"] is None  # the relationship has not ended: no end yet
    # Restricted now: every purpose denied except the hold's own, for the roles it names.
    assert detok(client, keys, "marketing", [tokens["cn_mobile"]]) == [
        {"error": "restricted", "reason": "restricted"}
    ]
    assert detok(client, keys, "aml_kyc", [tokens["cn_resident_id"]]) == [{"value": ID_NUMBER}]
    closed = client.post(f"/v1/subjects/{SUBJECT}/close", json={}, headers=keys["service"])
    assert closed.status_code == 200, closed.json
    ends = closed.json["holds"][0]["ends_at"]
    assert ends.startswith(str(clock.now.year + 5))
    runner = CliRunner()
    # Before the hold ends, nothing is shredded.
    assert container.consent.run_jobs().shredded == 0
    clock.advance(days=5 * 366 + 1)
    report = container.consent.run_jobs()
    assert report.shredded == 1 and len(report.certificates) == 1
    # Nothing opens: tokens are gone (tombstones say "erased"), the data key is gone.
    results = detok(client, keys, "aml_kyc", list(tokens.values()))
    assert results == [{"error": "erased", "reason": "erased"}] * len(tokens)
    subject = client.get(f"/v1/subjects/{SUBJECT}", headers=keys["dpo"]).json
    assert subject["state"] == "erased" and subject["token_count"] == 0
    cert = client.get(f"/v1/consent-receipts/{report.certificates[0]}", headers=keys["dpo"]).json
    key = client.get("/v1/consent-receipts/public-key", headers=keys["dpo"]).json["public_key"]
    path = container.settings.erasure_ledger
    with open(path, encoding="utf-8") as ledger:
        assert SUBJECT in ledger.read()
    cert_file = container.settings.erasure_ledger + ".cert.json"
    with open(cert_file, "w", encoding="utf-8") as fh:
        json.dump(cert, fh)
    verified = runner.invoke(main, ["consent", "verify-receipt", cert_file, "--public-key", key])
    assert verified.exit_code == 0, verified.output
    assert cert["receipt"]["requestID"] == dsr_id and cert["receipt"]["removed"]["tokens"] == 4
    request = client.get(f"/v1/dsr/{dsr_id}", headers=keys["dpo"]).json
    assert request["outcome"]["certificate_id"] == report.certificates[0]
    assert request["steps"][-1]["reason_code"] == "erasure_carried_out"
    # Running the jobs again does nothing.
    assert container.consent.run_jobs().shredded == 0
    with container.session_factory() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(pt.records)) == 0
        assert s.scalar(sa.select(t.tombstones.c.dsr_id)) == dsr_id


def test_erasure_without_a_hold_shreds_at_once(client, keys, container):
    tokens = tokenize(client, keys, items=[{"field_type": "email", "value": "a.b@example.com"}])
    dsr_id = dsr(client, keys, "erasure")
    done = work(client, keys, dsr_id)
    assert done["outcome"]["action"] == "erased"
    certificate = done["receipts"][0]
    assert certificate["receipt"]["piiPrincipalId"] == SUBJECT
    erased = {"error": "erased", "reason": "erased"}
    assert detok(client, keys, "account_service", [tokens["email"]]) == [erased]
    resp = client.post(
        f"/v1/subjects/{SUBJECT}/consents",
        json={"purpose": "marketing", "channel": "app"},
        headers=keys["service"],
    )
    assert resp.status_code == 409


def test_overdue_requests_are_listed(client, keys, clock):
    tokenize(client, keys, items=[{"field_type": "email", "value": "a.b@example.com"}])
    late = dsr(client, keys, "access")
    clock.advance(days=10)
    on_time = dsr(client, keys, "access")
    clock.advance(days=6)
    listed = client.get("/v1/dsr?overdue=true", headers=keys["dpo"]).json["requests"]
    assert [r["dsr_id"] for r in listed] == [late]
    assert listed[0]["overdue"] is True
    everything = client.get("/v1/dsr", headers=keys["dpo"]).json["requests"]
    assert {r["dsr_id"] for r in everything} == {late, on_time}
    assert client.get("/v1/dsr", headers=keys["service"]).status_code == 403


def test_access_package(client, keys, container):
    tokens = tokenize(client, keys)
    grant(client, keys)
    detok(client, keys, "marketing", [tokens["cn_mobile"]])
    dsr_id = dsr(client, keys, "access")
    assert client.get(f"/v1/dsr/{dsr_id}/package", headers=keys["dpo"]).status_code == 409  # not approved
    work(client, keys, dsr_id)
    # Plain values: the DPO asks for the dsr.package grant; a second DPO approves it.
    package_approved(client, keys, dsr_id)
    resp = client.get(f"/v1/dsr/{dsr_id}/package", headers=keys["dpo"])
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    package = resp.json
    assert {v["value"] for v in package["values"]} == {NAME, MOBILE, ID_NUMBER, CARD}
    assert package["consents"]["current"][0]["purpose"] == "marketing"
    uses = [u for u in package["uses"] if u["action"] == "detokenize"]
    assert uses and uses[0]["purpose"] == "marketing" and uses[0]["proven"]
    assert all(e["inclusion_proof"] is not None for e in package["audit_log"]["events"])
    page = client.get(f"/v1/dsr/{dsr_id}/package?format=html", headers=keys["dpo"])
    assert page.status_code == 200 and page.mimetype == "text/html" and NAME in page.get_data(as_text=True)
    downloads = [e for e in audit_payloads(container) if e["action"] == "dsr.access_package"]
    assert len(downloads) == 2 and all(NAME not in json.dumps(e) for e in downloads)


def test_correction_keeps_the_token(client, keys, container):
    tokens = tokenize(client, keys)
    dsr_id = dsr(client, keys, "correction")
    done = work(client, keys, dsr_id, corrections=[{"token": tokens["cn_mobile"], "value": "13900001111"}])
    assert done["outcome"] == {"corrected": 1, "field_types": ["cn_mobile"]}
    assert detok(client, keys, "aml_kyc", [tokens["cn_mobile"]]) == [{"value": "13900001111"}]
    found = client.post(
        "/v1/tokens/lookup",
        json={"purpose": "aml_kyc", "field_type": "cn_mobile", "value": "13900001111"},
        headers=keys["service"],
    ).json["tokens"]
    assert [f["token"] for f in found] == [tokens["cn_mobile"]]
    old = client.post(
        "/v1/tokens/lookup",
        json={"purpose": "aml_kyc", "field_type": "cn_mobile", "value": MOBILE},
        headers=keys["service"],
    ).json["tokens"]
    assert old == []
    assert "13900001111" not in json.dumps(audit_payloads(container))


def test_correction_with_an_invalid_value_changes_nothing(client, keys):
    tokens = tokenize(client, keys)
    dsr_id = dsr(client, keys, "correction")
    for step, body in (("verify-identity", {"method": "in_person"}), ("approve", {})):
        client.post(f"/v1/dsr/{dsr_id}/{step}", json=body, headers=keys["dpo"])
    resp = client.post(
        f"/v1/dsr/{dsr_id}/complete",
        json={"corrections": [{"token": tokens["cn_mobile"], "value": "12345"}]},
        headers=keys["dpo"],
    )
    assert resp.status_code == 422 and "12345" not in resp.get_data(as_text=True)
    assert client.get(f"/v1/dsr/{dsr_id}", headers=keys["dpo"]).json["state"] == "approved"


def test_restriction_and_lifting_it(client, keys):
    tokens = tokenize(client, keys)
    dsr_id = dsr(client, keys, "restriction")
    work(client, keys, dsr_id)
    assert detok(client, keys, "account_service", [tokens["name"]]) == [
        {"error": "restricted", "reason": "restricted"}
    ]
    resp = client.post(
        f"/v1/subjects/{SUBJECT}/lift-restriction",
        json={"reason_code": "request_resolved"},
        headers=keys["dpo"],
    )
    assert resp.status_code == 200 and resp.json["state"] == "active"
    assert detok(client, keys, "account_service", [tokens["name"]]) == [{"value": NAME}]


def test_withdraw_all(client, keys):
    tokens = tokenize(client, keys)
    grant(client, keys, purpose="marketing")
    grant(client, keys, purpose="risk_scoring", separate=True)
    done = work(client, keys, dsr(client, keys, "withdraw_all"))
    assert sorted(done["outcome"]["withdrawn"]) == ["marketing", "risk_scoring"]
    assert len(done["receipts"]) == 2 and all(r["receipt"]["action"] == "withdraw" for r in done["receipts"])
    assert detok(client, keys, "risk_scoring", [tokens["name"]])[0]["reason"] == "withdrawn"


def test_rejection_needs_a_reason_and_ends_the_request(client, keys):
    tokenize(client, keys, items=[{"field_type": "email", "value": "a.b@example.com"}])
    dsr_id = dsr(client, keys, "erasure")
    assert client.post(f"/v1/dsr/{dsr_id}/reject", json={}, headers=keys["dpo"]).status_code == 422
    resp = client.post(f"/v1/dsr/{dsr_id}/reject", json={"reason_code": "duplicate"}, headers=keys["dpo"])
    assert resp.status_code == 200 and resp.json["state"] == "rejected"
    assert [s["to_state"] for s in resp.json["steps"]] == ["received", "rejected"]
    again = client.post(f"/v1/dsr/{dsr_id}/approve", json={}, headers=keys["dpo"])
    assert again.status_code == 409


def test_a_request_for_a_subject_piivault_does_not_know_is_404(client, keys):
    # A typo in a subject id must not open a request (and a due date) for nobody.
    resp = client.post(
        "/v1/dsr",
        json={"subject_id": "cust-9999", "type": "access", "channel": "app"},
        headers=keys["service"],
    )
    assert resp.status_code == 404 and resp.json["type"].endswith("/subject_not_found"), resp.json
    assert client.get("/v1/dsr", headers=keys["dpo"]).json["requests"] == []


def test_a_subject_known_only_by_its_consents_can_file_a_request(client, keys):
    grant(client, keys)
    assert dsr(client, keys, "access")


def test_skipping_a_step_is_refused(client, keys):
    tokenize(client, keys, items=[{"field_type": "email", "value": "a.b@example.com"}])
    dsr_id = dsr(client, keys, "access")
    resp = client.post(f"/v1/dsr/{dsr_id}/approve", json={}, headers=keys["dpo"])
    assert resp.status_code == 409 and resp.mimetype == "application/problem+json"


def test_legal_hold_delays_erasure_until_its_end(client, keys, container, clock):
    tokenize(client, keys, items=[{"field_type": "email", "value": "a.b@example.com"}])
    hold = client.post(
        f"/v1/subjects/{SUBJECT}/holds",
        json={"reason_code": "litigation", "ends_at": _in(clock, days=90), "note": "case 2026-17"},
        headers=keys["dpo"],
    )
    assert hold.status_code == 201, hold.json
    done = work(client, keys, dsr(client, keys, "erasure"))
    assert done["outcome"]["action"] == "restricted" and done["outcome"]["shred_due_at"]
    clock.advance(days=45)
    assert container.consent.run_jobs().shredded == 0
    clock.advance(days=46)
    assert container.consent.run_jobs().shredded == 1


def test_purposes_are_managed_with_history(client, keys):
    spec = {
        "code": "cross_border_payments",
        "name_zh": "跨境支付",
        "name_en": "Cross-border payments",
        "legal_basis": "consent",
        "separate_consent_required": True,
        "separate_grounds": ["cross_border"],
        "third_parties": ["SWIFT correspondent banks"],
        "field_types": ["name", "bank_card"],
        "retention": "5 years after the payment",
        "notice": {"text_zh": "我们会将您的姓名和卡号提供给境外代理行。"},
    }
    assert client.post("/v1/purposes", json=spec, headers=keys["service"]).status_code == 403
    created = client.post("/v1/purposes", json=spec, headers=keys["dpo"])
    assert created.status_code == 201, created.json
    assert created.json["consent_required"] is True and created.json["version"] == 1
    patched = client.patch(
        "/v1/purposes/cross_border_payments", json={"field_types": ["name"]}, headers=keys["admin"]
    )
    assert patched.status_code == 200 and patched.json["version"] == 2
    notice = client.post(
        "/v1/purposes/cross_border_payments/notices",
        json={"text_zh": "新版告知", "material": True},
        headers=keys["dpo"],
    )
    assert notice.status_code == 201 and notice.json["version"] == 2
    history = client.get("/v1/purposes/cross_border_payments/history", headers=keys["analyst"]).json
    assert [v["change"] for v in history["versions"]] == ["created", "updated", "notice"]
    assert history["versions"][0]["definition"]["field_types"] == ["bank_card", "name"]
    bad = client.post(
        "/v1/purposes", json={**spec, "code": "x2", "legal_basis": "gut_feeling"}, headers=keys["dpo"]
    )
    assert bad.status_code == 422
    retired = client.patch("/v1/purposes/cross_border_payments", json={"retired": True}, headers=keys["dpo"])
    assert retired.json["retired"] is True
    codes = [p["code"] for p in client.get("/v1/purposes", headers=keys["dpo"]).json["purposes"]]
    assert "cross_border_payments" not in codes


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_bulk_import_all_or_nothing(client, keys, container, fmt):
    rows = [
        {
            "subject_id": f"cust-{i:05d}",
            "purpose": "marketing",
            "channel": "branch",
            "effective_at": "2024-01-02T03:04:05+08:00",
        }
        for i in range(50)
    ]
    bad = [*rows, {"subject_id": "13812345678x", "purpose": "nope", "channel": "app", "effective_at": "x"}]
    resp = _import(client, keys, bad, fmt)
    assert resp.status_code == 422 and resp.json["errors"]["rows"][0]["row"] == 51
    with container.session_factory() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(pt.records)) == 0
    resp = _import(client, keys, rows, fmt)
    assert resp.status_code == 201 and resp.json["rows"] == 50 and resp.json["grants"] == 50
    states = client.get("/v1/subjects/cust-00007/consents", headers=keys["dpo"]).json["consents"]
    assert states[0]["state"] == "granted"


def _import(client, keys, rows, fmt):
    if fmt == "json":
        return client.post("/v1/consents/import", json=rows, headers=keys["dpo"])
    header = "subject_id,purpose,channel,effective_at\n"
    text = header + "".join(
        f"{r['subject_id']},{r['purpose']},{r['channel']},{r['effective_at']}\n" for r in rows
    )
    return client.post(
        "/v1/consents/import", data=text.encode(), headers={**keys["dpo"], "Content-Type": "text/csv"}
    )
