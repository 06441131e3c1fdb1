"""An in-process key provider for offline unit tests and demos. INSECURE.

The KEK lives in this process's memory and dies with it. Constructing one
emits a :class:`LocalKeyProviderWarning` and a log line every time; the
application refuses it unless ``PIIVAULT_KEY_PROVIDER=local`` is paired with
``PIIVAULT_ALLOW_LOCAL_KEYS=true`` outside production.
"""

from __future__ import annotations

import base64
import logging
import threading
import warnings
from collections.abc import Sequence

from vault import _primitives as _p
from vault.errors import InvalidSealedValue, KeyVersionRetired
from vault.providers.base import KeyInfo, KeyProvider

log = logging.getLogger(__name__)
_AAD = b"piivault/local-kek"


class LocalKeyProviderWarning(UserWarning):
    pass


class LocalKeyProvider(KeyProvider):
    name = "local"

    def __init__(self, key_name: str = "piivault-kek") -> None:
        message = (
            "LocalKeyProvider keeps the KEK in process memory: for offline tests only, never for real data"
        )
        warnings.warn(message, LocalKeyProviderWarning, stacklevel=2)
        log.warning(message)
        self._name = key_name
        self._lock = threading.Lock()
        self._versions: dict[int, _p.Aead] = {1: _p.Aead(_p.random_bytes(32))}
        self._min_decryption = 1

    def _latest(self) -> int:
        return max(self._versions)

    def wrap(self, keys: Sequence[bytes]) -> list[str]:
        with self._lock:
            version = self._latest()
            aead = self._versions[version]
        out = []
        for key in keys:
            nonce = _p.random_bytes(_p.NONCE_BYTES)
            blob = nonce + aead.seal(nonce, bytes(key), _AAD)
            out.append(f"local:v{version}:" + base64.b64encode(blob).decode())
        return out

    def unwrap(self, wrapped: Sequence[str]) -> list[bytes]:
        out = []
        for item in wrapped:
            try:
                version = self.version_of(item)
                blob = base64.b64decode(item.split(":", 2)[2], validate=True)
            except (ValueError, IndexError):
                raise InvalidSealedValue() from None
            if version < self._min_decryption:
                raise KeyVersionRetired(f"KEK version {version} is retired")
            aead = self._versions.get(version)
            if aead is None or len(blob) < _p.NONCE_BYTES + _p.TAG_BYTES:
                raise InvalidSealedValue()
            try:
                out.append(aead.open(blob[: _p.NONCE_BYTES], blob[_p.NONCE_BYTES :], _AAD))
            except _p._AuthenticationFailed:
                raise InvalidSealedValue() from None
        return out

    def rewrap(self, wrapped: Sequence[str]) -> list[str]:
        return self.wrap(self.unwrap(wrapped))

    def rotate(self) -> KeyInfo:
        with self._lock:
            self._versions[self._latest() + 1] = _p.Aead(_p.random_bytes(32))
        return self.key_info()

    def key_info(self) -> KeyInfo:
        versions = tuple(sorted(v for v in self._versions if v >= self._min_decryption))
        return KeyInfo(
            name=self._name,
            latest_version=self._latest(),
            min_decryption_version=self._min_decryption,
            min_encryption_version=0,
            versions=versions,
            key_type="aes256-gcm96 (in-process)",
        )

    def set_min_decryption_version(self, version: int) -> KeyInfo:
        if not 1 <= version <= self._latest():
            raise ValueError("min_decryption_version must be between 1 and the latest version")
        self._min_decryption = version
        return self.key_info()

    def ensure_key(self) -> KeyInfo:
        return self.key_info()
