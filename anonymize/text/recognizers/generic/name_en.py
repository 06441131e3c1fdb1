"""English names that a note marks plainly: after an honorific, a role word or a call phrase.

spaCy's small English model misses many of them (``Cust Noah Johnson``, ``Ms Turner``) and
tags a bare surname without its first name; the cue finds the whole name
(:func:`anonymize.text.person_en.cued_names`). Reported as ``EN_PERSON`` (field type
``name``) with spaCy's score, so that where both find a name the longer span wins.
"""

from __future__ import annotations

from presidio_analyzer import RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from anonymize.text.person_en import cued_names
from anonymize.text.recognizers.base import SpanRecognizer

SCORE = 0.85  # Presidio's score for a spaCy PERSON


class CuedNameRecognizer(SpanRecognizer):
    """``EN_PERSON``: the name-like words after an honorific, a role word or a call phrase."""

    ENTITY = "EN_PERSON"

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        return [RecognizerResult(self.ENTITY, start, end, SCORE) for start, end in cued_names(text)]
