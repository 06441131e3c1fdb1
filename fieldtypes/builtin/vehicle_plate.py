"""Motor vehicle number plate of mainland China (GA 36-2018), ordinary and new-energy.

A plate opens with the province's one-character abbreviation (京, 粤, 鄂 ...)
and the issuing authority's letter (A-Z without I and O), then:

* ordinary plates: 5 letters or digits, at most two letters (京A12345, 沪B7K209), optionally
  followed by a use character (挂 trailer, 学 driving school, 警 police,
  港/澳 cross-border, 领/使 consular);
* new-energy plates, 8 characters: small vehicles have an energy letter
  (D, A, B, C, E pure electric; F, G, H, J, K others) then a letter or digit
  and 4 digits (鄂GD85989, 粤BF1A234 is not one: the last four are digits);
  large vehicles have 5 digits then the energy letter (京A12345D).

Normalized to capitals without separators or the middle dot some write
after the authority letter (京A·12345 -> 京A12345).
"""

from __future__ import annotations

import re

from fieldtypes.errors import InvalidValue
from fieldtypes.masks import MiddleMask
from fieldtypes.model import FieldType, Names, Sensitivity
from fieldtypes.text import nfkc, remove_separators

PROVINCES = "京津沪渝冀晋蒙辽吉黑苏浙皖闽赣鲁豫鄂湘粤桂琼川贵云藏陕甘青宁新"
LETTER = "A-HJ-NP-Z"  # I and O are never used: they read as 1 and 0
ENERGY = "A-HJK"
USE_CHARS = "挂学警港澳领使"
PATTERN = (
    rf"[{PROVINCES}][{LETTER}]"
    rf"(?:[{ENERGY}][{LETTER}0-9][0-9]{{4}}|[0-9]{{5}}[{ENERGY}]|[{LETTER}0-9]{{4}}[{LETTER}0-9{USE_CHARS}])"
)
_PLATE = re.compile(PATTERN)
_DOTS = re.compile(r"[·•・.]")


def normalize(value: str) -> str:
    return _DOTS.sub("", remove_separators(nfkc(value))).upper()


def validate(value: str) -> None:
    if value[:1] not in PROVINCES:
        raise InvalidValue("province", "must open with a province abbreviation")
    if not _PLATE.fullmatch(value):
        raise InvalidValue("pattern", "must be an ordinary (7) or new-energy (8 character) plate")
    if len(value) == 7 and sum(char.isascii() and char.isalpha() for char in value[2:]) > 2:
        # An ordinary serial has at most two letters (GA 36-2018): 沪BXK2X9 is a product code.
        raise InvalidValue("pattern", "an ordinary plate's serial has at most two letters")


FIELD_TYPE = FieldType(
    code="cn_vehicle_plate",
    names=Names(zh="机动车号牌", en="mainland China vehicle plate"),
    sensitivity=Sensitivity.C2,
    pipl_sensitive=False,
    normalizer=normalize,
    validator=validate,
    # Province and authority (the registering city) show; the serial is hidden: 京A*****.
    mask=MiddleMask(keep_start=2, keep_end=0),
    min_length=7,
    max_length=8,
    rationale="C2: names a vehicle and through the register its keeper; not in PIPL art. 28's list",
    identifying=True,
    example="京A12345",
)
