"""The Python client (api/client.py): against the app over real HTTP, and its retry rules."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest
import requests
from werkzeug.serving import make_server

from api.client import PiivaultClient, PiivaultError, _retry_after_seconds
from tests.api_tokens.conftest import ID_NUMBER, MOBILE, customer_items


@pytest.fixture
def base_url(app) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


class CountingSession(requests.Session):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, int]] = []

    def request(self, method, url, *args, **kwargs):  # type: ignore[override]
        body = kwargs.get("json") or {}
        self.calls.append((url.rsplit("/v1/", 1)[1], len(body.get("items") or body.get("tokens") or [])))
        return super().request(method, url, *args, **kwargs)


def test_batches_of_a_thousand_over_http(base_url, service_key):
    session = CountingSession()
    pv = PiivaultClient(base_url, service_key, session=session)
    items = [
        {"field_type": "cn_mobile", "value": f"139{i:08d}", "subject_id": f"cust-{i % 500:05d}"}
        for i in range(2500)
    ]
    tokens = pv.tokenize(items)
    assert len(tokens) == 2500 and all("token" in t for t in tokens)
    values = pv.detokenize("aml_kyc", [t["token"] for t in tokens])
    assert [v["value"] for v in values] == [i["value"] for i in items]
    assert session.calls == [("tokenize", 1000), ("tokenize", 1000), ("tokenize", 500)] + [
        ("detokenize", 1000),
        ("detokenize", 1000),
        ("detokenize", 500),
    ]
    assert pv.subject("cust-00001")["token_count"] == 5
    assert [m["subject_id"] for m in pv.lookup("cn_mobile", "13900000001")] == ["cust-00001"]
    created = pv.create_subject()
    assert created["subject_id"].startswith("sub_")


def test_errors_carry_the_problem_not_the_request(base_url, service_key):
    pv = PiivaultClient(base_url, service_key)
    with pytest.raises(PiivaultError) as e:
        pv.subject("cust-nobody")
    assert e.value.status == 404 and e.value.problem["status"] == 404
    with pytest.raises(PiivaultError) as e:
        pv.lookup("cn_resident_id", ID_NUMBER + "0")
    assert e.value.status == 422 and ID_NUMBER not in str(e.value)
    bad = PiivaultClient(base_url, "pvk_nope_nope")
    with pytest.raises(PiivaultError) as e:
        bad.tokenize(customer_items())
    assert e.value.status == 401
    assert "pvk_nope" not in repr(bad)


def _response(status: int, body: dict | None = None, headers: dict | None = None) -> requests.Response:
    r = requests.Response()
    r.status_code = status
    r._content = json.dumps(body or {}).encode()
    r.headers.update({"Content-Type": "application/json", **(headers or {})})
    return r


class ScriptedSession(requests.Session):
    """Answers from a script: responses or exceptions, recording each call's headers."""

    def __init__(self, script: list) -> None:
        super().__init__()
        self.script = list(script)
        self.seen: list[dict] = []

    def request(self, method, url, *args, **kwargs):  # type: ignore[override]
        self.seen.append(dict(kwargs.get("headers") or {}))
        outcome = self.script.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def test_retries_honour_retry_after_and_keep_the_idempotency_key():
    ok = _response(200, {"items": [{"token": "tok_mob_x"}]})
    session = ScriptedSession(
        [
            _response(503, {"status": 503}, {"Retry-After": "2"}),
            requests.ConnectionError("reset"),
            _response(429, {"status": 429}, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}),
            ok,
        ]
    )
    slept: list[float] = []
    pv = PiivaultClient("http://pv", "pvk_k", session=session, sleep=slept.append, backoff=0.01)
    assert pv.tokenize([{"field_type": "cn_mobile", "value": MOBILE}]) == [{"token": "tok_mob_x"}]
    assert slept[0] == 2.0 and slept[2] == 0.0  # a date in the past: no wait
    assert 0 <= slept[1] <= 0.02  # no hint: jittered exponential backoff
    keys = {h["Idempotency-Key"] for h in session.seen}
    assert len(keys) == 1 and len(session.seen) == 4


def test_each_batch_has_its_own_idempotency_key():
    session = ScriptedSession([_response(200, {"items": [{"token": "t"}] * 1000})] * 2)
    pv = PiivaultClient("http://pv", "pvk_k", session=session)
    pv.tokenize([{"field_type": "name", "value": "x"}] * 2000)
    assert len({h["Idempotency-Key"] for h in session.seen}) == 2


def test_retries_give_up_and_do_not_repeat_what_may_have_happened():
    session = ScriptedSession([_response(503, {"status": 503, "title": "vault unavailable"})] * 3)
    pv = PiivaultClient("http://pv", "pvk_k", session=session, sleep=lambda s: None, max_retries=2)
    with pytest.raises(PiivaultError) as e:
        pv.detokenize("aml_kyc", ["tok_x"])
    assert e.value.status == 503 and len(session.seen) == 3
    session = ScriptedSession([requests.ConnectionError("reset")])
    pv = PiivaultClient("http://pv", "pvk_k", session=session, sleep=lambda s: None)
    with pytest.raises(requests.ConnectionError):
        pv.create_subject()  # it may have been created: not retried
    assert len(session.seen) == 1


@pytest.mark.parametrize(("header", "seconds"), [("7", 7.0), ("", None), ("soon", None), (None, None)])
def test_retry_after_parsing(header, seconds):
    assert _retry_after_seconds(header) == seconds
