"""Chinese person names from the name-aware segmenter: (text, names expected)."""

from __future__ import annotations

import pytest

from anonymize.text import TextEngine

CASES = [
    ("客户王娟于昨日来电，反映账单有误。", ["王娟"]),
    ("今天和林辉沟通了展期事宜。", ["林辉"]),
    ("据赵兰英称，其银行卡于上周丢失。", ["赵兰英"]),
    ("高丽丽女士投诉理财经理推销不当。", ["高丽丽"]),
    ("经办人：孙志强；复核：周敏。", ["孙志强", "周敏"]),
    ("张伟、李秀英两位客户已签字。", ["张伟", "李秀英"]),
    ("司马光明先生的贷款已结清。", ["司马光明"]),
    ("收件人黄晓燕，请核对地址。", ["黄晓燕"]),
    ("我是陈静，想查一下余额。", ["陈静"]),
    ("提高额度需提供收入证明。", []),
    ("方式一：线上办理；方式二：到网点办理。", []),
    ("金额已于本周到账，余额充足。", []),
    ("白金卡客户可享受机场贵宾厅服务。", []),
    ("向客户说明风险后再办理。", []),
    ("关于安全教育的通知", []),
    ("石家庄市高新区支行", []),
    ("华夏银行与宁波银行签署合作协议", []),
    ("万元以下的转账无需审批。", []),
]


@pytest.mark.parametrize(("text", "names"), CASES)
def test_names(engine: TextEngine, text: str, names: list[str]) -> None:
    found = [text[e.start : e.end] for e in engine.analyze(text, "zh") if e.type == "name"]
    assert found == names


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("投保人已签字，申请人赵丽华随后到场", ["赵丽华"]),  # role words, then a cue
        ("客户曾表示愿意还款", []),  # 曾 + a verb: the adverb
        ("款项向本行汇入", []),  # 向 without a cue: the preposition
        ("联系人周敏住在附近", ["周敏"]),  # a verb after the name ends it
    ],
)
def test_surname_led_words_by_part_of_speech(engine, text, names) -> None:
    assert [text[e.start : e.end] for e in engine.analyze(text, "zh") if e.type == "name"] == names
