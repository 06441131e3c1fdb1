"""A Presidio NLP engine for Chinese: name-aware jieba segmentation, no model download."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator

from presidio_analyzer.nlp_engine import NlpArtifacts, NlpEngine
from spacy.tokens import Doc, Span
from spacy.vocab import Vocab

from anonymize.text.nlp.segmenter import NameAwareSegmenter

LANGUAGE = "zh"
PERSON_LABEL = "CN_PERSON"
# Confidence of a name found by the segmenter, without and with a cue word or title beside it.
NAME_SCORE = 0.85
CUED_NAME_SCORE = 0.95

_STOPWORDS = frozenset("的了和与及或在是于也都就还又把被对向给从等这那其该此之而")


class ChineseNlpEngine(NlpEngine):
    """Tokens, lemmas (the words themselves) and CN_PERSON entities for ``zh`` text.

    Tokens are a spaCy :class:`~spacy.tokens.Doc` built from the segmenter's
    words, as Presidio's context enhancer expects; no spaCy pipeline runs.
    Thread-safe once loaded.
    """

    engine_name = "piivault_chinese"
    is_available = True

    def __init__(self, segmenter: NameAwareSegmenter | None = None) -> None:
        self._segmenter = segmenter

    def load(self) -> None:
        if self._segmenter is None:
            self._segmenter = NameAwareSegmenter()

    def is_loaded(self) -> bool:
        return self._segmenter is not None

    def process_text(self, text: str, language: str) -> NlpArtifacts:
        """Segment ``text``.

        Raises ValueError if ``language`` is not ``zh`` or the engine is not loaded.
        """
        if language != LANGUAGE:
            raise ValueError("the Chinese NLP engine only processes zh")
        if self._segmenter is None:
            raise ValueError("the Chinese NLP engine is not loaded")
        segments = self._segmenter.segment(text)
        words = [text[s.start : s.end] for s in segments]
        # A vocabulary per text (16 µs): a shared one would keep every word it ever
        # saw, names and numbers included, for the life of the process.
        doc = Doc(Vocab(), words=words, spaces=[False] * len(words))
        entities = []
        scores = []
        for index, segment in enumerate(segments):
            if segment.name:
                entities.append(Span(doc, index, index + 1, label=PERSON_LABEL))
                scores.append(CUED_NAME_SCORE if segment.cued else NAME_SCORE)
        return NlpArtifacts(
            entities=entities,
            tokens=doc,
            tokens_indices=[s.start for s in segments],
            lemmas=words,
            nlp_engine=self,
            language=language,
            scores=scores,
        )

    def process_batch(
        self,
        texts: Iterable[str],
        language: str,
        batch_size: int = 1,
        n_process: int = 1,
        **kwargs: object,
    ) -> Iterator[tuple[str, NlpArtifacts]]:
        for text in texts:
            yield text, self.process_text(text, language)

    def is_stopword(self, word: str, language: str) -> bool:
        return word in _STOPWORDS or word.isspace()

    def is_punct(self, word: str, language: str) -> bool:
        return bool(word) and all(unicodedata.category(char).startswith("P") for char in word)

    def get_supported_entities(self) -> list[str]:
        return [PERSON_LABEL]

    def get_supported_languages(self) -> list[str]:
        return [LANGUAGE]
