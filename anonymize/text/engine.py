"""The analyzer: built once (spaCy, jieba's dictionary, Presidio registry), shared by all threads.

Building takes a few seconds and ~200 MB; :func:`get_engine` builds on first
use under a lock and returns the same :class:`TextEngine` afterwards. Analysis
keeps no state between calls, so one engine serves concurrent requests.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

from presidio_analyzer import AnalyzerEngine
from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer
from presidio_anonymizer import AnonymizerEngine
from presidio_anonymizer.entities import OperatorConfig, RecognizerResult

from anonymize.text.entities import CHINESE_ENTITIES, ENGLISH_ENTITIES, FIELD_TYPES, Entity
from anonymize.text.errors import BatchTooLarge, InvalidText, TextTooLong
from anonymize.text.language import resolve_language
from anonymize.text.nlp.chinese_engine import ChineseNlpEngine
from anonymize.text.nlp.english import EnglishNlpEngine
from anonymize.text.nlp.multilingual import MultilingualNlpEngine
from anonymize.text.nlp.segmenter import JiebaDictionary, NameAwareSegmenter
from anonymize.text.normalize import Normalized, normalize_for_detection
from anonymize.text.offline import require_spacy_model
from anonymize.text.operators import (
    OPERATORS,
    TextOperator,
    Tokenizer,
    operator_config,
    operator_configs,
    parse_operator,
)
from anonymize.text.overlaps import resolve
from anonymize.text.person_en import lone_word, trim_person
from anonymize.text.recognizers import build_registry
from anonymize.text.recognizers.base import REASON_KEY, after_reference_label, is_bounded
from fieldtypes import default_registry

MAX_TEXT_CHARS = 100_000
# A batch holds the English model's lock while it runs: bounded so that one request cannot
# keep the others waiting for long (about seconds at the English path's rate).
MAX_BATCH_TEXTS = 500
MAX_BATCH_CHARS = 1_000_000
BATCH_SIZE = 64  # English texts per nlp.pipe batch in analyze_batch
# Below this a candidate is not reported: pattern-only guesses without a check
# digit or a context word (a bare E12345678, C12345678) stay under it.
DEFAULT_SCORE_THRESHOLD = 0.4
_ENTITIES = {"zh": list(CHINESE_ENTITIES), "en": list(ENGLISH_ENTITIES)}
_PRESIDIO_PATTERN_TYPES = frozenset({"PHONE_NUMBER", "CREDIT_CARD", "US_PASSPORT", "IBAN_CODE", "US_SSN"})
_NAME = default_registry().get("name")

# Presidio logs context words around matches at DEBUG, and jieba announces itself
# on stderr: neither may write text from a request to a log.
_QUIET_LOGGERS = ("presidio-analyzer", "presidio-anonymizer", "jieba")


class TextEngine:
    """Presidio's analyzer over a jieba engine (zh) and the spaCy English model (en)."""

    def __init__(self) -> None:
        """Raises :class:`~anonymize.text.errors.ModelNotInstalled` if the spaCy model is missing."""
        for name in _QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
        english = EnglishNlpEngine(require_spacy_model())
        english.load()
        self._english = english
        self._english_nlp = english.get_nlp("en")
        self._english_lock = threading.Lock()
        registry = build_registry(english)
        context_words = {w for r in registry.get_recognizers("zh", all_fields=True) for w in r.context or ()}
        chinese = ChineseNlpEngine(NameAwareSegmenter(JiebaDictionary(extra_words=sorted(context_words))))
        nlp = MultilingualNlpEngine({"en": english, "zh": chinese})
        self.analyzer = AnalyzerEngine(
            registry=registry,
            nlp_engine=nlp,
            supported_languages=["en", "zh"],
            default_score_threshold=DEFAULT_SCORE_THRESHOLD,
            context_aware_enhancer=LemmaContextAwareEnhancer(context_prefix_count=5, context_suffix_count=2),
        )
        self.anonymizer = AnonymizerEngine()
        for operator in OPERATORS:
            self.anonymizer.add_anonymizer(operator)

    def analyze(
        self, text: str, language: str = "auto", score_threshold: float | None = None
    ) -> list[Entity]:
        """Personal data in ``text``, non-overlapping, in text order.

        ``language`` is ``zh``, ``en`` or ``auto`` (see
        :func:`~anonymize.text.language.detect_language`). Raises
        :class:`~anonymize.text.errors.InvalidText`,
        :class:`~anonymize.text.errors.TextTooLong` or
        :class:`~anonymize.text.errors.UnsupportedLanguage`.
        """
        check_text(text)
        language = resolve_language(text, language)
        if not text.strip():
            return []
        threshold = DEFAULT_SCORE_THRESHOLD if score_threshold is None else score_threshold
        # Recognizers read full-width digits, zero-width characters and split numbers as
        # tokenize does; entities are reported on the caller's text.
        normalized = normalize_for_detection(text)
        seen = normalized.text
        if language == "en":
            # spaCy's vocabulary keeps every string it tokenizes unless the pipeline runs in
            # a memory zone; zones must not overlap, so English analysis is serialized.
            with self._english_lock, self._english_nlp.memory_zone():
                results = self.analyzer.analyze(
                    seen, "en", entities=_ENTITIES["en"], score_threshold=threshold
                )
        else:
            results = self.analyzer.analyze(
                seen, language, entities=_ENTITIES[language], score_threshold=threshold
            )
        return _entities(normalized, results)

    def analyze_batch(
        self, texts: Sequence[str], language: str, score_threshold: float | None = None
    ) -> list[list[Entity]]:
        """:meth:`analyze` for each of ``texts``, in order.

        English texts (``language="en"``, or ``auto`` decided English) go through spaCy
        together (``nlp.pipe``, batches of :data:`BATCH_SIZE`), which is faster than one
        call per text; Chinese texts are analyzed one by one. Raises what :meth:`analyze`
        raises, before any text is analyzed.
        """
        for text in texts:
            check_text(text)
        languages = [resolve_language(text, language) for text in texts]
        out: list[list[Entity]] = [[] for _ in texts]
        english = [i for i, chosen in enumerate(languages) if chosen == "en"]
        for i, found in zip(
            english, self._english_batch([texts[i] for i in english], score_threshold), strict=True
        ):
            out[i] = found
        for i, chosen in enumerate(languages):
            if chosen != "en":
                out[i] = self.analyze(texts[i], chosen, score_threshold)
        return out

    def _english_batch(self, texts: Sequence[str], score_threshold: float | None) -> list[list[Entity]]:
        threshold = DEFAULT_SCORE_THRESHOLD if score_threshold is None else score_threshold
        normalized = [normalize_for_detection(text) for text in texts]
        out: list[list[Entity]] = []
        if not texts:
            return out
        # The spaCy pipeline is shared by the worker's threads under one lock: it is taken
        # per chunk (BATCH_SIZE texts, at most one text's worth of characters), so a batch
        # of a million characters does not keep every other English request waiting.
        for chunk in _lock_chunks(normalized):
            with self._english_lock, self._english_nlp.memory_zone():
                batch = self._english.process_batch([n.text for n in chunk], "en", batch_size=BATCH_SIZE)
                for norm, (_, artifacts) in zip(chunk, batch, strict=True):
                    if not norm.text.strip():
                        out.append([])
                        continue
                    results = self.analyzer.analyze(
                        norm.text,
                        "en",
                        entities=_ENTITIES["en"],
                        score_threshold=threshold,
                        nlp_artifacts=artifacts,
                    )
                    out.append(_entities(norm, results))
        return out

    def anonymize(
        self, text: str, language: str, operator: str, tokenizer: Tokenizer | None = None
    ) -> tuple[str, list[Entity]]:
        """Detect personal data in ``text`` and apply ``operator`` to each value.

        ``operator`` is ``redact``, ``mask``, ``replace`` or ``tokenize`` (see
        :mod:`anonymize.text.operators`). Returns the new text and the entities
        found, with spans in the *original* text. ``tokenizer`` is required for
        ``tokenize`` and called once, with the distinct values, only if there
        are any; whatever it raises (vault or database unavailable, a value its
        field type rejects) propagates and nothing is returned.

        Raises :class:`~anonymize.text.errors.UnknownOperator`,
        :class:`~anonymize.text.errors.TokenizerFailed` (wrong number or type
        of tokens), ``TypeError`` when ``tokenize`` has no tokenizer, and what
        :meth:`analyze` raises.
        """
        chosen = _operator(operator, tokenizer)
        entities = self.analyze(text, language)
        return self._apply(text, entities, operator_config(chosen, text, entities, tokenizer)), entities

    def anonymize_batch(
        self, texts: Sequence[str], language: str, operator: str, tokenizer: Tokenizer | None = None
    ) -> list[tuple[str, list[Entity]]]:
        """:meth:`anonymize` for each of ``texts``, detected together (:meth:`analyze_batch`).

        Each text is anonymized as :meth:`anonymize` would (``replace`` numbers its
        placeholders per text), except that ``tokenize`` calls ``tokenizer`` once
        for the distinct values of all texts. At most :data:`MAX_BATCH_TEXTS` texts of
        :data:`MAX_BATCH_CHARS` characters in all (else
        :class:`~anonymize.text.errors.BatchTooLarge`); raises what :meth:`anonymize`
        raises, before any text is analyzed.
        """
        chosen = _operator(operator, tokenizer)
        check_batch(texts)
        found = self.analyze_batch(texts, language)
        configs = operator_configs(chosen, texts, found, tokenizer)
        return [
            (self._apply(text, entities, config), entities)
            for text, entities, config in zip(texts, found, configs, strict=True)
        ]

    def _apply(self, text: str, entities: list[Entity], config: OperatorConfig) -> str:
        if not entities:
            return text
        return self.anonymizer.anonymize(
            text=text,
            analyzer_results=[RecognizerResult(e.type, e.start, e.end, e.score) for e in entities],
            operators={"DEFAULT": config},
            merge_entities_with_spaces=False,
        ).text


