"""Password hashing for people who sign in (the console): argon2id, RFC 9106.

The one module that touches a password KDF. argon2-cffi's
:class:`~argon2.PasswordHasher` decides salt, encoding and parameters (its
defaults are RFC 9106's low-memory profile: 64 MiB, t=3, p=4); a hash made
with older parameters reports :func:`needs_rehash` so the caller can upgrade
it at the next sign-in. Which passwords are acceptable is the caller's policy.
"""

from __future__ import annotations

import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

__all__ = ["MAX_LENGTH", "hash_password", "needs_rehash", "verify_password"]

# Hashing is slow on purpose; a huge input must not make it slower still.
MAX_LENGTH = 1_024


@functools.cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()  # argon2id with RFC 9106 parameters


@functools.cache
def _dummy_hash() -> str:
    return _hasher().hash("piivault-no-such-user")


def hash_password(password: str) -> str:
    """The argon2id hash (PHC string) of ``password``.

    Raises ValueError for a password longer than :data:`MAX_LENGTH` characters.
    """
    if len(password) > MAX_LENGTH:
        raise ValueError(f"password must have at most {MAX_LENGTH} characters")
    return _hasher().hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored``; with ``stored`` None, spend the same time and say no.

    Never raises for a wrong, over-long or malformed input: all are "no".
    """
    if not isinstance(password, str) or len(password) > MAX_LENGTH:
        password = ""
    try:
        if stored is None:
            _hasher().verify(_dummy_hash(), password)
            return False
        return _hasher().verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """Whether ``stored`` was made with parameters weaker than today's."""
    try:
        return _hasher().check_needs_rehash(stored)
    except InvalidHashError:
        return True
