"""Date of birth, normalized to ISO 8601 YYYY-MM-DD."""

from __future__ import annotations

import re

from fieldtypes.builtin._dates import real_past_date
from fieldtypes.errors import InvalidValue
from fieldtypes.model import FieldType, Names, Sensitivity
from fieldtypes.text import nfkc

# One separator style per value: 1990-03-07, 1990/03/07 or 19900307.
_FORMATS = (
    re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})"),
    re.compile(r"([0-9]{4})/([0-9]{2})/([0-9]{2})"),
    re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})"),
)
_ISO = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
MIN_YEAR = 1900


def normalize(value: str) -> str:
    value = nfkc(value).strip()
    for pattern in _FORMATS:
        match = pattern.fullmatch(value)
        if match:
            return "-".join(match.groups())
    raise InvalidValue("format", "must be YYYY-MM-DD, YYYY/MM/DD or YYYYMMDD")


def validate(value: str) -> None:
    match = _ISO.fullmatch(value)
    if match is None:
        raise InvalidValue("format", "must be YYYY-MM-DD")
    year, month, day = (int(part) for part in match.groups())
    if year < MIN_YEAR:
        raise InvalidValue("year", "year must be 1900 or later")
    if real_past_date(year, month, day) is None:
        raise InvalidValue("date", "must be a real calendar date, not after today")


def mask(value: str) -> str:
    return value[:4] + "-**-**"  # the year stays: age bands are what callers need


FIELD_TYPE = FieldType(
    code="date_of_birth",
    names=Names(zh="出生日期", en="date of birth"),
    sensitivity=Sensitivity.C2,
    pipl_sensitive=False,
    normalizer=normalize,
    validator=validate,
    mask=mask,
    min_length=10,
    max_length=10,
    rationale="C2 identity information; not sensitive as such (data of under-14s is: art. 28)",
    example="1990-03-07",
)
