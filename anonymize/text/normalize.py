"""Text as the recognizers see it: full-width, zero-width and split numbers undone, spans mapped back.

People paste identifiers from forms and chats in shapes the recognizers'
patterns do not expect, and tokenize accepts them all (its field types apply
NFKC and drop separators). Before detection the text is normalized the same
way, character by character, keeping for every character of the new text
the index it came from:

* zero-width characters (U+200B-U+200D, U+2060, U+FEFF) and soft hyphens are
  removed: ``138\\u200b1234\\u200b5678``;
* full-width digits, Latin letters and ``＋``/``＠`` become ASCII (NFKC does
  the same): ``１３８１２３４５６７８``. Full-width punctuation (，：（）) stays: it
  is ordinary Chinese punctuation the name and label rules read as such;
* spaces and dashes inside a run of digits are dropped when the joined run
  is a valid mobile, resident ID or bank card by its field type
  (``1381 234 5678``, ``6222-0212-3456-7890-128`` in odd groups); otherwise
  the run is left alone, so two numbers side by side are not glued.

:meth:`Normalized.span` maps a span of the new text back to the original:
entities are reported, and operators applied, on the text the caller sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fieldtypes import default_registry

_INVISIBLE = frozenset("\u200b\u200c\u200d\u2060\ufeff\u00ad")
_FULL_WIDTH = {
    **{chr(code): chr(code - 0xFEE0) for code in range(0xFF10, 0xFF1A)},
    **{chr(code): chr(code - 0xFEE0) for code in range(0xFF21, 0xFF3B)},
    **{chr(code): chr(code - 0xFEE0) for code in range(0xFF41, 0xFF5B)},
    "＋": "+",
    "＠": "@",
}
_ANY = re.compile("[" + "".join(sorted(_INVISIBLE | set(_FULL_WIDTH))) + r"]|\d[ \-\u2010-\u2015\u2212]\d")
_SPLIT_NUMBER = re.compile(
    r"(?<![0-9])[0-9](?:[ \-\u2010-\u2015\u2212]?[0-9]){10,21}(?:[ \-]?[Xx])?(?![0-9])"
)
_SEPARATOR = re.compile(r"[ \-\u2010-\u2015\u2212]")
_REGISTRY = default_registry()
_JOINABLE = tuple(_REGISTRY.get(code) for code in ("cn_mobile", "cn_resident_id", "bank_card"))


@dataclass(frozen=True, slots=True)
class Normalized:
    """The normalized ``text`` and, for each of its characters, the index it came from."""

    text: str
    origin: tuple[int, ...] | None  # None: the text is unchanged

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The span of the original text that ``text[start:end]`` came from."""
        if self.origin is None or end <= start:
            return start, end
        return self.origin[start], self.origin[end - 1] + 1


def normalize_for_detection(text: str) -> Normalized:
    """``text`` as the recognizers should see it (see the module docstring)."""
    if _ANY.search(text) is None:
        return Normalized(text, None)
    chars: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        if char in _INVISIBLE:
            continue
        chars.append(_FULL_WIDTH.get(char, char))
        origin.append(index)
    joined = "".join(chars)
    keep = [True] * len(chars)
    for match in _SPLIT_NUMBER.finditer(joined):
        value = match.group()
        if _SEPARATOR.search(value) is None:
            continue
        if any(field.is_valid(value) for field in _JOINABLE):
            for offset, char in enumerate(value):
                if _SEPARATOR.fullmatch(char):
                    keep[match.start() + offset] = False
    if all(keep):
        return Normalized(joined, tuple(origin))
    return Normalized(
        "".join(c for c, k in zip(chars, keep, strict=True) if k),
        tuple(o for o, k in zip(origin, keep, strict=True) if k),
    )


def strip_invisible(value: str) -> str:
    """``value`` without the invisible characters normalization removes (for a value's field type)."""
    return "".join(char for char in value if char not in _INVISIBLE)
