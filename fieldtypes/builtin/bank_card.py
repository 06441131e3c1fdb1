"""Bank card number (PAN), 12 to 19 digits with a Luhn check digit."""

from __future__ import annotations

import dataclasses
import re

from fieldtypes.checksums import DIGITS, LUHN
from fieldtypes.errors import InvalidValue
from fieldtypes.masks import MiddleMask
from fieldtypes.model import FieldType, FpeSpec, Names, Sensitivity
from fieldtypes.text import nfkc, remove_separators

_DIGITS = re.compile(r"[0-9]+")


def normalize(value: str) -> str:
    return remove_separators(nfkc(value))


def validate(value: str) -> None:
    if not _DIGITS.fullmatch(value):
        raise InvalidValue("charset", "must be digits, optionally grouped by spaces or dashes")
    if not LUHN.is_valid(value):
        raise InvalidValue("luhn", "Luhn check digit does not match")


_KEEP_END = 4
_MIN_HIDDEN = 6


def mask(value: str) -> str:
    """BIN and last four, as PCI DSS allows ("622202******1234").

    Never fewer than six digits hidden: the BIN shrinks, so a 12-digit card
    shows its first two only ("58******1904").
    """
    keep_start = max(0, min(6, len(value) - _KEEP_END - _MIN_HIDDEN))
    return MiddleMask(keep_start, _KEEP_END, min_hidden=_MIN_HIDDEN)(value)


FIELD_TYPE = FieldType(
    code="bank_card",
    names=Names(zh="银行卡号", en="bank card number"),
    sensitivity=Sensitivity.C2,
    pipl_sensitive=True,
    normalizer=normalize,
    validator=validate,
    mask=mask,
    min_length=12,
    max_length=19,
    # Only the last four by default: with the BIN kept as well, a token would share with the
    # mask every digit it shows, leaving about 10^5 Luhn-valid candidates to guess.
    # Keeping the last four keeps the check digit: LUHN.fill repairs a free digit instead.
    fpe=FpeSpec(alphabet=DIGITS, check=LUHN, keep_start=0, keep_end=4),
    rationale="C2 account information; a financial account, sensitive under PIPL art. 28",
    identifying=True,
    example="6228480012345678903",
)


BIN_LENGTH = 6


def keeping_bin(field_type: FieldType) -> FieldType:
    """``field_type`` with format-preserving tokens that keep the BIN (first six) too.

    The explicit choice ``PIIVAULT_CARD_TOKEN_KEEPS_BIN`` makes, for legacy systems
    that route on the BIN. It weakens the tokens: the mask shows the same ten digits,
    so a token is one of about 10^5 candidates for anyone who has seen the mask.
    A field type without a format-preserving spec is returned as it is.
    """
    if field_type.fpe is None:
        return field_type
    return dataclasses.replace(field_type, fpe=dataclasses.replace(field_type.fpe, keep_start=BIN_LENGTH))
