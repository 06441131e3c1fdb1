"""Random ids and tokens: the one module that draws from :mod:`secrets` (the OS CSPRNG).

Public ids are a short prefix that says what they name (``dsr_``, ``apr_``,
``ext_``; recognizable in logs and to secret scanners, as warehouse's ``pypi-``
tokens are) and 120 random bits in lower-case base32. Secrets (session ids, CSRF
tokens, API key bodies) come from here too; data keys and nonces are the vault's
(:mod:`vault`), never drawn here.
"""

from __future__ import annotations

import base64
import secrets

ID_BYTES = 15  # 120 bits: 24 base32 characters, no padding


def new_id(prefix: str) -> str:
    """A random public id: ``prefix`` + 24 base32 characters (120 bits)."""
    return prefix + base64.b32encode(secrets.token_bytes(ID_BYTES)).decode("ascii").lower()


def random_bytes(n: int) -> bytes:
    """``n`` random bytes."""
    return secrets.token_bytes(n)


def urlsafe_token(n: int = 32) -> str:
    """A URL-safe text token of ``n`` random bytes (a form's CSRF token, a generated password)."""
    return secrets.token_urlsafe(n)


def hex_token(n: int = 16) -> str:
    """A hexadecimal text token of ``n`` random bytes."""
    return secrets.token_hex(n)


def random_string(alphabet: str, length: int) -> str:
    """``length`` characters drawn uniformly from ``alphabet``."""
    return "".join(secrets.choice(alphabet) for _ in range(length))


def randbelow(n: int) -> int:
    """A uniform random integer in ``[0, n)``."""
    return secrets.randbelow(n)
