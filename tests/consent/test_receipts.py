"""Consent receipts: Kantara v1.1 fields, the audit event index, Ed25519 over canonical JSON."""

from __future__ import annotations

import base64
import json

import pytest

from consent import receipts
from privacy.errors import ReceiptInvalid
from tests.consent.conftest import DPO, SERVICE, call


def _published_key(svc) -> bytes:
    return base64.b64decode(svc.receipt_public_key()["public_key"])


def test_a_grant_returns_a_signed_kantara_receipt(container, svc):
    answer = call(
        container, "grant", SERVICE, "cust-0001", "marketing", channel="app", evidence="ref:form-77"
    )
    document = answer["receipt"]
    body = receipts.verify(json.dumps(document), _published_key(svc))
    assert body["version"] == "KI-CR-v1.1.0"
    for field in (
        "jurisdiction",
        "consentTimestamp",
        "collectionMethod",
        "consentReceiptID",
        "piiPrincipalId",
        "piiControllers",
        "policyUrl",
        "services",
        "sensitive",
        "spiCat",
    ):
        assert field in body
    purpose = body["services"][0]["purposes"][0]
    assert purpose["purposeCategory"] == ["marketing"] and purpose["consentType"] == "EXPLICIT"
    assert {"piiCategory", "termination", "thirdPartyDisclosure", "thirdPartyName"} <= set(purpose)
    assert body["legalBasis"] == "consent" and body["noticeVersion"] == 1
    assert body["piiPrincipalId"] == "cust-0001" and body["collectionMethod"] == "app"
    event = container.audit.get_event(body["auditEventIndex"])
    assert (
        event.action == "consent.grant"
        and json.loads(event.entry)["details"]["receipt_id"] == body["consentReceiptID"]
    )


def test_withdrawal_has_its_receipt_and_receipts_can_be_read_again(container, svc):
    call(container, "grant", SERVICE, "cust-0001", "marketing", channel="app")
    answer = call(container, "withdraw", SERVICE, "cust-0001", "marketing", channel="phone")
    assert answer["receipt"]["receipt"]["action"] == "withdraw"
    again = call(container, "get_receipt", DPO, answer["receipt_id"])
    assert again == answer["receipt"]


def test_a_receipt_erased_while_it_is_read_is_not_found(container, svc, monkeypatch):
    """The subject is erased between the read that finds the receipt and its signing: the
    answer is "no such receipt" (404), not "retry" (409) for a receipt that will never come."""
    from privacy.errors import ReceiptNotFound
    from tests.erasing import erase_subject

    receipt_id = call(container, "grant", SERVICE, "cust-0001", "marketing", channel="app")["receipt_id"]
    finalize = type(svc.receipts)._finalize

    def erased_first(self, rid):
        assert erase_subject(container, "cust-0001")["action"] == "erased"
        return finalize(self, rid)

    monkeypatch.setattr(type(svc.receipts), "_finalize", erased_first)  # a frozen dataclass
    with pytest.raises(ReceiptNotFound):
        call(container, "get_receipt", DPO, receipt_id)


def test_one_changed_byte_fails_verification(container, svc):
    document = call(container, "grant", SERVICE, "cust-0001", "marketing", channel="app")["receipt"]
    raw = json.dumps(document, ensure_ascii=False).encode("utf-8")
    key = _published_key(svc)
    receipts.verify(raw, key)
    spot = raw.index(b'"cust-0001"') + 5
    tampered = raw[:spot] + bytes([raw[spot] ^ 0x01]) + raw[spot + 1 :]
    with pytest.raises(ReceiptInvalid):
        receipts.verify(tampered, key)


def test_every_single_byte_change_fails(container, svc):
    document = call(container, "grant", SERVICE, "cust-0001", "marketing", channel="app")["receipt"]
    raw = json.dumps(document, separators=(",", ":")).encode("ascii")
    key = _published_key(svc)
    failures = 0
    for i in range(0, len(raw), 7):
        changed = raw[:i] + bytes([raw[i] ^ 0x02]) + raw[i + 1 :]
        try:
            receipts.verify(changed, key)
        except ReceiptInvalid:
            failures += 1
        else:  # only a change JSON itself ignores may pass: none exists in compact ASCII
            pytest.fail(f"byte {i} changed and the receipt still verified")
    assert failures


