"""The Transit key provider against a real OpenBao server."""

from __future__ import annotations

import contextlib
import http.server
import os
import secrets
import socket
import threading
import time

import hvac
import pytest

from piivault.devbao import free_port
from vault import (
    InvalidSealedValue,
    KeyNotFound,
    KeyVersionRetired,
    TransitKeyProvider,
    VaultAuthError,
    VaultUnavailable,
)


@pytest.fixture
def provider(bao):
    p = TransitKeyProvider(bao.addr, token=bao.token, key_name="t-" + secrets.token_hex(4), batch_size=100)
    p.ensure_key()
    return p


def test_wrap_unwrap_batches_larger_than_one_request(provider):
    keys = [os.urandom(32) for _ in range(1_234)]  # 13 chunks of 100
    wrapped = provider.wrap(keys)
    assert len(wrapped) == len(keys)
    assert all(w.startswith("vault:v1:") for w in wrapped)
    assert provider.unwrap(wrapped) == keys


def test_rotate_rewrap_and_retire(provider):
    keys = [os.urandom(32) for _ in range(5)]
    old = provider.wrap(keys)
    info = provider.rotate()
    assert info.latest_version == 2
    assert provider.version_of(provider.wrap(keys[:1])[0]) == 2
    new = provider.rewrap(old)
    assert {provider.version_of(w) for w in new} == {2}
    provider.set_min_decryption_version(2)
    assert provider.unwrap(new) == keys
    with pytest.raises(KeyVersionRetired):
        provider.unwrap(old)
    assert provider.key_info().versions == (2,)


def test_garbage_ciphertext_is_opaque(provider):
    with pytest.raises(InvalidSealedValue):
        provider.unwrap(["vault:v1:" + "A" * 40])
    with pytest.raises(InvalidSealedValue):
        provider.unwrap(["not-a-wrapped-key"])


def test_missing_key_bad_token_and_unreachable_are_typed(bao):
    missing = TransitKeyProvider(bao.addr, token=bao.token, key_name="never-created")
    with pytest.raises(KeyNotFound, match="keys bootstrap"):
        missing.check()
    with pytest.raises(VaultAuthError, match="PIIVAULT_VAULT_TOKEN"):
        TransitKeyProvider(bao.addr, token="wrong-token", key_name="x").check()
    dead = TransitKeyProvider(f"http://127.0.0.1:{free_port()}", token="t", key_name="x", timeout=1)
    with pytest.raises(VaultUnavailable):
        dead.wrap([os.urandom(32)])


def test_approle_authentication(bao):
    root = hvac.Client(url=bao.addr, token=bao.token)
    key = "ar-" + secrets.token_hex(4)
    TransitKeyProvider(bao.addr, token=bao.token, key_name=key).ensure_key()
    if "approle/" not in root.sys.list_auth_methods()["data"]:
        root.sys.enable_auth_method("approle")
    policy = f"""
path "transit/encrypt/{key}" {{ capabilities = ["update"] }}
path "transit/decrypt/{key}" {{ capabilities = ["update"] }}
path "transit/rewrap/{key}" {{ capabilities = ["update"] }}
path "transit/keys/{key}" {{ capabilities = ["read"] }}
"""
    root.sys.create_or_update_policy(name=key, policy=policy)
    root.auth.approle.create_or_update_approle(key, token_policies=[key], token_ttl="5m")
    role_id = root.auth.approle.read_role_id(key)["data"]["role_id"]
    secret_id = root.auth.approle.generate_secret_id(key)["data"]["secret_id"]

    provider = TransitKeyProvider(bao.addr, role_id=role_id, secret_id=secret_id, key_name=key)
    dek = os.urandom(32)
    wrapped = provider.wrap([dek])
    assert provider.unwrap(wrapped) == [dek]
    # Its token revoked (or expired): the data-key call's 403 logs in again, once, and retries.
    revoked = provider._client().token
    root.auth.token.revoke(revoked)
    assert provider.unwrap(wrapped) == [dek]
    assert provider._client().token != revoked
    # least privilege: the policy does not allow rotation
    with pytest.raises(VaultAuthError):
        provider.rotate()

    bad = TransitKeyProvider(bao.addr, role_id=role_id, secret_id="wrong", key_name=key)
    with pytest.raises(VaultAuthError, match="AppRole"):
        bad.wrap([dek])


