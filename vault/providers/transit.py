"""The production key provider: a HashiCorp Vault / OpenBao Transit key, via hvac.

The KEK never leaves Vault. Data keys travel to Vault base64-encoded inside
batch requests (``batch_input``), chunked because servers cap the number of
JSON strings per request (OpenBao's dev listener accepts about 499 items).

Authentication is a token or AppRole; with AppRole the provider logs in again
once when Vault answers 403 (expired token) and retries the request.

Every failure, hvac's and requests' or the data-key transport's
(:mod:`.transit_http`), is translated: unreachable, sealed or 5xx ->
:class:`VaultUnavailable`; 403 -> :class:`VaultAuthError`; missing mount or key
-> :class:`KeyNotFound`; a retired key version -> :class:`KeyVersionRetired`;
anything Vault cannot decrypt -> :class:`InvalidSealedValue`.
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from piivault import counting
from piivault.sql import chunked
from vault.errors import (
    InvalidSealedValue,
    KeyNotFound,
    KeyVersionRetired,
    VaultAuthError,
    VaultError,
    VaultUnavailable,
)
from vault.providers.base import KeyInfo, KeyProvider
from vault.providers.transit_http import DataKeyTransport

# hvac (and requests under it) is imported with the first client, not with this module: a
# command that never calls Vault (`piivault clients list`) starts without it (issue 13).
if TYPE_CHECKING:
    import hvac

log = logging.getLogger(__name__)
T = TypeVar("T")

_RETIRED_MARKERS = ("disallowed by policy", "too old", "min_decryption_version")


def _session(addr: str, verify: bool | str) -> Any:
    """A requests session for ``addr`` that reads the environment once, not at every call.

    With ``trust_env`` on, requests reads the proxy variables (and ``NO_PROXY``),
    ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` and ``~/.netrc`` again for every
    request: a fifth of the CPU of a Transit call, 4% of a single detokenize's
    whose data key was not cached (py-spy under ``bench/api.py``, issue 22).
    The same settings, resolved here for Vault's address, apply to every call;
    a redirect (a standby naming the active node) goes through the same proxy.
    """
    import requests
    from requests.utils import get_netrc_auth

    session = requests.Session()
    found = session.merge_environment_settings(addr, {}, None, verify, None)
    session.proxies = found["proxies"]
    session.verify = found["verify"]
    session.auth = get_netrc_auth(addr)
    session.trust_env = False
    return session


class TransitKeyProvider(KeyProvider):
    name = "transit"

    def __init__(
        self,
        addr: str,
        *,
        key_name: str = "piivault-kek",
        mount: str = "transit",
        token: str | None = None,
        role_id: str | None = None,
        secret_id: str | None = None,
        approle_mount: str = "approle",
        jwt_role: str | None = None,
        jwt_file: str | None = None,
        jwt_mount: str = "jwt",
        namespace: str | None = None,
        cacert: str | None = None,
        timeout: float = 5.0,
        batch_size: int = 250,
    ) -> None:
        if not addr:
            raise KeyNotFound("set PIIVAULT_VAULT_ADDR to the Vault/OpenBao address")
        if token is None and role_id is None and jwt_role is None:
            raise VaultAuthError(
                "set PIIVAULT_VAULT_TOKEN, PIIVAULT_VAULT_ROLE_ID and _SECRET_ID, or PIIVAULT_VAULT_JWT_ROLE"
            )
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.addr = addr
        self.key_name = key_name
        self.mount = mount
        self.batch_size = batch_size
        self._token = token
        self._role_id = role_id
        self._secret_id = secret_id
        self._approle_mount = approle_mount
        self._jwt_role = jwt_role
        self._jwt_file = jwt_file
        self._jwt_mount = jwt_mount
        # Without a login method, a refused token is final; with one, we log in again.
        self._can_login = role_id is not None or jwt_role is not None
        self._namespace = namespace
        self._verify: bool | str = cacert or True
        self._timeout = timeout
        self._local = threading.local()
        self._login_lock = threading.Lock()
        self._generation = 0

    # -- connection -------------------------------------------------------
    def _client(self) -> hvac.Client:
        import hvac

        client = getattr(self._local, "client", None)
        if client is None or getattr(self._local, "generation", -1) != self._generation:
            if self._token is None:
                self._login()
            session = _session(self.addr, self._verify)
            client = hvac.Client(
                url=self.addr,
                token=self._token,
                namespace=self._namespace,
                verify=self._verify,
                timeout=self._timeout,
                session=session,
            )
            old = getattr(self._local, "transport", None)
            if old is not None:
                old.close()
            self._local.client = client
            self._local.transport = DataKeyTransport.for_session(self.addr, session, timeout=self._timeout)
            self._local.generation = self._generation
        return client

    def _login(self) -> None:
        import hvac
        import hvac.exceptions as hv

        with self._login_lock:
            login_client = hvac.Client(
                url=self.addr, namespace=self._namespace, verify=self._verify, timeout=self._timeout
            )
            try:
                if self._jwt_role is not None:
                    resp = login_client.auth.jwt.jwt_login(
                        role=self._jwt_role, jwt=self._read_jwt(), path=self._jwt_mount, use_token=False
                    )
                else:
                    resp = login_client.auth.approle.login(
                        role_id=self._role_id,
                        secret_id=self._secret_id,
                        mount_point=self._approle_mount,
                        use_token=False,
                    )
            except (hv.InvalidRequest, hv.Forbidden, hv.Unauthorized):
                what = (
                    "JWT login failed: check PIIVAULT_VAULT_JWT_ROLE and the token file"
                    if self._jwt_role
                    else "AppRole login failed: check PIIVAULT_VAULT_ROLE_ID/_SECRET_ID"
                )
                raise VaultAuthError(f"Vault {what}") from None
            except Exception as e:
                raise self._translate(e) from None
            self._token = resp["auth"]["client_token"]
            self._generation += 1

    def _read_jwt(self) -> str:
        # Read at every login: the kubelet replaces a projected token before it expires.
        try:
            return Path(self._jwt_file or "").read_text(encoding="utf-8").strip()
        except OSError:
            raise VaultAuthError("cannot read PIIVAULT_VAULT_JWT_FILE (the projected token)") from None

    def _call(self, fn: Callable[[hvac.Client], T]) -> T:
        try:
            return self._call_once(fn)
        except VaultError as e:
            metrics = counting.metrics()
            if metrics is not None:
                metrics.VAULT_ERRORS.labels(kind=metrics.code(e.code)).inc()
            raise

    def _call_once(self, fn: Callable[[hvac.Client], T]) -> T:
        import hvac.exceptions as hv

        try:
            return fn(self._client())
        except hv.Forbidden:
            if not self._can_login:
                raise VaultAuthError(
                    "Vault refused the token (403): check PIIVAULT_VAULT_TOKEN and its policy"
                ) from None
            self._token = None
            self._login()
            try:
                return fn(self._client())
            except Exception as e:
                raise self._translate(e) from None
        except VaultError:
            raise
        except Exception as e:
            raise self._translate(e) from None

    def _translate(self, e: BaseException) -> VaultError:
        import http.client

        import hvac.exceptions as hv

        if isinstance(e, VaultError):
            return e
        # requests' exceptions are OSErrors; the data-key transport's are these two (transit_http)
        if isinstance(e, OSError | http.client.HTTPException):
            return VaultUnavailable(f"Vault unreachable at the configured address ({type(e).__name__})")
        if isinstance(e, hv.VaultDown | hv.VaultNotInitialized | hv.BadGateway):
            return VaultUnavailable("Vault is sealed or not initialized")
        if isinstance(e, hv.InternalServerError | hv.UnexpectedError | hv.RateLimitExceeded):
            return VaultUnavailable(f"Vault error ({type(e).__name__})")
        if isinstance(e, hv.Forbidden | hv.Unauthorized):
            return VaultAuthError("Vault refused our credentials: check the token/AppRole and policy")
        if isinstance(e, hv.InvalidPath):
            return KeyNotFound(
                f"Transit key '{self.key_name}' not found at mount '{self.mount}': "
                "run `piivault keys bootstrap` or check PIIVAULT_TRANSIT_MOUNT/_KEY"
            )
        if isinstance(e, hv.InvalidRequest):
            text = str(e).lower()
            if any(m in text for m in _RETIRED_MARKERS):
                return KeyVersionRetired("a data key is wrapped with a retired KEK version")
            return InvalidSealedValue()
        return VaultUnavailable(f"Vault call failed ({type(e).__name__})")

    # -- batch helpers ----------------------------------------------------
    def _batch(self, op: str, items: list[dict[str, str]], field: str) -> list[str]:
        results: list[str] = []
        for chunk in chunked(items, self.batch_size):

            def request(client: hvac.Client, chunk: list[dict[str, str]] = chunk) -> Any:
                transport: DataKeyTransport | None = self._local.transport  # set with the client
                if transport is not None:  # the data-key calls without requests (transit_http)
                    path = f"/v1/{self.mount}/{op}/{self.key_name}"
                    return transport.post(
                        path, {"batch_input": chunk}, token=client.token, namespace=self._namespace
                    )
                transit = client.secrets.transit
                if op == "encrypt":
                    return transit.encrypt_data(self.key_name, batch_input=chunk, mount_point=self.mount)
                if op == "decrypt":
                    return transit.decrypt_data(self.key_name, batch_input=chunk, mount_point=self.mount)
                return transit.rewrap_data(
                    self.key_name, ciphertext=None, batch_input=chunk, mount_point=self.mount
                )

            resp = self._call(request)
            batch = resp["data"]["batch_results"]
            if len(batch) != len(chunk):
                raise VaultUnavailable("Vault returned a batch of the wrong length")
            for item in batch:
                if item.get("error"):
                    from hvac.exceptions import InvalidRequest

                    raise self._translate(InvalidRequest(item["error"]))
                results.append(item[field])
        return results

    # -- KeyProvider --------------------------------------------------------
    def wrap(self, keys: Sequence[bytes]) -> list[str]:
        items = [{"plaintext": base64.b64encode(bytes(k)).decode()} for k in keys]
        return self._batch("encrypt", items, "ciphertext")

    def unwrap(self, wrapped: Sequence[str]) -> list[bytes]:
        for w in wrapped:
            if not w.startswith("vault:v"):
                raise InvalidSealedValue()
        items = [{"ciphertext": w} for w in wrapped]
        return [base64.b64decode(p) for p in self._batch("decrypt", items, "plaintext")]

    def rewrap(self, wrapped: Sequence[str]) -> list[str]:
        items = [{"ciphertext": w} for w in wrapped]
        return self._batch("rewrap", items, "ciphertext")

    def rotate(self) -> KeyInfo:
        self._call(lambda c: c.secrets.transit.rotate_key(self.key_name, mount_point=self.mount))
        return self.key_info()

    def key_info(self) -> KeyInfo:
        resp = self._call(lambda c: c.secrets.transit.read_key(self.key_name, mount_point=self.mount))
        data = resp["data"]
        min_dec = int(data.get("min_decryption_version") or 1)
        versions = tuple(sorted(int(v) for v in data.get("keys", {}) if int(v) >= min_dec))
        return KeyInfo(
            name=self.key_name,
            latest_version=int(data["latest_version"]),
            min_decryption_version=min_dec,
            min_encryption_version=int(data.get("min_encryption_version") or 0),
            versions=versions,
            key_type=str(data.get("type", "")),
        )

    def set_min_decryption_version(self, version: int) -> KeyInfo:
        self._call(
            lambda c: c.secrets.transit.update_key_configuration(
                self.key_name, min_decryption_version=version, mount_point=self.mount
            )
        )
        return self.key_info()

    def ensure_key(self) -> KeyInfo:
        """Mount Transit if missing and create the KEK (aes256-gcm96) if missing."""

        def mount_if_missing(client: hvac.Client) -> None:
            mounts = client.sys.list_mounted_secrets_engines()
            data = mounts.get("data", mounts)
            if f"{self.mount.strip('/')}/" not in data:
                client.sys.enable_secrets_engine("transit", path=self.mount)

        self._call(mount_if_missing)
        try:
            return self.key_info()
        except KeyNotFound:
            self._call(
                lambda c: c.secrets.transit.create_key(
                    self.key_name, key_type="aes256-gcm96", mount_point=self.mount
                )
            )
            log.info("created Transit key %s at mount %s", self.key_name, self.mount)
            return self.key_info()
