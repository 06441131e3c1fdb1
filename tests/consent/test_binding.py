"""Issue 14: side doors bound to the caller's purposes and the subject's state, tried over HTTP.

Each test performs an attack a hostile service client made against the dev
server - with its own key, through the real app - and checks the documented
refusal, then that the allowed path still works.
"""

from __future__ import annotations

import json

import pytest

from tests.approved import create_client
from tests.consent.conftest import ID_NUMBER, MOBILE, NAME, audit_payloads, download, second_dpo_approves

SUBJECT = "cust-0001"
EMAIL = "lead.one@example.com"


@pytest.fixture
def key_for(container):
    """``key_for("risk_scoring")`` -> headers of a new service client holding those purposes."""

    def make(*purposes: str, permissions: tuple[str, ...] = ()) -> dict[str, str]:
        _, key = create_client(
            container,
            name="svc-" + "-".join(purposes or ("none",)),
            role="service",
            actor="test",
            purposes=list(purposes),
            permissions=list(permissions),
        )
        return {"Authorization": f"Bearer {key}"}

    return make


def forbidden(resp) -> dict:
    assert resp.status_code == 403, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json"
    assert resp.json["status"] == 403
    return resp.json


def tokenize(client, headers, items, subject_id=SUBJECT, **extra) -> list[dict]:
    body = {"items": [{**i, "subject_id": subject_id} for i in items], **extra}
    resp = client.post("/v1/tokenize", json=body, headers=headers)
    assert resp.status_code == 200, resp.json
    return resp.json["items"]


def customer(client, keys, subject_id=SUBJECT) -> dict[str, str]:
    items = [
        {"field_type": "name", "value": NAME},
        {"field_type": "cn_mobile", "value": MOBILE},
        {"field_type": "cn_resident_id", "value": ID_NUMBER},
    ]
    out = tokenize(client, keys["service"], items, subject_id)
    return {i["field_type"]: r["token"] for i, r in zip(items, out, strict=True)}


def detok(client, headers, purpose, tokens) -> list[dict]:
    resp = client.post("/v1/detokenize", json={"purpose": purpose, "tokens": tokens}, headers=headers)
    assert resp.status_code == 200, resp.json
    return resp.json["items"]


def lookup(client, headers, purpose, value=MOBILE, field_type="cn_mobile"):
    return client.post(
        "/v1/tokens/lookup",
        json={"purpose": purpose, "field_type": field_type, "value": value},
        headers=headers,
    )


# -- item 2: consent writes only for the caller's own purposes ---------------------------------
def test_a_client_cannot_grant_a_purpose_it_does_not_hold_to_unlock_another_clients_detokenize(
    client, keys, key_for, container
):
    tokens = customer(client, keys)
    scorer = key_for("risk_scoring")
    sharer = key_for("third_party_sharing")
    # The attack: a risk_scoring-only client grants third_party_sharing (separately, as it needs).
    attack = client.post(
        f"/v1/subjects/{SUBJECT}/consents",
        json={"purpose": "third_party_sharing", "channel": "app", "separate": True},
        headers=scorer,
    )
    assert "does not hold" in forbidden(attack)["detail"]
    # ... so the other client's detokenize stays denied.
    assert detok(client, sharer, "third_party_sharing", [tokens["cn_mobile"]]) == [
        {"error": "denied", "reason": "no consent"}
    ]
    # Renewing or withdrawing another purpose's consent is refused the same way.
    client.post(
        f"/v1/subjects/{SUBJECT}/consents",
        json={"purpose": "third_party_sharing", "channel": "app", "separate": True},
        headers=sharer,
    )
    for action in ("renew", "withdraw"):
        resp = client.post(
            f"/v1/subjects/{SUBJECT}/consents/third_party_sharing/{action}",
            json={"channel": "app"},
            headers=scorer,
        )
        forbidden(resp)
    assert detok(client, sharer, "third_party_sharing", [tokens["cn_mobile"]]) == [{"value": MOBILE}]
    # The allowed path: its own purpose.
    own = client.post(
        f"/v1/subjects/{SUBJECT}/consents", json={"purpose": "risk_scoring", "channel": "app"}, headers=scorer
    )
    assert own.status_code == 201, own.json
    assert [e["action"] for e in audit_payloads(container) if e["action"].startswith("consent.")] == [
        "consent.grant",
        "consent.grant",
    ]


