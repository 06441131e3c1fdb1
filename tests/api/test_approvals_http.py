"""/v1/approvals, /v1/grants, /v1/break-glass over HTTP: keys act for the persons they name."""

from __future__ import annotations

import pytest

from tests.api.conftest import bearer

SUBJECT = "subj_0123456789abcdef"
REVEAL = {
    "action": "reveal",
    "scope": {"subjects": [SUBJECT], "purpose": "aml_kyc", "minutes": 30},
    "reason_code": "complaint",
    "reason_text": "customer complaint about a wrong address",
}


@pytest.fixture
def keys(make_key):
    return {
        "dai": make_key("dpo", name="dai-laptop", person="dai"),
        "dai2": make_key("dpo", name="dai-phone", person="dai"),
        "don": make_key("dpo", name="don", person="don"),
        "nobody": make_key("dpo", name="shared-dpo"),
        "al": make_key("auditor", name="al", person="al"),
    }


def _ask(client, key, body=REVEAL):
    return client.post("/v1/approvals", json=body, headers=bearer(key))


def test_ask_approve_and_the_grant(client, keys):
    asked = _ask(client, keys["dai"])
    assert asked.status_code == 201, asked.json
    assert asked.json["state"] == "pending" and asked.json["requester"] == "dai"
    approval_id = asked.json["id"]

    inbox = client.get("/v1/approvals?inbox=true", headers=bearer(keys["don"]))
    assert [r["id"] for r in inbox.json] == [approval_id]
    assert client.get("/v1/approvals?inbox=true", headers=bearer(keys["dai2"])).json == []
    assert [r["id"] for r in client.get("/v1/approvals?mine=true", headers=bearer(keys["dai2"])).json] == [
        approval_id
    ]

    approved = client.post(f"/v1/approvals/{approval_id}/approve", headers=bearer(keys["don"]))
    assert approved.status_code == 200 and approved.json["state"] == "approved"
    grant = client.get(f"/v1/grants/{approved.json['grant_id']}", headers=bearer(keys["dai"])).json
    assert (grant["holder"], grant["state"], grant["approved_by"]) == ("dai", "active", ["don"])

    revoked = client.delete(f"/v1/grants/{grant['id']}", headers=bearer(keys["dai"]))
    assert revoked.status_code == 200 and revoked.json["state"] == "revoked"
    again = client.delete(f"/v1/grants/{grant['id']}", headers=bearer(keys["don"]))
    assert again.status_code == 409


def test_the_same_person_approving_through_a_second_key_is_refused(client, keys):
    approval_id = _ask(client, keys["dai"]).json["id"]
    refused = client.post(f"/v1/approvals/{approval_id}/approve", headers=bearer(keys["dai2"]))
    assert refused.status_code == 403
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert refused.json["type"].endswith("self_approval")
    assert client.get(f"/v1/approvals/{approval_id}", headers=bearer(keys["don"])).json["state"] == "pending"


def test_a_key_naming_nobody_may_neither_ask_nor_approve(client, keys):
    assert _ask(client, keys["nobody"]).status_code == 403
    approval_id = _ask(client, keys["dai"]).json["id"]
    refused = client.post(f"/v1/approvals/{approval_id}/approve", headers=bearer(keys["nobody"]))
    assert refused.status_code == 403


def test_bad_input_is_a_problem_not_a_500(client, keys):
    assert _ask(client, keys["dai"], {**REVEAL, "extra": 1}).status_code == 422
    assert _ask(client, keys["dai"], {**REVEAL, "reason_text": "call 13812345678"}).status_code == 422
    assert _ask(client, keys["dai"], {**REVEAL, "action": "nothing"}).status_code == 422
    assert client.get("/v1/approvals/apr_nope", headers=bearer(keys["dai"])).status_code == 404
    assert client.post("/v1/approvals/apr_nope/deny", headers=bearer(keys["don"])).status_code == 404
    service = client.get("/v1/approvals", headers=bearer(keys["dai"]))
    assert service.status_code == 200


def test_service_keys_have_no_say(client, make_key):
    service = make_key("service", name="crm", purposes=["aml_kyc"])
    assert client.get("/v1/approvals", headers=bearer(service)).status_code == 403


def test_break_glass_is_taken_at_once_and_reviewed_by_another_person(client, keys, caplog):
    taken = client.post("/v1/break-glass", json=REVEAL, headers=bearer(keys["dai"]))
    assert taken.status_code == 201, taken.json
    assert taken.json["kind"] == "break_glass" and taken.json["state"] == "active"
    assert "BREAK-GLASS" in caplog.text
    unreviewed = client.get("/v1/break-glass?unreviewed=true", headers=bearer(keys["don"])).json
    assert [g["id"] for g in unreviewed] == [taken.json["id"]]

    own = client.post(
        f"/v1/break-glass/{taken.json['id']}/review", json={"note": "fine"}, headers=bearer(keys["dai2"])
    )
    assert own.status_code == 403
    reviewed = client.post(
        f"/v1/break-glass/{taken.json['id']}/review",
        json={"note": "checked the complaint file"},
        headers=bearer(keys["don"]),
    )
    assert reviewed.status_code == 200 and reviewed.json["reviewed_by"] == "don"
    assert client.get("/v1/break-glass?unreviewed=true", headers=bearer(keys["don"])).json == []
