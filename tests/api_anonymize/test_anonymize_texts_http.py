"""POST /v1/anonymize/texts: a batch gives each text what /v1/anonymize/text gives it; limits, bad input."""

from __future__ import annotations

import logging
import re

import pytest

from anonymize.text import MAX_BATCH_CHARS, MAX_BATCH_TEXTS
from fieldtypes.checksums import GB11643
from tests.api.conftest import bearer

ID_NUMBER = GB11643.complete("11010519900307123")
URL = "/v1/anonymize/texts"
TEXTS = [
    "Customer Sarah Brown called from +44 20 7946 0958 about card 4111 1111 1111 1111.",
    "Mrs Okafor, DOB 14 March 1978, moved to 1600 Pennsylvania Ave NW, Washington, DC 20500.",
    "",
    "Please email the statement to lucia.hughes@example.com; SSN 078-05-1120 on file.",
    f"客户张伟来电，身份证{ID_NUMBER}，手机13812345678。",
    "Applicant Anthony Nguyen - dob 1984-02-29, email anthony@example.org, Anthony Nguyen again.",
    "Nothing personal here: order 4922 shipped.",
]


@pytest.fixture
def service_key(make_key) -> str:
    return make_key("service", name="crm", purposes=["account_service"])


def post(client, key: str, **body):
    return client.post(URL, json=body, headers=bearer(key))


@pytest.mark.parametrize("operator", ["redact", "mask", "replace"])
@pytest.mark.parametrize("language", ["en", "auto"])
def test_a_batch_equals_the_single_route_text_by_text(client, make_key, operator, language):
    key = make_key("analyst")
    texts = TEXTS if language == "auto" else [t for t in TEXTS if "客户" not in t]
    r = post(client, key, texts=texts, language=language, operator=operator)
    assert r.status_code == 200, r.json
    singles = [
        client.post("/v1/anonymize/text", json={"text": t, "language": language, "operator": operator},
                    headers=bearer(key)).json
        for t in texts
    ]  # fmt: skip
    assert r.json["items"] == singles
    assert any(item["entities"] for item in singles)


def test_tokenize_stores_the_batchs_values_once_and_they_detokenize_back(client, service_key):
    texts = [TEXTS[3], TEXTS[3].replace("SSN", "ssn"), TEXTS[0]]
    r = post(client, service_key, texts=texts, language="en", operator="tokenize")
    assert r.status_code == 200, r.json
    items = r.json["items"]
    tokens = [re.findall(r"tok_[A-Za-z0-9_]+", item["text"]) for item in items]
    assert tokens[0] == tokens[1] and tokens[0]  # the same values in two texts: the same tokens
    values = [
        t[e["start"] : e["end"]] for t, item in zip(texts, items, strict=True) for e in item["entities"]
    ]
    flat = [token for per_text in tokens for token in per_text]
    assert len(flat) == len(values)
    d = client.post(
        "/v1/detokenize", json={"purpose": "account_service", "tokens": flat}, headers=bearer(service_key)
    )
    assert d.status_code == 200, d.json
    # The card comes back in its field type's normal form (no spaces).
    revealed = [item.get("value", "").replace(" ", "") for item in d.json["items"]]
    assert revealed == [value.replace(" ", "") for value in values]


def test_tokenize_needs_the_service_role(client, make_key):
    r = post(client, make_key("analyst"), texts=TEXTS, operator="tokenize")
    assert r.status_code == 403 and r.content_type == "application/problem+json"


def test_too_many_texts_is_413(client, make_key):
    r = post(client, make_key("analyst"), texts=["x"] * (MAX_BATCH_TEXTS + 1), operator="mask")
    assert r.status_code == 413 and r.content_type == "application/problem+json"
    assert r.json["type"].endswith("batch_too_large")


def test_too_many_characters_in_all_is_413(client, make_key):
    count = MAX_BATCH_CHARS // 100_000 + 1
    r = post(client, make_key("analyst"), texts=["a" * 100_000] * count, operator="mask")
    assert r.status_code == 413 and r.content_type == "application/problem+json"


def test_one_text_too_long_is_413_and_nothing_is_returned(client, make_key):
    r = post(client, make_key("analyst"), texts=[TEXTS[0], "好" * 100_001], operator="mask")
    assert r.status_code == 413 and r.content_type == "application/problem+json"
    assert "Sarah" not in r.get_data(as_text=True)


@pytest.mark.parametrize(
    "body",
    [
        {"texts": [], "operator": "mask"},
        {"texts": "one text", "operator": "mask"},
        {"texts": [TEXTS[0], 12], "operator": "mask"},
        {"texts": [TEXTS[0], None], "operator": "mask"},
        {"text": TEXTS[0], "operator": "mask"},
        {"texts": [TEXTS[0]], "text": TEXTS[0], "operator": "mask"},
        {"texts": [TEXTS[0]], "operator": "encrypt"},
        {"texts": [TEXTS[0]], "operator": "mask", "language": "fr"},
        {"texts": [TEXTS[0]]},
    ],
)
def test_bad_input_is_422_without_the_text(client, make_key, body):
    r = client.post(URL, json=body, headers=bearer(make_key("analyst")))
    assert r.status_code == 422 and r.content_type == "application/problem+json"
    assert "Sarah" not in r.get_data(as_text=True)


def test_no_text_or_value_in_logs(client, service_key, caplog):
    caplog.set_level(logging.DEBUG)
    for operator in ("redact", "mask", "replace", "tokenize"):
        assert post(client, service_key, texts=TEXTS, operator=operator).status_code == 200
    assert post(client, service_key, texts=TEXTS, operator="nope").status_code == 422
    assert post(client, service_key, texts=[*TEXTS, "好" * 100_001], operator="mask").status_code == 413
    logged = caplog.text + "".join(repr(r.args) for r in caplog.records)
    for value in (ID_NUMBER, "13812345678", "张伟", "Sarah Brown", "lucia.hughes", "078-05-1120", "Okafor"):
        assert value not in logged


def test_openapi_documents_the_operation(client):
    spec = client.get("/openapi.json")
    if spec.status_code == 200:
        assert "/v1/anonymize/texts" in spec.json["paths"]
