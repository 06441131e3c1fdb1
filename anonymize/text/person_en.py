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
_SEPARATORS = re.compile(r"\n|\s[-–—/|]\s|[;,:()\[\]]|\.(?=\s|$)|\s{2,}")
_WORD = re.compile(r"\S+")
_NAME_WORD = re.compile(r"(?:[A-Z][a-z]+|O['’][A-Z][a-z]+|Mc[A-Z][a-z]+)(?:[-'’][A-Z][a-z]+)*")


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
