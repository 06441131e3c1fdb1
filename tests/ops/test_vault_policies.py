"""Issue 19: deploy/vault/*.hcl applied to a real OpenBao, and the app run under them.

The operator's AppRole (operator + app policies) bootstraps and rotates the KEK;
the application's AppRole (app policy only) tokenizes, detokenizes and rewraps.
Then, as the application, the attacks a stolen app token would try: export the
KEK, delete it, back it up, rotate it or lower its decryption floor, create
another key through a mistyped name (Transit's upsert on encrypt), read another
mount, list the mounts. Each is refused by the policy (403).
"""

from __future__ import annotations

from pathlib import Path

import hvac
import hvac.exceptions as hv
import pytest

from piivault.container import startup_check
from tests.conftest import make_container, make_settings
from tests.ops.conftest import round_trip

POLICIES = Path(__file__).resolve().parents[2] / "deploy" / "vault"
KEK = "piivault-kek"


def _approle(root: hvac.Client, name: str, policies: list[str]) -> dict[str, str]:
    root.auth.approle.create_or_update_approle(name, token_policies=policies, token_ttl="10m")
    role_id = root.auth.approle.read_role_id(name)["data"]["role_id"]
    secret_id = root.auth.approle.generate_secret_id(name)["data"]["secret_id"]
    return {
        "vault_auth": "approle",
        "vault_token": None,
        "vault_role_id": role_id,
        "vault_secret_id": secret_id,
    }


@pytest.fixture
def roles(private_bao) -> dict[str, dict[str, str]]:
    root = hvac.Client(url=private_bao.addr, token=private_bao.token)
    for policy in ("piivault-app", "piivault-operator"):
        root.sys.create_or_update_acl_policy(policy, (POLICIES / f"{policy}.hcl").read_text())
    root.sys.enable_auth_method("approle")
    root.sys.enable_secrets_engine("kv", path="other", options={"version": "1"})
    root.write("other/bank-secret", value="not for piivault")
    return {
        "app": _approle(root, "piivault-app", ["piivault-app"]),
        "operator": _approle(root, "piivault-operator", ["piivault-app", "piivault-operator"]),
    }


def _login(addr: str, creds: dict[str, str]) -> hvac.Client:
    client = hvac.Client(url=addr)
    client.auth.approle.login(role_id=creds["vault_role_id"], secret_id=creds["vault_secret_id"])
    return client


def test_the_app_policy_allows_the_app_and_refuses_the_rest(private_bao, roles, database_url, tmp_path):
    # The operator: bootstrap (mount Transit if needed, create the KEK, the system keys), rotate.
    settings = make_settings(database_url, private_bao, tmp_path, transit_key=KEK, **roles["operator"])
    operator = make_container(settings)
    try:
        assert operator.provider.rotate().latest_version == 2
    finally:
        operator.close()

    # The application: start-up checks, tokenize, detokenize, rewrap, all under the app policy.
    app_settings = settings.replace(**roles["app"])
    container = make_container_without_bootstrap(app_settings)
    try:
        startup_check(container)
        round_trip(container)
        wrapped = container.provider.wrap([b"k" * 32])
        assert container.provider.rewrap(wrapped)[0].startswith("vault:v2:")
    finally:
        container.close()

    app = _login(private_bao.addr, roles["app"])
    forbidden = [
        lambda: app.secrets.transit.export_key(KEK, key_type="encryption-key"),
        lambda: app.secrets.transit.delete_key(KEK),
        lambda: app.secrets.transit.backup_key(KEK),
        lambda: app.secrets.transit.rotate_key(KEK),
        lambda: app.secrets.transit.update_key_configuration(KEK, min_decryption_version=2),
        lambda: app.secrets.transit.update_key_configuration(KEK, deletion_allowed=True),
        # A typo in the key name: Transit would create "piivault-kec" on encrypt (upsert).
        lambda: app.secrets.transit.encrypt_data("piivault-kec", plaintext="AAAA"),
        lambda: app.secrets.transit.create_key("another-key"),
        lambda: app.read("other/bank-secret"),
        lambda: app.sys.list_mounted_secrets_engines(),
        lambda: app.sys.enable_secrets_engine("transit", path="transit2"),
    ]
    for attempt in forbidden:
        with pytest.raises(hv.Forbidden):
            attempt()
    root = hvac.Client(url=private_bao.addr, token=private_bao.token)
    assert "piivault-kec" not in (root.secrets.transit.list_keys()["data"]["keys"])

    # The operator rotates and configures, but can neither export nor delete the KEK.
    operator_client = _login(private_bao.addr, roles["operator"])
    for attempt in (
        lambda: operator_client.secrets.transit.export_key(KEK, key_type="encryption-key"),
        lambda: operator_client.secrets.transit.delete_key(KEK),
        lambda: operator_client.read("other/bank-secret"),
    ):
        with pytest.raises(hv.Forbidden):
            attempt()


def make_container_without_bootstrap(settings):
    """The app's container on the operator's database: no migration or bootstrap (not the app's job)."""
    from piivault.container import build_container

    return build_container(settings)


def test_secrets_come_from_files(tmp_path):
    """Compose and Kubernetes hand secrets over as files: PIIVAULT_<NAME>_FILE."""
    from piivault.errors import ConfigurationError
    from piivault.settings import Settings

    (tmp_path / "secret-id").write_text("s-123\n")
    (tmp_path / "db").write_text("postgresql+psycopg://app:pw@db/piivault\n")
    env = {
        "PIIVAULT_VAULT_SECRET_ID_FILE": str(tmp_path / "secret-id"),
        "PIIVAULT_DATABASE_URL_FILE": str(tmp_path / "db"),
    }
    settings = Settings.from_env(env)
    assert settings.vault_secret_id == "s-123"
    assert settings.database_url == "postgresql+psycopg://app:pw@db/piivault"
    assert "s-123" not in repr(settings)
    # The variable itself wins over the file.
    assert Settings.from_env({**env, "PIIVAULT_VAULT_SECRET_ID": "direct"}).vault_secret_id == "direct"
    with pytest.raises(ConfigurationError, match="PIIVAULT_VAULT_TOKEN_FILE cannot be read"):
        Settings.from_env({"PIIVAULT_VAULT_TOKEN_FILE": str(tmp_path / "missing")})
