"""Issue 19: an AppRole secret id delivered response-wrapped, on a real OpenBao.

The orchestrator issues the secret id with ``wrap_ttl``; the pod's init step
(``piivault keys unwrap-secret-id``) unwraps it into a memory-backed file; the
application logs in with the role id and that file, and logs in again with it
when its token is revoked. The attacks: unwrapping the same token a second time
(Vault refuses, and our unwrap says why), a token intercepted and unwrapped by
someone else before the pod (the pod refuses to start and raises the alarm), and
a wrapping token that wraps something other than a secret id (refused unread).
"""

from __future__ import annotations

import stat
from pathlib import Path

import hvac
import hvac.exceptions as hv
import pytest
from click.testing import CliRunner

from piivault.cli import main
from piivault.container import build_container, startup_check
from tests.conftest import make_container, make_settings
from tests.ops.conftest import round_trip
from vault.errors import VaultAuthError
from vault.providers.wrapping import unwrap_secret_id

POLICIES = Path(__file__).resolve().parents[2] / "deploy" / "vault"
KEK = "piivault-kek"


@pytest.fixture
def root(private_bao) -> hvac.Client:
    client = hvac.Client(url=private_bao.addr, token=private_bao.token)
    client.sys.create_or_update_acl_policy("piivault-app", (POLICIES / "piivault-app.hcl").read_text())
    client.sys.enable_auth_method("approle")
    client.auth.approle.create_or_update_approle(
        "piivault-app", token_policies=["piivault-app"], token_ttl="10m"
    )
    return client


def _wrapped(root: hvac.Client) -> str:
    return root.auth.approle.generate_secret_id("piivault-app", wrap_ttl="120s")["wrap_info"]["token"]


def _unwrap_cli(addr: str, wrapped: str, tmp_path: Path, out: Path):
    token_file = tmp_path / "wrapped-secret-id"
    token_file.write_text(wrapped)
    env = {"PIIVAULT_VAULT_ADDR": addr, "PIIVAULT_VAULT_WRAPPED_SECRET_ID_FILE": str(token_file)}
    return CliRunner().invoke(main, ["keys", "unwrap-secret-id", "--out", str(out)], env=env)


def test_the_app_logs_in_with_an_unwrapped_secret_id_and_logs_in_again(
    private_bao, root, database_url, tmp_path
):
    settings = make_settings(database_url, private_bao, tmp_path, transit_key=KEK)
    make_container(settings).close()  # the operator's bootstrap (root here; see test_vault_policies)

    out = tmp_path / "run" / "secret_id"
    out.parent.mkdir()
    wrapped = _wrapped(root)
    result = _unwrap_cli(private_bao.addr, wrapped, tmp_path, out)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    # A restarted pod keeps its memory volume: it does not try the spent token again.
    again = _unwrap_cli(private_bao.addr, wrapped, tmp_path, out)
    assert again.exit_code == 0 and "already holds" in again.output

    # A second unwrap of the same token: Vault refuses it, and so does ours.
    with pytest.raises(hv.InvalidRequest):
        hvac.Client(url=private_bao.addr, token=wrapped).sys.unwrap()
    with pytest.raises(VaultAuthError, match="someone else may have"):
        unwrap_secret_id(private_bao.addr, wrapped)

    role_id = root.auth.approle.read_role_id("piivault-app")["data"]["role_id"]
    app_settings = settings.replace(
        vault_auth="approle", vault_token=None, vault_role_id=role_id, vault_secret_id=out.read_text()
    )
    app = build_container(app_settings)
    try:
        startup_check(app)
        round_trip(app)
        # Its token revoked (or expired): the next call logs in again with the secret id it holds.
        root.auth.token.revoke(app.provider._token)
        assert app.provider.rewrap(app.provider.wrap([b"k" * 32]))[0].startswith("vault:v1:")
    finally:
        app.close()


def test_a_secret_id_unwrapped_in_transit_stops_the_pod(private_bao, root, tmp_path):
    wrapped = _wrapped(root)
    stolen = hvac.Client(url=private_bao.addr, token=wrapped).sys.unwrap()["data"]["secret_id"]
    assert stolen
    out = tmp_path / "secret_id"
    result = _unwrap_cli(private_bao.addr, wrapped, tmp_path, out)
    assert result.exit_code == 2 and "someone else may have" in result.output
    assert not out.exists()


def test_a_token_wrapping_anything_else_is_refused_and_not_spent(private_bao, root):
    other = root.sys.wrap(payload={"secret_id": "not-from-approle"}, ttl="60s")["wrap_info"]["token"]
    with pytest.raises(VaultAuthError, match="does not wrap an AppRole secret id"):
        unwrap_secret_id(private_bao.addr, other)
    assert hvac.Client(url=private_bao.addr, token=other).sys.unwrap()["data"] == {
        "secret_id": "not-from-approle"
    }
