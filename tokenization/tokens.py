"""What tokens look like: random and deterministic token strings, and opaque ids.

Random and deterministic tokens carry a recognizable prefix (``tok_`` and
``tkd_``) and a short code of their field type, so a leaked token is easy to
find and to tell apart from a value: ``tok_mob_5xq...``. The rest is 130 bits
of base32: random for ``random`` tokens, a keyed HMAC of the normalized value
for ``deterministic`` ones (the HMAC key is a system data key from
:mod:`vault`; nothing here touches a primitive). Format-preserving tokens look
like values and come from :mod:`tokenization.fpe`.
"""

from __future__ import annotations

import base64
import re
from enum import StrEnum

from piivault.ids import random_bytes
from vault import DataKey

RANDOM_PREFIX = "tok_"
DETERMINISTIC_PREFIX = "tkd_"
SUBJECT_PREFIX = "sub_"
STANDALONE_PREFIX = "std_"  # internal owners of standalone tokens; never accepted from callers
TOMBSTONE_KEY = "erased-token"  # the system data key of erased tokens' digests
_BODY_CHARS = 26  # 130 bits of base32
_SHORT_CODE_MAX = 12
# A token or subject id anywhere in a text, glued to other characters too (a copy of one outside
# the vault links back to a person; 26 characters of base32 after the prefix are no accident).
TOKEN_SHAPE = re.compile(
    rf"(?:(?:{RANDOM_PREFIX}|{DETERMINISTIC_PREFIX})[a-z0-9_]{{1,{_SHORT_CODE_MAX}}}_|{SUBJECT_PREFIX})"
    rf"[a-z2-7]{{{_BODY_CHARS}}}"
)

SHORT_CODES = {
    "cn_resident_id": "rid",
    "cn_mobile": "mob",
    "bank_card": "card",
    "cn_uscc": "uscc",
    "passport": "pp",
    "email": "eml",
    "name": "name",
    "address": "addr",
    "date_of_birth": "dob",
    "free_text": "txt",
    "cn_vehicle_plate": "plate",
}


class TokenKind(StrEnum):
    RANDOM = "random"
    DETERMINISTIC = "deterministic"
    FORMAT_PRESERVING = "format_preserving"


class DeterministicScope(StrEnum):
    """Where the same value gives the same deterministic token."""

    SUBJECT = "subject"  # within one subject (standalone tokens: across all standalone tokens)
    GLOBAL = "global"  # across the whole vault; such tokens stand alone


def short_code(field_type: str) -> str:
    """The field type's code inside a token (configured types: their code, shortened)."""
    return SHORT_CODES.get(field_type) or field_type[:_SHORT_CODE_MAX]


def _base32(raw: bytes) -> str:
    return base64.b32encode(raw).decode("ascii").lower()[:_BODY_CHARS]


# Random bodies: each random byte picks one of the 32 base32 characters (256 is a
# multiple of 32, so every character is equally likely and each carries 5 bits).
# One translate call instead of base32-encoding in Python: a 1,000-item batch
# draws a thousand of these.
_RANDOM_BODY = bytes(b"abcdefghijklmnopqrstuvwxyz234567"[b % 32] for b in range(256))


def _random_body() -> str:
    return random_bytes(_BODY_CHARS).translate(_RANDOM_BODY).decode("ascii")


def random_token(field_type: str) -> str:
    return f"{RANDOM_PREFIX}{short_code(field_type)}_{_random_body()}"


def deterministic_token(key: DataKey, field_type: str, scope: str, normalized: str) -> str:
    """The token of ``normalized`` within ``scope`` ("global" or "subject:<id>").

    Length-prefixed so that no (scope, value) pair encodes like another.
    """
    scope_raw = scope.encode("utf-8")
    message = len(scope_raw).to_bytes(2, "big") + scope_raw + normalized.encode("utf-8")
    digest = key.keyed_hash("deterministic/" + field_type, message)
    return f"{DETERMINISTIC_PREFIX}{short_code(field_type)}_{_base32(digest)}"


def blind_index(key: DataKey, field_type: str, normalized: str) -> bytes:
    """Keyed HMAC of a normalized value, per field type: equal values, equal index."""
    return key.keyed_hash("blind/" + field_type, normalized.encode("utf-8"))


def erased_token_digest(key: DataKey, token: str) -> bytes:
    """What is kept of an erased token: a keyed hash, so that it can be recognized, not read."""
    return key.keyed_hash("erased-token", token.encode("utf-8"))


def new_subject_id() -> str:
    return SUBJECT_PREFIX + _random_body()


def new_standalone_owner() -> str:
    return STANDALONE_PREFIX + _random_body()