def test_the_environment_is_read_once_per_client_with_the_same_effect(monkeypatch, tmp_path):
    from vault.providers.transit import _session

    bundle = tmp_path / "ca.pem"
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "vault.internal")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    proxied = _session("https://vault.example:8200", True)
    assert proxied.trust_env is False
    assert proxied.proxies.get("https") == "http://proxy.example:3128"
    assert proxied.verify == str(bundle)  # as requests would have taken it from the environment
    assert _session("https://vault.internal:8200", True).proxies == {}  # NO_PROXY still applies
    assert _session("https://vault.example:8200", "/etc/vault-ca.pem").verify == "/etc/vault-ca.pem"


class _RequestsCalls:
    """Counts the HTTP requests sent through requests (the data-key calls should send none)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import requests

        self.count = 0
        send = requests.Session.request

        def counted(session, *args, **kwargs):
            self.count += 1
            return send(session, *args, **kwargs)

        monkeypatch.setattr(requests.Session, "request", counted)


def test_data_key_calls_go_to_vault_without_requests(provider, monkeypatch):
    calls = _RequestsCalls(monkeypatch)
    keys = [os.urandom(32) for _ in range(3)]
    wrapped = provider.wrap(keys)
    assert provider.unwrap(provider.rewrap(wrapped)) == keys
    assert calls.count == 0
    provider.key_info()  # everything else is still hvac's, over requests
    assert calls.count == 1


def test_a_refused_token_on_a_data_key_call_is_typed(bao):
    with pytest.raises(VaultAuthError, match="PIIVAULT_VAULT_TOKEN"):
        TransitKeyProvider(bao.addr, token="wrong-token", key_name="x").unwrap(["vault:v1:" + "A" * 40])


def test_a_proxy_for_vault_keeps_the_data_key_calls_on_requests(bao, provider, monkeypatch):
    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")  # nobody listens there
    wrapped = provider.wrap([os.urandom(32)])  # a client made before: no proxy
    proxied = TransitKeyProvider(bao.addr, token=bao.token, key_name=provider.key_name, timeout=2)
    with pytest.raises(VaultUnavailable):  # it went to the proxy, as requests would have
        proxied.unwrap(wrapped)


def test_tls_is_verified_against_the_configured_ca(tmp_path, monkeypatch):
    from piivault.devbao import start_ephemeral

    with start_ephemeral(tmp_path / "bao", tls=True) as tls:
        assert tls.addr.startswith("https://") and tls.ca_cert is not None
        trusting = TransitKeyProvider(tls.addr, token=tls.token, key_name="tls", cacert=str(tls.ca_cert))
        trusting.ensure_key()
        calls = _RequestsCalls(monkeypatch)
        dek = os.urandom(32)
        wrapped = trusting.wrap([dek])
        assert trusting.unwrap(wrapped) == [dek] and calls.count == 0
        # Without the CA (the system's, certifi's or the environment's bundle) the server is not trusted.
        untrusting = TransitKeyProvider(tls.addr, token=tls.token, key_name="tls", timeout=2)
        with pytest.raises(VaultUnavailable, match="SSLCertVerificationError"):
            untrusting.unwrap(wrapped)


class _Relay:
    """A TCP relay in front of Vault that can close every connection it carries, as Vault
    closes idle keep-alive connections; it counts the connections it accepted."""

    def __init__(self, target: str, *, refuse: bool = False) -> None:
        host, port = target.rsplit("//", 1)[1].rsplit(":", 1)
        self._target = (host, int(port))
        self._refuse = refuse  # close every connection at once, before any answer
        self._server = socket.create_server(("127.0.0.1", 0))
        self.addr = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        self.accepted = 0
        self._open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            self.accepted += 1
            if self._refuse:
                client.close()
                continue
            upstream = socket.create_connection(self._target)
            self._open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def drop(self, last_words: bytes = b"", *, close: bool = True) -> None:
        """Close every connection; first send the clients ``last_words`` (what a proxy in front of
        Vault may answer an idle connection with, unasked). With ``close=False`` only that."""
        for i, s in enumerate(self._open):
            with contextlib.suppress(OSError):
                if i % 2 == 0 and last_words:  # the client's side of each pair
                    s.sendall(last_words)
                if close:
                    s.shutdown(socket.SHUT_RDWR)
            if close:
                s.close()
        if close:
            self._open.clear()

    def close(self) -> None:
        self._server.close()
        self.drop()


_TIMED_OUT = b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


@pytest.mark.parametrize(
    ("last_words", "close"),
    [(b"", True), (_TIMED_OUT, True), (_TIMED_OUT, False)],
    ids=["closed", "closed-after-a-408", "a-408-unasked"],
)
def test_a_kept_connection_vault_closed_is_replaced_and_the_call_answered(bao, provider, last_words, close):
    relay = _Relay(bao.addr)
    try:
        via = TransitKeyProvider(relay.addr, token=bao.token, key_name=provider.key_name, timeout=2)
        dek = os.urandom(32)
        wrapped = via.wrap([dek])
        assert via.unwrap(wrapped) == [dek]
        before = relay.accepted  # hvac's calls (requests) and the kept data-key connection
        relay.drop(last_words, close=close)  # the idle connections closed, or sent a 408 unasked
        time.sleep(0.05)  # the close reaches the client's socket
        assert via.unwrap(wrapped) == [dek]  # on a new connection
        assert relay.accepted == before + 1
        assert via.unwrap(wrapped) == [dek] and relay.accepted == before + 1  # and kept
    finally:
        relay.close()


class _Redirecting(http.server.BaseHTTPRequestHandler):
    """A standby: every request is sent on to ``target`` (307, as Vault's standbys answer)."""

    target = ""

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(307)
        self.send_header("Location", self.target + self.path)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_PUT = do_POST  # noqa: N815 - hvac's calls too

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize("loop", [False, True], ids=["standby", "redirect-loop"])
def test_a_standbys_redirect_is_followed_with_the_token_and_a_loop_is_unreachable(bao, provider, loop):
    handler = type("Standby", (_Redirecting,), {})
    standby = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    handler.target = f"http://127.0.0.1:{standby.server_address[1]}" if loop else bao.addr
    threading.Thread(target=standby.serve_forever, daemon=True).start()
    try:
        dek = os.urandom(32)
        wrapped = provider.wrap([dek])
        via = TransitKeyProvider(
            f"http://127.0.0.1:{standby.server_address[1]}", token=bao.token, key_name=provider.key_name
        )
        if loop:
            with pytest.raises(VaultUnavailable, match="unreachable"):
                via.unwrap(wrapped)
        else:
            assert via.unwrap(wrapped) == [dek]  # the active node took the body and the token
    finally:
        standby.shutdown()
        standby.server_close()


def test_a_fresh_connection_that_fails_is_not_tried_again(bao, provider):
    relay = _Relay(bao.addr, refuse=True)
    try:
        via = TransitKeyProvider(relay.addr, token=bao.token, key_name=provider.key_name, timeout=2)
        with pytest.raises(VaultUnavailable, match="unreachable"):
            via.unwrap(provider.wrap([os.urandom(32)]))
        assert relay.accepted == 1
    finally:
        relay.close()


def test_a_redirect_from_https_to_http_is_refused_before_anything_is_sent(tmp_path, bao, provider):
    """The token and, in an encrypt, the data keys would go in clear: nothing is sent."""
    import ssl

    from piivault.devbao import start_ephemeral

    relay = _Relay(bao.addr)  # plain http, where the redirect points
    with start_ephemeral(tmp_path / "bao", tls=True) as tls:  # its certificate, for the standby
        handler = type("Standby", (_Redirecting,), {"target": relay.addr})
        standby = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tls.ca_cert.parent / "vault-cert.pem", tls.ca_cert.parent / "vault-key.pem")
        standby.socket = context.wrap_socket(standby.socket, server_side=True)
        threading.Thread(target=standby.serve_forever, daemon=True).start()
        try:
            via = TransitKeyProvider(
                f"https://127.0.0.1:{standby.server_address[1]}",
                token=bao.token,
                key_name=provider.key_name,
                cacert=str(tls.ca_cert),
                timeout=2,
            )
            with pytest.raises(VaultUnavailable, match="unreachable"):
                via.wrap([os.urandom(32)])
            assert relay.accepted == 0
        finally:
            standby.shutdown()
            standby.server_close()
            relay.close()
