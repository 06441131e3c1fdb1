"""PRC resident identity card number (GB 11643-1999): 18 characters, the check character decides."""

from __future__ import annotations

from presidio_analyzer import Pattern

from anonymize.text.recognizers.base import IdentifierRecognizer, bounded, digits_only, resident_id_shaped
from fieldtypes import default_registry

_ID = default_registry().get("cn_resident_id")
_BIRTH = r"(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"


class CnResidentIdRecognizer(IdentifierRecognizer):
    """Region code, birth date, sequence and check character; grouped 6-8-4 forms too.

    Validation is the ``cn_resident_id`` field type's: a province code, a real
    birth date not in the future, and the GB 11643 check character. Valid ->
    score 1.0. A number with a plausible region and birth date whose check
    character fails is a mistyped ID: score 0.5, ``reason: check digit
    fails``, 0.85 beside 身份证. Anything else is dropped. 15-digit first-generation numbers
    (withdrawn in 2013, no check digit) are not looked for.
    """

    ENTITY = "CN_RESIDENT_ID"
    PATTERNS = (
        Pattern("cn_resident_id", bounded(rf"[1-8]\d{{5}}{_BIRTH}\d{{3}}[\dXx]"), 0.5),
        Pattern("cn_resident_id_grouped", bounded(rf"[1-8]\d{{5}}[ -]{_BIRTH}[ -]\d{{3}}[\dXx]"), 0.5),
    )
    CONTEXT = ("身份证", "身份号码", "证件号", "公民身份", "identity", "id card", "id number", "resident id")

    def validate_result(self, pattern_text: str) -> bool | None:
        if _ID.is_valid(digits_only(pattern_text)):
            return True
        return None if self.weak_reason(pattern_text) else False

    def weak_reason(self, pattern_text: str) -> str | None:
        number = digits_only(pattern_text)
        if not _ID.is_valid(number) and resident_id_shaped(number):
            return "check digit fails"
        return None
