"""Unified social credit code of an organization (GB 32100-2015): the check character decides."""

from __future__ import annotations

from presidio_analyzer import Pattern

from anonymize.text.recognizers.base import IdentifierRecognizer, bounded, resident_id_shaped
from fieldtypes import default_registry

_USCC = default_registry().get("cn_uscc")
_CHAR = "[0-9A-HJ-NPQRTUWXY]"
# Registration authorities: 1-9 (编制, 外交, 司法, 文化, 民政, 旅游, 宗教, 工会, 市场监管), A, N, Y.
_AUTHORITY = "[1-9ANY]"


class CnUsccRecognizer(IdentifierRecognizer):
    """Authority, type, 6-digit region, 9-character organization code, check character.

    A code with a letter and a valid check character -> 1.0. An all-digit
    candidate passes GB 32100 once in 31 by chance (an order number, an ID
    that failed its own check), so a valid all-digit code keeps the pattern
    score (0.3) and is reported only with a context word (统一社会信用代码).
    A code shaped like a resident ID (digits, province, birth date) is a
    mistyped ID and is dropped.
    """

    ENTITY = "CN_USCC"
    PATTERNS = (Pattern("cn_uscc", bounded(rf"{_AUTHORITY}{_CHAR}\d{{6}}{_CHAR}{{10}}"), 0.3),)
    CONTEXT = ("信用代码", "社会信用", "营业执照", "统一代码", "uscc", "credit code")

    def validate_result(self, pattern_text: str) -> bool | None:
        if not _USCC.is_valid(pattern_text) or resident_id_shaped(pattern_text):
            return False
        return None if pattern_text.isdigit() else True
