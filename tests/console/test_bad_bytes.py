"""The console's forms with bytes no form should carry: never a 500 (issue 14).

A lone surrogate cannot reach a form field as text (werkzeug keeps an invalid percent
escape as it is, and replaces invalid UTF-8 in multipart parts), but a hostile client
sends it anyway, percent-encoded, raw in multipart, or as a JSON ``\\ud800`` escape.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.consent.conftest import customer

SUBJECT = "cust-0001"
SURROGATE_UTF8 = b"\xed\xa0\x80"  # U+D800 encoded as if it were a character (CESU-8)

FORMS = {
    "/console/purposes/new": ["code", "name_zh", "name_en", "legal_basis", "retention", "notice_zh"],
    "/console/purposes/marketing/notices": ["text_zh", "text_en"],
    "/console/dsr/new": ["subject_id", "type", "channel", "note"],
    f"/console/subjects/{SUBJECT}/holds": ["reason_code", "ends_at", "note"],
    f"/console/subjects/{SUBJECT}/consents/grant": ["purpose", "channel", "evidence"],
    "/console/subjects": ["by", "field_type", "q"],
    "/console/audit/verify": ["checkpoint"],
    "/console/me": ["language", "time_zone"],
}


def _urlencoded(csrf: str, fields: list[str]) -> bytes:
    pairs = [f"csrf_token={quote(csrf)}"] + [f"{name}=a%ED%A0%80b%FF" for name in fields]
    return "&".join(pairs).encode()


def _multipart(csrf: str, fields: list[str]) -> bytes:
    parts = [(b"csrf_token", csrf.encode())] + [(n.encode(), b"a" + SURROGATE_UTF8 + b"\xff") for n in fields]
    body = b"".join(
        b'--b\r\nContent-Disposition: form-data; name="' + name + b'"\r\n\r\n' + value + b"\r\n"
        for name, value in parts
    )
    return body + b"--b--\r\n"


@pytest.mark.parametrize("path", FORMS)
def test_forms_with_invalid_utf8_and_surrogates_are_never_a_500(container, signed_in, path):
    customer(container, SUBJECT)
    dpo = signed_in("dpo")
    fields = FORMS[path]
    sent = [
        (_urlencoded(dpo.token, fields), "application/x-www-form-urlencoded"),
        (_multipart(dpo.token, fields), "multipart/form-data; boundary=b"),
        (b'{"csrf_token": "%s", "note": "\\ud800"}' % dpo.token.encode(), "application/json"),
    ]
    for data, content_type in sent:
        response = dpo.client.post(path, data=data, content_type=content_type)
        assert response.status_code < 500, (content_type, response.get_data(as_text=True)[:1000])


@pytest.mark.parametrize("path", FORMS)
def test_forms_with_nul_are_never_a_500(container, signed_in, path):
    # PostgreSQL's text cannot hold U+0000: a form value that reached a query was a DataError.
    customer(container, SUBJECT)
    dpo = signed_in("dpo")
    data = "&".join([f"csrf_token={quote(dpo.token)}"] + [f"{name}=cust%00" for name in FORMS[path]])
    response = dpo.client.post(path, data=data, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400, response.get_data(as_text=True)[:1000]


@pytest.mark.parametrize(
    "path",
    ["/console/subjects/cust%000001", "/console/subjects?q=a%00b&by=value", "/console/audit?subject=a%00"],
)
def test_paths_and_queries_with_nul_are_never_a_500(container, signed_in, path):
    customer(container, SUBJECT)
    response = signed_in("dpo").client.get(path)
    assert response.status_code < 500, response.get_data(as_text=True)[:1000]
