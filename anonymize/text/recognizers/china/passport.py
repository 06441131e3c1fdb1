"""Passport of the PRC: E or G + 8 digits, or E + a letter + 7 digits; needs a context word."""

from __future__ import annotations

from presidio_analyzer import Pattern

from anonymize.text.recognizers.base import IdentifierRecognizer, bounded


class CnPassportRecognizer(IdentifierRecognizer):
    """Ordinary passports: G + 8 digits (before 2012), E + 8 digits, E + [A-HJ-NP-Z] + 7 digits.

    There is no check digit; ``E12345678`` could as well be a product code, so
    the pattern score (0.3) is below the reporting threshold and a context word
    (护照, passport) lifts it over.
    """

    ENTITY = "CN_PASSPORT"
    PATTERNS = (Pattern("cn_passport", bounded(r"[EG]\d{8}|E[A-HJ-NP-Z]\d{7}"), 0.3),)
    CONTEXT = ("护照", "passport")
