"""Personal name, in any script; Chinese names are masked to the surname."""

from __future__ import annotations

import unicodedata

from fieldtypes.errors import InvalidValue
from fieldtypes.model import FieldType, Names, Sensitivity
from fieldtypes.text import collapse_whitespace, has_control_chars, nfc

# CJK unified ideographs: extension A, the basic block, compatibility, extensions B and up.
_HAN_RANGES = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x3FFFF))


def normalize(value: str) -> str:
    """NFC, collapsed whitespace, and no space between two Han characters ("张 三" -> "张三")."""
    value = collapse_whitespace(nfc(value))
    return "".join(
        char
        for index, char in enumerate(value)
        if not (char == " " and is_han(value[index - 1]) and is_han(value[index + 1]))
    )


def validate(value: str) -> None:
    if has_control_chars(value):
        raise InvalidValue("control", "must not contain control or invisible characters")
    if any(unicodedata.category(char).startswith("N") for char in value):
        raise InvalidValue("digits", "must not contain digits or other numerals")
    if not any(unicodedata.category(char)[0] == "L" or is_rare_han(char) for char in value):
        raise InvalidValue("letters", "must contain at least one letter")


def is_han(char: str) -> bool:
    return any(low <= ord(char) <= high for low, high in _HAN_RANGES) or is_rare_han(char)


def is_rare_han(char: str) -> bool:
    """Private-use or not yet known to this Python: how rare Han characters (生僻字) arrive."""
    return unicodedata.category(char) in ("Co", "Cn")


def mask(value: str) -> str:
    """Chinese: the surname and one star per given-name character ("张**", the usual form).

    Other scripts: the first character and three stars ("A***"), hiding the length and
    the word breaks. A one-character name is hidden whole; compound surnames (欧阳)
    show their first character only.
    """
    if len(value) < 2:
        return "*"
    if is_han(value[0]):
        return value[0] + "*" * (len(value) - 1)
    return value[0] + "***"


FIELD_TYPE = FieldType(
    code="name",
    names=Names(zh="姓名", en="personal name"),
    sensitivity=Sensitivity.C2,
    pipl_sensitive=False,
    normalizer=normalize,
    validator=validate,
    mask=mask,
    max_length=64,
    rationale="C2 identity information; a name alone is not in PIPL art. 28's list",
    identifying=True,
    example="张三",
)
