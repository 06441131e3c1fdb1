"""Exit-entry permit for travelling to and from Hong Kong and Macao (往来港澳通行证); needs context."""

from __future__ import annotations

from presidio_analyzer import Pattern

from anonymize.text.recognizers.base import IdentifierRecognizer, bounded


class CnHkMacauPermitRecognizer(IdentifierRecognizer):
    """Card-type permits since 2014: C + 8 digits, or C + a letter + 7 digits.

    No check digit: the pattern score (0.3) is below the reporting threshold,
    and a context word (港澳, 通行证) lifts it over.
    """

    ENTITY = "CN_HK_MACAU_PERMIT"
    PATTERNS = (Pattern("cn_hk_macau_permit", bounded(r"C\d{8}|C[A-HJ-NP-Z]\d{7}"), 0.3),)
    CONTEXT = ("港澳", "通行证", "往来", "permit", "hong kong", "macao", "macau")
