"""English person spans from spaCy's NER, cut to the name: no title, role word or trailing clause.

The small English model often tags "Mrs Sarah Brown", "Applicant Lucia Hughes / SSN"
or "Anthony Nguyen - dob" as one PERSON. A name does not include its title
(Mr, Mrs, Dr...) or the role word before it (Customer, Applicant, Cust...), and
stops at a clause separator (`` - ``, `` / ``, ``;``, ``,``, a full stop, a line
break). :func:`trim_person` keeps the piece between separators with the most
name-like words (capitalized, ``O'Brien``, ``Smith-Jones``), drops titles and role
words before it and anything not name-like around it. A word followed by a number in the
same piece (``Order 8757...``) is a label, not a name.
"""

from __future__ import annotations

import re

TITLES_AND_ROLES = frozenset(
    {
        "mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "dame", "lord", "lady", "rev",
        "customer", "cust", "client", "applicant", "caller", "spouse", "guarantor", "borrower",
        "cardholder", "account holder", "holder", "member", "agent", "advisor", "adviser", "officer",
        "manager", "colleague", "staff", "beneficiary", "payee", "executor", "attorney", "son",
        "daughter", "wife", "husband", "partner", "mother", "father", "note", "call", "from", "to",
    }
)  # fmt: skip
HONORIFICS = ("mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "dame", "lady", "lord", "rev")
# Words and phrases after which a first name and a surname name a person in a note.
ROLE_CUES = (
    "customer", "cust", "client", "applicant", "joint applicant", "caller", "spouse", "guarantor",
    "borrower", "cardholder", "account holder", "beneficiary", "payee", "executor", "attorney",
    "call from", "called by", "spoke to", "spoke with", "speaking to", "speaking with", "handled by",
    "held by", "signed by", "attended by", "on behalf of", "visited by",
)  # fmt: skip
# Capitalized words after "customer" that name a function, not a person (Customer Service Team).
_NOT_NAMES = frozenset(
    {"service", "services", "support", "team", "department", "desk", "care", "centre", "center", "relations",
     "office", "account", "accounts", "card", "cards", "bank", "branch", "portal", "app"}
)  # fmt: skip
_SEPARATORS = re.compile(r"\n|\s[-–—/|]\s|[;,:()\[\]]|\.(?=\s|$)|\s{2,}")
_WORD = re.compile(r"\S+")
# Every name-like word holds one: a capital followed by a lower-case letter (Ann, O'Brien, McRae).
_CAPITAL_THEN_LOWER = re.compile(r"[A-Z][a-z]")
_NAME = r"(?:[A-Z][a-z]+|O['’][A-Z][a-z]+|Mc[A-Z][a-z]+)(?:[-'’][A-Z][a-z]+)*"
_NAME_WORD = re.compile(_NAME)
_END_OF_NAME = r"(?![\w'’-])"


def _cue(words: tuple[str, ...]) -> str:
    # A cue starts a word and is followed by spaces (or '. ' after an abbreviation); case-insensitive.
    alternatives = "|".join(
        sorted((re.escape(w).replace(r"\ ", r"\s+") for w in words), key=len, reverse=True)
    )
    return rf"(?<![\w'’-])(?i:{alternatives})"


_HONORIFIC = _cue(HONORIFICS) + r"\.?[ \t]+"
_AFTER_HONORIFIC = re.compile(_HONORIFIC + rf"(?P<name>{_NAME}(?:[ \t]{_NAME}){{0,2}}){_END_OF_NAME}")
_AFTER_ROLE = re.compile(
    _cue(ROLE_CUES) + rf"[ \t:]+(?:{_HONORIFIC})?(?P<name>{_NAME}(?:[ \t]{_NAME}){{1,2}}){_END_OF_NAME}"
)


def _name_like(word: str) -> bool:
    return _NAME_WORD.fullmatch(word) is not None and word.lower().rstrip(".") not in TITLES_AND_ROLES


def trim_person(text: str, start: int, end: int) -> tuple[int, int] | None:
    """The name inside ``text[start:end]``, or None when no name-like word is left."""
    pieces: list[tuple[int, int]] = []
    position = start
    for match in _SEPARATORS.finditer(text, start, end):
        pieces.append((position, match.start()))
        position = match.end()
    pieces.append((position, end))
    best: list[re.Match[str]] = []
    for piece_start, piece_end in pieces:
        words = list(_WORD.finditer(text, piece_start, piece_end))
        # Drop what is not name-like at both ends (titles and role words included).
        while words and not _name_like(words[0].group()):
            words.pop(0)
        while words and not _name_like(words[-1].group()):
            if any(c.isdigit() for c in words.pop().group()):
                # "Order 8757..." or "Flat 3": a label before a number, not a name.
                words = []
        if len(words) > len(best):
            best = words
    if not best:
        return None
    return best[0].start(), best[-1].end()


def may_hold_name(text: str) -> bool:
    """False when no span of ``text`` is a name :func:`trim_person` keeps and :func:`lone_word` passes.

    What survives both is two name-like words (first and last kept) with no separator between
    them inside the span; a separator of ``text`` between two words of a span is one
    :func:`trim_person` finds in the span too (separators hold no letter, so none runs into a
    word). So both words lie in one piece of ``text`` between its separators, and each holds a
    capital followed by a lower-case letter: a text none of whose pieces has two need not be
    given to spaCy's named-entity recognizer, whose PERSON spans there would all be dropped.
    """
    position = 0
    for match in _SEPARATORS.finditer(text):
        if len(_CAPITAL_THEN_LOWER.findall(text, position, match.start())) >= 2:
            return True
        position = match.end()
    return len(_CAPITAL_THEN_LOWER.findall(text, position)) >= 2


def cued_names(text: str) -> list[tuple[int, int]]:
    """Spans of the names right after an honorific or a role word or call phrase, in text order."""
    spans: set[tuple[int, int]] = set()
    for pattern in (_AFTER_HONORIFIC, _AFTER_ROLE):
        for match in pattern.finditer(text):
            span = _without_titles(text, match.start("name"), match.end("name"))
            if span is not None:
                spans.add(span)
    return sorted(spans)


def _without_titles(text: str, start: int, end: int) -> tuple[int, int] | None:
    """The span less leading and trailing title or role words (``Customer Service``: nothing left)."""
    words = list(_WORD.finditer(text, start, end))
    while words and not _name_like(words[0].group()):
        words.pop(0)
    while words and not _name_like(words[-1].group()):
        words.pop()
    if not words or any(not _name_like(w.group()) or w.group().lower() in _NOT_NAMES for w in words):
        return None
    return words[0].start(), words[-1].end()


def lone_word(text: str, start: int, end: int) -> bool:
    """``text[start:end]`` is one word."""
    return _WORD.fullmatch(text, start, end) is not None
