from __future__ import annotations

import warnings

import pytest

from piivault.container import build_key_provider
from piivault.errors import ConfigurationError
from piivault.settings import Settings
from piivault.settings_table import TABLE
from vault.providers.local import LocalKeyProviderWarning

LOCAL = {"PIIVAULT_KEY_PROVIDER": "local"}


def test_no_secret_has_a_default():
    secrets = [s for s in TABLE if s.secret]
    assert {s.name for s in secrets} >= {"VAULT_TOKEN", "VAULT_SECRET_ID"}
    assert all(s.default is None for s in secrets)


def test_secrets_are_not_in_repr():
    settings = Settings.from_env({"PIIVAULT_VAULT_TOKEN": "hvs.super-secret"})
    assert "super-secret" not in repr(settings)


def test_converters_reject_bad_values_with_the_variable_name():
    with pytest.raises(ConfigurationError, match="PIIVAULT_DEK_CACHE_SIZE must be an integer"):
        Settings.from_env({"PIIVAULT_DEK_CACHE_SIZE": "many"})
    with pytest.raises(ConfigurationError, match="PIIVAULT_KEY_PROVIDER must be one of"):
        Settings.from_env({"PIIVAULT_KEY_PROVIDER": "hsm"})
    with pytest.raises(ConfigurationError, match="between"):
        Settings.from_env({"PIIVAULT_VAULT_TIMEOUT": "0"})


def test_local_key_provider_is_refused_in_production_and_warns_when_allowed():
    with pytest.raises(ConfigurationError, match="offline tests only"):
        build_key_provider(Settings.from_env({"PIIVAULT_KEY_PROVIDER": "local"}))
    with pytest.raises(ConfigurationError):
        build_key_provider(Settings.from_env({**LOCAL, "PIIVAULT_ENV": "development"}))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        provider = build_key_provider(
            Settings.from_env({**LOCAL, "PIIVAULT_ENV": "development", "PIIVAULT_ALLOW_LOCAL_KEYS": "1"})
        )
    assert provider.name == "local"
    assert any(issubclass(w.category, LocalKeyProviderWarning) for w in caught)


def test_local_provider_round_trip_rotation_and_retirement():
    from vault import KeyVersionRetired
    from vault.providers.local import LocalKeyProvider

    with pytest.warns(LocalKeyProviderWarning):
        provider = LocalKeyProvider()
    keys = [bytes([i]) * 32 for i in range(3)]
    old = provider.wrap(keys)
    provider.rotate()
    new = provider.rewrap(old)
    provider.set_min_decryption_version(2)
    assert provider.unwrap(new) == keys
    with pytest.raises(KeyVersionRetired):
        provider.unwrap(old)
