"""Signed checkpoints in the C2SP formats (c2sp.org/tlog-checkpoint, c2sp.org/signed-note).

A checkpoint body, all of it covered by the signature::

    <origin>
    <tree size, decimal>
    <root hash, base64>
    timestamp <unix seconds, decimal>

The timestamp is an extension line, which tlog-checkpoint allows; it sits in
the body rather than in the signature so that the log's key signs it. The note
is the body, a blank line, and one signature line per key::

    — <key name> <base64(4-byte key ID || 64-byte Ed25519 signature)>

with key ID = ``SHA-256(key name || 0x0A || 0x01 || public key)[:4]``. Only
Ed25519 (signature type 0x01) is supported, through :mod:`vault.signing`.

:func:`sign_note` and :func:`open_note` implement signed-note for any text;
:func:`sign_checkpoint` and :func:`open_checkpoint` add the checkpoint body.
Parsing is strict: a body is accepted only in exactly the form
:meth:`Checkpoint.body` writes, so parsing and re-serializing gives back the
signed bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from typing import NamedTuple

from vault.signing import PUBLIC_KEY_BYTES, Signer, verify

ED25519_TYPE = 0x01
ROOT_HASH_BYTES = 32
MAX_NOTE_BYTES = 1 << 20
MAX_SIGNATURES = 100
_MAX_UINT64 = (1 << 64) - 1

_SIGNATURE_PREFIX = "\u2014 "  # em dash, space
_TIMESTAMP_PREFIX = "timestamp "
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


class NoteError(ValueError):
    """A note or checkpoint is malformed, unsigned by the expected key, or forged."""


@dataclass(frozen=True)
class Checkpoint:
    """A log's commitment to its first ``size`` entries.

    Raises:
        ValueError: on construction, if a field cannot be written as a
            checkpoint (empty origin or control characters in it, negative or
            over 64-bit size or timestamp, root hash not 32 bytes).
    """

    origin: str
    size: int
    root_hash: bytes
    timestamp: int

    def __post_init__(self) -> None:
        if not isinstance(self.origin, str) or not self.origin:
            raise ValueError("origin must be a non-empty str")
        if _has_control_character(self.origin):
            raise ValueError("origin must not contain control characters")
        self.origin.encode("utf-8")  # UnicodeEncodeError (a ValueError) on lone surrogates
        for name in ("size", "timestamp"):
            value = getattr(self, name)
            if type(value) is not int or not 0 <= value <= _MAX_UINT64:
                raise ValueError(f"{name} must be an int in [0, 2**64)")
        if not isinstance(self.root_hash, bytes) or len(self.root_hash) != ROOT_HASH_BYTES:
            raise ValueError(f"root_hash must be {ROOT_HASH_BYTES} bytes")

    def body(self) -> bytes:
        """The note text to sign, UTF-8, ending in a newline."""
        root = base64.b64encode(self.root_hash).decode("ascii")
        text = f"{self.origin}\n{self.size}\n{root}\n{_TIMESTAMP_PREFIX}{self.timestamp}\n"
        return text.encode("utf-8")


class VerifierKey(NamedTuple):
    """A key name and the Ed25519 public key it stands for."""

    name: str
    public_key: bytes


def parse_checkpoint(body: bytes) -> Checkpoint:
    """Parse a checkpoint body written by :meth:`Checkpoint.body`.

    This does not check any signature: use :func:`open_checkpoint` on notes.

    Raises:
        NoteError: the body is not UTF-8, does not end in a newline, does not
            have exactly the four lines, or has a non-canonical number or hash.
    """
    text = _decode(body)
    if _has_control_character(text.replace("\n", "")):
        raise NoteError("checkpoint contains control characters")
    if not text.endswith("\n"):
        raise NoteError("checkpoint body must end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) != 4:
        raise NoteError(f"checkpoint body must have 4 lines, not {len(lines)}")
    origin, size, root, extension = lines
    if not origin:
        raise NoteError("checkpoint origin is empty")
    if not extension.startswith(_TIMESTAMP_PREFIX):
        raise NoteError("checkpoint fourth line must be 'timestamp <unix seconds>'")
    root_hash = _b64decode(root, "root hash")
    if len(root_hash) != ROOT_HASH_BYTES:
        raise NoteError(f"root hash must be {ROOT_HASH_BYTES} bytes")
    size_value = _parse_uint64(size, "tree size")
    timestamp = _parse_uint64(extension[len(_TIMESTAMP_PREFIX) :], "timestamp")
    return Checkpoint(origin, size_value, root_hash, timestamp)


def key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte C2SP key ID of an Ed25519 key.

    Raises:
        ValueError: the name is not a valid key name or the key is not 32 bytes.
    """
    _check_key(name, public_key)
    material = name.encode("utf-8") + b"\n" + bytes([ED25519_TYPE]) + public_key
    return hashlib.sha256(material).digest()[:4]


