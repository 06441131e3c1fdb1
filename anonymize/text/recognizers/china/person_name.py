"""Chinese person names, as found by the name-aware segmenter of the Chinese NLP engine."""

from __future__ import annotations

from presidio_analyzer import LocalRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from anonymize.text.nlp.chinese_engine import PERSON_LABEL


class CnPersonRecognizer(LocalRecognizer):
    """Reports the ``CN_PERSON`` entities of the NLP artifacts with the engine's scores.

    The decision is the segmenter's (jieba's dictionary, a surname list,
    given-name character statistics, cue words and titles): see
    :mod:`anonymize.text.nlp.segmenter`.
    """

    ENTITY = PERSON_LABEL

    def __init__(self, supported_language: str = "zh") -> None:
        super().__init__(
            supported_entities=[self.ENTITY],
            supported_language=supported_language,
            name=f"CnPersonRecognizer_{supported_language}",
        )

    def load(self) -> None:
        pass

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        if nlp_artifacts is None or self.ENTITY not in entities:
            return []
        return [
            RecognizerResult(
                entity_type=self.ENTITY,
                start=span.start_char,
                end=span.end_char,
                score=score,
                recognition_metadata={
                    RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                    RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                },
            )
            for span, score in zip(nlp_artifacts.entities, nlp_artifacts.scores, strict=True)
            if span.label_ == self.ENTITY
        ]
