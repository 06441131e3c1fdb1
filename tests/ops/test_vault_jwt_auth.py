"""Issue 19: OpenBao auth in Kubernetes with the pod's projected service account token.

The JWT auth method, as OpenBao documents it for Kubernetes service account tokens:
the cluster's signing key is configured as ``jwt_validation_pubkeys`` (no call to the
Kubernetes API), a role binds the audience and the ``piivault`` service account. No
cluster runs here, so the test signs the tokens the kubelet would project, with its
own RSA key, in the same shape (issuer, ``system:serviceaccount:NS:NAME`` subject,
audience, expiry); OpenBao, the policy and the application are real.

The app logs in, tokenizes and detokenizes, and, its OpenBao token revoked, logs in
again reading the token file anew (the kubelet rotates it). The attacks: a token of
another service account, a token for another audience, one signed by another key,
and an expired one. Each login is refused.
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import hvac
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from piivault.container import build_container, startup_check
from tests.conftest import make_container, make_settings
from tests.ops.conftest import round_trip
from vault.errors import VaultAuthError

POLICIES = Path(__file__).resolve().parents[2] / "deploy" / "vault"
ISSUER = "https://kubernetes.default.svc.cluster.local"
ACCOUNT = "system:serviceaccount:piivault:piivault"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _token(key, *, sub: str = ACCOUNT, aud: str = "openbao", lifetime: int = 600) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": sub, "aud": [aud], "iat": now, "nbf": now, "exp": now + lifetime}
    signing_input = (
        f"{_b64(json.dumps({'alg': 'RS256', 'typ': 'JWT'}).encode())}.{_b64(json.dumps(claims).encode())}"
    )
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{_b64(signature)}"


@pytest.fixture
def cluster_key(private_bao):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    root = hvac.Client(url=private_bao.addr, token=private_bao.token)
    root.sys.create_or_update_acl_policy("piivault-app", (POLICIES / "piivault-app.hcl").read_text())
    root.sys.enable_auth_method("jwt")
    root.write("auth/jwt/config", jwt_validation_pubkeys=[pem.decode()], bound_issuer=ISSUER)
    root.write(
        "auth/jwt/role/piivault-app",
        role_type="jwt",
        user_claim="sub",
        bound_audiences=["openbao"],
        bound_subject=ACCOUNT,
        token_policies=["piivault-app"],
        token_ttl="10m",
    )
    return key


def test_the_app_logs_in_with_its_projected_token_and_again_after_revocation(
    private_bao, cluster_key, database_url, tmp_path
):
    settings = make_settings(database_url, private_bao, tmp_path, transit_key="piivault-kek")
    make_container(settings).close()  # the operator's bootstrap (root here)
    token_file = tmp_path / "openbao-token"
    token_file.write_text(_token(cluster_key))
    app_settings = settings.replace(
        vault_auth="jwt", vault_token=None, vault_jwt_role="piivault-app", vault_jwt_file=str(token_file)
    )
    app = build_container(app_settings)
    try:
        startup_check(app)
        round_trip(app)
        # The kubelet rotated the file; the old OpenBao token is revoked: the next call logs in anew.
        token_file.write_text(_token(cluster_key, lifetime=900))
        hvac.Client(url=private_bao.addr, token=private_bao.token).auth.token.revoke(app.provider._token)
        assert app.provider.rewrap(app.provider.wrap([b"k" * 32]))[0].startswith("vault:v1:")
    finally:
        app.close()


@pytest.mark.parametrize(
    "forge",
    [
        lambda key, other: _token(key, sub="system:serviceaccount:piivault:default"),
        lambda key, other: _token(key, aud="https://kubernetes.default.svc"),
        lambda key, other: _token(other),
        lambda key, other: _token(key, lifetime=-120),
    ],
    ids=["another-service-account", "another-audience", "another-signing-key", "expired"],
)
def test_a_token_that_is_not_the_pods_is_refused(private_bao, cluster_key, tmp_path, forge):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token_file = tmp_path / "openbao-token"
    token_file.write_text(forge(cluster_key, other))
    database = f"sqlite:///{tmp_path / 'unused.db'}"  # login fails before any query
    settings = make_settings(database, private_bao, tmp_path, transit_key="piivault-kek").replace(
        vault_auth="jwt", vault_token=None, vault_jwt_role="piivault-app", vault_jwt_file=str(token_file)
    )
    app = build_container(settings)
    try:
        with pytest.raises(VaultAuthError, match="Vault JWT login failed"):
            app.provider.wrap([b"k" * 32])
    finally:
        app.close()
