"""Presidio's phone recognizer, minus the parsing of digit runs too short to be a phone number.

Presidio's :class:`PhoneRecognizer` runs ``phonenumbers.PhoneNumberMatcher`` over the
text once per region (eight by default). The matcher finds candidates with one
regular expression and parses and validates each of them, per region: a note's
dates, amounts, times and reference numbers ("14 March", "£250", "10:30") are
parsed eight times each, which was a quarter of the English path's time.

A match is valid (Presidio's leniency), so its national significant number has a
length the metadata allows for its country, and every one of those digits comes
from a digit of the candidate, a letter of it (``phonenumbers`` reads three or more
letters as a vanity number) or the few digits a national prefix rule adds. A
candidate with fewer digits and letters than :func:`min_candidate_digits` for the
region therefore cannot match, nor can any part of it: it is skipped unparsed. The
bound is computed from the installed library's metadata, so it follows its updates.
Every other step is the library's own, so what is found is what Presidio finds
(tests/anonymize/test_phone_recognizer.py compares the two on a varied corpus).
"""

from __future__ import annotations

import contextlib
import functools
import re

import phonenumbers
from phonenumbers import Leniency, PhoneMetadata, PhoneNumberMatcher
from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE, NumberParseException
from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_analyzer.predefined_recognizers import PhoneRecognizer

_NON_GEOGRAPHIC = "001"
_GROUP_REFERENCE = re.compile(r"\\\d|\$\d")


def _metadata(region: str, country_code: int) -> PhoneMetadata | None:
    if region == _NON_GEOGRAPHIC:
        return PhoneMetadata.metadata_for_nongeo_region(country_code)
    return PhoneMetadata.metadata_for_region(region)


def _shortest_number(country_code: int) -> int:
    """The fewest digits a valid national significant number of ``country_code`` has: a valid
    number's length is one of its region's ``general_desc`` possible lengths (1 where one has none)."""
    shortest = []
    for region in COUNTRY_CODE_TO_REGION_CODE[country_code]:
        metadata = _metadata(region, country_code)
        lengths = [n for n in metadata.general_desc.possible_length if n > 0] if metadata else []
        shortest.append(min(lengths, default=1))
    return min(shortest, default=1)


def _digits_added(metadata: PhoneMetadata | None) -> int:
    """Digits a region's national prefix rule may write into the number (``1624\\1``: four)."""
    rule = metadata.national_prefix_transform_rule if metadata is not None else None
    return sum(c.isdigit() for c in _GROUP_REFERENCE.sub("", rule)) if rule else 0


def _fewest_digits(country_code: int, region: str) -> int:
    """Candidate digits a valid number of ``country_code`` needs when parsed with ``region``'s rules."""
    return max(1, _shortest_number(country_code) - _digits_added(_metadata(region, country_code)))


@functools.cache
def min_candidate_digits(region: str) -> int:
    """Below this many digits and letters no candidate can match a valid number with ``region`` as
    default: written nationally (``region``'s country and rules), or with a country code (``+``, an
    international prefix: the code's digits, then a number parsed with its main region's rules)."""
    home = phonenumbers.country_code_for_region(region)
    international = min(
        len(str(code)) + _fewest_digits(code, regions[0])
        for code, regions in COUNTRY_CODE_TO_REGION_CODE.items()
    )
    return min(_fewest_digits(home, region), international)


def _digits_and_letters(candidate: str) -> int:
    return sum(c.isdigit() or (c.isascii() and c.isalpha()) for c in candidate)


class _ShortRunsSkippingMatcher(PhoneNumberMatcher):
    """``PhoneNumberMatcher`` that does not parse candidates too short to hold a valid number."""

    def __init__(self, text: str, region: str, leniency: int) -> None:
        super().__init__(text, region, leniency=leniency)
        # Only a valid number's length is bounded: a looser leniency checks nothing skipped.
        self._fewest = min_candidate_digits(region) if leniency >= Leniency.VALID else 0

    # A private method of phonenumbers': were it renamed, nothing would be skipped and the
    # results would stay the same. A skipped candidate spends one of the matcher's 65,535
    # tries, not also one per inner match, so only a text past them could find more than Presidio.
    def _extract_match(self, candidate, offset):  # type: ignore[no-untyped-def]
        # Parts of the candidate (its inner matches) have fewer digits still.
        if _digits_and_letters(candidate) < self._fewest:
            return None
        return super()._extract_match(candidate, offset)


class FastPhoneRecognizer(PhoneRecognizer):
    """:class:`PhoneRecognizer` with the same results, skipping digit runs too short to be numbers."""

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        """Presidio's ``PhoneRecognizer.analyze`` with :class:`_ShortRunsSkippingMatcher`."""
        results = []
        # As Presidio's: ``region`` is rebound to the number's own region for the explanation.
        for region in self.supported_regions:
            for match in _ShortRunsSkippingMatcher(text, region, self.leniency):
                with contextlib.suppress(NumberParseException):
                    region = phonenumbers.region_code_for_number(  # noqa: PLW2901
                        phonenumbers.parse(text[match.start : match.end])
                    )
                results.append(self._get_recognizer_result(match, text, region, nlp_artifacts))
        return EntityRecognizer.remove_duplicates(results)
