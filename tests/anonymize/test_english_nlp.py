"""The English engine skips spaCy's NER on texts where no PERSON span could survive the trimming."""

from __future__ import annotations

import random

import pytest

from anonymize.text import TextEngine
from anonymize.text.person_en import lone_word, may_hold_name, trim_person

_CAPITALIZED = ["John", "Smith", "Mary", "O'Brien", "McRae", "Anne-Marie", "Patel", "Called", "Leeds", "Card"]
_LOWER = ["called", "about", "the", "card", "blocked", "paid", "on", "and", "spoke", "to", "de", "van"]
_SEPARATORS = [", ", "; ", ". ", "\n", " - ", " / ", "  ", ": ", " (", ") "]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Spoke to John Smith about the card.", True),
        ("spoke to Anne de Vries today", True),
        ("called O'Brien McRae back", True),
        ("card blocked, customer called back at 10:30.", False),
        ("Smith, John", False),
        ("Mr. Smith called; Leeds branch", False),
        ("JOHN SMITH called", False),
        ("", False),
    ],
)
def test_may_hold_name(text: str, expected: bool) -> None:
    assert may_hold_name(text) is expected


def _corpus() -> list[str]:
    """Clauses of one capitalized word among lower-case ones, and some of two, joined by separators."""
    rng = random.Random(20261206)
    texts = []
    for _ in range(400):
        clauses = []
        for _ in range(rng.randint(1, 5)):
            words = rng.sample(_LOWER, rng.randint(0, 3))
            for _ in range(1 if rng.random() < 0.8 else 2):
                words.insert(rng.randint(0, len(words)), rng.choice(_CAPITALIZED))
            clauses.append(" ".join(words))
        texts.append("".join(c + rng.choice(_SEPARATORS) for c in clauses).strip())
    return texts


def test_no_person_spacy_finds_where_it_is_skipped_would_be_kept(engine: TextEngine) -> None:
    """The full model's PERSON spans in the texts skipped are all dropped by the trimming."""
    nlp = engine._english_nlp
    skipped = [text for text in _corpus() if not may_hold_name(text)]
    people = 0
    for text in skipped:
        for ent in nlp(text).ents:
            if ent.label_ == "PERSON":
                people += 1
                span = trim_person(text, ent.start_char, ent.end_char)
                assert span is None or lone_word(text, *span), (text, ent.text)
    assert len(skipped) > 100 and people > 20  # the corpus exercises what is skipped


def test_skipped_texts_are_tokenized_without_entities(engine: TextEngine) -> None:
    english = engine._english
    texts = ["Spoke to John Smith about the card.", "Smith, John", "card blocked; called back"]
    batch = [artifacts for _, artifacts in english.process_batch(texts, "en", batch_size=2)]
    for text, artifacts in zip(texts, batch, strict=True):
        alone = english.process_text(text, "en")
        full = engine._english_nlp(text)
        assert [t.text for t in artifacts.tokens] == [t.text for t in alone.tokens] == [t.text for t in full]
        assert artifacts.tokens_indices == [t.idx for t in full]
        assert [e.text for e in artifacts.entities] == [e.text for e in alone.entities]
    assert [e.text for e in batch[0].entities] == ["John Smith"]
    assert batch[1].entities == batch[2].entities == []
