"""The sealed-value format: a versioned header and AES-256-GCM.

Layout of a version-1 sealed value::

    0x01 | nonce (12 bytes) | ciphertext || tag (16 bytes)

The associated data binds the header to where the value lives::

    b"piivault/sealed" 0x00 0x01 | u16 len | subject | u16 len | field | u16 len | record

so a ciphertext copied to another subject, field or record does not open.
Every failure to open raises the same :class:`InvalidSealedValue`.
The encryption key is a subkey derived from the subject's data key with the
label ``seal/v1``; the data key itself is never used for two algorithms.
"""

from __future__ import annotations

from typing import NamedTuple

from vault import _primitives as _p
from vault.errors import InvalidSealedValue

VERSION_1 = 0x01
HEADER_BYTES = 1 + _p.NONCE_BYTES
MIN_SEALED_BYTES = HEADER_BYTES + _p.TAG_BYTES
_HEADER_V1 = bytes([VERSION_1])
_AAD_V1 = b"piivault/sealed\x00" + bytes([VERSION_1])
SEAL_LABEL = "seal/v1"


class Binding(NamedTuple):
    """Where a sealed value belongs: subject, field type and record id.

    A named tuple rather than a dataclass: one is built per value on hot paths.
    """

    subject: str
    field: str
    record: str

    def associated_data(self) -> bytes:
        """The version-1 associated data; raises ValueError for a part over 65535 bytes."""
        subject = self.subject.encode("utf-8")
        field = self.field.encode("utf-8")
        record = self.record.encode("utf-8")
        if len(subject) > 0xFFFF or len(field) > 0xFFFF or len(record) > 0xFFFF:
            raise ValueError("each binding part must be at most 65535 bytes")
        return b"".join(
            (
                _AAD_V1,
                len(subject).to_bytes(2, "big"),
                subject,
                len(field).to_bytes(2, "big"),
                field,
                len(record).to_bytes(2, "big"),
                record,
            )
        )


class SealingKey:
    """A 32-byte AES-256-GCM key prepared for sealing and opening values."""

    __slots__ = ("_aead",)

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, bytes | bytearray) or len(key) != _p.KEY_BYTES:
            raise ValueError("key must be 32 bytes")
        self._aead = _p.Aead(bytes(key))

    def seal(self, plaintext: bytes, binding: Binding) -> bytes:
        """Seal ``plaintext``; raises TypeError/ValueError on bad input."""
        return self._seal_with_nonce(_p.random_bytes(_p.NONCE_BYTES), plaintext, binding)

    def _seal_with_nonce(self, nonce: bytes, plaintext: bytes, binding: Binding) -> bytes:
        """Deterministic seam for known-answer tests; never call with a reused nonce."""
        if len(nonce) != _p.NONCE_BYTES:
            raise ValueError("nonce must be 12 bytes")
        if type(plaintext) is not bytes:
            if not isinstance(plaintext, bytes | bytearray):
                raise TypeError("plaintext must be bytes")
            plaintext = bytes(plaintext)
        return _HEADER_V1 + nonce + self._aead.seal(nonce, plaintext, binding.associated_data())

    def open(self, sealed: bytes, binding: Binding) -> bytes:
        """Open a sealed value. Raises :class:`InvalidSealedValue` on any failure."""
        if not isinstance(sealed, bytes | bytearray) or len(sealed) < MIN_SEALED_BYTES:
            raise InvalidSealedValue()
        if sealed[0] != VERSION_1:
            raise InvalidSealedValue()
        nonce = bytes(sealed[1:HEADER_BYTES])
        try:
            return self._aead.open(nonce, bytes(sealed[HEADER_BYTES:]), binding.associated_data())
        except _p._AuthenticationFailed:
            raise InvalidSealedValue() from None

    def __repr__(self) -> str:
        return "SealingKey(<hidden>)"
