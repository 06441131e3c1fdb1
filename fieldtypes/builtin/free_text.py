"""Free text (notes, remarks): anything a person typed, up to 4096 characters."""

from __future__ import annotations

from fieldtypes.errors import InvalidValue
from fieldtypes.model import FieldType, Names, Sensitivity
from fieldtypes.text import has_control_chars, nfc


def normalize(value: str) -> str:
    return nfc(value).strip()


def validate(value: str) -> None:
    if has_control_chars(value, allow="\t\n\r"):
        raise InvalidValue("control", "must not contain control characters other than tab and newline")


def mask(value: str) -> str:
    return f"[free text, {len(value)} chars]"


FIELD_TYPE = FieldType(
    code="free_text",
    names=Names(zh="自由文本", en="free text"),
    sensitivity=Sensitivity.C2,
    pipl_sensitive=True,
    normalizer=normalize,
    validator=validate,
    mask=mask,
    max_length=4096,
    rationale="C2 and PIPL-sensitive by default: it may hold anything, health or accounts too",
    identifying=True,
    example="请在下午六点后回电",
)
