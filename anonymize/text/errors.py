"""Errors of the free-text service. Messages are fixed texts: never a value from the text."""

from __future__ import annotations

from anonymize.text.language import UnsupportedLanguage
from anonymize.text.offline import ModelNotInstalled
from piivault.errors import PiivaultError, ValidationFailed


class TextTooLong(ValidationFailed):
    """text is longer than the service accepts in one request."""

    code = "text_too_long"
    http_status = 413


class BatchTooLarge(ValidationFailed):
    """Too many texts, or too many characters in all, for one batch."""

    code = "batch_too_large"
    http_status = 413


class InvalidText(ValidationFailed):
    """text must be a string."""

    code = "invalid_text"


class UnknownOperator(ValidationFailed):
    """operator must be redact, mask, replace or tokenize."""

    code = "unknown_operator"


class TokenizerFailed(PiivaultError):
    """The tokenizer did not return one token (a string) per value."""

    code = "tokenizer_failed"
    http_status = 500


__all__ = [
    "BatchTooLarge",
    "InvalidText",
    "ModelNotInstalled",
    "TextTooLong",
    "TokenizerFailed",
    "UnknownOperator",
    "UnsupportedLanguage",
]
