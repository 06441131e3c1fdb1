"""Display masks: what a person may see of a value when policy says "masked"."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MiddleMask:
    """Keeps ``keep_start`` leading and ``keep_end`` trailing characters, hides the rest.

    The output has the value's length. At least ``min_hidden`` characters are
    hidden (None: at least half, rounded up); the kept ends shrink, the end
    first, until that holds, so a short value is never shown whole.
    """

    keep_start: int
    keep_end: int
    char: str = "*"
    min_hidden: int | None = 1

    def __post_init__(self) -> None:
        if self.keep_start < 0 or self.keep_end < 0:
            raise ValueError("mask keep_start and keep_end must be >= 0")
        if len(self.char) != 1:
            raise ValueError("mask char must be a single character")
        if self.min_hidden is not None and self.min_hidden < 1:
            raise ValueError("mask min_hidden must be >= 1")

    def __call__(self, value: str) -> str:
        start, end = visible_ends(len(value), self.keep_start, self.keep_end, self.min_hidden)
        hidden = len(value) - start - end
        return value[:start] + self.char * hidden + (value[len(value) - end :] if end else "")


def visible_ends(length: int, keep_start: int, keep_end: int, min_hidden: int | None) -> tuple[int, int]:
    """Return how many leading and trailing characters may show of ``length``."""
    must_hide = (length + 1) // 2 if min_hidden is None else min(min_hidden, length)
    visible = length - must_hide
    start = min(keep_start, visible)
    end = min(keep_end, visible - start)
    return start, end
