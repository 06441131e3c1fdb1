"""Detection sees through full-width digits, zero-width characters and split numbers (issue 18)."""

from __future__ import annotations

import pytest

from anonymize.text import TextEngine
from anonymize.text.normalize import normalize_for_detection
from tests.anonymize.spans import spans

CASES = [
    ("手机１３９１２３４５６７８请回电", [("cn_mobile", "１３９１２３４５６７８")]),
    (
        "身份证号１１０１０５１９４９１２３１００２Ｘ",
        [("cn_resident_id", "１１０１０５１９４９１２３１００２Ｘ")],
    ),
    ("联系电话139\u200b1234\u200b5678", [("cn_mobile", "139\u200b1234\u200b5678")]),
    ("卡号6222\u200c0212\u200c3456\u200c7890128", [("bank_card", "6222\u200c0212\u200c3456\u200c7890128")]),
    ("手机 1391 234 5678 请回电", [("cn_mobile", "1391 234 5678")]),  # odd grouping
    ("身份证 11010-519491231-002X", [("cn_resident_id", "11010-519491231-002X")]),
    ("Call +86 １３９ １２３４ ５６７８ tomorrow", [("cn_mobile", "+86 １３９ １２３４ ５６７８")]),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_spans_are_in_the_original_text(engine: TextEngine, text: str, expected) -> None:
    found = [(e.type, e.start, e.end) for e in engine.analyze(text)]
    assert found == spans(text, expected)


def test_numbers_side_by_side_are_not_joined() -> None:
    # 13912345678 and 2024 would join into a 15-digit run that is nothing: left alone.
    text = "13912345678 2024 年"
    assert normalize_for_detection(text).text == text


def test_unchanged_text_has_no_map() -> None:
    normalized = normalize_for_detection("客户张伟，手机13912345678，（备注：无）")
    assert normalized.origin is None and normalized.span(3, 5) == (3, 5)


def test_full_width_punctuation_stays() -> None:
    assert normalize_for_detection("电话：１３９，（无）").text == "电话：139，（无）"


def test_masked_and_tokenized_values_are_the_clean_value(engine: TextEngine) -> None:
    text = "手机139\u200b1234\u200b5678"
    masked, _ = engine.anonymize(text, "zh", "mask")
    assert masked == "手机139****5678"
    seen: list[tuple[str, str]] = []

    def tokenizer(items: list[tuple[str, str]]) -> list[str]:
        seen.extend(items)
        return ["tok_x" for _ in items]

    tokenized, _ = engine.anonymize("身份证１１０１０５１９４９１２３１００２Ｘ", "zh", "tokenize", tokenizer)
    assert tokenized == "身份证tok_x" and seen == [("cn_resident_id", "１１０１０５１９４９１２３１００２Ｘ")]
