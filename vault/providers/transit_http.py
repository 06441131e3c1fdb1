"""Transit's data-key calls (encrypt, decrypt, rewrap) over a urllib3 pool, without requests.

A data-key cache miss is a Transit call on the request path. Through hvac and
requests one decrypt cost 0.53 ms of the caller's CPU; the same POST through
urllib3, which requests itself sends with, cost 0.25 ms. The difference is
requests' session machinery: preparing the request, merging settings, hooks,
cookies, building a Response. That was a tenth of a single detokenize whose
key was not cached (``bench/api.py``, issue 22).

hvac keeps everything else: logging in, mounting, reading and rotating the key.
Its error types carry over: an answer other than 200 raises what hvac raises
for it (:func:`hvac.utils.raise_for_error`), so the provider translates both
paths' failures alike, and a 403 still logs in again once.

The pool is made only where requests would connect directly with no
credentials of its own. With a proxy for Vault's address, or netrc credentials
for it, the provider keeps hvac's path unchanged. TLS verification is what
requests would do: the same CA bundle (``PIIVAULT_VAULT_CACERT``,
``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE``, or certifi's), hostname checked.
Redirects (a standby naming the active node) are followed as requests follows
them, the body and the token kept. No call is retried.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

# Imported with the first transport, as hvac and requests are (vault.providers.transit).
if TYPE_CHECKING:
    import urllib3

MAX_REDIRECTS = 30  # requests' own limit


class DataKeyTransport:
    """POSTs JSON to Vault's Transit endpoints through one urllib3 pool manager."""

    def __init__(self, addr: str, *, verify: bool | str, timeout: float) -> None:
        import urllib3

        tls: dict[str, Any] = {}
        if addr.lower().startswith("https:"):
            if verify is False:
                tls = {"cert_reqs": "CERT_NONE"}
            else:
                bundle = _default_bundle() if verify is True else str(verify)
                where = "ca_cert_dir" if os.path.isdir(bundle) else "ca_certs"
                tls = {"cert_reqs": "CERT_REQUIRED", where: bundle}
        self._base = addr.rstrip("/")
        self._pool = urllib3.PoolManager(
            num_pools=4,  # a redirect's other node, beside the configured one
            timeout=urllib3.Timeout(connect=timeout, read=timeout),
            retries=urllib3.Retry(total=None, connect=0, read=0, status=0, other=0, redirect=MAX_REDIRECTS),
            **tls,
        )

    @classmethod
    def for_session(cls, addr: str, session: Any, *, timeout: float) -> DataKeyTransport | None:
        """A transport with ``session``'s settings (:func:`vault.providers.transit._session`),
        or None where requests would use a proxy or netrc credentials for ``addr``."""
        from requests.utils import select_proxy

        if session.auth is not None or select_proxy(addr, session.proxies):
            return None
        return cls(addr, verify=session.verify, timeout=timeout)

    def post(self, path: str, payload: dict[str, Any], *, token: str | None, namespace: str | None) -> Any:
        """The JSON of a 200 answer to ``POST path``.

        Raises:
            hvac.exceptions.VaultError: Vault answered otherwise (the exception hvac raises for it).
            urllib3.exceptions.HTTPError: Vault could not be reached, or stopped answering.
        """
        headers = {"Content-Type": "application/json", "X-Vault-Request": "true"}
        if token:
            headers["X-Vault-Token"] = token
        if namespace:
            headers["X-Vault-Namespace"] = namespace
        url = self._base + path
        response = self._pool.request("POST", url, body=json.dumps(payload).encode(), headers=headers)
        if response.status == 200:
            return json.loads(response.data)
        _raise_as_hvac(url, response)

    def close(self) -> None:
        self._pool.clear()


def _default_bundle() -> str:
    from requests.utils import DEFAULT_CA_BUNDLE_PATH

    return DEFAULT_CA_BUNDLE_PATH


def _raise_as_hvac(url: str, response: urllib3.BaseHTTPResponse) -> None:
    """Raise the exception hvac's adapter raises for this answer (its message and errors too)."""
    from hvac import utils

    text = response.data.decode("utf-8", "replace")
    body = errors = None
    if response.headers.get("Content-Type") == "application/json":
        try:
            body = json.loads(text)
        except ValueError:
            pass
        else:
            errors = body.get("errors") if isinstance(body, dict) else None
    utils.raise_for_error(
        "post", url, response.status, text if errors is None else None, errors=errors, text=text, json=body
    )
