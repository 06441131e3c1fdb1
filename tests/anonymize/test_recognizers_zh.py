"""Chinese text: (text, expected spans). Check digits decide; lookalikes are not flagged."""

from __future__ import annotations

import pytest

from anonymize.text import TextEngine
from tests.anonymize.spans import spans

CASES = [
    # date of birth: a date right after a birth cue; a call date or a due date is not one
    ("客户出生日期1986年7月9日，职业教师", [("date_of_birth", "1986年7月9日")]),
    ("生日：19920215；已核实", [("date_of_birth", "19920215")]),
    ("于2024年3月5日来电，约定2024-04-01前还款", []),
    # resident ID: GB 11643 check character decides
    ("客户身份证号11010519491231002X已核实", [("cn_resident_id", "11010519491231002X")]),
    ("证件号码：11010519491231002x。", [("cn_resident_id", "11010519491231002x")]),
    ("身份证 110105 19491231 002X 复印件已收", [("cn_resident_id", "110105 19491231 002X")]),
    # a valid ID that also passes Luhn is an ID, not a card
    ("身份证110105199003070068，请核对", [("cn_resident_id", "110105199003070068")]),
    # wrong check digit, plausible region and birth date: a mistyped ID (reason: check digit fails)
    ("身份证号110105194912310021有误", [("cn_resident_id", "110105194912310021")]),
    # ... that passes Luhn: still an ID, not a card
    ("身份证110105199003070001校验失败", [("cn_resident_id", "110105199003070001")]),
    ("编号991105194912310028", []),  # not a province code
    ("身份证号110105204912310024", []),  # birth date in the future
    # mobile
    ("手机13812345678联系", [("cn_mobile", "13812345678")]),
    (
        "请拨打+86 138-1234-5678或0086 13912345678",
        [("cn_mobile", "+86 138-1234-5678"), ("cn_mobile", "0086 13912345678")],
    ),
    (
        "电话(+86)15012345678，备用138 1234 5678",
        [("cn_mobile", "(+86)15012345678"), ("cn_mobile", "138 1234 5678")],
    ),
    ("号码12345678901无效", []),  # 12x is not a mobile block
    ("号码19412345678未分配", [("cn_mobile", "19412345678")]),  # 194 unallocated, but a context word
    ("余额19412345678", []),  # unallocated and no context word
    ("余额13812345678.00元", []),  # an amount
    ("订单号13812345678已发货", []),
    # landline
    ("办公电话010-62345678转分机", [("cn_landline", "010-62345678")]),
    (
        "座机(0571) 8765 4321，传真0755-2345678",
        [("cn_landline", "(0571) 8765 4321"), ("cn_landline", "0755-2345678")],
    ),
    ("固话01062345678", [("cn_landline", "01062345678")]),
    ("编码01062345678", []),  # bare digits without context
    # bank card: Luhn decides, UnionPay 62 included
    ("卡号6222021234567890128挂失", [("bank_card", "6222021234567890128")]),
    ("尾号为6228 4801 2345 6789的借记卡", [("bank_card", "6228 4801 2345 6789")]),
    ("信用卡4111111111111111已冻结", [("bank_card", "4111111111111111")]),
    ("卡号6222021234567890123无效", [("bank_card", "6222021234567890123")]),  # Luhn fails after 卡号
    ("备注6222021234567890123", []),  # Luhn fails, no card word
    ("订单号6222021234567890128扣款失败", []),  # Luhn holds, but it is an order number
    ("流水号：6228480123456789", []),
    ("交易编号TXN6222021234567890128", []),
    ("交易ID T-6228480123456789 已撤销", []),
    ("订单号202401051234567890", []),
    ("批量号1234567890123456789", []),  # starts with 1: no card issuer
    # unified social credit code: GB 32100 decides
    ("统一社会信用代码91350100M000100Y43", [("cn_uscc", "91350100M000100Y43")]),
    ("营业执照91350100M000100Y44", []),  # wrong check character
    # vehicle plates: ordinary, new-energy (small and large), with a dot, a trailer
    ("车牌苏E9K213违章未处理", [("cn_vehicle_plate", "苏E9K213")]),
    ("客户驾驶湘AF20518在停车场", [("cn_vehicle_plate", "湘AF20518")]),
    ("号牌：渝B·72603D，行驶证已核", [("cn_vehicle_plate", "渝B·72603D")]),
    ("货车冀F5732挂进场", [("cn_vehicle_plate", "冀F5732挂")]),
    ("型号京AXKPQ7已停产", []),  # three letters or more in the serial: a product code
    ("工单号粤B12345已关闭", []),  # after a reference label
    ("港A12345不是内地号牌", []),  # not a province abbreviation
    ("批次Z京A12345", []),  # an ASCII letter touches it
    # passport and Hong Kong / Macao permit: context words
    ("护照号码E12345678", [("passport", "E12345678")]),
    ("持护照G12345678出境，新护照EA1234567", [("passport", "G12345678"), ("passport", "EA1234567")]),
    ("产品编码E12345678", []),
    ("往来港澳通行证C12345678", [("cn_hk_macau_permit", "C12345678")]),
    ("港澳通行证号CA1234567", [("cn_hk_macau_permit", "CA1234567")]),
    ("型号C12345678", []),
    # e-mail, glued to Han characters
    ("邮箱zhang.wei@example.com。", [("email", "zhang.wei@example.com")]),
    ("请发送至wang_fang@163.com确认", [("email", "wang_fang@163.com")]),
    ("邮箱a@b.invalidtld", []),
    # names
    ("客户张伟来电", [("name", "张伟")]),
    ("联系人：李娜，电话已核实。", [("name", "李娜")]),
    ("王建国先生要求提高额度", [("name", "王建国")]),
    ("欧阳娜娜女士办理开户", [("name", "欧阳娜娜")]),
    # amounts, dates and ordinary words: nothing
    ("金额¥12,345.00，另付12345元，合计1,234,567.89元", []),
    ("2024-01-05、2024年1月5日、2024/01/05 14:30、20240105", []),
    ("提高额度的申请已受理，方式为线上办理。", []),
    ("余额不足，请于月底前还款。白金卡年费减免。", []),
    ("石家庄分行与高新区支行联合举办活动", []),
    ("", []),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_chinese_text(engine: TextEngine, text: str, expected: list[tuple[str, str]]) -> None:
    found = [(e.type, e.start, e.end) for e in engine.analyze(text, "zh")]
    assert found == spans(text, expected)


def test_scores_are_one_when_a_check_digit_confirms(engine: TextEngine) -> None:
    text = "身份证11010519491231002X，卡号6222021234567890128，信用代码91350100M000100Y43"
    assert [e.score for e in engine.analyze(text, "zh")] == [1.0, 1.0, 1.0]
