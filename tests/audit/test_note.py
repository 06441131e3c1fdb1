from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable

import pytest

from audit.note import (
    Checkpoint,
    NoteError,
    VerifierKey,
    key_id,
    open_checkpoint,
    open_note,
    parse_checkpoint,
    parse_verifier_key,
    sign_checkpoint,
    sign_note,
    verifier_key_string,
)
from vault.signing import Signer

# The example of golang.org/x/mod/sumdb/note (the reference signed-note
# implementation): a published test key, its verifier key and the exact note it
# produces. Ed25519 is deterministic, so we must reproduce it byte for byte.
GO_SIGNER_SEED = base64.b64decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")[1:]
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    b"If you think cryptography is the answer to your problem,\n"
    b"then you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT.decode()
    + "\n\u2014 PeterNeumann "
    + "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
    + "\n"
)

LOG = "piivault.example/audit"
ROOT = hashlib.sha256(b"some root").digest()
ROOT_B64 = base64.b64encode(ROOT).decode()
CHECKPOINT = Checkpoint(origin=LOG, size=12345, root_hash=ROOT, timestamp=1_700_000_000)


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer(bytes(range(32)))


@pytest.fixture(scope="module")
def note(signer: Signer) -> str:
    return sign_checkpoint(CHECKPOINT, LOG, signer)


def _sig_line(name: str, signature: bytes) -> str:
    return f"\u2014 {name} {base64.b64encode(signature).decode()}\n"


# --- interoperability ----------------------------------------------------------


def test_reproduces_go_sumdb_note_example() -> None:
    signer = Signer(GO_SIGNER_SEED)
    assert verifier_key_string("PeterNeumann", signer.public_key) == GO_VKEY
    assert parse_verifier_key(GO_VKEY) == VerifierKey("PeterNeumann", signer.public_key)
    assert sign_note(GO_TEXT, "PeterNeumann", signer) == GO_NOTE
    assert open_note(GO_NOTE, "PeterNeumann", signer.public_key) == GO_TEXT
    with pytest.raises(NoteError):
        open_note(
            GO_NOTE.replace("cryptography", "cryptographY"), "PeterNeumann", signer.public_key
        )


def test_key_id_is_truncated_sha256_of_name_type_and_key(signer: Signer) -> None:
    want = hashlib.sha256(LOG.encode() + b"\n\x01" + signer.public_key).digest()[:4]
    assert key_id(LOG, signer.public_key) == want


# --- round trip ----------------------------------------------------------------


def test_body_format() -> None:
    assert CHECKPOINT.body() == f"{LOG}\n12345\n{ROOT_B64}\ntimestamp 1700000000\n".encode()
    assert parse_checkpoint(CHECKPOINT.body()) == CHECKPOINT


def test_sign_and_open(signer: Signer, note: str) -> None:
    body, _, signatures = note.partition("\n\n")
    assert (body + "\n").encode() == CHECKPOINT.body()
    assert signatures.startswith(f"\u2014 {LOG} ") and signatures.endswith("\n")
    assert signatures.count("\n") == 1
    assert open_checkpoint(note, LOG, signer.public_key) == CHECKPOINT
    assert open_checkpoint(note.encode(), LOG, signer.public_key) == CHECKPOINT
    assert open_checkpoint(note, LOG, signer.public_key, origin=LOG) == CHECKPOINT


def test_empty_tree_checkpoint(signer: Signer) -> None:
    empty = Checkpoint(LOG, 0, hashlib.sha256(b"").digest(), 0)
    assert open_checkpoint(sign_checkpoint(empty, LOG, signer), LOG, signer.public_key) == empty


def test_largest_values_round_trip(signer: Signer) -> None:
    largest = Checkpoint(LOG, 2**64 - 1, ROOT, 2**64 - 1)
    assert open_checkpoint(sign_checkpoint(largest, LOG, signer), LOG, signer.public_key) == largest


def test_unicode_origin_round_trips(signer: Signer) -> None:
    checkpoint = Checkpoint("审计.example/日志", 1, ROOT, 5)
    note = sign_checkpoint(checkpoint, "审计.example/日志", signer)
    assert open_checkpoint(note, "审计.example/日志", signer.public_key) == checkpoint