def sign_note(text: bytes, key_name: str, signer: Signer) -> str:
    """A signed note: ``text``, a blank line, and ``signer``'s Ed25519 signature line.

    Raises:
        ValueError: ``key_name`` is empty or contains spaces, ``+`` or control
            characters; or ``text`` is not UTF-8, does not end in a newline, or
            contains control characters other than newline.
    """
    decoded = text.decode("utf-8")  # UnicodeDecodeError is a ValueError
    if not decoded.endswith("\n") or _has_control_character(decoded.replace("\n", "")):
        raise ValueError("note text must end in a newline and contain no control characters")
    signature = key_id(key_name, signer.public_key) + signer.sign(text)
    encoded = base64.b64encode(signature).decode("ascii")
    return f"{decoded}\n{_SIGNATURE_PREFIX}{key_name} {encoded}\n"


def open_note(note: str | bytes, key_name: str, public_key: bytes) -> bytes:
    """Verify a signed note and return its text (UTF-8, ending in a newline).

    Signatures from other keys are ignored, as signed-note requires, but every
    signature line from this key must verify.

    Raises:
        ValueError: ``key_name`` or ``public_key`` is not a valid key.
        NoteError: the note is malformed, carries no signature from this key,
            or a signature from this key does not verify.
    """
    expected_id = key_id(key_name, public_key)
    try:
        raw = note.encode("utf-8") if isinstance(note, str) else note
    except UnicodeEncodeError:
        raise NoteError("note is not valid UTF-8") from None
    if len(raw) > MAX_NOTE_BYTES:
        raise NoteError("note is too large")
    decoded = _decode(raw)
    if _has_control_character(decoded.replace("\n", "")):
        raise NoteError("note contains control characters")
    if not decoded.endswith("\n"):
        raise NoteError("note must end with a newline")
    split = decoded.rfind("\n\n")
    if split < 0:
        raise NoteError("note has no blank line before its signatures")
    text, signature_block = decoded[: split + 1], decoded[split + 2 :]
    if not signature_block:
        raise NoteError("note has no signatures")
    signature_lines = signature_block[:-1].split("\n")
    if len(signature_lines) > MAX_SIGNATURES:
        raise NoteError("note has too many signatures")

    body = text.encode("utf-8")
    verified = False
    for line in signature_lines:
        name, signature = _parse_signature_line(line)
        if name != key_name or signature[:4] != expected_id:
            continue  # another key's signature, e.g. a witness cosignature
        if not verify(public_key, body, signature[4:]):
            raise NoteError(f"signature by {key_name} does not verify")
        verified = True
    if not verified:
        raise NoteError(f"note is not signed by {key_name}")
    return body


def sign_checkpoint(checkpoint: Checkpoint, key_name: str, signer: Signer) -> str:
    """The signed note for ``checkpoint``, signed by ``signer`` under ``key_name``.

    tlog-checkpoint recommends that ``key_name`` equal the checkpoint's origin.

    Raises:
        ValueError: ``key_name`` is empty or contains spaces, ``+`` or control
            characters.
    """
    return sign_note(checkpoint.body(), key_name, signer)


