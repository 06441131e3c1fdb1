"""HTTP for the client: the key, retries on 429/503 honouring ``Retry-After``, errors, pages.

Retries: a 429 or 503 means the server did nothing, so any request is sent
again, after the ``Retry-After`` the server gave or else an exponential
backoff with full jitter (at most ``max_backoff``); at most ``max_retries``
times, then the typed error is raised. A ``Retry-After`` longer than
``max_backoff`` is not waited for: the error is raised at once, its
``retry_after`` saying when to come back. A connection error is retried only
for requests that are safe to repeat (reads, and writes made idempotent,
like tokenize with its ``Idempotency-Key``): a lost answer to anything else
may hide a change that happened.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import requests

from piivault_client.errors import error_for

RETRY_STATUSES = frozenset({429, 503})
Sleep = Callable[[float], None]


class Transport:
    """Sends requests to one piivault API with one key; the resources share it."""

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
        sleep: Sleep = time.sleep,
    ) -> None:
        if max_retries < 0:
            raise ValueError("max_retries must be 0 or more")
        self.base_url = base_url.rstrip("/")
        self.session = session or requests.Session()
        self.session.headers["Authorization"] = f"Bearer {api_key}"
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.sleep = sleep

    def __repr__(self) -> str:
        return f"Transport({self.base_url!r})"  # never the key

    def json(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> Any:
        """The decoded JSON answer. Raises a :class:`~piivault_client.errors.PiivaultError` subclass
        for an error status, ``requests.RequestException`` for a connection failure.

        ``idempotent`` (default: true for GET) says whether a connection error may be retried.
        """
        response = self.send(method, path, json=json, params=params, headers=headers, idempotent=idempotent)
        return response.json()

    def send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: bytes | str | None = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        stream: bool = False,
    ) -> requests.Response:
        """The answer of a successful request (status below 400), for bodies that are not JSON.

        Raises as :meth:`json` does.
        """
        retry_connection_errors = method == "GET" if idempotent is None else idempotent
        url = self.base_url + path
        query = _query(params)
        for attempt in range(self.max_retries + 1):
            last = attempt == self.max_retries
            try:
                response = self.session.request(
                    method,
                    url,
                    json=json,
                    data=data,
                    params=query,
                    headers=headers,
                    timeout=self.timeout,
                    stream=stream,
                )
            except (requests.ConnectionError, requests.Timeout):
                if last or not retry_connection_errors:
                    raise
                self.sleep(self._delay(attempt, None))
                continue
            if response.status_code < 400:
                return response
            retry_after = retry_after_seconds(response.headers.get("Retry-After"))
            # A wait longer than the caller allows is theirs to decide: raised at once, with retry_after.
            patient = retry_after is None or retry_after <= self.max_backoff
            if response.status_code in RETRY_STATUSES and not last and patient:
                if stream:
                    response.close()  # give the connection back before waiting
                self.sleep(self._delay(attempt, retry_after))
                continue
            raise error_for(response.status_code, _problem(response), retry_after=retry_after)
        raise AssertionError("unreachable")  # pragma: no cover

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        """Retry-After when the server gave one, else exponential backoff with full jitter."""
        if retry_after is not None:
            return retry_after
        return random.uniform(0, min(self.max_backoff, self.backoff * 2**attempt))

    def pages(
        self, path: str, params: Mapping[str, Any], *, items: str, page_size: int
    ) -> Iterator[dict[str, Any]]:
        """Every item of a cursor-paged list (``limit``/``cursor`` in, ``next_cursor`` out).

        Pages are fetched as the iterator is consumed; each one may raise as :meth:`json` does.
        """
        cursor: str | None = None
        while True:
            page = self.json("GET", path, params={**params, "limit": page_size, "cursor": cursor})
            yield from page[items]
            cursor = page.get("next_cursor")
            if not cursor:
                return


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date (RFC 9110); None if neither."""
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


def _query(params: Mapping[str, Any] | None) -> dict[str, str] | None:
    """Query parameters as the API reads them: absent when None, booleans as true/false, times in ISO."""
    if not params:
        return None
    out: dict[str, str] = {}
    for name, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[name] = "true" if value else "false"
        elif hasattr(value, "isoformat"):
            out[name] = value.isoformat()
        else:
            out[name] = str(value)
    return out


def _problem(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
