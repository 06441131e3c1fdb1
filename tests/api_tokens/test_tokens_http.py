"""/v1/tokenize, /v1/detokenize, /v1/tokens/lookup and /v1/subjects over HTTP (Flask test client)."""

from __future__ import annotations

import re

import pytest

from tests.api_tokens.conftest import CARD, ID_NUMBER, MOBILE, NAME, bearer, customer_items
from tests.approved import create_client

ROUTES = [
    ("POST", "/v1/tokenize"),
    ("POST", "/v1/detokenize"),
    ("POST", "/v1/tokens/lookup"),
    ("POST", "/v1/subjects"),
    ("GET", "/v1/subjects/cust-0001"),
]


def problem(resp, status: int) -> dict:
    assert resp.status_code == status, resp.data
    assert resp.mimetype == "application/problem+json"
    assert resp.json["status"] == status
    return resp.json


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_needs_a_key(client, method, path):
    body = problem(client.open(path, method=method, json={}), 401)
    assert body["type"].endswith("/unauthenticated")


def test_tokenize_and_detokenize_a_customer(client, service_key):
    resp = client.post("/v1/tokenize", json={"items": customer_items()}, headers=bearer(service_key))
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    assert re.fullmatch(r"[0-9a-f]{32}", resp.headers["X-Request-Id"])
    items = resp.json["items"]
    tokens = [i["token"] for i in items]
    assert re.fullmatch(r"tok_rid_[a-z2-7]{26}", tokens[0])
    assert len(tokens[1]) == len(CARD) and tokens[1][-4:] == CARD[-4:] and tokens[1] != CARD  # last 4 only
    assert tokens[2].startswith("tkd_mob_")
    resp = client.post(
        "/v1/detokenize",
        json={"purpose": "aml_kyc", "tokens": tokens},
        headers=bearer(service_key, **{"X-Request-Id": "crm-req-42"}),
    )
    assert resp.headers["X-Request-Id"] == "crm-req-42"
    got = resp.json["items"]
    assert [g.get("value") for g in got[:4]] == [ID_NUMBER, CARD, MOBILE, NAME]
    assert got[4] == {
        "error": "denied",
        "reason": "field type not covered by the purpose",
    }
    masked = client.post(
        "/v1/detokenize",
        json={"purpose": "account_service", "tokens": tokens[:1], "reveal": "masked"},
        headers=bearer(service_key),
    ).json["items"]
    assert masked == [{"masked": ID_NUMBER[:3] + "*" * 11 + ID_NUMBER[-4:]}]


def test_per_item_errors_name_the_rule_not_the_value(client, service_key):
    items = [
        {"field_type": "cn_resident_id", "value": ID_NUMBER[:-1] + ("0" if ID_NUMBER[-1] != "0" else "1")},
        {"field_type": "cn_mobile", "value": "23812345678"},
        {"field_type": "no_such_type", "value": "x"},
        {"field_type": "name", "value": "李四", "subject_id": "short"},
    ]
    resp = client.post("/v1/tokenize", json={"items": items}, headers=bearer(service_key))
    errors = [i["error"] for i in resp.json["items"]]
    assert [e["rule"] for e in errors] == ["check_digit", "pattern", "field_type", "subject_id"]
    assert ID_NUMBER[:-1] not in resp.get_data(as_text=True) and "2381234" not in resp.get_data(as_text=True)


def test_idempotency_key(client, service_key):
    body = {"items": customer_items()[:2]}
    headers = bearer(service_key, **{"Idempotency-Key": "crm-batch-0001"})
    first = client.post("/v1/tokenize", json=body, headers=headers)
    again = client.post("/v1/tokenize", json=body, headers=headers)
    assert again.status_code == 200 and again.json == first.json
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    other = client.post("/v1/tokenize", json={"items": customer_items()[:1]}, headers=headers)
    assert problem(other, 409)["type"].endswith("/idempotency_conflict")
    bad = client.post(
        "/v1/tokenize", json=body, headers=bearer(service_key, **{"Idempotency-Key": "x" * 256})
    )
    problem(bad, 422)


def test_request_limits(client, service_key, container):
    too_many = {"items": [{"field_type": "name", "value": NAME}] * 1001}
    assert problem(client.post("/v1/tokenize", json=too_many, headers=bearer(service_key)), 413)[
        "type"
    ].endswith("/batch_too_large")
    tokens = {"purpose": "aml_kyc", "tokens": ["tok_x_y"] * 1001}
    problem(client.post("/v1/detokenize", json=tokens, headers=bearer(service_key)), 413)
    huge = {"items": [{"field_type": "free_text", "value": "x" * 16_000}] * 300}  # over 4 MiB
    problem(client.post("/v1/tokenize", json=huge, headers=bearer(service_key)), 413)


