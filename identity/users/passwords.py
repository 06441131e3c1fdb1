"""Console passwords: the rules a new password must meet.

Hashing and checking are :mod:`vault.passwords` (argon2id), re-exported here
so the console's services import one module.
"""

from __future__ import annotations

from identity.users.errors import InvalidInput
from vault.passwords import MAX_LENGTH, hash_password, needs_rehash, verify_password

__all__ = [
    "MAX_LENGTH",
    "MIN_LENGTH",
    "check_new_password",
    "hash_password",
    "needs_rehash",
    "verify_password",
]

MIN_LENGTH = 12


def check_new_password(password: str, *, username: str | None = None) -> None:
    """Raise :class:`InvalidInput` unless ``password`` may be set.

    Rules: 12 to 1024 characters, not blank, not the username.
    """
    if not isinstance(password, str) or len(password) < MIN_LENGTH:
        raise InvalidInput(
            f"the password must have at least {MIN_LENGTH} characters",
            key="error.password_short",
            n=MIN_LENGTH,
        )
    if len(password) > MAX_LENGTH:
        raise InvalidInput(
            f"the password must have at most {MAX_LENGTH} characters", key="error.password_long", n=MAX_LENGTH
        )
    if not password.strip():
        raise InvalidInput("the password must not be blank", key="error.password_short", n=MIN_LENGTH)
    if username is not None and password.strip().lower() == username.lower():
        raise InvalidInput("the password must not be the username", key="error.password_username")