def test_other_keys_signatures_are_ignored(signer: Signer, note: str) -> None:
    witness = Signer(bytes(32))
    cosignature = _sig_line(
        "witness.example", key_id("witness.example", witness.public_key) + b"x" * 64
    )
    assert open_checkpoint(note + cosignature, LOG, signer.public_key) == CHECKPOINT
    body, _, ours = note.partition("\n\n")
    assert open_checkpoint(f"{body}\n\n{cosignature}{ours}", LOG, signer.public_key) == CHECKPOINT
    # Same name, different key ID: someone else's key, also ignored.
    stranger = _sig_line(LOG, b"\x00\x00\x00\x00" + b"y" * 64)
    assert open_checkpoint(note + stranger, LOG, signer.public_key) == CHECKPOINT


def test_checkpoint_from_a_different_origin_is_refused(signer: Signer, note: str) -> None:
    with pytest.raises(NoteError, match="origin"):
        open_checkpoint(note, LOG, signer.public_key, origin="other.example/log")


# --- tampering -----------------------------------------------------------------


def test_any_changed_body_character_is_rejected(signer: Signer, note: str) -> None:
    body_length = len(CHECKPOINT.body())
    for position in range(body_length):
        changed = chr(ord(note[position]) ^ 1)
        tampered = note[:position] + changed + note[position + 1 :]
        with pytest.raises(NoteError):
            open_checkpoint(tampered, LOG, signer.public_key)


def test_any_changed_signature_character_is_rejected(signer: Signer, note: str) -> None:
    start = note.rindex(" ") + 1
    for position in range(start, len(note) - 1):
        changed = "B" if note[position] == "A" else "A"
        tampered = note[:position] + changed + note[position + 1 :]
        with pytest.raises(NoteError):
            open_checkpoint(tampered, LOG, signer.public_key)


def test_wrong_key_or_name_is_rejected(signer: Signer, note: str) -> None:
    other = Signer(bytes(range(1, 33)))
    with pytest.raises(NoteError, match="not signed"):
        open_checkpoint(note, LOG, other.public_key)
    with pytest.raises(NoteError, match="not signed"):
        open_checkpoint(note, "other.example/log", signer.public_key)


def test_a_bad_signature_from_our_key_rejects_the_note(signer: Signer, note: str) -> None:
    forged = _sig_line(LOG, key_id(LOG, signer.public_key) + b"z" * 64)
    with pytest.raises(NoteError, match="does not verify"):
        open_checkpoint(note + forged, LOG, signer.public_key)
    short = _sig_line(LOG, key_id(LOG, signer.public_key) + b"z" * 63)
    with pytest.raises(NoteError, match="does not verify"):
        open_checkpoint(note + short, LOG, signer.public_key)


# --- malformed notes -----------------------------------------------------------


def _signature_of(note: str) -> str:
    return note.rsplit(" ", 1)[1]


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda n: n[:-1], "end with a newline"),
        (lambda n: n + "\n", "no signatures"),
        (lambda n: n.replace("\n\n", "\n"), "no blank line"),
        (lambda n: n.replace("\n", "\r\n"), "control characters"),
        (lambda n: n.replace("12345", "123\x0045"), "control characters"),
        (lambda n: n.replace("\u2014", "--"), "em dash"),
        (lambda n: n.replace("\u2014 ", "\u2014"), "em dash"),
        (lambda n: n.replace(f" {LOG} ", f"  {LOG} "), "key name"),
        (lambda n: n.replace(f" {LOG} ", f" {LOG}  "), "key name"),
        (lambda n: n.replace(f" {LOG} ", " a+b "), "key name"),
        (lambda n: n.replace(f" {LOG} ", " "), "key name"),
        (lambda n: n[:-1] + " extra\n", "key name"),
        (lambda n: n.replace(_signature_of(n), "!!!!\n"), "not valid base64"),
        (lambda n: n.replace(_signature_of(n), _signature_of(n).replace("=", "")), "base64"),
        (lambda n: n.replace(_signature_of(n), "AAAAAA==\n"), "too short"),
        (lambda n: n + "not a signature line\n", "em dash"),
        (lambda n: n + _sig_line("w.example", b"\x00" * 68) * 100, "too many"),
    ],
)
def test_malformed_notes_are_rejected(
    signer: Signer, note: str, mangle: Callable[[str], str], message: str
) -> None:
    with pytest.raises(NoteError, match=message):
        open_checkpoint(mangle(note), LOG, signer.public_key)