def open_checkpoint(
    note_text: str | bytes,
    key_name: str,
    public_key: bytes,
    *,
    origin: str | None = None,
) -> Checkpoint:
    """Verify a signed checkpoint note and return the checkpoint it carries.

    The body is parsed only after a signature from the key has verified. Pass
    ``origin`` to also require the checkpoint to come from that log.

    Raises:
        ValueError: ``key_name`` or ``public_key`` is not a valid key.
        NoteError: the note is malformed, carries no signature from this key,
            a signature from this key does not verify, the body is not a valid
            checkpoint, or its origin is not ``origin``.
    """
    checkpoint = parse_checkpoint(open_note(note_text, key_name, public_key))
    if origin is not None and checkpoint.origin != origin:
        raise NoteError("checkpoint is for a different log origin")
    return checkpoint


def verifier_key_string(name: str, public_key: bytes) -> str:
    """The signed-note verifier key: ``<name>+<hex key ID>+<base64(0x01 || key)>``.

    Raises:
        ValueError: the name is not a valid key name or the key is not 32 bytes.
    """
    hex_id = key_id(name, public_key).hex()
    encoded = base64.b64encode(bytes([ED25519_TYPE]) + public_key).decode("ascii")
    return f"{name}+{hex_id}+{encoded}"


def parse_verifier_key(vkey: str) -> VerifierKey:
    """Parse a verifier key written by :func:`verifier_key_string`.

    Raises:
        NoteError: the string is malformed, not an Ed25519 key, or its key ID
            does not match its name and key.
    """
    parts = vkey.split("+", 2)  # names have no '+'; base64 may
    if len(parts) != 3:
        raise NoteError("verifier key must be <name>+<key ID>+<key>")
    name, hex_id, encoded = parts
    if not _is_key_name(name):
        raise NoteError("verifier key has an invalid key name")
    if not re.fullmatch(r"[0-9a-f]{8}", hex_id):
        raise NoteError("verifier key ID must be 8 lowercase hex digits")
    material = _b64decode(encoded, "verifier key")
    if len(material) != 1 + PUBLIC_KEY_BYTES or material[0] != ED25519_TYPE:
        raise NoteError("verifier key is not an Ed25519 (type 0x01) key")
    public_key = material[1:]
    if key_id(name, public_key).hex() != hex_id:
        raise NoteError("verifier key ID does not match its name and key")
    return VerifierKey(name, public_key)


def _parse_signature_line(line: str) -> tuple[str, bytes]:
    if not line.startswith(_SIGNATURE_PREFIX):
        raise NoteError("signature line must start with an em dash and a space")
    fields = line[len(_SIGNATURE_PREFIX) :].split(" ")
    if len(fields) != 2 or not _is_key_name(fields[0]):
        raise NoteError("signature line must be '— <key name> <base64 signature>'")
    signature = _b64decode(fields[1], "signature")
    if len(signature) < 5:
        raise NoteError("signature is too short")
    return fields[0], signature


def _parse_uint64(text: str, what: str) -> int:
    if not _DECIMAL.fullmatch(text):
        raise NoteError(f"{what} must be a decimal number without leading zeros")
    if len(text) > len(str(_MAX_UINT64)) or int(text) > _MAX_UINT64:
        raise NoteError(f"{what} does not fit in 64 bits")
    return int(text)


def _b64decode(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise NoteError(f"{what} is not valid base64") from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise NoteError(f"{what} is not canonical base64")
    return raw


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise NoteError("note is not valid UTF-8") from None


def _check_key(name: str, public_key: bytes) -> None:
    if not _is_key_name(name):
        raise ValueError("key name must be non-empty, without spaces, '+' or control characters")
    if not isinstance(public_key, bytes) or len(public_key) != PUBLIC_KEY_BYTES:
        raise ValueError(f"public key must be {PUBLIC_KEY_BYTES} bytes")


def _is_key_name(name: str) -> bool:
    return (
        isinstance(name, str)
        and bool(name)
        and not any(c.isspace() or c == "+" for c in name)
        and not _has_control_character(name)
    )


def _has_control_character(text: str) -> bool:
    return any(ord(c) < 0x20 for c in text)
