"""Ed25519 signing for audit checkpoints, consent receipts and certificates.

A :class:`Signer` holds a private seed in memory only; the seed is persisted by
:mod:`vault.keyring` sealed under a system data key, never in clear.
:func:`verify` needs nothing but the published public key, so receipts and
checkpoints can be checked offline.
"""

from __future__ import annotations

from vault import _primitives as _p

PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64


class Signer:
    """Signs byte strings with one Ed25519 key."""

    __slots__ = ("_seed", "public_key")

    def __init__(self, seed: bytes) -> None:
        if not isinstance(seed, bytes | bytearray) or len(seed) != 32:
            raise ValueError("Ed25519 seed must be 32 bytes")
        self._seed = bytes(seed)
        self.public_key: bytes = _p.ed25519_public_key(self._seed)

    @classmethod
    def generate(cls) -> Signer:
        return cls(_p.ed25519_generate_seed())

    def sign(self, message: bytes) -> bytes:
        return _p.ed25519_sign(self._seed, message)

    def export_seed(self) -> bytes:
        """The private seed, for sealing by the keyring. Never log it."""
        return self._seed

    def __repr__(self) -> str:
        return f"Signer(public_key={self.public_key.hex()[:16]}...)"


def verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """True when ``signature`` is a valid Ed25519 signature of ``message``."""
    if len(public_key) != PUBLIC_KEY_BYTES or len(signature) != SIGNATURE_BYTES:
        return False
    return _p.ed25519_verify(public_key, message, signature)
