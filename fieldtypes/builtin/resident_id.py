"""Resident identity card number of the PRC (GB 11643-1999), 18 characters."""

from __future__ import annotations

import re

from fieldtypes.builtin._dates import real_past_date
from fieldtypes.checksums import DIGITS, GB11643
from fieldtypes.errors import InvalidValue
from fieldtypes.masks import MiddleMask
from fieldtypes.model import FieldType, FpeSpec, Names, Sensitivity
from fieldtypes.text import nfkc, remove_separators

_SHAPE = re.compile(r"[0-9]{17}[0-9X]")

# Provinces (GB/T 2260), 71 Taiwan, 81 Hong Kong, 82 Macao, 83 residence permits
# of Taiwan residents, 91 permanent residence IDs of foreigners.
PROVINCE_CODES = frozenset(
    [*range(11, 16), *range(21, 24), *range(31, 38), *range(41, 47), *range(50, 55)]
    + [*range(61, 66), 71, 81, 82, 83, 91]
)


def normalize(value: str) -> str:
    return remove_separators(nfkc(value)).upper()


def validate(value: str) -> None:
    # Length is checked by FieldType before this runs (15-digit first-generation
    # numbers, withdrawn in 2013, are rejected there).
    if not _SHAPE.fullmatch(value):
        raise InvalidValue("charset", "must be 17 digits followed by a digit or X")
    if int(value[:2]) not in PROVINCE_CODES:
        raise InvalidValue("region", "first two digits are not a province code")
    if real_past_date(int(value[6:10]), int(value[10:12]), int(value[12:14])) is None:
        raise InvalidValue("birth_date", "digits 7-14 are not a real birth date up to today")
    if not GB11643.is_valid(value):
        raise InvalidValue("check_digit", "check character does not match the first 17 digits")


FIELD_TYPE = FieldType(
    code="cn_resident_id",
    names=Names(zh="居民身份证号码", en="PRC resident identity card number"),
    sensitivity=Sensitivity.C2,
    pipl_sensitive=True,
    normalizer=normalize,
    validator=validate,
    # First 3 + last 4 ("110***********002X"): hides district and birth date, which
    # the common first-6 practice shows; the 17th digit still tells the gender.
    mask=MiddleMask(keep_start=3, keep_end=4),
    min_length=18,
    max_length=18,
    # Digits 7-14 are a birth date: drawn as 19YYMMDD, narrowed so most draws are real dates.
    fpe=FpeSpec(
        alphabet=DIGITS,
        check=GB11643,
        keep_start=6,
        positions=((6, "1"), (7, "9"), (10, "01"), (12, "0123")),
    ),
    rationale="C2 identity information; PIPL art. 28 lists identity numbers as sensitive",
    identifying=True,
    example="11010519491231002X",
)
