"""Check-digit schemes: Luhn, GB 11643 (ISO 7064 MOD 11-2), GB 32100, ISO 7064 MOD 97-10.

Each ``*_check`` function takes the body (the value without its check
characters) and returns the check characters. They raise ``ValueError`` with a
fixed message, never echoing the body, when the body is outside the scheme's
alphabet or length.

A :class:`CheckScheme` bundles one of them with what a format-preserving
tokenizer needs: the body alphabet, how many trailing characters are check
characters, validation, and :meth:`CheckScheme.fill` to repair a value whose
check characters must stay as they are.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass

DIGITS = "0123456789"

# GB 11643-1999: weights are 2**(18 - i) mod 11 for i = 1..17.
GB11643_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
GB11643_CHECK_MAP = "10X98765432"
_GB11643_ZEROS = 48 * sum(GB11643_WEIGHTS)

# GB 32100-2015: 31 characters, no I, O, S, V, Z; weights are 3**i mod 31.
GB32100_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
GB32100_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_GB32100_VALUES = {char: index for index, char in enumerate(GB32100_ALPHABET)}


def _require(body: str, alphabet: str, length: int | None, what: str) -> None:
    if length is not None and len(body) != length:
        raise ValueError(f"{what} body must be {length} characters")
    # strip() leaves nothing exactly when every character is in the alphabet (one C call).
    if not body or body.strip(alphabet):
        raise ValueError(f"{what} body has characters outside its alphabet")


def luhn_check(body: str) -> str:
    """Return the Luhn check digit for ``body`` (ASCII digits, at least one)."""
    _require(body, DIGITS, None, "Luhn")
    total = 0
    # Walking right to left, the digit next to the check digit is doubled first.
    for position, char in enumerate(reversed(body)):
        digit = ord(char) - 48
        if position % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return str((10 - total % 10) % 10)


def gb11643_check(body: str) -> str:
    """Return the GB 11643-1999 check character ("0"-"9" or "X") for 17 digits."""
    _require(body, DIGITS, 17, "GB 11643")
    # The body is 17 ASCII digits: weigh the byte values, then take off what "0" (48) adds.
    total = sum(map(operator.mul, body.encode("ascii"), GB11643_WEIGHTS)) - _GB11643_ZEROS
    return GB11643_CHECK_MAP[total % 11]


def gb32100_check(body: str) -> str:
    """Return the GB 32100-2015 check character for a 17-character body."""
    _require(body, GB32100_ALPHABET, 17, "GB 32100")
    total = sum(_GB32100_VALUES[char] * weight for char, weight in zip(body, GB32100_WEIGHTS, strict=True))
    return GB32100_ALPHABET[(31 - total % 31) % 31]


def iso7064_mod97_10_check(body: str) -> str:
    """Return the two ISO 7064 MOD 97-10 check digits for a string of digits."""
    _require(body, DIGITS, None, "ISO 7064 MOD 97-10")
    remainder = 0
    # Folded digit by digit: int() would also accept non-ASCII digits.
    for char in body + "00":
        remainder = (remainder * 10 + ord(char) - 48) % 97
    return f"{98 - remainder:02d}"


@dataclass(frozen=True)
class CheckScheme:
    """A check-character scheme; the check characters end the value."""

    name: str
    alphabet: str  # characters a body may contain
    check_alphabet: str  # characters a check position may contain
    check_length: int
    compute: Callable[[str], str]  # body -> check characters; ValueError if malformed
    rule: str = "check_digit"  # the InvalidValue rule reported when the check fails
    body_length: int | None = None  # fixed by the standard, or None

    def is_valid(self, value: str) -> bool:
        """True when ``value`` ends in the check characters of its body."""
        body, check = value[: -self.check_length], value[-self.check_length :]
        if len(body) < 1 or (self.body_length is not None and len(body) != self.body_length):
            return False
        try:
            return self.compute(body) == check
        except ValueError:
            return False

    def complete(self, body: str) -> str:
        """Return ``body`` followed by its check characters."""
        return body + self.compute(body)

    def fill(self, value: str, position: int) -> str | None:
        """Return the character for ``position`` (in the body) that makes ``value`` valid.

        For a format-preserving token that keeps the value's check characters
        (a bank card keeping its last four digits): the tokenizer leaves one
        free body position and solves it here. Returns None when no character
        of the alphabet works (possible for MOD 11-2, never for Luhn).
        """
        if not 0 <= position < len(value) - self.check_length:
            raise ValueError("position must be inside the body")
        for char in self.alphabet:
            candidate = value[:position] + char + value[position + 1 :]
            if self.is_valid(candidate):
                return char
        return None


LUHN = CheckScheme("luhn", DIGITS, DIGITS, 1, luhn_check, rule="luhn")
GB11643 = CheckScheme("gb11643", DIGITS, DIGITS + "X", 1, gb11643_check, body_length=17)
GB32100 = CheckScheme("gb32100", GB32100_ALPHABET, GB32100_ALPHABET, 1, gb32100_check, body_length=17)
ISO7064_MOD97_10 = CheckScheme("iso7064_mod97_10", DIGITS, DIGITS, 2, iso7064_mod97_10_check)

CHECK_SCHEMES: dict[str, CheckScheme] = {
    scheme.name: scheme for scheme in (LUHN, GB11643, GB32100, ISO7064_MOD97_10)
}
