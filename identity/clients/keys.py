"""The API key format: ``pvk_<public id>_<secret>``.

* ``pvk_`` is a fixed, recognizable prefix so secret scanners (and people) can
  spot a leaked key, as ``pypi-`` does for PyPI tokens.
* the public id (8 characters of ``[a-z0-9]``) names the client; it is not
  secret and is how a presented key is looked up.
* the secret is 43 base62 characters, about 256 bits from :mod:`secrets`, so
  no slow password hash is needed: a keyed hash of the whole key is stored.

Parsing is strict and never echoes the input back in an error.
"""

from __future__ import annotations

import dataclasses
import re
import string

from piivault.ids import random_string

PREFIX = "pvk_"
ID_ALPHABET = string.ascii_lowercase + string.digits
ID_LENGTH = 8
SECRET_ALPHABET = string.ascii_letters + string.digits
SECRET_LENGTH = 43  # 43 * log2(62) > 256 bits
_KEY = re.compile(rf"{PREFIX}([a-z0-9]{{{ID_LENGTH}}})_([A-Za-z0-9]{{{SECRET_LENGTH}}})")
CLIENT_ID = re.compile(rf"[a-z0-9]{{{ID_LENGTH}}}")


@dataclasses.dataclass(frozen=True, repr=False)
class ApiKey:
    public_id: str
    secret: str

    def __str__(self) -> str:
        return f"{PREFIX}{self.public_id}_{self.secret}"

    def __repr__(self) -> str:
        # Keeps the secret out of tracebacks, debug logs and test failure output.
        return f"ApiKey(public_id={self.public_id!r}, secret=***)"


def new_public_id() -> str:
    return random_string(ID_ALPHABET, ID_LENGTH)


def generate(public_id: str | None = None) -> ApiKey:
    """A fresh key; a new random public id unless one is given."""
    secret = random_string(SECRET_ALPHABET, SECRET_LENGTH)
    return ApiKey(public_id or new_public_id(), secret)


def parse(presented: str) -> ApiKey | None:
    """The key's parts, or None if ``presented`` is not in the key format."""
    match = _KEY.fullmatch(presented)
    if match is None:
        return None
    return ApiKey(match.group(1), match.group(2))
