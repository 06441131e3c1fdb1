"""A person: who is behind a credential (a console user's name, or the ``person`` an API
client names). Two credentials of one person are one person: separation of duties
(:mod:`access`) counts persons, never credentials.
"""

from __future__ import annotations

import re
from typing import Any

# A person's name: as a console username (so a user and a key of theirs are one person).
PERSON_PATTERN = re.compile(r"^[a-z][a-z0-9._-]{1,63}$")


def check_person(raw: Any) -> str:
    """A person's name, checked (as a console username). Raises ValueError."""
    if not isinstance(raw, str) or not PERSON_PATTERN.fullmatch(raw.strip().lower()):
        raise ValueError(
            "a person is 2-64 lowercase letters, digits, '.', '_' or '-', starting with a letter"
        )
    return raw.strip().lower()
