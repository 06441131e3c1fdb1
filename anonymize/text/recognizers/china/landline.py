"""Mainland China fixed-line number: area code 0xx / 0xxx and a 7-8 digit local number."""

from __future__ import annotations

import re

from presidio_analyzer import Pattern

from anonymize.text.recognizers.base import IdentifierRecognizer, bounded

_DIGITS = re.compile(r"\d+")


class CnLandlineRecognizer(IdentifierRecognizer):
    """``010-12345678``, ``(0571) 8765 4321``, ``0755-2345678``; a bare ``01012345678`` needs context.

    Area codes follow the national plan: three digits are 010 or 02x with an
    8-digit local number; four digits are 03xx-09xx with 7 or 8 digits. Local
    numbers do not start with 0 or 1. A number after a reference label is dropped.
    """

    ENTITY = "CN_LANDLINE"
    PATTERNS = (
        Pattern(
            "cn_landline_separated",
            bounded(r"(?:\(0\d{2,3}\)[ ]?|0\d{2,3}[ -])[2-9]\d{2,3}[ -]?\d{4}"),
            0.6,
        ),
        Pattern("cn_landline_bare", bounded(r"0\d{2,3}[2-9]\d{6,7}"), 0.3),
    )
    CONTEXT = ("电话", "座机", "固话", "办公", "单位", "联系", "传真", "phone", "tel", "landline", "office")
    VETO_REFERENCE_LABELS = True

    def validate_result(self, pattern_text: str) -> bool | None:
        groups = _DIGITS.findall(pattern_text)
        digits = "".join(groups)
        if pattern_text.startswith("(") or len(groups) > 1:
            area = groups[0]
        elif digits.startswith(("010", "02")):
            area = digits[:3]
        else:
            area = digits[:4]
        local = digits[len(area) :]
        if len(area) == 3:
            ok = (area == "010" or area.startswith("02")) and len(local) == 8
        else:
            ok = len(area) == 4 and area[1] in "3456789" and len(local) in (7, 8)
        return None if ok and local[0] not in "01" else False
