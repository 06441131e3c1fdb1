"""PRC resident identity card number (GB 11643-1999): 18 characters, the check character decides."""

from __future__ import annotations

from presidio_analyzer import Pattern

from anonymize.text.recognizers.base import IdentifierRecognizer, bounded, digits_only
from tokenization.fieldtypes import default_registry

_ID = default_registry().get("cn_resident_id")
_BIRTH = r"(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"


class CnResidentIdRecognizer(IdentifierRecognizer):
    """Region code, birth date, sequence and check character; grouped 6-8-4 forms too.

    Validation is the ``cn_resident_id`` field type's: a province code, a real
    birth date not in the future, and the GB 11643 check character. Valid ->
    score 1.0, anything else is dropped. 15-digit first-generation numbers
    (withdrawn in 2013, no check digit) are not looked for.
    """

    ENTITY = "CN_RESIDENT_ID"
    PATTERNS = (
        Pattern("cn_resident_id", bounded(rf"[1-8]\d{{5}}{_BIRTH}\d{{3}}[\dXx]"), 0.5),
        Pattern("cn_resident_id_grouped", bounded(rf"[1-8]\d{{5}}[ -]{_BIRTH}[ -]\d{{3}}[\dXx]"), 0.5),
    )
    CONTEXT = ("身份证", "身份号码", "证件号", "公民身份", "identity", "id card", "id number", "resident id")

    def validate_result(self, pattern_text: str) -> bool:
        return _ID.is_valid(digits_only(pattern_text))