@pytest.mark.parametrize(
    ("path", "body", "where"),
    [
        ("/v1/tokenize", {"items": [{"field_type": "name", "value": NAME, "colour": "red"}]}, "colour"),
        ("/v1/tokenize", {"items": [{"field_type": "name", "value": NAME}], "extra": 1}, "extra"),
        ("/v1/tokenize", {"items": [{"field_type": "name", "value": NAME, "kind": "magic"}]}, "kind"),
        ("/v1/tokenize", {"items": [{"field_type": "name"}]}, "value"),
        ("/v1/tokenize", {"items": [{"field_type": "name", "value": 13812345678}]}, "value"),
        ("/v1/tokenize", {"items": []}, "items"),
        ("/v1/detokenize", {"purpose": "aml_kyc", "tokens": ["t"], "reveal": "all"}, "reveal"),
        ("/v1/detokenize", {"purpose": "aml_kyc"}, "tokens"),
        ("/v1/detokenize", {"purpose": "aml_kyc", "tokens": ["t"], "why": "x"}, "why"),
        ("/v1/tokens/lookup", {"purpose": "aml_kyc", "field_type": "cn_mobile"}, "value"),
        ("/v1/tokens/lookup", {"field_type": "cn_mobile", "value": "13812345678"}, "purpose"),
        ("/v1/subjects", {"subject_id": "mine"}, "subject_id"),
    ],
)
def test_malformed_requests_are_422_naming_the_field(client, service_key, path, body, where):
    resp = client.post(path, json=body, headers=bearer(service_key))
    errors = problem(resp, 422)["errors"]["json"]
    assert where in str(errors)
    assert "13812345678" not in resp.get_data(as_text=True)


def test_item_errors_name_the_bad_items_by_index_and_only_them(client, service_key):
    good = {"field_type": "name", "value": NAME}
    items = [
        good,
        {**good, "colour": "red"},
        good,
        "not an object",
        {**good, "keep_ends": "yes"},
        {"field_type": "x" * 65, "value": NAME},
        {"field_type": "name", "value": None},
        {**good, "subject_id": None, "kind": "deterministic", "keep_ends": False},
    ]
    resp = client.post("/v1/tokenize", json={"items": items}, headers=bearer(service_key))
    errors = problem(resp, 422)["errors"]["json"]["items"]
    assert errors == {
        "1": {"colour": ["Unknown field."]},
        "3": {"_schema": ["Invalid input type."]},
        "4": {"keep_ends": ["Not a valid boolean."]},
        "5": {"field_type": ["Length must be between 1 and 64."]},
        "6": {"value": ["Field may not be null."]},
    }
    assert NAME not in resp.get_data(as_text=True)


def test_subjects(client, service_key, make_key):
    created = client.post("/v1/subjects", headers=bearer(service_key))
    assert created.status_code == 201
    sid = created.json["subject_id"]
    assert re.fullmatch(r"sub_[a-z2-7]{26}", sid) and created.json["state"] == "active"
    client.post("/v1/tokenize", json={"items": customer_items(sid)}, headers=bearer(service_key))
    got = client.get(f"/v1/subjects/{sid}", headers=bearer(service_key)).json
    assert got["token_count"] == 5 and got["state"] == "active" and got["closed_at"] is None
    assert got["field_types"] == {"bank_card": 1, "cn_mobile": 1, "cn_resident_id": 1, "email": 1, "name": 1}
    dpo = make_key("dpo", name="dpo")
    assert client.get(f"/v1/subjects/{sid}", headers=bearer(dpo)).json == got
    problem(client.get("/v1/subjects/cust-nobody", headers=bearer(service_key)), 404)
    problem(client.get(f"/v1/subjects/{sid}", headers=bearer(make_key("analyst", name="an"))), 403)
    problem(client.post("/v1/subjects", headers=bearer(dpo)), 403)


def test_lookup(client, service_key):
    items = client.post("/v1/tokenize", json={"items": customer_items()}, headers=bearer(service_key)).json[
        "items"
    ]
    resp = client.post(
        "/v1/tokens/lookup",
        json={"purpose": "aml_kyc", "field_type": "cn_mobile", "value": "+86 138 1234 5678"},
        headers=bearer(service_key),
    )
    assert resp.json == {
        "tokens": [{"token": items[2]["token"], "kind": "deterministic", "subject_id": "cust-0001"}]
    }
    bad = client.post(
        "/v1/tokens/lookup",
        json={"purpose": "aml_kyc", "field_type": "cn_mobile", "value": "123"},
        headers=bearer(service_key),
    )
    assert "123" not in problem(bad, 422)["detail"]


def test_a_vault_outage_is_a_503_with_retry_after(database_url, private_bao, tmp_path):
    from api.app import create_app
    from tests.conftest import make_container, make_settings

    container = make_container(make_settings(database_url, private_bao, tmp_path, vault_timeout=1.0))
    try:
        _, key = create_client(container, name="crm", role="service", purposes=["aml_kyc"])
        client = create_app(container).test_client()
        ok = client.post("/v1/tokenize", json={"items": customer_items()[:1]}, headers=bearer(key))
        assert ok.status_code == 200
        private_bao.stop()
        resp = client.post("/v1/tokenize", json={"items": customer_items("cust-new1")}, headers=bearer(key))
        assert problem(resp, 503)["type"].endswith("/vault_unavailable")
        assert int(resp.headers["Retry-After"]) > 0
    finally:
        container.close()


def test_the_openapi_document_describes_the_tokenization_api(client):
    spec = client.get("/openapi.json").json
    for path in (
        "/v1/tokenize",
        "/v1/detokenize",
        "/v1/tokens/lookup",
        "/v1/subjects",
        "/v1/subjects/{subject_id}",
    ):
        assert path in spec["paths"], path
    tokenize = spec["paths"]["/v1/tokenize"]["post"]
    assert tokenize["x-required-roles"] == ["service"]
    assert any(p["name"] == "Idempotency-Key" for p in tokenize["parameters"])
    assert {"200", "401", "403", "409", "413", "422", "503"} <= set(tokenize["responses"])
    schemas = spec["components"]["schemas"]
    item = schemas["TokenizeItem"]
    assert item["properties"]["kind"]["enum"] == ["random", "deterministic", "format_preserving"]
    assert schemas["TokenizeRequest"]["properties"]["items"]["items"]["$ref"].endswith("/TokenizeItem")