def _operator(operator: str, tokenizer: Tokenizer | None) -> TextOperator:
    chosen = parse_operator(operator)
    if chosen is TextOperator.TOKENIZE and tokenizer is None:
        raise TypeError("operator 'tokenize' needs a tokenizer")
    return chosen


def _entities(normalized: Normalized, results: list[RecognizerResult]) -> list[Entity]:
    """Presidio's results as entities on the caller's text, filtered and without overlaps."""
    seen = normalized.text
    trimmed = [_trimmed(seen, r) for r in results]
    return resolve(
        Entity(
            FIELD_TYPES[r.entity_type],
            *normalized.span(r.start, r.end),
            round(r.score, 4),
            (r.recognition_metadata or {}).get(REASON_KEY),
        )
        for r in trimmed
        if r is not None and r.entity_type in FIELD_TYPES and _plausible(seen, r)
    )


def _trimmed(text: str, result: RecognizerResult) -> RecognizerResult | None:
    """spaCy's English PERSON cut to the name (no title, role word or trailing clause).

    A single word left is dropped: alone, without an honorific or a first name (which
    the cued-name recognizer reports), it is as often a city or a product as a surname.
    """
    if result.entity_type != "PERSON":
        return result
    span = trim_person(text, result.start, result.end)
    if span is None or lone_word(text, *span):
        return None
    result.start, result.end = span
    return result


