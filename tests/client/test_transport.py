"""The client's transport: retries on 429 and 503 honouring Retry-After, against the real app and scripted."""

from __future__ import annotations

import json

import pytest
import requests

from api.app import create_app
from api.ratelimit import FailureLimiter
from piivault_client import PiivaultClient, PiivaultError, ServiceUnavailable, TooManyRequests, Unauthorized
from piivault_client.transport import retry_after_seconds
from tests.api_tokens.conftest import MOBILE, customer_items
from tests.approved import create_client
from tests.client.conftest import serve
from tests.conftest import make_container, make_settings


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
        pv.subjects.create()  # it may have been created: not retried
    assert len(session.seen) == 1


@pytest.mark.parametrize(("header", "seconds"), [("7", 7.0), ("", None), ("soon", None), (None, None)])
def test_retry_after_parsing(header, seconds):
    assert retry_after_seconds(header) == seconds


def test_a_429_from_the_limiter_is_waited_out_as_retry_after_says(app, base_url):
    """The app's own limiter: after two failed attempts from this address the next one gets 429."""
    now = [1_000.0]
    app.extensions["piivault.auth"].limiter = FailureLimiter(2, 60.0, clock=lambda: now[0])
    waited: list[float] = []

    def sleep(seconds: float) -> None:  # the limiter's clock moves as the client waits
        waited.append(seconds)
        now[0] += seconds

    def fail(times: int) -> None:
        for _ in range(times):
            with pytest.raises(Unauthorized):
                PiivaultClient(base_url, "pvk_nope_nope", max_retries=0).subjects.get("cust-00000001")

    fail(2)
    mistyped = PiivaultClient(base_url, "pvk_nope_nope", sleep=sleep, max_backoff=120)
    with pytest.raises(Unauthorized):  # 429, wait as told, then the key's own answer
        mistyped.subjects.get("cust-00000001")
    assert waited == [60.0]

    fail(1)  # the retry above was the first failure of a new window
    impatient = PiivaultClient(base_url, "pvk_nope_nope", sleep=sleep, max_backoff=30)
    with pytest.raises(TooManyRequests) as e:  # longer than it may wait: raised at once
        impatient.subjects.get("cust-00000001")
    assert e.value.retry_after == 60.0 and e.value.status == 429 and e.value.detail
    assert waited == [60.0]
    patient = PiivaultClient(base_url, "pvk_nope_nope", sleep=waited.append, max_backoff=60, max_retries=2)
    with pytest.raises(TooManyRequests):  # waits as told, but the clock stands still: bounded attempts
        patient.subjects.get("cust-00000001")
    assert waited == [60.0, 60.0, 60.0]


def test_a_vault_outage_is_retried_as_retry_after_says_then_raised(database_url, private_bao, tmp_path):
    container = make_container(make_settings(database_url, private_bao, tmp_path, vault_timeout=1.0))
    try:
        _, key = create_client(container, name="crm", role="service", purposes=["aml_kyc"])
        waited: list[float] = []
        with serve(create_app(container)) as url:
            pv = PiivaultClient(url, key, sleep=waited.append, max_retries=3)
            assert "token" in pv.tokenize(customer_items()[:1])[0]
            private_bao.stop()
            with pytest.raises(ServiceUnavailable) as e:
                pv.tokenize(customer_items("cust-new1"))
        assert e.value.code == "vault_unavailable" and e.value.retry_after and e.value.retry_after > 0
        assert waited == [e.value.retry_after] * 3  # bounded: three retries, each as long as the server said
    finally:
        container.close()
