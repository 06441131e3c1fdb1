"""Format-preserving random tokens: the value's length and alphabet, a valid check digit.

A format-preserving token is drawn at random (then vaulted like any token), so
it reveals nothing about the value except what the field type's
:class:`~fieldtypes.FpeSpec` keeps on purpose: a resident ID's
region code, a mobile's network prefix, a card's last four (and its BIN if so
configured).
At least :data:`MIN_DRAWN` characters are always drawn (fewer for very short
values), as the card mask hides at least six digits.

Structure that the spec does not describe is enforced by cycle-walking: each
candidate goes through the field type's own validator and is drawn again until
it is accepted. It is never equal to the value; uniqueness among tokens is the
caller's job (the tokens table's primary key, with a fresh draw on collision).
"""

from __future__ import annotations

from collections.abc import Callable

from fieldtypes import FieldType
from fieldtypes.masks import visible_ends
from piivault import ids
from tokenization.errors import ItemRejected

MIN_DRAWN = 6
MAX_ATTEMPTS = 2_000
MAX_LENGTH = 128  # the tokens table's key length


def format_preserving_token(
    field_type: FieldType,
    value: str,
    *,
    keep_ends: bool = True,
    randbelow: Callable[[int], int] = ids.randbelow,
) -> str:
    """A random stand-in for the normalized ``value`` that ``field_type`` accepts.

    ``keep_ends`` keeps the spec's ``keep_start``/``keep_end`` characters of the
    value; false keeps none. Raises :class:`ItemRejected` when the field type
    has no format-preserving spec or no acceptable token turns up.
    """
    spec = field_type.fpe
    if spec is None or len(value) > MAX_LENGTH:
        raise ItemRejected("kind", "format-preserving tokens are not available for this field type")
    n = len(value)
    check = spec.check
    check_length = check.check_length if check is not None else 0
    keep_start, keep_end = (spec.keep_start, spec.keep_end) if keep_ends else (0, 0)
    keep_start, keep_end = visible_ends(n, keep_start, keep_end, MIN_DRAWN)
    if check is not None and 0 < keep_end < check_length:
        keep_end = 0  # keep all check characters or none of them
    # Kept check characters stay valid by solving one drawn body position (CheckScheme.fill);
    # otherwise they are recomputed over the drawn body.
    solve = n - keep_end - 1 if check is not None and keep_end else None
    drawn_end = n - keep_end if check is None or keep_end else n - check_length
    positions = [(i, spec.alphabet_at(i)) for i in range(keep_start, drawn_end) if i != solve]
    if not positions or (solve is not None and solve < keep_start):
        raise ItemRejected("kind", "the value is too short for a format-preserving token")
    for _ in range(MAX_ATTEMPTS):
        chars = list(value)
        for index, alphabet in positions:
            chars[index] = alphabet[randbelow(len(alphabet))]
        candidate = "".join(chars)
        if check is not None:
            try:
                if solve is None:
                    candidate = check.complete(candidate[: n - check_length])
                else:
                    char = check.fill(candidate, solve)
                    if char is None:
                        continue
                    candidate = candidate[:solve] + char + candidate[solve + 1 :]
            except ValueError:
                continue
        if candidate != value and field_type.is_valid(candidate):
            return candidate
    raise ItemRejected("format_preserving", "no valid format-preserving token was found for this value")
