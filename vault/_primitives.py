"""The only module in piivault that calls cryptographic primitives directly.

Everything here is private to :mod:`vault`; other packages use the safe recipes
exported by :mod:`vault` (``seal``/``open_sealed``, ``blind_index``, ``Signer``...).
Keep this file short enough to audit in one sitting.
"""

from __future__ import annotations

import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16


class _AuthenticationFailed(Exception):
    """Raised by :func:`aead_open`; callers turn it into their own opaque error."""


random_bytes = os.urandom  # the OS CSPRNG; bound directly, it is on the hot path


class Aead:
    """AES-256-GCM with the key schedule prepared once (hot paths reuse it)."""

    __slots__ = ("_gcm", "seal")

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError("key must be 32 bytes")
        self._gcm = AESGCM(bytes(key))
        # seal(nonce, plaintext, aad) -> ciphertext || tag; bound directly, it is the hot path.
        self.seal = self._gcm.encrypt

    def open(self, nonce: bytes, ciphertext: bytes, aad: bytes) -> bytes:
        try:
            return self._gcm.decrypt(nonce, ciphertext, aad)
        except (InvalidTag, ValueError) as exc:
            raise _AuthenticationFailed from exc

    def __repr__(self) -> str:
        return "Aead(<key hidden>)"


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    # The one-shot form: OpenSSL's HMAC in one call, without an hmac.HMAC object per message
    # (an audit event's source MAC, a blind index, a deterministic token).
    return hmac.digest(key, message, "sha256")


def hkdf_label(key: bytes, label: str) -> bytes:
    """Derive an independent 32-byte subkey for ``label`` (HMAC-SHA256 as a PRF)."""
    return hmac_sha256(key, b"piivault-subkey\x00" + label.encode("utf-8"))


def constant_time_equal(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)


def ed25519_generate_seed() -> bytes:
    return bytes(SigningKey.generate())


def ed25519_public_key(seed: bytes) -> bytes:
    return bytes(SigningKey(seed).verify_key)


def ed25519_sign(seed: bytes, message: bytes) -> bytes:
    return SigningKey(seed).sign(message).signature


def ed25519_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    try:
        VerifyKey(public_key).verify(message, signature)
    except (BadSignatureError, ValueError, TypeError):
        return False
    return True
