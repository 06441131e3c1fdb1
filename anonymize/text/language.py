"""Which analyzer a text goes to: ``zh``, ``en``, or ``auto`` decided by the share of Han characters."""

from __future__ import annotations

import re

from piivault.errors import ValidationFailed

LANGUAGES = ("zh", "en")
AUTO = "auto"

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z]+")


class UnsupportedLanguage(ValidationFailed):
    """language must be zh, en or auto."""

    code = "unsupported_language"


def detect_language(text: str) -> str:
    """``zh`` when Han characters are at least half of Han characters plus Latin words.

    A Han character carries about as much as a Latin word, so the two are
    counted alike: "客户张伟的邮箱是zhangwei@example.com" is Chinese (8 Han
    characters, 3 words), "Customer 张伟 called about his card" English. Text
    with neither (only digits) goes to ``zh``, whose recognizers cover the
    numeric identifiers and need no spaCy pass.
    """
    han = len(_HAN.findall(text))
    words = len(_LATIN_WORD.findall(text))
    return "zh" if han >= words else "en"


def resolve_language(text: str, language: str) -> str:
    """``language`` itself, or the detected one for ``auto``.

    Raises :class:`UnsupportedLanguage` for anything else.
    """
    if language == AUTO:
        return detect_language(text)
    if language not in LANGUAGES:
        raise UnsupportedLanguage()
    return language
