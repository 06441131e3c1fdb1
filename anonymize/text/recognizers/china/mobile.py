"""Mainland China mobile number: 1[3-9] and 9 more digits, with optional +86 / 0086 and separators."""

from __future__ import annotations

import re

from presidio_analyzer import Pattern

from anonymize.text.recognizers.base import IdentifierRecognizer, bounded
from fieldtypes import default_registry

_MOBILE = default_registry().get("cn_mobile")
# Number blocks allocated to public mobile service (MIIT numbering plan); 140-144 are
# 13-digit IoT numbers, 154 and 194 are unallocated.
_ALLOCATED = re.compile(r"1(?:3\d|4[5-9]|5[0-35-9]|6[2567]|7[0-8]|8\d|9[0-35-9])")


class CnMobileRecognizer(IdentifierRecognizer):
    """Eleven digits grouped 3-4-4 or not; nothing to check but the allocated prefix.

    An unallocated prefix (new blocks are opened every year, and notes carry
    typos) scores 0.3 with ``reason: unallocated prefix``, under the
    threshold unless a context word lifts it (0.65); otherwise the validation
    cannot decide and the pattern score (0.75) stands, raised by context words. A
    number right after a reference label (订单号, 流水号) is dropped.
    """

    ENTITY = "CN_MOBILE"
    PATTERNS = (
        Pattern(
            "cn_mobile",
            bounded(r"(?:(?:\+|00)86[ -]?|\(\+?86\)[ ]?)?1[3-9]\d(?:[ -]?\d{4}){2}"),
            0.75,
        ),
    )
    CONTEXT = ("手机", "电话", "联系方式", "致电", "号码", "mobile", "phone", "cell", "tel")
    VETO_REFERENCE_LABELS = True

    # Under the threshold: a context word (手机, 电话, 联系方式) lifts an unallocated block to 0.65.
    WEAK_SCORE = 0.3

    def validate_result(self, pattern_text: str) -> bool | None:
        return None if _MOBILE.is_valid(_strip(pattern_text)) else False

    def weak_reason(self, pattern_text: str) -> str | None:
        number = _MOBILE.normalize_and_validate(_strip(pattern_text))
        return None if _ALLOCATED.match(number) else "unallocated prefix"


def _strip(pattern_text: str) -> str:
    return pattern_text.replace("(", "").replace(")", "")
