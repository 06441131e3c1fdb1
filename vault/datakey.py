"""Data keys (DEKs): 32 random bytes generated locally, stored only wrapped by the KEK.

A :class:`DataKey` never exposes its bytes except to the keyring for wrapping.
It derives independent subkeys: one for sealing values (AES-256-GCM) and one
per label for keyed hashes (blind indexes, deterministic tokens).
"""

from __future__ import annotations

from vault import _primitives as _p
from vault.sealed import SEAL_LABEL, Binding, SealingKey

DEK_BYTES = _p.KEY_BYTES


class DataKey:
    __slots__ = ("_key", "_sealing", "_macs", "owner", "key_id")

    def __init__(self, owner: str, key: bytes, key_id: str = "") -> None:
        if not isinstance(key, bytes | bytearray) or len(key) != DEK_BYTES:
            raise ValueError("data key must be 32 bytes")
        self.owner = owner
        self.key_id = key_id or _p.random_bytes(12).hex()
        self._key = bytes(key)
        self._sealing: SealingKey | None = None
        self._macs: dict[str, bytes] = {}

    @classmethod
    def generate(cls, owner: str) -> DataKey:
        return cls(owner, _p.random_bytes(DEK_BYTES))

    def with_id(self, key_id: str) -> DataKey:
        return DataKey(self.owner, self._key, key_id)

    def _sealing_key(self) -> SealingKey:
        if self._sealing is None:
            self._sealing = SealingKey(_p.hkdf_label(self._key, SEAL_LABEL))
        return self._sealing

    def seal(self, plaintext: bytes, binding: Binding) -> bytes:
        """Seal a value bound to ``binding``."""
        return (self._sealing or self._sealing_key()).seal(plaintext, binding)

    def open(self, sealed: bytes, binding: Binding) -> bytes:
        """Open a value; raises :class:`vault.errors.InvalidSealedValue` on any failure."""
        return (self._sealing or self._sealing_key()).open(sealed, binding)

    def keyed_hash(self, label: str, message: bytes) -> bytes:
        """HMAC-SHA256 under a subkey for ``label`` (blind index, deterministic token)."""
        subkey = self._macs.get(label)
        if subkey is None:
            subkey = self._macs[label] = _p.hkdf_label(self._key, "mac/" + label)
        return _p.hmac_sha256(subkey, message)

    def _material(self) -> bytes:
        """Raw key bytes, for wrapping by the KEK only."""
        return self._key

    def __repr__(self) -> str:
        return f"DataKey(owner={self.owner!r})"


def constant_time_equal(a: bytes, b: bytes) -> bool:
    """Compare two secrets without leaking where they differ."""
    return _p.constant_time_equal(a, b)
