"""A failed check lowers confidence, it does not make a value safe (issue 18)."""

from __future__ import annotations

from anonymize.text import TextEngine
from anonymize.text.engine import DEFAULT_SCORE_THRESHOLD


def _only(engine: TextEngine, text: str):
    (entity,) = engine.analyze(text, "zh")
    return entity


def test_mistyped_resident_id_is_reported_with_its_reason_and_a_lower_score(engine: TextEngine) -> None:
    bare = _only(engine, "客户核对了110105194912310025这个号")
    assert (bare.type, bare.reason) == ("cn_resident_id", "check digit fails")
    assert DEFAULT_SCORE_THRESHOLD <= bare.score < 1.0
    labelled = _only(engine, "身份证号110105194912310025")
    assert bare.score < labelled.score < 1.0
    assert labelled.to_dict()["reason"] == "check digit fails"


def test_a_valid_id_has_no_reason(engine: TextEngine) -> None:
    entity = _only(engine, "身份证号11010519491231002X")
    assert entity.score == 1.0 and entity.reason is None and "reason" not in entity.to_dict()


def test_mistyped_id_is_anonymized(engine: TextEngine) -> None:
    text, _ = engine.anonymize("身份证号110105194912310025，已登记", "zh", "redact")
    assert "110105194912310025" not in text


def test_implausible_birth_date_is_not_an_id(engine: TextEngine) -> None:
    assert engine.analyze("参考110105194913310025", "zh") == []  # month 13


def test_card_failing_luhn_needs_a_card_word(engine: TextEngine) -> None:
    assert engine.analyze("附言6222021234567890123", "zh") == []
    entity = _only(engine, "信用卡号6222021234567890123")
    assert (entity.type, entity.reason) == ("bank_card", "Luhn check fails")
    masked, _ = engine.anonymize("信用卡号6222021234567890123", "zh", "mask")
    assert "6222021234567890123" not in masked


def test_unallocated_mobile_block_needs_a_context_word(engine: TextEngine) -> None:
    assert engine.analyze("金额19412345678", "zh") == []
    for text in ("手机19412345678", "联系方式：19412345678", "电话 194-1234-5678"):
        entity = _only(engine, text)
        assert (entity.type, entity.reason) == ("cn_mobile", "unallocated prefix")
        assert entity.score >= DEFAULT_SCORE_THRESHOLD