def _plausible(text: str, result: RecognizerResult) -> bool:
    """Filters for Presidio's predefined English recognizers, which ours need not pass.

    spaCy's small model sometimes tags "Order 4922..." as a PERSON: a name must
    be acceptable to the ``name`` field type (no digits). Presidio's patterns
    use ``\\b``, so its phone recognizer finds the digits of ``T-0962...``: they
    must stand alone by our identifier boundaries, and like ours a number right
    after a reference label (Order 4274...) is not personal data.
    """
    if result.entity_type == "PERSON":
        return _NAME.is_valid(text[result.start : result.end])
    if result.entity_type in _PRESIDIO_PATTERN_TYPES:
        return is_bounded(text, result.start, result.end) and not after_reference_label(text, result.start)
    return True


def check_batch(texts: Sequence[object]) -> None:
    """Raises :class:`BatchTooLarge` past :data:`MAX_BATCH_TEXTS` texts or :data:`MAX_BATCH_CHARS` in all."""
    if len(texts) > MAX_BATCH_TEXTS:
        raise BatchTooLarge(f"at most {MAX_BATCH_TEXTS} texts per batch")
    if sum(len(text) for text in texts if isinstance(text, str)) > MAX_BATCH_CHARS:
        raise BatchTooLarge(f"at most {MAX_BATCH_CHARS} characters in all texts of a batch")


def check_text(text: object) -> None:
    """Raises :class:`InvalidText` unless ``text`` is a string, :class:`TextTooLong` past the limit."""
    if not isinstance(text, str):
        raise InvalidText()
    if len(text) > MAX_TEXT_CHARS:
        raise TextTooLong(f"text must be at most {MAX_TEXT_CHARS} characters")


_engine: TextEngine | None = None
_engine_lock = threading.Lock()


def get_engine() -> TextEngine:
    """The process's one :class:`TextEngine`, built on first call (thread-safe).

    Raises :class:`~anonymize.text.errors.ModelNotInstalled` if the spaCy model is missing.
    """
    global _engine
    if _engine is None:
        with _engine_lock:
            if _engine is None:
                _engine = TextEngine()
    return _engine


def analyze(text: str, language: str = "auto", score_threshold: float | None = None) -> list[Entity]:
    """:meth:`TextEngine.analyze` on the shared engine; raises what it raises."""
    return get_engine().analyze(text, language, score_threshold)


def analyze_batch(
    texts: Sequence[str], language: str, score_threshold: float | None = None
) -> list[list[Entity]]:
    """:meth:`TextEngine.analyze_batch` on the shared engine; raises what it raises."""
    return get_engine().analyze_batch(texts, language, score_threshold)


def anonymize(
    text: str, language: str, operator: str, tokenizer: Tokenizer | None = None
) -> tuple[str, list[Entity]]:
    """:meth:`TextEngine.anonymize` on the shared engine; raises what it raises."""
    return get_engine().anonymize(text, language, operator, tokenizer)


def anonymize_batch(
    texts: Sequence[str], language: str, operator: str, tokenizer: Tokenizer | None = None
) -> list[tuple[str, list[Entity]]]:
    """:meth:`TextEngine.anonymize_batch` on the shared engine; raises what it raises."""
    return get_engine().anonymize_batch(texts, language, operator, tokenizer)


def _lock_chunks(items: Sequence[Any]) -> list[list[Any]]:
    """``items`` (normalized texts) in runs of at most :data:`BATCH_SIZE` texts and, but for a
    single longer text, :data:`MAX_TEXT_CHARS` characters: what one hold of the lock analyzes."""
    chunks: list[list[Any]] = []
    size = 0
    for item in items:
        if not chunks or len(chunks[-1]) >= BATCH_SIZE or size + len(item.text) > MAX_TEXT_CHARS:
            chunks.append([])
            size = 0
        chunks[-1].append(item)
        size += len(item.text)
    return chunks
