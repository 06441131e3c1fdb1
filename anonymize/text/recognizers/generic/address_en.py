"""English street addresses (UK and US) as one span: flat, number, street, city, postcode or state+ZIP.

Presidio has no street-address recognizer (spaCy's ``GPE``/``LOC`` tags a city or
a country, which on its own is not a personal address), and the PyPI parsers
(``usaddress``, ``libpostal``) label the parts of a string already known to be an
address rather than find one in a note; ``usaddress`` is US-only and libpostal
needs a 2 GB model. So this is a grammar: an optional flat/apartment, a house
number (``221B``), one to four capitalized words and a street suffix
(``Street``, ``Ave``, ``Terrace``...), an optional US direction (``NW``), an
optional unit (``Apt 4B``, ``#626``), then a city and a UK postcode or a US
state and ZIP. A street line without city and postcode is reported with a
lower score (a number and a street suffix are still a place someone lives or
works at); a city or a branch name alone never matches.
"""

from __future__ import annotations

import re

from presidio_analyzer import RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from anonymize.text.recognizers.base import SpanRecognizer

SUFFIXES = (
    "Street", "St", "Road", "Rd", "Avenue", "Ave", "Lane", "Ln", "Drive", "Dr", "Terrace", "Ter",
    "Boulevard", "Blvd", "Court", "Ct", "Place", "Pl", "Way", "Crescent", "Cres", "Close", "Gardens",
    "Square", "Sq", "Parkway", "Pkwy", "Highway", "Hwy", "Grove", "Row", "Mews", "Hill", "Park",
    "Walk", "Circle", "Cir", "Trail", "Green", "Rise", "View",
)  # fmt: skip
STATES = (
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL", "IN", "IA", "KS",
    "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM", "NY", "NC",
    "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV", "WI", "WY",
)  # fmt: skip
_WORD = r"(?:[A-Z][a-z]+|\d+(?:st|nd|rd|th)|[NSEW])"
_UNIT = r"(?:(?:Flat|Apt\.?|Apartment|Unit|Suite|Ste\.?)\s+[0-9A-Z]{1,5}|#\s?[0-9A-Z]{1,5})"
_STREET = (
    rf"(?:{_UNIT},?\s+)?"  # Flat 3,
    r"\d{1,6}[A-Z]?\s+"  # 221B
    rf"{_WORD}(?:\s+{_WORD}){{0,3}}\s+(?:{'|'.join(SUFFIXES)})\.?"  # Baker Street
    r"(?:\s+(?:NW|NE|SW|SE|N|S|E|W)\b)?"  # Pennsylvania Ave NW
    rf"(?:,?\s+{_UNIT})?"  # , Apt 4B / #626
)
_CITY = r"[A-Z][a-z]+(?:[ -][A-Z][a-z]+){0,2}"
_UK_POSTCODE = r"[A-Z]{1,2}\d[A-Z\d]?\s\d[A-Z]{2}"
_US_TAIL = rf"(?:{'|'.join(STATES)}),?\s+\d{{5}}(?:-\d{{4}})?"
_FULL = re.compile(rf"(?<![\w#]){_STREET},\s+{_CITY}(?:,\s+|\s+)(?:{_UK_POSTCODE}|{_US_TAIL})(?![\w-])")
_LINE = re.compile(rf"(?<![\w#]){_STREET}(?![\w-])")
FULL_SCORE = 0.85
LINE_SCORE = 0.6


class EnglishAddressRecognizer(SpanRecognizer):
    """``EN_ADDRESS``: a UK or US street address; with city and postcode/ZIP, else the street line."""

    ENTITY = "EN_ADDRESS"

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        results = [
            RecognizerResult(self.ENTITY, m.start(), m.end(), FULL_SCORE) for m in _FULL.finditer(text)
        ]
        covered = [(r.start, r.end) for r in results]
        for match in _LINE.finditer(text):
            if not any(s <= match.start() < e for s, e in covered):
                results.append(RecognizerResult(self.ENTITY, match.start(), match.end(), LINE_SCORE))
        return results
