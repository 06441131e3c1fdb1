"""Postal address, free form."""

from __future__ import annotations

from fieldtypes.errors import InvalidValue
from fieldtypes.masks import visible_ends
from fieldtypes.model import FieldType, Names, Sensitivity
from fieldtypes.text import collapse_whitespace, has_control_chars, nfc

_KEEP = 6


def normalize(value: str) -> str:
    return collapse_whitespace(nfc(value))


def validate(value: str) -> None:
    if has_control_chars(value):
        raise InvalidValue("control", "must not contain control or invisible characters")


def mask(value: str) -> str:
    """The first 6 characters ("北京市朝阳区" or "12 Bak") and a fixed "****".

    A fixed tail hides the length; at most half of a short address shows.
    """
    shown, _ = visible_ends(len(value), _KEEP, 0, min_hidden=None)
    return value[:shown] + "****"


FIELD_TYPE = FieldType(
    code="address",
    names=Names(zh="地址", en="postal address"),
    sensitivity=Sensitivity.C2,
    pipl_sensitive=False,
    normalizer=normalize,
    validator=validate,
    mask=mask,
    min_length=2,
    max_length=256,
    rationale="C2 identity information; a postal address is not a PIPL art. 28 'whereabouts' trail",
    identifying=True,
    example="北京市朝阳区建国路88号",
)
