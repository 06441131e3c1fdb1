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
    assert provider.unwrap(provider.wrap([dek])) == [dek]
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