def test_another_key_does_not_verify(container, svc):
    from vault import Signer

    document = call(container, "grant", SERVICE, "cust-0001", "marketing", channel="app")["receipt"]
    with pytest.raises(ReceiptInvalid, match="not signed with this public key"):
        receipts.verify(document, Signer.generate().public_key)
    forged = receipts.sign(Signer.generate(), document["receipt"])
    with pytest.raises(ReceiptInvalid):
        receipts.verify(forged, _published_key(svc))


def test_signing_waits_when_the_audit_log_cannot_be_read(container, svc, monkeypatch):
    from piivault.errors import StorageUnavailable

    def down(**kwargs):
        raise StorageUnavailable("database unavailable")

    monkeypatch.setattr(svc.audit, "search_events", down)
    answer = call(container, "grant", SERVICE, "cust-0001", "marketing", channel="app")
    assert answer["receipt"] is None and answer["consent"]["state"] == "granted"
    monkeypatch.undo()
    document = call(container, "get_receipt", DPO, answer["receipt_id"])
    assert receipts.verify(document, _published_key(svc))["consentReceiptID"] == answer["receipt_id"]


def test_no_audit_record_no_consent(container, svc, monkeypatch):
    import sqlalchemy as sa

    from consent import tables as t
    from privacy import tables as pt

    def broken(session, events):
        raise ValueError("audit sink refused the event")

    svc.catalogue.ensure_seeded()
    monkeypatch.setattr(container, "audit_sink", broken)
    with pytest.raises(ValueError):
        call(container, "grant", SERVICE, "cust-0001", "marketing", channel="app")
    with container.session_factory() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(pt.records)) == 0
        assert s.scalar(sa.select(sa.func.count()).select_from(t.receipts)) == 0


def test_the_cli_prints_the_key_and_verifies_with_it(container, svc, tmp_path):
    from click.testing import CliRunner

    from piivault.cli import main
    from tests.api.conftest import settings_env

    document = call(container, "grant", SERVICE, "cust-0001", "marketing", channel="app")["receipt"]
    path = tmp_path / "r.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    env = settings_env(container)
    printed = CliRunner().invoke(main, ["consent", "public-key"], env=env)
    assert (
        printed.exit_code == 0
        and json.loads(printed.output)["public_key"] == svc.receipt_public_key()["public_key"]
    )
    key_file = tmp_path / "key.txt"
    key_file.write_text(json.loads(printed.output)["public_key"], encoding="ascii")
    offline = CliRunner().invoke(
        main, ["consent", "verify-receipt", str(path), "--public-key", f"@{key_file}"]
    )
    assert offline.exit_code == 0, offline.output
    online = CliRunner().invoke(main, ["consent", "verify-receipt", str(path)], env=env)
    assert online.exit_code == 0, online.output
    garbage = CliRunner().invoke(main, ["consent", "verify-receipt", str(path), "--public-key", "nope"])
    assert garbage.exit_code == 1 and "invalid" in garbage.output


def test_verify_receipt_takes_the_output_of_consent_public_key(container, svc, tmp_path):
    """`piivault consent public-key > key.json` then `verify-receipt --public-key key.json`."""
    from click.testing import CliRunner

    from piivault.cli import main
    from tests.api.conftest import settings_env

    document = call(container, "grant", SERVICE, "cust-0001", "marketing", channel="app")["receipt"]
    path = tmp_path / "r.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    printed = CliRunner().invoke(main, ["consent", "public-key"], env=settings_env(container))
    assert printed.exit_code == 0, printed.output
    key_file = tmp_path / "key.json"
    key_file.write_text(printed.output, encoding="utf-8")
    bare = json.loads(printed.output)["public_key"]
    for given in (str(key_file), f"@{key_file}", bare, printed.output):
        done = CliRunner().invoke(main, ["consent", "verify-receipt", str(path), "--public-key", given])
        assert done.exit_code == 0 and done.output.startswith("valid: "), (given, done.output)
    from vault import Signer

    published = json.loads(printed.output)
    other_key = base64.b64encode(Signer.generate().public_key).decode()
    refused = {
        "not signed with this public key": published | {"public_key": other_key},
        "not an Ed25519 key": published | {"alg": "RS256"},
    }
    for reason, document_json in refused.items():
        key_file.write_text(json.dumps(document_json), encoding="utf-8")
        args = ["consent", "verify-receipt", str(path), "--public-key", str(key_file)]
        done = CliRunner().invoke(main, args)
        assert done.exit_code == 1 and reason in done.output, done.output
