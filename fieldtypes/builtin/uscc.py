"""Unified social credit code of an organization (GB 32100-2015), 18 characters."""

from __future__ import annotations

from fieldtypes.checksums import GB32100, GB32100_ALPHABET
from fieldtypes.errors import InvalidValue
from fieldtypes.masks import MiddleMask
from fieldtypes.model import FieldType, FpeSpec, Names, Sensitivity
from fieldtypes.text import nfkc, remove_separators

_ALPHABET = frozenset(GB32100_ALPHABET)


def normalize(value: str) -> str:
    return remove_separators(nfkc(value)).upper()


def validate(value: str) -> None:
    if any(char not in _ALPHABET for char in value):
        raise InvalidValue("charset", "must use digits and capitals other than I, O, S, V, Z")
    if not GB32100.is_valid(value):
        raise InvalidValue("check_digit", "check character does not match the first 17")


FIELD_TYPE = FieldType(
    code="cn_uscc",
    names=Names(zh="统一社会信用代码", en="unified social credit code"),
    sensitivity=Sensitivity.C1,
    pipl_sensitive=False,
    normalizer=normalize,
    validator=validate,
    # Shows registration authority, organization type and region; hides the organization code.
    mask=MiddleMask(keep_start=8, keep_end=2),
    min_length=18,
    max_length=18,
    fpe=FpeSpec(alphabet=GB32100_ALPHABET, check=GB32100, keep_start=8),
    rationale="C1: identifies an organization, not a person; public in the business register",
    identifying=True,
    example="91350100M000100Y43",
)
