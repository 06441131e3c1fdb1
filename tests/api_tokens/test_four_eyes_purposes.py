"""Issue 15, item 2: purpose changes that widen access need another DPO's approval.

A widening change (more field types, a legal basis other than consent, consent
no longer required, ...) answers 202 with a ``purpose.widen`` approval request
and leaves the purpose as it was; a DPO, another person, approves and exactly
the change asked for applies (bound to the digest of the definition it makes).
Narrowing changes apply at once. The attacks: self-approval, the same person
through a second key, slipping another change in between asking and approving,
filing a crafted request by hand, and a key naming nobody.
"""

from __future__ import annotations

from api.app import create_app
from tests.api_tokens.conftest import bearer
from tests.consent.conftest import audit_payloads


def patch(client, key: str, code: str, **changes):
    return client.patch(f"/v1/purposes/{code}", json=changes, headers=bearer(key))


def purpose(client, key: str, code: str) -> dict:
    return client.get(f"/v1/purposes/{code}", headers=bearer(key)).json


def approve(client, key: str, approval_id: str):
    return client.post(f"/v1/approvals/{approval_id}/approve", headers=bearer(key))


def test_narrowing_applies_at_once_and_widening_waits_for_another_dpo(client, container, make_key):
    dai = make_key("dpo", name="dai-dpo", person="dai")
    narrowed = patch(client, dai, "marketing", field_types=["name", "email"])
    assert narrowed.status_code == 200 and narrowed.json["field_types"] == ["email", "name"]
    assert narrowed.json["approval_id"] is None
    version = narrowed.json["version"]

    widened = patch(client, dai, "marketing", field_types=["name", "email", "cn_resident_id"])
    assert widened.status_code == 202, widened.json
    assert widened.json["approval_state"] == "pending" and widened.json["widens"] == ["field_types"]
    now = purpose(client, dai, "marketing")
    assert now["version"] == version and "cn_resident_id" not in now["field_types"]

    request = client.get(f"/v1/approvals/{widened.json['approval_id']}", headers=bearer(dai)).json
    assert request["action"] == "purpose.widen" and request["scope"]["target"] == "marketing"
    assert request["scope"]["digest"].startswith("sha256:")
    # The asker may not approve, through this key or another of theirs.
    own = approve(client, dai, widened.json["approval_id"])
    assert own.status_code == 403 and own.json["type"].endswith("/self_approval")
    second = make_key("dpo", name="dai-second", person="dai")
    assert approve(client, second, widened.json["approval_id"]).json["type"].endswith("/self_approval")
    assert "cn_resident_id" not in purpose(client, dai, "marketing")["field_types"]

    don = make_key("dpo", name="don-dpo", person="don")
    done = approve(client, don, widened.json["approval_id"])
    assert done.status_code == 200 and done.json["state"] == "approved"
    after = purpose(client, dai, "marketing")
    assert after["version"] == version + 1
    assert after["field_types"] == ["cn_resident_id", "email", "name"]
    updates = [e for e in audit_payloads(container) if e["action"] == "purpose.update"]
    assert updates[-1]["details"]["approval_id"] == widened.json["approval_id"]
    assert updates[-1]["details"]["approved_by"] == ["don"]


def test_legal_basis_and_consent_requirements_widen(client, make_key):
    dai = make_key("dpo", name="dai-dpo", person="dai")
    basis = patch(client, dai, "marketing", legal_basis="contract", consent_required=False)
    assert basis.status_code == 202 and set(basis.json["widens"]) == {"legal_basis", "consent_required"}
    assert purpose(client, dai, "marketing")["legal_basis"] == "consent"
    # Texts and names apply at once.
    renamed = patch(client, dai, "marketing", name_en="Marketing of our products")
    assert renamed.status_code == 200 and renamed.json["name_en"] == "Marketing of our products"


def test_a_change_slipped_in_before_approval_makes_the_approval_fail(client, make_key):
    dai = make_key("dpo", name="dai-dpo", person="dai")
    widened = patch(
        client, dai, "marketing", field_types=["name", "cn_mobile", "email", "address", "bank_card"]
    )
    assert widened.status_code == 202
    # Meanwhile someone changes the purpose again (a neutral change applies at once).
    assert patch(client, dai, "marketing", description="changed meanwhile").status_code == 200
    before = purpose(client, dai, "marketing")
    don = make_key("dpo", name="don-dpo", person="don")
    refused = approve(client, don, widened.json["approval_id"])
    assert refused.status_code == 409 and refused.json["type"].endswith("/purpose_changed")
    assert purpose(client, dai, "marketing") == before
    state = client.get(f"/v1/approvals/{widened.json['approval_id']}", headers=bearer(don)).json["state"]
    assert state == "pending"  # nothing half-written: deny or withdraw it, and ask again


def test_a_crafted_request_and_a_key_naming_nobody_are_refused(client, make_key):
    dai = make_key("dpo", name="dai-dpo", person="dai")
    crafted = client.post(
        "/v1/approvals",
        json={
            "action": "purpose.widen",
            "scope": {"target": "marketing"},
            "reason_code": "purpose_change",
            "reason_text": "wider please",
        },
        headers=bearer(dai),
    )
    assert crafted.status_code == 422 and crafted.json["type"].endswith("/invalid_scope")
    nobody = make_key("dpo", name="anon-dpo")
    refused = patch(client, nobody, "marketing", legal_basis="contract", consent_required=False)
    assert refused.status_code == 403 and refused.json["type"].endswith("/no_person")
    assert purpose(client, dai, "marketing")["legal_basis"] == "consent"


def test_the_console_files_a_widening_change_for_approval(container):
    from api.console.services import console_service
    from tests.console.conftest import PASSWORD, Console

    console_service(container).users.create(username="dai", role="dpo", password=PASSWORD, actor="test")
    app = create_app(container)
    dai = Console(app.test_client(), "dai")
    form = {
        "name_zh": "本机构产品营销",
        "name_en": "Marketing",
        "legal_basis": "contract",
        "retention": "until the consent is withdrawn",
        "field_types": ["name", "cn_mobile", "email", "address"],
    }
    resp = dai.post("/console/purposes/marketing", form)
    assert resp.status_code == 303 and "purpose_widen_pending" in resp.headers["Location"]
    with container.uow() as uow:
        assert container.consent.get_purpose(uow, "marketing").legal_basis == "consent"