def test_a_client_reads_only_the_consent_history_of_its_own_purposes(client, keys, key_for):
    customer(client, keys)
    for purpose in ("marketing", "risk_scoring"):
        resp = client.post(
            f"/v1/subjects/{SUBJECT}/consents",
            json={"purpose": purpose, "channel": "app"},
            headers=keys["service"],
        )
        assert resp.status_code == 201
    scorer = key_for("risk_scoring")
    seen = client.get(f"/v1/subjects/{SUBJECT}/consents", headers=scorer).json
    assert [c["purpose"] for c in seen["consents"]] == ["risk_scoring"]
    assert [r["purpose"] for r in seen["history"]] == ["risk_scoring"]
    assert "marketing" not in json.dumps(seen)
    everything = client.get(f"/v1/subjects/{SUBJECT}/consents", headers=keys["dpo"]).json
    assert sorted(c["purpose"] for c in everything["consents"]) == ["marketing", "risk_scoring"]


# -- item 2: attribute writes need an explicit permission ---------------------------------------
def test_attribute_writes_need_the_write_attributes_permission(client, keys, key_for, container):
    customer(client, keys)
    body = {"items": [{"subject_id": SUBJECT, "attributes": {"credit_grade": "A", "income": 12_000}}]}
    plain = key_for("account_service", "risk_scoring")
    refused = client.post("/v1/attributes", json=body, headers=plain)
    assert "write_attributes" in forbidden(refused)["detail"]
    assert not [e for e in audit_payloads(container) if e["action"] == "attributes.put"]
    writer = key_for("risk_scoring", permissions=("write_attributes",))
    assert client.post("/v1/attributes", json=body, headers=writer).json == {"stored": 1}
    # Created through the API too; and only service clients may hold it.
    made = client.post(
        "/v1/clients",
        json={
            "name": "scorer",
            "role": "service",
            "purposes": ["risk_scoring"],
            "permissions": ["write_attributes"],
        },
        headers=keys["admin"],
    )
    assert made.status_code == 201 and made.json["permissions"] == ["write_attributes"]
    wrong = client.post(
        "/v1/clients",
        json={"name": "auditor2", "role": "auditor", "permissions": ["write_attributes"]},
        headers=keys["admin"],
    )
    assert wrong.status_code == 422 and wrong.mimetype == "application/problem+json"


# -- item 2: only a purpose that owns the relationship opens or closes it ------------------------
def test_only_a_client_holding_a_relationship_purpose_may_close_the_relationship(client, keys, key_for):
    customer(client, keys)
    scorer = key_for("risk_scoring", "marketing")
    for step in ("open", "close"):
        attack = client.post(f"/v1/subjects/{SUBJECT}/{step}", json={}, headers=scorer)
        assert "owns the relationship" in forbidden(attack)["detail"]
    subject = client.get(f"/v1/subjects/{SUBJECT}", headers=keys["dpo"]).json
    assert subject["opened_at"] is None and subject["closed_at"] is None
    crm = key_for("account_service")
    assert client.post(f"/v1/subjects/{SUBJECT}/open", json={}, headers=crm).status_code == 200
    closed = client.post(f"/v1/subjects/{SUBJECT}/close", json={}, headers=crm)
    assert closed.status_code == 200, closed.json
    assert [h["purpose"] for h in closed.json["holds"]] == ["aml_kyc"]


def test_the_relationship_purposes_are_configurable(container_with, bao):
    from api.app import create_app

    other = container_with(relationship_purposes=("risk_scoring",))
    _, crm = create_client(other, name="crm", role="service", purposes=["account_service"])
    _, scorer = create_client(other, name="scorer", role="service", purposes=["risk_scoring"])
    client = create_app(other).test_client()
    items = [{"field_type": "name", "value": NAME, "subject_id": SUBJECT}]
    assert (
        client.post(
            "/v1/tokenize", json={"items": items}, headers={"Authorization": f"Bearer {crm}"}
        ).status_code
        == 200
    )
    forbidden(
        client.post(f"/v1/subjects/{SUBJECT}/open", json={}, headers={"Authorization": f"Bearer {crm}"})
    )
    opened = client.post(
        f"/v1/subjects/{SUBJECT}/open", json={}, headers={"Authorization": f"Bearer {scorer}"}
    )
    assert opened.status_code == 200


