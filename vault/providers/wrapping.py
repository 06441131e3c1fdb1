"""Response-wrapped AppRole secret ids: unwrap once, refuse a token someone else unwrapped.

A trusted orchestrator (CI, a deploy job) asks Vault for a secret id with ``wrap_ttl``
and hands the pod only the single-use wrapping token. The pod's init step
(``piivault keys unwrap-secret-id``) checks that the token wraps an AppRole secret id
(``sys/wrapping/lookup``: a token wrapping anything else is not accepted) and unwraps
it. Vault answers a second unwrap with an error: if this pod's unwrap fails so, the
token was used by someone else in transit, which is the alarm response-wrapping exists
to raise.
"""

from __future__ import annotations

import re

import hvac
import hvac.exceptions as hv
import requests

from vault.errors import VaultAuthError, VaultUnavailable

ALREADY_UNWRAPPED = (
    "the wrapped secret id is no longer valid (already unwrapped, or expired): if this pod "
    "did not unwrap it, someone else may have; revoke its secret id and issue a new one"
)


def unwrap_secret_id(
    addr: str,
    wrapping_token: str,
    *,
    approle_mount: str = "approle",
    namespace: str | None = None,
    cacert: str | None = None,
    timeout: float = 5.0,
) -> str:
    """The AppRole secret id the single-use ``wrapping_token`` wraps."""
    verify: bool | str = cacert or True
    expected = re.compile(rf"auth/{re.escape(approle_mount)}/role/[^/]+/secret-id")
    client = hvac.Client(url=addr, namespace=namespace, verify=verify, timeout=timeout)
    try:
        # lookup needs no token of ours and does not use the wrapping token up.
        info = client.adapter.post("/v1/sys/wrapping/lookup", json={"token": wrapping_token})
        path = info["data"]["creation_path"]
        if not expected.fullmatch(path):
            raise VaultAuthError(
                "the wrapping token does not wrap an AppRole secret id of the configured mount"
            )
        client.token = wrapping_token
        return client.sys.unwrap()["data"]["secret_id"]
    except (hv.InvalidRequest, hv.Forbidden, hv.Unauthorized, hv.InvalidPath):
        raise VaultAuthError(ALREADY_UNWRAPPED) from None
    except requests.exceptions.RequestException as e:
        raise VaultUnavailable(f"Vault unreachable at the configured address ({type(e).__name__})") from None
    except (hv.VaultDown, hv.InternalServerError, hv.BadGateway) as e:
        raise VaultUnavailable(f"Vault error ({type(e).__name__})") from None
