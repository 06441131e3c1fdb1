"""Transit's data-key calls (encrypt, decrypt, rewrap) over one keep-alive connection, without requests.

A data-key cache miss is a Transit call on the request path: a tokenize or
detokenize whose subject's key is not cached sends one. What it costs the
caller's CPU, one decrypt of one key, measured in one process on one machine:

* hvac and requests: 0.53 ms (requests' session machinery: preparing the
  request, merging settings, hooks, cookies, building a Response);
* urllib3, which requests itself sends with: 0.25 ms on that machine; 0.34-0.46
  ms on a slower one, where
* the standard library's ``http.client``, with the poll below, took 0.22-0.28
  ms, 0.55-0.64x in the same runs: urllib3's pool manager, retry and timeout
  objects and response wrapper were most of the difference.

So each :class:`DataKeyTransport` (one per thread, with the thread's hvac
client) holds one ``http.client`` connection per address it has talked to:
Vault's, and an active node a standby redirected to.

hvac keeps everything else: logging in, mounting, reading and rotating the key.
Its error types carry over: an answer other than 200 raises what hvac raises
for it (:func:`hvac.utils.raise_for_error`), so the provider translates both
paths' failures alike, and a 403 still logs in again once. A connection that
fails raises ``OSError`` or ``http.client.HTTPException``, both "unreachable".

The connection is used only where requests would connect directly with no
credentials of its own. With a proxy for Vault's address, or netrc credentials
for it, the provider keeps hvac's path unchanged. TLS verification is what
requests would do: the same CA bundle (``PIIVAULT_VAULT_CACERT``,
``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE``, or certifi's), hostname checked.
Redirects (a standby naming the active node: 307) are followed with the same
method, body and token, at most ``MAX_REDIRECTS`` times, and never from https
to http: the body of an encrypt holds data keys, and the token goes with it
(Vault's own Go client refuses that downgrade too).

A kept connection is checked before it is used again, as urllib3 did: one that
Vault closed while idle, or that holds bytes nobody asked for (an idle-timeout
answer from a proxy), is closed and a new one made. No call is sent twice, as
urllib3 sent none (its retries were off): one that fails is a 503.
"""

from __future__ import annotations

import http.client
import json
import os
import select
import ssl
from typing import Any
from urllib.parse import urljoin, urlsplit

MAX_REDIRECTS = 3  # a standby names the active node: one hop; a few for a node changing meanwhile
REDIRECTS = frozenset({301, 302, 307, 308})  # followed as POST, as urllib3 followed them
MAX_CONNECTIONS = 4  # addresses held at once: Vault's, beside nodes redirected to

_Address = tuple[str, str, int]  # scheme, host, port


class DataKeyTransport:
    """POSTs JSON to Vault's Transit endpoints over keep-alive ``http.client`` connections.

    Not thread-safe: the provider keeps one per thread."""

    def __init__(self, addr: str, *, verify: bool | str, timeout: float) -> None:
        self._base = addr.rstrip("/")
        self._verify = verify
        self._timeout = timeout
        self._tls: ssl.SSLContext | None = None
        self._connections: dict[_Address, http.client.HTTPConnection] = {}

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
            OSError, http.client.HTTPException: Vault could not be reached, stopped answering,
                or redirected too often.
        """
        headers = {"Content-Type": "application/json", "X-Vault-Request": "true"}
        if token:
            headers["X-Vault-Token"] = token
        if namespace:
            headers["X-Vault-Namespace"] = namespace
        body = json.dumps(payload).encode()
        url = self._base + path
        for _ in range(MAX_REDIRECTS + 1):
            response, data = self._exchange(url, body, headers)
            if response.status == 200:
                return json.loads(data)
            location = response.getheader("Location")
            if response.status not in REDIRECTS or not location:
                _raise_as_hvac(url, response, data)
            target = urljoin(url, location)
            if url.lower().startswith("https:") and not target.lower().startswith("https:"):
                raise http.client.HTTPException("Vault redirected from https to another scheme: refused")
            url = target
        raise http.client.HTTPException(f"more than {MAX_REDIRECTS} redirects")

    def close(self) -> None:
        for connection in self._connections.values():
            connection.close()
        self._connections.clear()

    def _exchange(
        self, url: str, body: bytes, headers: dict[str, str]
    ) -> tuple[http.client.HTTPResponse, bytes]:
        """One POST and its whole answer (read, so the connection can carry the next)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise http.client.InvalidURL("Vault's address must be an http or https URL")
        address = (parts.scheme, parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        connection = self._connections.get(address)
        if connection is None:
            connection = self._connect(address)
        elif connection.sock is not None and _readable(connection.sock):
            connection.close()  # closed by Vault, or holding an answer nobody asked for
        try:
            connection.request("POST", target, body, headers)  # connects first if closed
            response = connection.getresponse()
            return response, response.read()
        except BaseException:
            connection.close()  # part of an exchange may still be in it
            raise

    def _connect(self, address: _Address) -> http.client.HTTPConnection:
        scheme, host, port = address
        if len(self._connections) >= MAX_CONNECTIONS:  # the oldest goes
            self._connections.pop(next(iter(self._connections))).close()
        connection: http.client.HTTPConnection
        if scheme == "https":
            connection = http.client.HTTPSConnection(
                host, port, timeout=self._timeout, context=self._context()
            )
        else:
            connection = http.client.HTTPConnection(host, port, timeout=self._timeout)
        self._connections[address] = connection
        return connection

    def _context(self) -> ssl.SSLContext:
        """TLS as requests verifies it: the given bundle (file or directory) or the default one,
        the hostname checked; with ``verify=False`` nothing checked."""
        if self._tls is None:
            if self._verify is False:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            else:
                bundle = _default_bundle() if self._verify is True else str(self._verify)
                if os.path.isdir(bundle):
                    context = ssl.create_default_context(capath=bundle)
                else:
                    context = ssl.create_default_context(cafile=bundle)
            self._tls = context
        return self._tls


def _readable(sock: Any) -> bool:
    """Whether an idle connection's socket has something to read: its end (Vault closed it) or
    bytes no request asked for. Either way it cannot carry the next exchange. poll, not select,
    which cannot watch a descriptor numbered 1024 or above (a busy worker's may be)."""
    try:
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError):  # closed underneath
        return True


def _default_bundle() -> str:
    from requests.utils import DEFAULT_CA_BUNDLE_PATH

    return DEFAULT_CA_BUNDLE_PATH


def _raise_as_hvac(url: str, response: http.client.HTTPResponse, data: bytes) -> None:
    """Raise the exception hvac's adapter raises for this answer (its message and errors too)."""
    from hvac import utils

    text = data.decode("utf-8", "replace")
    body = errors = None
    if response.getheader("Content-Type") == "application/json":
        try:
            body = json.loads(text)
        except ValueError:
            pass
        else:
            errors = body.get("errors") if isinstance(body, dict) else None
    utils.raise_for_error(
        "post", url, response.status, text if errors is None else None, errors=errors, text=text, json=body
    )