def test_non_utf8_note_is_rejected(signer: Signer, note: str) -> None:
    with pytest.raises(NoteError, match="UTF-8"):
        open_checkpoint(note.encode().replace(b"12345", b"123\xff5"), LOG, signer.public_key)


def test_lone_surrogate_in_note_text_is_rejected(signer: Signer, note: str) -> None:
    with pytest.raises(NoteError, match="UTF-8"):
        open_checkpoint(note.replace("12345", "123\ud8005"), LOG, signer.public_key)


def test_oversized_note_is_rejected(signer: Signer, note: str) -> None:
    with pytest.raises(NoteError, match="too large"):
        open_checkpoint("x" * (1 << 20) + note, LOG, signer.public_key)


# --- malformed checkpoint bodies -------------------------------------------------

GOOD_LINES = [LOG, "12345", ROOT_B64, "timestamp 1700000000"]


def _body(**changes: str) -> bytes:
    lines = list(GOOD_LINES)
    for position, value in changes.items():
        lines[int(position[1:])] = value
    return ("\n".join(lines) + "\n").encode()


NON_CANONICAL_ROOT = base64.b64encode(bytes(32)).decode()[:-2] + "B="

MALFORMED_BODIES = [
    pytest.param(_body()[:-1], "end with a newline", id="no-trailing-newline"),
    pytest.param(_body() + b"extra\n", "4 lines", id="extra-line"),
    pytest.param(_body() + b"\n", "4 lines", id="trailing-blank-line"),
    pytest.param(b"\n".join(_body().split(b"\n")[:3]) + b"\n", "4 lines", id="no-timestamp"),
    pytest.param(_body(l0=""), "origin is empty", id="empty-origin"),
    pytest.param(_body(l1="012345"), "leading zeros", id="size-leading-zero"),
    pytest.param(_body(l1="00"), "leading zeros", id="size-double-zero"),
    pytest.param(_body(l1="+12345"), "leading zeros", id="size-plus"),
    pytest.param(_body(l1="-1"), "leading zeros", id="size-negative"),
    pytest.param(_body(l1=" 12345"), "leading zeros", id="size-space"),
    pytest.param(_body(l1="12_345"), "leading zeros", id="size-underscore"),
    pytest.param(_body(l1="1e5"), "leading zeros", id="size-exponent"),
    pytest.param(_body(l1="١٢"), "leading zeros", id="size-arabic-digits"),
    pytest.param(_body(l1=""), "leading zeros", id="size-empty"),
    pytest.param(_body(l1=str(2**64)), "64 bits", id="size-too-large"),
    pytest.param(_body(l1="9" * 5000), "64 bits", id="size-huge"),
    pytest.param(_body(l2=ROOT_B64.rstrip("=")), "base64", id="root-unpadded"),
    pytest.param(_body(l2=NON_CANONICAL_ROOT), "canonical", id="root-non-canonical"),
    pytest.param(_body(l2=base64.b64encode(ROOT[:31]).decode()), "32 bytes", id="root-short"),
    pytest.param(_body(l2=ROOT.hex()), "32 bytes|base64", id="root-hex"),
    pytest.param(_body(l2=ROOT_B64.replace("=", "")[:-1] + "-="), "base64", id="root-urlsafe"),
    pytest.param(_body(l3="timestamp 01"), "leading zeros", id="timestamp-leading-zero"),
    pytest.param(_body(l3="timestamp -1"), "leading zeros", id="timestamp-negative"),
    pytest.param(_body(l3="timestamp  1"), "leading zeros", id="timestamp-two-spaces"),
    pytest.param(_body(l3="Timestamp 1"), "timestamp", id="timestamp-capital"),
    pytest.param(_body(l3="time 1"), "timestamp", id="timestamp-other-extension"),
    pytest.param(_body(l3="timestamp 1.5"), "leading zeros", id="timestamp-fraction"),
    pytest.param(_body(l0="log\tname"), "control", id="origin-tab"),
    pytest.param(_body().replace(b"\n", b"\r\n"), "control", id="crlf"),
    pytest.param(_body().replace(b"piivault", b"pi\xe9vault"), "UTF-8", id="not-utf8"),
]