# -- low item: consent evidence holds no identifier ------------------------------------------
@pytest.mark.parametrize("evidence", [f"ref:{MOBILE}", f"ref:form-{ID_NUMBER}", "ref:138-1234-5678"])
def test_consent_evidence_holding_a_mobile_or_id_number_is_422(client, keys, evidence):
    customer(client, keys)
    resp = client.post(
        f"/v1/subjects/{SUBJECT}/consents",
        json={"purpose": "marketing", "channel": "app", "evidence": evidence},
        headers=keys["service"],
    )
    assert resp.status_code == 422 and resp.mimetype == "application/problem+json"
    assert "identifier" in resp.json["detail"] and MOBILE not in resp.get_data(as_text=True)
    ok = client.post(
        f"/v1/subjects/{SUBJECT}/consents",
        json={"purpose": "marketing", "channel": "app", "evidence": "ref:form-2026-000123"},
        headers=keys["service"],
    )
    assert ok.status_code == 201 and ok.json["record"]["evidence"] == "ref:form-2026-000123"


def test_imported_evidence_holding_a_mobile_is_refused(client, keys):
    row = {
        "subject_id": SUBJECT,
        "purpose": "marketing",
        "channel": "app",
        "effective_at": "2026-01-02T03:04:05Z",
    }
    rows = [{**row, "evidence": f"ref:{MOBILE}"}]
    resp = client.post("/v1/consents/import", json=rows, headers=keys["dpo"])
    assert resp.status_code == 422
    assert resp.json["errors"]["rows"] == [
        {
            "row": 1,
            "column": "evidence",
            "rule": "evidence must not hold a personal identifier: give a digest or a reference id",
        }
    ]


def _work(client, keys, type_, subject_id=SUBJECT) -> tuple[str, dict]:
    made = client.post(
        "/v1/dsr", json={"subject_id": subject_id, "type": type_, "channel": "app"}, headers=keys["service"]
    )
    assert made.status_code == 201, made.json
    dsr_id = made.json["dsr_id"]
    for step, body in (("verify-identity", {"method": "id_document"}), ("approve", {}), ("complete", {})):
        if step == "complete" and type_ == "access":
            break
        resp = client.post(f"/v1/dsr/{dsr_id}/{step}", json=body, headers=keys["dpo"])
        if step == "complete" and resp.status_code == 403:  # an erasure: a second DPO approves
            second_dpo_approves(client, keys, resp)
            resp = client.post(f"/v1/dsr/{dsr_id}/{step}", json=body, headers=keys["dpo"])
        assert resp.status_code == 200, resp.json
    return dsr_id, resp.json


# -- item 3: lookup is decided by the policy decision point ---------------------------------------
def test_lookup_takes_a_purpose_decided_as_detokenize_is(client, keys, key_for, container):
    tokens = customer(client, keys)
    scorer = key_for("risk_scoring")
    # The oracle: "who holds this mobile?" under no purpose, or one not on the key, or one not
    # covering the field type, is refused.
    missing = client.post(
        "/v1/tokens/lookup", json={"field_type": "cn_mobile", "value": MOBILE}, headers=scorer
    )
    assert missing.status_code == 422 and "purpose" in json.dumps(missing.json["errors"])
    assert "purpose not allowed" in forbidden(lookup(client, scorer, "marketing"))["detail"]
    outside = lookup(client, scorer, "risk_scoring", ID_NUMBER, "cn_resident_id")
    assert "not covered by the purpose" in forbidden(outside)["detail"]
    # Without the consent risk_scoring needs, the subject is left out: the lookup does not tell.
    assert lookup(client, scorer, "risk_scoring").json == {"tokens": []}
    client.post(
        f"/v1/subjects/{SUBJECT}/consents", json={"purpose": "risk_scoring", "channel": "app"}, headers=scorer
    )
    found = lookup(client, scorer, "risk_scoring").json["tokens"]
    assert found == [{"token": tokens["cn_mobile"], "kind": "random", "subject_id": SUBJECT}]
    # Each subject found is named in the audit log: denied and allowed, with the purpose.
    named = [
        (e["outcome"], e["purpose"], e["reason"])
        for e in audit_payloads(container)
        if e["action"] == "lookup" and e["subject_id"] == SUBJECT
    ]
    assert named == [("denied", "risk_scoring", "no consent"), ("success", "risk_scoring", None)]
    # ... so it is in the subject's access package ("who used the data").
    dsr_id, _ = _work(client, keys, "access")
    package = download(client, keys, dsr_id).json
    uses = [(u["action"], u["purpose"], u["outcome"]) for u in package["uses"] if u["action"] == "lookup"]
    assert ("lookup", "risk_scoring", "success") in uses
    assert MOBILE not in json.dumps(audit_payloads(container))


