"""PII in free text (CRM notes, complaints): detection and anonymization, Chinese and English.

Presidio's analyzer with recognizers for Chinese identifiers (checksums
decide), a name-aware jieba segmenter for Chinese person names and the spaCy
English model for English; Presidio's anonymizer with piivault's operators.
Flask-free: the API and the CLI call :func:`analyze` and :func:`anonymize`.

    >>> text, entities = anonymize("客户张伟，手机13812345678", "auto", "replace")
    >>> text
    '客户<PERSON_1>，手机<CN_MOBILE_1>'

The engine is built on first use (a few seconds); call :func:`get_engine` at
start-up to pay that before the first request. Nothing is downloaded.
"""

from anonymize.text.engine import (
    MAX_BATCH_CHARS,
    MAX_BATCH_TEXTS,
    MAX_TEXT_CHARS,
    TextEngine,
    analyze,
    analyze_batch,
    anonymize,
    anonymize_batch,
    get_engine,
)
from anonymize.text.entities import Entity
from anonymize.text.errors import (
    BatchTooLarge,
    InvalidText,
    ModelNotInstalled,
    TextTooLong,
    TokenizerFailed,
    UnknownOperator,
    UnsupportedLanguage,
)
from anonymize.text.language import detect_language
from anonymize.text.operators import TextOperator, Tokenizer

__all__ = [
    "analyze_batch",
    "anonymize_batch",
    "BatchTooLarge",
    "MAX_BATCH_CHARS",
    "MAX_BATCH_TEXTS",
    "MAX_TEXT_CHARS",
    "Entity",
    "InvalidText",
    "ModelNotInstalled",
    "TextEngine",
    "TextOperator",
    "TextTooLong",
    "Tokenizer",
    "TokenizerFailed",
    "UnknownOperator",
    "UnsupportedLanguage",
    "analyze",
    "anonymize",
    "detect_language",
    "get_engine",
]
