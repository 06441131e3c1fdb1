"""A small Python client for the piivault API (``requests``).

    from api.client import PiivaultClient

    pv = PiivaultClient("https://piivault.bank.internal", api_key)
    tokens = pv.tokenize([{"field_type": "cn_mobile", "value": "13812345678", "subject_id": sid}])
    values = pv.detokenize("aml_kyc", [t["token"] for t in tokens])

* Batching: any number of items or tokens, sent 1,000 per request; results
  come back as one list in input order.
* Retries: on 503 and 429 (honouring ``Retry-After``) and on connection
  errors, with exponential backoff and jitter. Every tokenize batch carries
  its own ``Idempotency-Key``, kept across its retries, so a retry after a lost
  response returns the first result instead of tokenizing twice.
  Creating a subject is not retried after a connection error (it may have
  happened); a 503 means nothing was written, so that is retried.
* Errors: a :class:`PiivaultError` with the status and the problem+json body.
  Neither the client nor its errors ever include request values.
"""

from __future__ import annotations

import email.utils
import random
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import requests

BATCH = 1_000
RETRY_STATUSES = frozenset({429, 503})


class PiivaultError(Exception):
    """The API answered with an error; ``problem`` is its RFC 9457 body (or {})."""

    def __init__(self, status: int, problem: Mapping[str, Any]) -> None:
        self.status = status
        self.problem = dict(problem)
        super().__init__(
            f"{status} {self.problem.get('title', '')}: {self.problem.get('detail', '')}".strip()
        )


class PiivaultClient:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        session: requests.Session | None = None,
        timeout: float = 30.0,
        max_retries: int = 5,
        backoff: float = 0.2,
        max_backoff: float = 30.0,
        batch_size: int = BATCH,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not 1 <= batch_size <= BATCH:
            raise ValueError(f"batch_size must be 1 to {BATCH}")
        self.base_url = base_url.rstrip("/")
        self.session = session or requests.Session()
        self.session.headers["Authorization"] = f"Bearer {api_key}"
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.batch_size = batch_size
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"PiivaultClient({self.base_url!r})"  # never the key

    # -- operations -------------------------------------------------------------
    def tokenize(self, items: Iterable[Mapping[str, Any]]) -> list[dict]:
        """``{token}`` or ``{error: {rule, message}}`` per item, in order."""
        results: list[dict] = []
        for batch in _batches(list(items), self.batch_size):
            body = self._request(
                "POST",
                "/v1/tokenize",
                json={"items": [dict(item) for item in batch]},
                headers={"Idempotency-Key": uuid.uuid4().hex},
                retry_connection_errors=True,
            )
            results.extend(body["items"])
        return results

    def detokenize(self, purpose: str, tokens: Iterable[str], reveal: str = "plain") -> list[dict]:
        """``{value}``, ``{masked}`` or ``{error, reason}`` per token, in order."""
        results: list[dict] = []
        for batch in _batches(list(tokens), self.batch_size):
            body = self._request(
                "POST",
                "/v1/detokenize",
                json={"purpose": purpose, "tokens": list(batch), "reveal": reveal},
                retry_connection_errors=True,
            )
            results.extend(body["items"])
        return results

    def lookup(self, field_type: str, value: str) -> list[dict]:
        """The tokens holding this value: ``[{token, kind, subject_id}]``."""
        body = self._request(
            "POST",
            "/v1/tokens/lookup",
            json={"field_type": field_type, "value": value},
            retry_connection_errors=True,
        )
        return body["tokens"]

    def create_subject(self) -> dict:
        return self._request("POST", "/v1/subjects", json={}, retry_connection_errors=False)

    def subject(self, subject_id: str) -> dict:
        return self._request("GET", f"/v1/subjects/{subject_id}", retry_connection_errors=True)

    # -- transport ----------------------------------------------------------------
    def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        retry_connection_errors: bool,
    ) -> Any:
        url = self.base_url + path
        for attempt in range(self.max_retries + 1):
            last = attempt == self.max_retries
            try:
                response = self.session.request(method, url, json=json, headers=headers, timeout=self.timeout)
            except (requests.ConnectionError, requests.Timeout):
                if last or not retry_connection_errors:
                    raise
                self._sleep(self._delay(attempt, None))
                continue
            if response.status_code in RETRY_STATUSES and not last:
                self._sleep(self._delay(attempt, response.headers.get("Retry-After")))
                continue
            if response.status_code >= 400:
                raise PiivaultError(response.status_code, _problem(response))
            return response.json()
        raise AssertionError("unreachable")  # pragma: no cover

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        """Retry-After when the server gives one, else exponential backoff with full jitter."""
        hinted = _retry_after_seconds(retry_after)
        if hinted is not None:
            return min(hinted, self.max_backoff)
        return random.uniform(0, min(self.max_backoff, self.backoff * 2**attempt))


def _batches(items: Sequence, size: int) -> Iterable[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _retry_after_seconds(value: str | None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _problem(response: requests.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
