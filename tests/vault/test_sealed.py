"""The sealed-value format: known answers, bindings, one opaque error."""

from __future__ import annotations

import struct

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vault import Binding, DataKey, InvalidSealedValue, _primitives
from vault.sealed import SealingKey

KEY = bytes(range(32))
NONCE = bytes.fromhex("000102030405060708090a0b")
BINDING = Binding("subj-1", "cn_mobile", "rec-9")
PLAINTEXT = b"13800138000"
# Locked format: any change to the layout or the AAD breaks this vector on purpose.
EXPECTED_HEX = "01000102030405060708090a0b7631ee2bf5d4f123bd71a7fa3136c85c1dfd09586b7418d5aadeee"


def _independent_aad(subject: str, field: str, record: str) -> bytes:
    """The AAD as the format documentation describes it, built without vault code."""
    out = b"piivault/sealed\x00\x01"
    for part in (subject, field, record):
        raw = part.encode()
        out += struct.pack(">H", len(raw)) + raw
    return out


def test_known_answer_matches_independent_construction():
    sealed = SealingKey(KEY)._seal_with_nonce(NONCE, PLAINTEXT, BINDING)
    expected = (
        b"\x01"
        + NONCE
        + AESGCM(KEY).encrypt(NONCE, PLAINTEXT, _independent_aad("subj-1", "cn_mobile", "rec-9"))
    )
    assert sealed == expected
    assert sealed.hex() == EXPECTED_HEX
    assert len(sealed) == 1 + 12 + len(PLAINTEXT) + 16


def test_known_answer_empty_binding():
    sealed = SealingKey(KEY)._seal_with_nonce(NONCE, b"", Binding("", "", ""))
    tag = AESGCM(KEY).encrypt(NONCE, b"", b"piivault/sealed\x00\x01\x00\x00\x00\x00\x00\x00")
    assert sealed == b"\x01" + NONCE + tag
    assert SealingKey(KEY).open(sealed, Binding("", "", "")) == b""


def test_round_trip_and_fresh_nonces():
    key = SealingKey(KEY)
    a, b = key.seal(PLAINTEXT, BINDING), key.seal(PLAINTEXT, BINDING)
    assert a != b
    assert key.open(a, BINDING) == key.open(b, BINDING) == PLAINTEXT


@pytest.mark.parametrize(
    "other",
    [
        Binding("subj-2", "cn_mobile", "rec-9"),
        Binding("subj-1", "email", "rec-9"),
        Binding("subj-1", "cn_mobile", "rec-10"),
        # length prefixes stop boundary-shifting collisions
        Binding("subj-1c", "n_mobile", "rec-9"),
    ],
)
def test_value_moved_to_another_binding_does_not_open(other):
    key = SealingKey(KEY)
    sealed = key.seal(PLAINTEXT, BINDING)
    with pytest.raises(InvalidSealedValue):
        key.open(sealed, other)


def test_every_single_byte_change_is_rejected_with_the_same_error():
    key = SealingKey(KEY)
    sealed = key.seal(PLAINTEXT, BINDING)
    messages = set()
    for i in range(len(sealed)):
        tampered = bytearray(sealed)
        tampered[i] ^= 0x01
        with pytest.raises(InvalidSealedValue) as info:
            key.open(bytes(tampered), BINDING)
        messages.add(str(info.value))
    for bad in (b"", sealed[:5], sealed[:-1], b"\x02" + sealed[1:]):
        with pytest.raises(InvalidSealedValue) as info:
            key.open(bad, BINDING)
        messages.add(str(info.value))
    with pytest.raises(InvalidSealedValue) as info:
        SealingKey(bytes(32)).open(sealed, BINDING)
    messages.add(str(info.value))
    assert messages == {"sealed value could not be opened"}


def test_input_checked_at_the_boundary():
    with pytest.raises(ValueError, match="key must be 32 bytes"):
        SealingKey(b"short")
    with pytest.raises(ValueError, match="nonce must be 12 bytes"):
        SealingKey(KEY)._seal_with_nonce(b"x", b"", BINDING)
    with pytest.raises(TypeError):
        SealingKey(KEY).seal("text", BINDING)  # type: ignore[arg-type]


def test_data_key_derives_separate_subkeys():
    dek = DataKey("subject:s1", KEY)
    sealed = dek.seal(PLAINTEXT, BINDING)
    # The DEK itself is not the AES key: sealing uses a derived subkey.
    with pytest.raises(InvalidSealedValue):
        SealingKey(KEY).open(sealed, BINDING)
    assert dek.open(sealed, BINDING) == PLAINTEXT
    assert dek.keyed_hash("blind/cn_mobile", b"x") != dek.keyed_hash("token/cn_mobile", b"x")
    assert dek.keyed_hash("a", b"x") == DataKey("other", KEY).keyed_hash("a", b"x")
    assert "0001" not in repr(dek)


@pytest.mark.parametrize(
    ("key", "message", "expected"),
    [  # RFC 4231, test cases 1 and 2
        (b"\x0b" * 20, b"Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
        (
            b"Jefe",
            b"what do ya want for nothing?",
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        ),
    ],
)
def test_hmac_sha256_known_answers(key, message, expected):
    assert _primitives.hmac_sha256(key, message).hex() == expected
