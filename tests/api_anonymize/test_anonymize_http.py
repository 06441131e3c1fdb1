"""POST /v1/anonymize/text: operators, validation, roles, tokens that detokenize back, quiet logs."""

from __future__ import annotations

import logging
import re

import pytest

from fieldtypes.checksums import GB11643
from tests.api.conftest import bearer

ID_NUMBER = GB11643.complete("11010519900307123")
MOBILE = "13812345678"
LANDLINE = "010-62345678"
TEXT = f"客户张伟来电，身份证{ID_NUMBER}，手机{MOBILE}，再次确认手机{MOBILE}。"
URL = "/v1/anonymize/text"


@pytest.fixture
def service_key(make_key) -> str:
    return make_key("service", name="crm", purposes=["account_service", "aml_kyc"])


def post(client, key: str, **body):
    return client.post(URL, json=body, headers=bearer(key))


def _types(entities: list[dict]) -> list[str]:
    return [e["type"] for e in entities]


@pytest.mark.parametrize(
    ("operator", "present", "absent"),
    [
        ("redact", ["客户", "来电"], [ID_NUMBER, MOBILE, "张伟"]),
        ("mask", ["138****5678"], [ID_NUMBER, MOBILE]),
        ("replace", ["<PERSON_1>", "<CN_RESIDENT_ID_1>", "<CN_MOBILE_1>"], [ID_NUMBER, MOBILE, "张伟"]),
    ],
)
def test_operators(client, make_key, operator, present, absent):
    r = post(client, make_key("analyst"), text=TEXT, language="zh", operator=operator)
    assert r.status_code == 200, r.json
    body = r.json
    assert all(p in body["text"] for p in present)
    assert not any(a in body["text"] for a in absent)
    assert _types(body["entities"]) == ["name", "cn_resident_id", "cn_mobile", "cn_mobile"]
    first_id = body["entities"][1]
    assert TEXT[first_id["start"] : first_id["end"]] == ID_NUMBER and first_id["score"] == 1.0


def test_replace_is_stable_within_a_request(client, make_key):
    r = post(client, make_key("dpo"), text=TEXT, operator="replace")
    assert r.status_code == 200 and r.json["text"].count("<CN_MOBILE_1>") == 2


def test_tokenize_tokens_detokenize_back(client, service_key):
    text = TEXT + f"座机{LANDLINE}。"
    r = post(client, service_key, text=text, language="auto", operator="tokenize")
    assert r.status_code == 200, r.json
    out, entities = r.json["text"], r.json["entities"]
    assert ID_NUMBER not in out and MOBILE not in out and LANDLINE not in out
    assert "cn_landline" in _types(entities)  # tokenized as free_text, reported as detected
    # Each distinct value is stored once: the two mentions of the mobile share one token.
    tokens = re.findall(r"tok_[A-Za-z0-9_]+", out)
    assert len(tokens) == len(entities) and len(set(tokens)) == len(entities) - 1
    body = {"purpose": "account_service", "tokens": tokens}
    d = client.post("/v1/detokenize", json=body, headers=bearer(service_key))
    assert d.status_code == 200, d.json
    assert [item.get("value") for item in d.json["items"]] == [text[e["start"] : e["end"]] for e in entities]


def test_english_address_and_date_of_birth_in_words_are_tokenized(client, service_key):
    """date_of_birth takes only YYYY-MM-DD forms: a DOB in words is stored as free_text, not refused."""
    text = "Mrs Okafor, DOB 14 March 1978, moved to 1600 Pennsylvania Ave NW, Washington, DC 20500."
    r = post(client, service_key, text=text, language="en", operator="tokenize")
    assert r.status_code == 200, r.json
    assert {"date_of_birth", "address"} <= set(_types(r.json["entities"]))
    assert "14 March 1978" not in r.json["text"] and "Pennsylvania" not in r.json["text"]
    tokens = re.findall(r"tok_[A-Za-z0-9_]+", r.json["text"])
    d = client.post(
        "/v1/detokenize", json={"purpose": "account_service", "tokens": tokens}, headers=bearer(service_key)
    )
    assert d.status_code == 200, d.json
    assert "14 March 1978" in [item.get("value") for item in d.json["items"]]


def test_tokenize_needs_the_service_role(client, make_key):
    r = post(client, make_key("analyst"), text=TEXT, operator="tokenize")
    assert r.status_code == 403 and r.content_type == "application/problem+json"


@pytest.mark.parametrize(
    "body",
    [
        {"text": TEXT, "operator": "replace", "subject_id": "x"},
        {"text": TEXT, "operator": "encrypt"},
        {"text": TEXT, "operator": "mask", "language": "fr"},
        {"operator": "mask"},
        {"text": 12, "operator": "mask"},
    ],
)
def test_invalid_requests_are_422(client, make_key, body):
    r = client.post(URL, json=body, headers=bearer(make_key("analyst")))
    assert r.status_code == 422 and r.content_type == "application/problem+json"
    assert ID_NUMBER not in r.get_data(as_text=True)


def test_too_long_is_413(client, make_key):
    r = post(client, make_key("analyst"), text="好" * 100_001, operator="mask")
    assert r.status_code == 413 and r.content_type == "application/problem+json"


# The batch route (/v1/anonymize/texts) takes the same roles.
ROUTES = [(URL, {"text": TEXT, "operator": "redact"}), (URL + "s", {"texts": [TEXT], "operator": "redact"})]


@pytest.mark.parametrize(("url", "body"), ROUTES)
@pytest.mark.parametrize("role", ["auditor", "admin"])
def test_other_roles_are_403(client, make_key, role, url, body):
    r = client.post(url, json=body, headers=bearer(make_key(role)))
    assert r.status_code == 403 and r.content_type == "application/problem+json"


@pytest.mark.parametrize(("url", "body"), ROUTES)
def test_no_key_is_401(client, url, body):
    r = client.post(url, json=body)
    assert r.status_code == 401 and r.content_type == "application/problem+json"


def test_no_pii_in_logs(client, service_key, caplog):
    caplog.set_level(logging.DEBUG)
    for operator in ("redact", "mask", "replace", "tokenize"):
        assert post(client, service_key, text=TEXT, operator=operator).status_code == 200
    assert post(client, service_key, text=TEXT, operator="nope").status_code == 422
    logged = caplog.text + "".join(repr(r.args) for r in caplog.records)
    for value in (ID_NUMBER, MOBILE, "张伟"):
        assert value not in logged


def test_openapi_documents_the_operation(client):
    spec = client.get("/openapi.json")
    if spec.status_code == 200:
        assert "/v1/anonymize/text" in spec.json["paths"]
