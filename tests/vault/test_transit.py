"""The Transit key provider against a real OpenBao server."""

from __future__ import annotations

import os
import secrets

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
        with pytest.raises(VaultUnavailable):
            untrusting.unwrap(wrapped)
