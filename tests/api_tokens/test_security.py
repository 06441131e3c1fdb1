"""Who may see what: roles, purposes, field types, key state; and no PII in responses or logs."""

from __future__ import annotations

import datetime as dt
import json
import logging

import pytest

from tests.api_tokens.conftest import CARD, ID_NUMBER, MOBILE, PII, bearer, customer_items
from tests.approved import create_client
from tests.tokenization.conftest import queued_events


@pytest.fixture
def tokens(client, service_key) -> list[str]:
    resp = client.post("/v1/tokenize", json={"items": customer_items()}, headers=bearer(service_key))
    return [i["token"] for i in resp.json["items"]]


def detokenize(client, key, purpose, tokens, reveal="plain"):
    return client.post(
        "/v1/detokenize", json={"purpose": purpose, "tokens": tokens, "reveal": reveal}, headers=bearer(key)
    )


@pytest.mark.parametrize("role", ["analyst", "auditor", "admin"])
def test_roles_that_never_detokenize(client, container, make_key, tokens, role):
    kwargs = {"purposes": ["aml_kyc", "risk_scoring"]} if role == "analyst" else {}
    key = make_key(role, name=f"x-{role}", **kwargs)
    for purpose in ("aml_kyc", "account_service", "risk_scoring"):
        for reveal in ("plain", "masked"):
            resp = detokenize(client, key, purpose, tokens, reveal)
            assert resp.status_code == 403 and resp.mimetype == "application/problem+json"
            assert not any(v in resp.get_data(as_text=True) for v in PII)
    denied = [json.loads(e) for e in queued_events(container)]
    denied = [e for e in denied if e["action"] == "detokenize"]
    assert len(denied) == 6 and {e["outcome"] for e in denied} == {"denied"}
    assert {e["reason"] for e in denied} == {"role may not detokenize"}
    # Nor may they tokenize.
    resp = client.post("/v1/tokenize", json={"items": customer_items()}, headers=bearer(key))
    assert resp.status_code == 403


def test_a_service_key_cannot_read_another_purpose_or_field_type(client, make_key, tokens):
    key = make_key(
        "service", name="kyc-only", purposes=["aml_kyc"], field_types=["cn_resident_id", "cn_mobile"]
    )
    got = detokenize(client, key, "aml_kyc", tokens).json["items"]
    assert got[0]["value"] == ID_NUMBER and got[2]["value"] == MOBILE
    assert [g.get("reason") for g in (got[1], got[3])] == ["field type not allowed for this client"] * 2
    for purpose in ("account_service", "marketing", "risk_scoring"):
        got = detokenize(client, key, purpose, tokens).json["items"]
        assert {(g["error"], g["reason"]) for g in got} == {("denied", "purpose not allowed for this client")}
    text = detokenize(client, key, "account_service", tokens).get_data(as_text=True)
    assert not any(v in text for v in PII)


def test_consent_purposes_are_denied_without_consent(client, service_key, tokens):
    got = detokenize(client, service_key, "marketing", tokens[2:4]).json["items"]  # on the key, needs consent
    assert {g["reason"] for g in got} == {"no consent"}


def test_a_dpo_sees_masked_values_only(client, make_key, tokens):
    dpo = make_key("dpo", name="dpo")
    got = detokenize(client, dpo, "aml_kyc", tokens[:3], "plain").json["items"]
    assert [g["masked"] for g in got] == [
        ID_NUMBER[:3] + "*" * 11 + ID_NUMBER[-4:],
        CARD[:6] + "*" * 9 + CARD[-4:],
        "138****5678",
    ]


def test_revoked_and_expired_keys_fail(client, container, tokens):
    store = container.clients
    revoked, revoked_key = create_client(
        container, name="old-crm", role="service", purposes=["aml_kyc"], actor="test"
    )
    assert detokenize(client, revoked_key, "aml_kyc", tokens[:1]).status_code == 200
    store.revoke(revoked.id, actor="test")
    resp = detokenize(client, revoked_key, "aml_kyc", tokens[:1])
    assert resp.status_code == 401 and resp.json["type"].endswith("/api_key_revoked")

    _, expiring_key = create_client(
        container,
        name="temp-crm",
        role="service",
        purposes=["aml_kyc"],
        actor="test",
        expires_in=dt.timedelta(days=1),
    )
    assert detokenize(client, expiring_key, "aml_kyc", tokens[:1]).status_code == 200
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    store.clock = lambda: later
    resp = detokenize(client, expiring_key, "aml_kyc", tokens[:1])
    assert resp.status_code == 401 and resp.json["type"].endswith("/api_key_expired")
    resp = client.post("/v1/tokenize", json={"items": customer_items()}, headers=bearer(expiring_key))
    assert resp.status_code == 401


