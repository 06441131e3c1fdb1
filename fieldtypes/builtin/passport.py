"""Passport number: 5 to 17 capital letters and digits (Chinese ones are E + 8 characters)."""

from __future__ import annotations

import re
import string

from fieldtypes.errors import InvalidValue
from fieldtypes.masks import MiddleMask
from fieldtypes.model import FieldType, FpeSpec, Names, Sensitivity
from fieldtypes.text import nfkc, remove_separators

_SHAPE = re.compile(r"[A-Z0-9]+")


def normalize(value: str) -> str:
    return remove_separators(nfkc(value)).upper()


def validate(value: str) -> None:
    if not _SHAPE.fullmatch(value):
        raise InvalidValue("charset", "must be capital letters A-Z and digits")


FIELD_TYPE = FieldType(
    code="passport",
    names=Names(zh="护照号码", en="passport number"),
    sensitivity=Sensitivity.C2,
    pipl_sensitive=True,
    normalizer=normalize,
    validator=validate,
    mask=MiddleMask(keep_start=1, keep_end=2, min_hidden=None),  # E******78
    min_length=5,
    max_length=17,
    fpe=FpeSpec(alphabet=string.digits + string.ascii_uppercase, keep_start=1),
    rationale="C2 identity information; an identity document number, sensitive (PIPL art. 28)",
    identifying=True,
    example="E12345678",
)