@pytest.mark.parametrize(("body", "message"), MALFORMED_BODIES)
def test_malformed_bodies_are_rejected(body: bytes, message: str) -> None:
    with pytest.raises(NoteError, match=message):
        parse_checkpoint(body)


# Texts that signed-note itself forbids: sign_note refuses to sign them.
UNSIGNABLE = {"no-trailing-newline", "origin-tab", "crlf", "not-utf8"}


@pytest.mark.parametrize(("body", "message"), MALFORMED_BODIES)
def test_validly_signed_malformed_bodies_are_rejected(
    request: pytest.FixtureRequest, signer: Signer, body: bytes, message: str
) -> None:
    if request.node.callspec.id in UNSIGNABLE:
        with pytest.raises(ValueError):
            sign_note(body, LOG, signer)
        return
    note = sign_note(body, LOG, signer)
    with pytest.raises(NoteError, match=message):
        open_checkpoint(note, LOG, signer.public_key)


@pytest.mark.parametrize(
    "fields",
    [
        {"origin": ""},
        {"origin": "a\nb"},
        {"origin": 5},
        {"origin": "log\ud800"},
        {"size": -1},
        {"size": 2**64},
        {"size": True},
        {"size": 1.0},
        {"timestamp": -1},
        {"root_hash": ROOT[:31]},
        {"root_hash": ROOT_B64},
    ],
)
def test_checkpoint_refuses_unwritable_fields(fields: dict[str, object]) -> None:
    values: dict[str, object] = {"origin": LOG, "size": 1, "root_hash": ROOT, "timestamp": 1}
    with pytest.raises(ValueError):
        Checkpoint(**(values | fields))  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["", "a b", "a+b", "a\tb", "a\u00a0b", "a\u3000b", "a\nb"])
def test_invalid_key_names_are_refused(signer: Signer, name: str) -> None:
    with pytest.raises(ValueError, match="key name"):
        sign_checkpoint(CHECKPOINT, name, signer)
    with pytest.raises(ValueError, match="key name"):
        open_checkpoint("x\n\n", name, signer.public_key)


@pytest.mark.parametrize("text", [b"no newline", b"a\r\n", b"\xff\n"])
def test_sign_note_refuses_bad_text(signer: Signer, text: bytes) -> None:
    with pytest.raises(ValueError):
        sign_note(text, LOG, signer)


# --- verifier keys -------------------------------------------------------------


def test_verifier_key_round_trip(signer: Signer) -> None:
    vkey = verifier_key_string(LOG, signer.public_key)
    name, hex_id, encoded = vkey.split("+", 2)
    assert (name, hex_id) == (LOG, key_id(LOG, signer.public_key).hex())
    assert base64.b64decode(encoded) == b"\x01" + signer.public_key
    assert parse_verifier_key(vkey) == VerifierKey(LOG, signer.public_key)


@pytest.mark.parametrize(
    "vkey",
    [
        GO_VKEY,
        # golang.org/x/mod sumdb/note tests
        "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop",
        # transparency-dev/formats note tests: the base64 part contains a '+'
        "TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6",
    ],
)
def test_verifier_keys_of_other_implementations(vkey: str) -> None:
    name, public_key = parse_verifier_key(vkey)
    assert verifier_key_string(name, public_key) == vkey


@pytest.mark.parametrize(
    ("vkey", "message"),
    [
        ("", "<name>"),
        ("PeterNeumann+c74f20a3", "<name>"),
        ("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW+x", "base64"),
        ("Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "name"),
        ("PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "hex"),
        ("PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "hex"),
        ("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "does not match"),
        ("PeterNeumenn+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "does not match"),
        ("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TX", "does not match"),
        ("PeterNeumann+c74f20a3+Apc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "base64|Ed25519"),
        ("PeterNeumann+c74f20a3+Alpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "Ed25519"),
        ("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10", "Ed25519|base64"),
        ("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq_LDE4izWy10TW", "base64"),
    ],
)
def test_malformed_verifier_keys_are_rejected(vkey: str, message: str) -> None:
    with pytest.raises(NoteError, match=message):
        parse_verifier_key(vkey)
