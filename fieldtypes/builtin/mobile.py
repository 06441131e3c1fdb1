"""Mainland China mobile number, normalized to 11 digits without country code."""

from __future__ import annotations

import re

from fieldtypes.checksums import DIGITS
from fieldtypes.errors import InvalidValue
from fieldtypes.masks import MiddleMask
from fieldtypes.model import FieldType, FpeSpec, Names, Sensitivity
from fieldtypes.text import nfkc

_SEPARATORS = re.compile(r"[\s\-.()]+")
_DIGITS = re.compile(r"[0-9]+")
_MOBILE = re.compile(r"1[3-9][0-9]{9}")


def normalize(value: str) -> str:
    number = _SEPARATORS.sub("", nfkc(value))
    if number.startswith("+"):
        if not number.startswith("+86"):
            raise InvalidValue("prefix", "only the +86 country code is accepted")
        number = number[3:]
    elif number.startswith("0086"):
        number = number[4:]
    elif number.startswith("00"):
        raise InvalidValue("prefix", "only the 0086 international prefix is accepted")
    elif number.startswith("86") and len(number) == 13:
        number = number[2:]
    if not _DIGITS.fullmatch(number):
        raise InvalidValue("charset", "must be digits, with an optional +86 prefix")
    if len(number) != 11:
        raise InvalidValue("length", "must have 11 digits after the country code")
    return number


def validate(value: str) -> None:
    if not _MOBILE.fullmatch(value):
        raise InvalidValue("pattern", "must be 1, then 3-9, then 9 digits")


FIELD_TYPE = FieldType(
    code="cn_mobile",
    names=Names(zh="手机号码", en="mainland China mobile number"),
    sensitivity=Sensitivity.C2,
    pipl_sensitive=False,
    normalizer=normalize,
    validator=validate,
    mask=MiddleMask(keep_start=3, keep_end=4),  # 138****5678
    min_length=11,
    max_length=11,
    fpe=FpeSpec(alphabet=DIGITS, keep_start=3),
    rationale="C2 identity information; not in PIPL art. 28's list (nor GB/T 35273 annex B)",
    identifying=True,
    example="13800138000",
)
