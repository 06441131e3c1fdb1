"""Text normalization steps, shared by built-in and configured field types.

``NORMALIZE_STEPS`` is the fixed vocabulary a configuration may name.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

_WHITESPACE_RUN = re.compile(r"\s+")
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212\uff0d]+")
# Zero-width (non-)joiners are part of correct spelling in several scripts.
_ALLOWED_FORMAT_CHARS = frozenset("\u200c\u200d")


def nfc(value: str) -> str:
    return unicodedata.normalize("NFC", value)


def nfkc(value: str) -> str:
    """NFKC folds full-width digits and letters ("１３８", "Ｘ"), common in Chinese input."""
    return unicodedata.normalize("NFKC", value)


def collapse_whitespace(value: str) -> str:
    """Strip, and replace each inner run of whitespace (U+3000 included) by one space."""
    return _WHITESPACE_RUN.sub(" ", value).strip()


def remove_separators(value: str) -> str:
    """Remove whitespace, hyphens and dashes (not dots or slashes)."""
    return _SEPARATORS.sub("", value)


def has_control_chars(value: str, *, allow: str = "") -> bool:
    """True if ``value`` has control, invisible format or lone surrogate characters.

    Private-use and unassigned code points pass: rare Han characters in names
    live there in legacy systems (GB 18030 private use) or are newer than this
    Python's Unicode tables (CJK extensions H and I).
    """
    if value.isprintable():
        # No character of category Cc, Cf or Cs (nor Co, Cn, Zl, Zp, or a space other
        # than U+0020): nothing to flag. One C call for the common case.
        return False
    for char in value:
        if char in allow or char in _ALLOWED_FORMAT_CHARS:
            continue
        if unicodedata.category(char) in ("Cc", "Cf", "Cs"):
            return True
    return False


NORMALIZE_STEPS: dict[str, Callable[[str], str]] = {
    "strip": str.strip,
    "upper": str.upper,
    "lower": str.lower,
    "nfc": nfc,
    "nfkc": nfkc,
    "remove_separators": remove_separators,
    "collapse_whitespace": collapse_whitespace,
}


@dataclass(frozen=True)
class StepNormalizer:
    """Applies named steps of ``NORMALIZE_STEPS`` in order."""

    steps: tuple[str, ...]

    def __post_init__(self) -> None:
        unknown = [step for step in self.steps if step not in NORMALIZE_STEPS]
        if unknown:
            raise ValueError(f"unknown normalize steps: {', '.join(unknown)}")

    @classmethod
    def of(cls, steps: Sequence[str]) -> StepNormalizer:
        return cls(tuple(steps))

    def __call__(self, value: str) -> str:
        for step in self.steps:
            value = NORMALIZE_STEPS[step](value)
        return value
