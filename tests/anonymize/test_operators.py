"""redact, mask, replace (stable pseudonyms) and tokenize (one call to the caller's tokenizer)."""

from __future__ import annotations

import pytest

from anonymize.text import TextEngine, TokenizerFailed, UnknownOperator

TEXT = "客户张伟（身份证11010519491231002X）来电，手机+86 138-1234-5678，又称13812345678。联系人：李娜女士。"


def test_redact_removes_values(engine: TextEngine) -> None:
    text, entities = engine.anonymize(TEXT, "zh", "redact")
    assert text == "客户（身份证）来电，手机，又称。联系人：女士。"
    assert [e.type for e in entities] == ["name", "cn_resident_id", "cn_mobile", "cn_mobile", "name"]


def test_mask_uses_the_field_type_masks(engine: TextEngine) -> None:
    text, _ = engine.anonymize(TEXT, "zh", "mask")
    assert (
        text == "客户张*（身份证110***********002X）来电，手机138****5678，又称138****5678。联系人：李*女士。"
    )


def test_mask_falls_back_for_types_without_a_field_type(engine: TextEngine) -> None:
    text, _ = engine.anonymize("办公电话010-62345678", "zh", "mask")
    assert text == "办公电话010-******78"


def test_replace_gives_the_same_placeholder_to_the_same_value(engine: TextEngine) -> None:
    text, _ = engine.anonymize(TEXT + "张伟已签字。", "zh", "replace")
    assert text == (
        "客户<PERSON_1>（身份证<CN_RESIDENT_ID_1>）来电，手机<CN_MOBILE_1>，又称<CN_MOBILE_1>。"
        "联系人：<PERSON_2>女士。<PERSON_1>已签字。"
    )


def test_replace_starts_again_in_every_request(engine: TextEngine) -> None:
    first, _ = engine.anonymize("联系人：李娜", "zh", "replace")
    second, _ = engine.anonymize("联系人：李娜", "zh", "replace")
    assert first == second == "联系人：<PERSON_1>"


def test_entities_keep_their_spans_in_the_original_text(engine: TextEngine) -> None:
    _, entities = engine.anonymize(TEXT, "zh", "replace")
    assert TEXT[entities[1].start : entities[1].end] == "11010519491231002X"


def test_tokenize_calls_the_tokenizer_once_with_distinct_values(engine: TextEngine) -> None:
    calls = []

    def tokenizer(items: list[tuple[str, str]]) -> list[str]:
        calls.append(items)
        return [f"tok{i}" for i in range(len(items))]

    text, _ = engine.anonymize(TEXT, "zh", "tokenize", tokenizer=tokenizer)
    assert calls == [
        [
            ("name", "张伟"),
            ("cn_resident_id", "11010519491231002X"),
            ("cn_mobile", "+86 138-1234-5678"),
            ("name", "李娜"),
        ]
    ]
    assert text == "客户tok0（身份证tok1）来电，手机tok2，又称tok2。联系人：tok3女士。"


def test_tokenize_without_pii_does_not_call_the_tokenizer(engine: TextEngine) -> None:
    def tokenizer(items: list[tuple[str, str]]) -> list[str]:
        raise AssertionError("not called")

    assert engine.anonymize("没有个人信息", "zh", "tokenize", tokenizer=tokenizer) == ("没有个人信息", [])


def test_tokenizer_errors_propagate(engine: TextEngine) -> None:
    class VaultDown(Exception):
        pass

    def tokenizer(items: list[tuple[str, str]]) -> list[str]:
        raise VaultDown

    with pytest.raises(VaultDown):
        engine.anonymize(TEXT, "zh", "tokenize", tokenizer=tokenizer)


@pytest.mark.parametrize("tokens", [["only-one"], [1, 2, 3, 4]])
def test_a_tokenizer_returning_the_wrong_tokens_fails(engine: TextEngine, tokens: list[object]) -> None:
    with pytest.raises(TokenizerFailed):
        engine.anonymize(TEXT, "zh", "tokenize", tokenizer=lambda items: tokens)


def test_tokenize_needs_a_tokenizer(engine: TextEngine) -> None:
    with pytest.raises(TypeError):
        engine.anonymize(TEXT, "zh", "tokenize")


@pytest.mark.parametrize("operator", ["encrypt", "hash", "", "REDACT"])
def test_unknown_operators_are_refused(engine: TextEngine, operator: str) -> None:
    with pytest.raises(UnknownOperator):
        engine.anonymize(TEXT, "zh", operator)


def test_english_replace(engine: TextEngine) -> None:
    text, _ = engine.anonymize("Customer John Smith, email john@example.com.", "auto", "replace")
    assert text == "Customer <PERSON_1>, email <EMAIL_1>."
