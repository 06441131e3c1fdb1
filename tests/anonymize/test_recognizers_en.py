"""English text: Presidio's recognizers with the spaCy model, plus the Chinese identifiers."""

from __future__ import annotations

import pytest

from anonymize.text import TextEngine
from tests.anonymize.spans import spans

CASES = [
    ("Customer John Smith called about his statement.", [("name", "John Smith")]),
    ("Please email john.smith@example.com for details.", [("email", "john.smith@example.com")]),
    ("Card 4111 1111 1111 1111 was blocked.", [("bank_card", "4111 1111 1111 1111")]),
    ("His PRC ID is 11010519491231002X.", [("cn_resident_id", "11010519491231002X")]),
    ("Call him on +86 138 1234 5678 tomorrow.", [("cn_mobile", "+86 138 1234 5678")]),
    ("She showed passport E12345678 at the counter.", [("passport", "E12345678")]),
    ("Order 6222021234567890128 shipped on 2024-01-05 for $12,345.00.", []),
    ("Transaction TXN-4111111111111111 was reversed.", []),
    ("The branch opens at 9:30 on Monday.", []),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_english_text(engine: TextEngine, text: str, expected: list[tuple[str, str]]) -> None:
    found = [(e.type, e.start, e.end) for e in engine.analyze(text, "en")]
    assert found == spans(text, expected)