# -- item 5: a restricted subject takes no new data and does not show in lookups --------------------
def test_a_restricted_subject_refuses_new_tokenize_and_disappears_from_lookups(client, keys, key_for):
    customer(client, keys)
    crm = key_for("account_service", "aml_kyc", "marketing")
    assert client.post(f"/v1/subjects/{SUBJECT}/open", json={}, headers=crm).status_code == 200
    _, done = _work(client, keys, "erasure")
    assert done["outcome"]["action"] == "restricted"  # the AML hold keeps the customer's data
    assert lookup(client, crm, "account_service").json == {"tokens": []}
    # The attack: keep collecting data about a subject who asked to be erased.
    more = [{"field_type": "email", "value": EMAIL}]
    refused = tokenize(client, crm, more)
    assert refused == [{"error": {"rule": "restricted", "message": refused[0]["error"]["message"]}}]
    assert "restricted" in refused[0]["error"]["message"]
    assert tokenize(client, crm, more, purpose="marketing")[0]["error"]["rule"] == "restricted"
    # The hold's own purpose, for the roles it names, goes on (aml_kyc: service and dpo).
    kept = tokenize(client, crm, [{"field_type": "passport", "value": "E12345678"}], purpose="aml_kyc")
    assert "token" in kept[0], kept
    assert [m["subject_id"] for m in lookup(client, crm, "aml_kyc").json["tokens"]] == [SUBJECT]
    # Declaring a purpose the client does not hold is no way round it.
    forbidden(
        client.post(
            "/v1/tokenize",
            json={"items": [{**more[0], "subject_id": SUBJECT}], "purpose": "risk_scoring"},
            headers=crm,
        )
    )
    # Other subjects are unaffected.
    assert "token" in tokenize(client, crm, more, subject_id="cust-0002")[0]


# -- item 6: retention holds apply to customers, not to leads ----------------------------------------
def test_erasing_a_lead_that_only_gave_a_mobile_and_email_for_marketing_shreds_it(client, keys, container):
    lead = "lead-0001"
    tokens = tokenize(
        client,
        keys["service"],
        [{"field_type": "cn_mobile", "value": MOBILE}, {"field_type": "email", "value": EMAIL}],
        lead,
    )
    client.post(
        f"/v1/subjects/{lead}/consents",
        json={"purpose": "marketing", "channel": "web"},
        headers=keys["service"],
    )
    _, done = _work(client, keys, "erasure", lead)
    assert done["outcome"]["action"] == "erased", done["outcome"]
    assert client.get(f"/v1/subjects/{lead}", headers=keys["dpo"]).json["state"] == "erased"
    assert client.get(f"/v1/subjects/{lead}/holds", headers=keys["dpo"]).json["holds"] == []
    assert (
        detok(client, keys["service"], "marketing", [t["token"] for t in tokens])
        == [{"error": "erased", "reason": "erased"}] * 2
    )


def test_a_customers_open_ended_hold_says_what_ends_it(client, keys):
    customer(client, keys)
    assert client.post(f"/v1/subjects/{SUBJECT}/open", json={}, headers=keys["service"]).status_code == 200
    _, done = _work(client, keys, "erasure")
    assert done["outcome"]["action"] == "restricted" and done["outcome"]["shred_due_at"] is None
    (hold,) = client.get(f"/v1/subjects/{SUBJECT}/holds", headers=keys["dpo"]).json["holds"]
    assert hold["purpose"] == "aml_kyc" and hold["ends_at"] is None
    assert hold["ends_when"] == "5 years after the relationship closes"
    # Once closed, the hold has its date and still says what it counts from.
    closed = client.post(f"/v1/subjects/{SUBJECT}/close", json={}, headers=keys["service"]).json
    assert closed["holds"][0]["ends_at"] and closed["holds"][0]["ends_when"] == hold["ends_when"]
