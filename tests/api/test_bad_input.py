"""Bad input is a 4xx problem+json, never a 500 (issue 14), checked where it enters: one table
per class of bad input, each tried on every endpoint of :data:`ENDPOINTS`.

The endpoints carry the ten string fields the issue names (detokenize tokens, extract
description, anonymize text, DSR and hold notes, purpose names and notice texts, attribute
values, re-identify reason); ``@BAD@`` in a body is where the bad JSON goes.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import NamedTuple

import pytest
import sqlalchemy as sa

from api.app import create_app
from tests.api.conftest import bearer

SUBJECT = "cust-badinput-01"


class Endpoint(NamedTuple):
    role: str
    method: str
    path: str
    body: str  # JSON text with @BAD@ where the bad value goes


ENDPOINTS = {
    "detokenize tokens": Endpoint(
        "service", "POST", "/v1/detokenize", '{"purpose": "aml_kyc", "tokens": [@BAD@]}'
    ),
    "extract description": Endpoint(
        "analyst", "POST", "/v1/extracts", '{"purpose": "risk_scoring", "description": @BAD@, "columns": {}}'
    ),
    "anonymize text": Endpoint("service", "POST", "/v1/anonymize/text", '{"text": @BAD@}'),
    "dsr note": Endpoint(
        "dpo",
        "POST",
        "/v1/dsr",
        f'{{"subject_id": "{SUBJECT}", "type": "access", "channel": "app", "note": @BAD@}}',
    ),
    "hold note": Endpoint(
        "dpo",
        "POST",
        f"/v1/subjects/{SUBJECT}/holds",
        '{"reason_code": "litigation", "ends_at": "2031-01-01T00:00:00Z", "note": @BAD@}',
    ),
    "purpose name": Endpoint(
        "dpo",
        "POST",
        "/v1/purposes",
        '{"code": "bad_input", "name_zh": @BAD@, "name_en": "x", "legal_basis": "consent", '
        '"retention": "1 year", "notice": {"text_zh": "x"}}',
    ),
    "notice text": Endpoint("dpo", "POST", "/v1/purposes/marketing/notices", '{"text_zh": @BAD@}'),
    "attribute value": Endpoint(
        "service",
        "POST",
        "/v1/attributes",
        f'{{"items": [{{"subject_id": "{SUBJECT}", "attributes": {{"segment": @BAD@}}}}]}}',
    ),
    "reidentify reason": Endpoint(
        "dpo",
        "POST",
        "/v1/extracts/x0000001/reidentify",
        '{"column": "c", "pseudonym": "p", "reason": @BAD@}',
    ),
    "consent evidence": Endpoint(
        "service",
        "POST",
        f"/v1/subjects/{SUBJECT}/consents",
        '{"purpose": "marketing", "channel": "app", "evidence": @BAD@}',
    ),
    "client name": Endpoint("admin", "POST", "/v1/clients", '{"name": @BAD@, "role": "service"}'),
    "lookup value": Endpoint(
        "service", "POST", "/v1/tokens/lookup", '{"field_type": "cn_mobile", "value": @BAD@}'
    ),
}

# What a hostile client puts where a value goes, and what the decoder says about it.
BAD_VALUES = {
    "nested 971 levels": ("[" * 971 + "]" * 971, "nested deeper"),
    "nested 40 levels": ('{"a": ' * 40 + "1" + "}" * 40, "nested deeper"),
    "integer of 4,301 digits": ("9" * 4301, "64-bit"),
    "integer above int64": ("9223372036854775808", "64-bit"),
    "integer below int64": ("-9223372036854775809", "64-bit"),
    "lone high surrogate": ('"\\ud800"', "surrogate"),
    "lone low surrogate": ('"a\\udc00b"', "surrogate"),
    "surrogate as a key": ('{"\\udbff": 1}', "surrogate"),
    "duplicate keys": ('{"role": "auditor", "role": "admin"}', "same key twice"),
    "NaN": ("NaN", "not a JSON number"),
    "Infinity": ("-Infinity", "not a JSON number"),
    "a float too large": ("1e400", "too large"),
}


@pytest.fixture
def keys(make_key: Callable[..., str]) -> dict[str, str]:
    return {
        "service": make_key("service", name="bad-crm", purposes=["aml_kyc", "marketing", "risk_scoring"]),
        "analyst": make_key("analyst", name="bad-analyst", purposes=["risk_scoring"]),
        "dpo": make_key("dpo", name="bad-dpo"),
        "admin": make_key("admin", name="bad-admin"),
        "auditor": make_key("auditor", name="bad-auditor"),
    }


def _send(
    client, keys, endpoint: Endpoint, data: bytes | None, content_type: str | None = "application/json", **kw
):
    headers = bearer(keys[endpoint.role])
    if content_type:
        headers["Content-Type"] = content_type
    return client.open(endpoint.path, method=endpoint.method, data=data, headers=headers, **kw)


def _problems(resp, status: int, code: str) -> str | None:
    """What is wrong with ``resp`` if it is not the problem ``code`` with ``status``."""
    if resp.status_code != status or resp.mimetype != "application/problem+json":
        return f"{resp.status_code} {resp.mimetype}: {resp.get_data(as_text=True)[:200]}"
    body = resp.json
    if not body["type"].endswith("/" + code):
        return f"type {body['type']}"
    return None


def _check_every_endpoint(
    send: Callable[[Endpoint], object], status: int, code: str, detail: str = ""
) -> None:
    wrong = {}
    for name, endpoint in ENDPOINTS.items():
        resp = send(endpoint)
        problem = _problems(resp, status, code)
        if problem is None and detail and detail not in resp.json["detail"]:
            problem = f"detail {resp.json['detail']!r}"
        if problem:
            wrong[name] = problem
    assert not wrong, wrong


# -- one table per class of bad input ------------------------------------------------------------
@pytest.mark.parametrize("bad", BAD_VALUES, ids=list(BAD_VALUES))
def test_bad_json_values_are_400_on_every_endpoint(client, keys, bad):
    value, detail = BAD_VALUES[bad]
    _check_every_endpoint(
        lambda e: _send(client, keys, e, e.body.replace("@BAD@", value).encode()), 400, "invalid_json", detail
    )


@pytest.mark.parametrize(
    "data",
    [b'{"a": "\xff"}', b'{"a": "\xed\xa0\x80"}', b"\xef\xbb\xbf{}", b"{not json", b"[1, 2", b"{}{}"],
    ids=["latin-1 byte", "encoded surrogate", "byte order mark", "not json", "truncated", "two documents"],
)
def test_bodies_that_are_not_utf8_json_are_400_on_every_endpoint(client, keys, data):
    _check_every_endpoint(lambda e: _send(client, keys, e, data), 400, "invalid_json")


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/xml",
        "application/json; charset=latin-1",
    ],
)
def test_a_body_in_another_media_type_or_charset_is_415_on_every_endpoint(client, keys, content_type):
    _check_every_endpoint(
        lambda e: _send(client, keys, e, b'{"a": 1}', content_type), 415, "unsupported_media_type"
    )


def test_json_in_utf8_with_a_charset_parameter_is_decoded(client, keys):
    endpoint = ENDPOINTS["purpose name"]
    body = endpoint.body.replace("@BAD@", json.dumps("测试用途 😀")).encode()
    resp = _send(client, keys, endpoint, body, "application/json; charset=UTF-8")
    assert resp.status_code == 201, resp.json
    assert resp.json["name_zh"] == "测试用途 😀"  # a surrogate pair decodes to one character


@pytest.mark.parametrize("content_type", ["application/json", None])
def test_a_missing_body_is_400_on_every_endpoint(client, keys, content_type):
    _check_every_endpoint(lambda e: _send(client, keys, e, None, content_type), 400, "body_required")


def test_a_chunked_body_over_the_limit_is_413_on_every_endpoint(container, keys):
    container.settings = container.settings.replace(max_request_bytes=4096)
    client = create_app(container).test_client()

    def send(endpoint: Endpoint):
        data = endpoint.body.replace("@BAD@", json.dumps("x" * 10_000)).encode()
        return client.open(
            endpoint.path,
            method=endpoint.method,
            input_stream=io.BytesIO(data),
            headers={
                **bearer(keys[endpoint.role]),
                "Content-Type": "application/json",
                "Transfer-Encoding": "chunked",
            },
            environ_overrides={"wsgi.input_terminated": True},
        )

    _check_every_endpoint(send, 413, "413")


def test_a_duplicate_role_creates_no_client(client, keys, container):
    from identity.clients.tables import clients  # noqa: PLC0415

    with container.engine.connect() as conn:
        before = conn.execute(sa.select(sa.func.count()).select_from(clients)).scalar_one()
    resp = client.post(
        "/v1/clients",
        data=b'{"name": "sneaky", "role": "auditor", "role": "admin"}',
        headers={**bearer(keys["admin"]), "Content-Type": "application/json"},
    )
    assert _problems(resp, 400, "invalid_json") is None
    assert "same key twice" in resp.json["detail"]
    with container.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(clients)).scalar_one() == before


def test_the_decoder_never_echoes_the_value(client, keys):
    endpoint = ENDPOINTS["client name"]
    body = endpoint.body.replace("@BAD@", '"13800138000\\ud800"').encode()
    resp = _send(client, keys, endpoint, body)
    assert resp.status_code == 400
    assert "13800138000" not in resp.get_data(as_text=True)


# -- detokenize decides the role before it reads the body -----------------------------------------
@pytest.mark.parametrize("role", ["auditor", "analyst", "admin"])
@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (b"[" * 971 + b"]" * 971, "application/json"),
        (b'{"purpose": "aml_kyc", "tokens": ["\\ud800"]}', "application/json"),
        (b'{"purpose": "aml_kyc", "tokens": ["x"]}', "text/plain"),
        (None, None),
        (b'{"purpose": "aml_kyc", "tokens": ["' + b"x" * 100_000 + b'"]}', "application/json"),
    ],
    ids=["deep", "surrogate", "text/plain", "no body", "oversize"],
)
def test_detokenize_answers_other_roles_403_whatever_the_body(container, keys, role, data, content_type):
    container.settings = container.settings.replace(max_request_bytes=4096)
    client = create_app(container).test_client()
    resp = _send(client, {role: keys[role]}, Endpoint(role, "POST", "/v1/detokenize", ""), data, content_type)
    assert _problems(resp, 403, "forbidden") is None


# -- path integers and times outside what can be stored ------------------------------------------
@pytest.mark.parametrize(
    "path",
    [
        "/v1/purposes/marketing/notices/9223372036854775808",
        "/v1/purposes/marketing/notices/99999999999999999999999999999",
        "/v1/purposes/marketing/notices/9223372036854775807",
        "/v1/purposes/marketing/notices/2147483648",
        "/v1/audit/events/9223372036854775808/proof",
    ],
)
def test_path_integers_past_what_the_column_holds_are_400(client, keys, path):
    # Audit sequence numbers are 64-bit; notice versions 32-bit (PostgreSQL
    # refuses a larger literal with DataError, which was a 500).
    resp = client.get(path, headers=bearer(keys["dpo"]))
    assert resp.status_code == 400, resp.data
    assert resp.mimetype == "application/problem+json"
    assert "at most" in resp.json["detail"]


def test_the_largest_path_integer_a_column_holds_is_looked_up(client, keys):
    resp = client.get("/v1/audit/events/9223372036854775807/proof", headers=bearer(keys["dpo"]))
    assert resp.status_code == 404 and resp.json["type"].endswith("/audit_event_not_found")


@pytest.mark.parametrize(
    ("path", "name", "maximum"),
    [
        ("/v1/purposes/{code}/notices/{version}", "version", 2**31 - 1),
        ("/v1/audit/events/{seq}/proof", "seq", 2**63 - 1),
    ],
)
def test_the_document_states_the_path_integer_range(client, path, name, maximum):
    spec = client.get("/openapi.json").json
    param = next(p for p in spec["paths"][path]["parameters"] if p["name"] == name)
    assert param["schema"] == {"type": "integer", "minimum": 0, "maximum": maximum}


@pytest.mark.parametrize("version", [2**31, 2**63 - 1])
def test_a_consent_naming_a_notice_version_past_32_bits_is_422(client, keys, version):
    body = {"purpose": "marketing", "channel": "app", "notice_version": version}
    resp = client.post("/v1/subjects/s-notice/consents", json=body, headers=bearer(keys["service"]))
    assert resp.status_code == 422, resp.data
    assert "notice_version" in resp.json["errors"]["json"]


@pytest.mark.parametrize("since", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:30:00-01:00"])
def test_audit_since_outside_utc_years_1_to_9999_is_422(client, keys, since):
    resp = client.get("/v1/audit/events", query_string={"since": since}, headers=bearer(keys["auditor"]))
    assert resp.status_code == 422, resp.data
    assert "since" in resp.json["errors"]["query"]


@pytest.mark.parametrize("ends_at", ["9999-12-31T23:30:00-01:00", "0001-01-01T00:30:00+01:00"])
def test_hold_ends_at_outside_utc_years_1_to_9999_is_422(client, keys, ends_at):
    resp = client.post(
        f"/v1/subjects/{SUBJECT}/holds",
        json={"reason_code": "litigation", "ends_at": ends_at},
        headers=bearer(keys["dpo"]),
    )
    assert resp.status_code == 422, resp.data
    assert "ends_at" in resp.json["errors"]["json"]


@pytest.mark.parametrize(
    ("role", "path"),
    [
        ("dpo", "/v1/dsr?limit=1&lmit=2"),
        ("dpo", "/v1/purposes?colour=blue"),
        ("admin", "/v1/field-types?x=1"),
    ],
)
def test_an_undocumented_query_parameter_is_422(client, keys, role, path):
    resp = client.get(path, headers=bearer(keys[role]))
    assert resp.status_code == 422, resp.data
    assert list(resp.json["errors"]["query"].values()) == [["Unknown field."]]


# -- U+0000: PostgreSQL's text cannot hold it, so it is refused before anything is looked up ------
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/detokenize", '{"purpose": "aml_kyc", "tokens": ["tok\\u0000x"]}'),
        (
            "POST",
            "/v1/tokenize",
            '{"items": [{"field_type": "email", "value": "a@b.cn", "subject_id": "s\\u0000"}]}',
        ),
        (
            "POST",
            "/v1/subjects/s-1/consents",
            '{"purpose": "marketing", "channel": "app", "evidence": "\\u0000"}',
        ),
        ("POST", "/v1/subjects/s-1/consents", '{"purpose\\u0000": "marketing", "channel": "app"}'),
    ],
)
def test_nul_in_a_json_string_is_400_before_the_database(client, keys, method, path, body):
    resp = client.open(
        path, method=method, data=body, content_type="application/json", headers=bearer(keys["service"])
    )
    assert _problems(resp, 400, "nul_character") is None, resp.data


@pytest.mark.parametrize(
    "path",
    ["/v1/subjects/s%00x/consents", "/v1/audit/events?subject=s%00x", "/v1/purposes/mark%00eting"],
)
def test_nul_in_a_path_or_query_is_400(client, keys, path):
    resp = client.get(path, headers=bearer(keys["dpo"]))
    assert _problems(resp, 400, "nul_character") is None, resp.data


def test_nul_in_a_csv_import_is_400(client, keys):
    body = b"subject_id,purpose,action,channel\ns-1\x00,marketing,grant,app\n"
    resp = client.post(
        "/v1/consents/import", data=body, content_type="text/csv", headers=bearer(keys["dpo"])
    )
    assert _problems(resp, 400, "nul_character") is None, resp.data