def test_a_restricted_subject_is_not_detokenized(client, container, service_key, tokens):
    with container.uow() as uow:
        container.tokenization.restrict_subject(uow, "dpo:test", "cust-0001", "dsr-restriction")
    got = detokenize(client, service_key, "aml_kyc", tokens[:2]).json["items"]
    assert [(g["error"], g["reason"]) for g in got] == [("restricted", "restricted")] * 2


def test_no_response_or_log_line_carries_a_value(client, container, make_key, service_key, caplog):
    """Every path a value travels, errors included; only a plain detokenize answer may hold it."""
    caplog.set_level(logging.DEBUG)
    analyst = make_key("analyst", name="an", purposes=["aml_kyc"])
    dpo = make_key("dpo", name="dpo")
    responses = []

    def post(path, body, key=service_key, **headers):
        resp = client.post(path, json=body, headers=bearer(key, **headers))
        responses.append((path, body, resp))
        return resp

    items = customer_items() + customer_items(None) + customer_items("cust-0002")
    tokens = [i.get("token") for i in post("/v1/tokenize", {"items": items}).json["items"]]
    post("/v1/tokenize", {"items": items}, **{"Idempotency-Key": "k-1"})
    post("/v1/tokenize", {"items": items}, **{"Idempotency-Key": "k-1"})
    post("/v1/tokenize", {"items": items[:3]}, **{"Idempotency-Key": "k-1"})  # 409
    broken = [dict(i, value=i["value"] + "9") for i in items] + [
        dict(i, value="+" + i["value"]) for i in items
    ]
    post("/v1/tokenize", {"items": broken})
    post("/v1/tokenize", {"items": [dict(i, colour=i["value"]) for i in items]})  # 422 unknown field
    post("/v1/tokenize", {"items": [dict(i, kind=i["value"]) for i in items]})  # 422 bad kind
    post("/v1/tokenize", {"items": [dict(i, subject_id=i["value"]) for i in items]})  # per-item subject_id
    post("/v1/tokenize", {"items": items}, analyst)  # 403
    reused = post("/v1/tokenize", {"items": items[:1]}, **{"X-Request-Id": MOBILE})  # a value as request id
    assert reused.headers["X-Request-Id"] != MOBILE
    post("/v1/tokens/lookup", {"purpose": "aml_kyc", "field_type": "cn_mobile", "value": MOBILE})
    post(
        "/v1/tokens/lookup", {"purpose": "aml_kyc", "field_type": "cn_resident_id", "value": ID_NUMBER + "1"}
    )  # 422
    post("/v1/detokenize", {"purpose": MOBILE, "tokens": tokens})  # unknown purpose: a value by mistake
    post("/v1/detokenize", {"purpose": "aml_kyc", "tokens": tokens, "reveal": "masked"})
    post("/v1/detokenize", {"purpose": "aml_kyc", "tokens": tokens}, dpo)
    post("/v1/detokenize", {"purpose": "aml_kyc", "tokens": tokens}, analyst)
    post("/v1/detokenize", {"purpose": "marketing", "tokens": tokens})
    post("/v1/detokenize", {"purpose": "aml_kyc", "tokens": list(PII)})  # values sent as tokens: not echoed
    plain = post("/v1/detokenize", {"purpose": "aml_kyc", "tokens": tokens})
    assert any(i.get("value") == MOBILE for i in plain.json["items"])

    for path, _body, resp in responses:
        if resp is plain:
            continue
        text = resp.get_data(as_text=True)
        for value in PII:
            assert value not in text, (path, resp.status_code)
    log_text = "\n".join(f"{r.name} {r.levelname} {r.getMessage()} {r.args!r}" for r in caplog.records)
    log_text += "\n" + caplog.text
    for value in PII:
        assert value not in log_text
    audit_text = "\n".join(queued_events(container))
    for value in PII:
        assert value not in audit_text
