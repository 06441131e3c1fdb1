"""Dates of birth: a date right after a birth cue (DOB, date of birth, born, 出生日期, 生日, 出生于).

A date alone is not personal data (a call date, a promised payment date); a
date stated as someone's birth date is. Presidio has no date-of-birth
recognizer (its ``DATE_TIME`` comes from spaCy's NER and covers every date), so
this one pairs a date pattern with a cue that must stand just before it, with
nothing but separators between. The date must be a real calendar date, not
after today and not before 1900.
"""

from __future__ import annotations

import re

from presidio_analyzer import RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from anonymize.text.recognizers.base import SpanRecognizer
from fieldtypes.builtin._dates import real_past_date

_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"),
            ("may",), ("jun", "june"), ("jul", "july"), ("aug", "august"),
            ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"), ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}  # fmt: skip
_MONTH = r"(?P<mon>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_D = r"(?P<d>[0-3]?\d)(?:st|nd|rd|th)?"
_Y = r"(?P<y>(?:19|20)\d\d)"
# Each form names its parts; numeric day/month order is decided by what can be a month.
_DATES = (
    rf"{_Y}\s*[-/.年]\s*(?P<m>[01]?\d)\s*[-/.月]\s*(?P<d>[0-3]?\d)日?",  # 1978-03-14, 1978年3月14日
    rf"{_Y}(?P<m>[01]\d)(?P<d>[0-3]\d)",  # 19780314
    rf"(?P<a>[0-3]?\d)[/.-](?P<b>[0-3]?\d)[/.-]{_Y}",  # 14/03/1978, 03/14/1978
    rf"{_D}\s+{_MONTH},?\s+{_Y}",  # 14 March 1978
    rf"{_MONTH}\s+{_D},?\s+{_Y}",  # March 14, 1978
)
CUES = (
    "dob", "d.o.b", "d.o.b.", "date of birth", "birth date", "birthdate", "born", "born on", "b.",
    "出生日期", "出生年月日", "出生年月", "出生于", "出生", "生日", "生于",
)  # fmt: skip
_CUE_WINDOW = 16
_SEPARATORS = " \t:：-–=（(,，"
SCORE = 0.85


def _compile() -> list[re.Pattern[str]]:
    # Group names repeat across the forms, so each form is its own pattern.
    boundary_start, boundary_end = r"(?<![0-9A-Za-z])", r"(?![0-9A-Za-z])"
    return [re.compile(boundary_start + d + boundary_end, re.IGNORECASE) for d in _DATES]


_PATTERNS = _compile()


def _date(match: re.Match[str]) -> bool:
    """The match is a real past date after 1900 (either order for a numeric day and month)."""
    parts = match.groupdict()
    year = int(parts["y"])
    if parts.get("mon"):
        pairs = [(_MONTHS[parts["mon"].lower()], int(parts["d"]))]
    elif parts.get("a"):
        a, b = int(parts["a"]), int(parts["b"])
        pairs = [(b, a), (a, b)]
    else:
        pairs = [(int(parts["m"]), int(parts["d"]))]
    return year >= 1900 and any(real_past_date(year, m, d) for m, d in pairs)


def after_cue(text: str, start: int) -> bool:
    """The characters before ``start`` end in a birth cue, separators aside."""
    before = text[max(0, start - _CUE_WINDOW) : start].rstrip(_SEPARATORS).lower()
    if not before.endswith(CUES):
        return False
    cue = next(c for c in CUES if before.endswith(c))
    # An English cue must start a word: "reborn" or "pdob" is not a cue.
    head = before[: -len(cue)]
    return not (cue.isascii() and head and head[-1].isalnum())


class DateOfBirthRecognizer(SpanRecognizer):
    """``DATE_OF_BIRTH``: a real past date right after a birth cue, in English or Chinese text."""

    ENTITY = "DATE_OF_BIRTH"

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        found: dict[tuple[int, int], RecognizerResult] = {}
        for pattern in _PATTERNS:
            for match in pattern.finditer(text):
                if _date(match) and after_cue(text, match.start()):
                    span = (match.start(), match.end())
                    found.setdefault(span, RecognizerResult(self.ENTITY, *span, SCORE))
        return list(found.values())
