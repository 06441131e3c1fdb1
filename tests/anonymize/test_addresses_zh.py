"""Chinese addresses: one span from the division to the room; cities and branches alone are not addresses."""

from __future__ import annotations

import pytest

from anonymize.text import TextEngine
from anonymize.text.gazetteer import gazetteer
from anonymize.text.recognizers.china.address import find_addresses
from tests.anonymize.spans import spans

ADDRESSES = [
    # division, road and number, compound, building and room
    (
        "寄送至江苏省南京市鼓楼区中山北路218号3幢1单元601室，谢谢",
        "江苏省南京市鼓楼区中山北路218号3幢1单元601室",
    ),
    # district without its city, estate between road number and building
    ("他现住雁塔区长安南路66号曲江花园7栋2单元1803室", "雁塔区长安南路66号曲江花园7栋2单元1803室"),
    # no division at all: road, number, lane
    ("住在淮海中路1200弄12号", "淮海中路1200弄12号"),
    # county, town, village, group, number
    ("户籍地四川省绵阳市三台县芦溪镇金龙村6组15号。", "四川省绵阳市三台县芦溪镇金龙村6组15号"),
    # village level without numbers
    ("老家在安徽省阜阳市临泉县杨桥镇大刘村", "安徽省阜阳市临泉县杨桥镇大刘村"),
    # 院 / 号楼 / 室, a space between components, a lettered block and a bare room number
    ("地址：北京市海淀区 学院路20号院5号楼301室", "北京市海淀区 学院路20号院5号楼301室"),
    ("收货地址深圳市南山区科技园南路9号C座1506", "深圳市南山区科技园南路9号C座1506"),
    # building and room alone
    ("快递放在5号楼1102室门口", "5号楼1102室"),
    # an estate with no suffix from the list, first in the address, before its building number
    ("邮寄到龙湖春江郦城12幢3单元801室，谢谢", "龙湖春江郦城12幢3单元801室"),
    ("快递到绿地香树丽舍B座1203", "绿地香树丽舍B座1203"),
    # the longest estate name before the building (锦绣里 inside 锦绣里小区)
    ("住址:滨江区江南大道88号锦绣里小区5栋702室", "滨江区江南大道88号锦绣里小区5栋702室"),
    # building-unit-room as one number after a road or an estate
    ("现居城南路18号翡翠湾5-2-1402，自有住房", "城南路18号翡翠湾5-2-1402"),
    ("邮寄地址 西湖区文一路77号 3-1-602。", "西湖区文一路77号 3-1-602"),
    # 第N村民小组; a county whose name begins with a stop character (于都县)
    ("户籍于都县黄麟乡石坑村第5村民小组27号", "于都县黄麟乡石坑村第5村民小组27号"),
    # a lead-in word before the address is not part of it
    ("客户现居东方丽景9栋1单元301室", "东方丽景9栋1单元301室"),
]

NOT_ADDRESSES = [
    "客户来自杭州市，在西湖边工作",
    "中国工商银行成都市支行营业部",
    "浙江省分行已审批",
    "3月15号上午来电",
    "贷款期限36个月，第2期已还",
    "他在北京路上遇到了堵车",
    "合同编号2024-03-0158已归档",
    "会议定在3号楼召开",
]


@pytest.mark.parametrize(("text", "address"), ADDRESSES)
def test_addresses_found_as_one_span(text: str, address: str) -> None:
    found = [(text[m.start : m.end]) for m in find_addresses(text)]
    assert found == [address]


@pytest.mark.parametrize("text", NOT_ADDRESSES)
def test_cities_branches_and_dates_are_not_addresses(text: str) -> None:
    assert find_addresses(text) == []


@pytest.mark.parametrize(
    ("text", "province", "city"),
    [
        ("江苏省南京市鼓楼区中山北路218号", "江苏省", "南京市"),
        ("雁塔区长安南路66号", "陕西省", "西安市"),  # a district unique in the country names its city
        ("上海市浦东新区张江路1000弄5号", "上海市", "上海市"),  # a municipality is its own city
        ("朝阳区建国路88号", None, None),  # Beijing and Changchun both have one
        ("长春市朝阳区人民大街88号", "吉林省", "长春市"),  # ... the city settles it
        ("淮海中路1200弄12号", None, None),
    ],
)
def test_generalization_levels(text: str, province: str | None, city: str | None) -> None:
    (match,) = find_addresses(text)
    assert (match.region.province, match.region.city) == (province, city)


def test_gazetteer_short_forms_only_above_district() -> None:
    places = gazetteer()
    assert places.match_at("浙江人", 0)[0] == 2
    assert places.match_at("杭州人", 0)[0] == 2
    assert places.match_at("海淀区", 0)[0] == 3
    assert places.match_at("海淀公园", 0) is None  # 海淀区 is known by its full name only


def test_engine_reports_address_field_type_and_keeps_names_out_of_it(engine: TextEngine) -> None:
    text = "联系人李桂兰，家庭住址湖南省长沙市岳麓区王家湾路17号，手机13912345678"
    found = [(e.type, e.start, e.end) for e in engine.analyze(text, "zh")]
    assert found == spans(
        text,
        [("name", "李桂兰"), ("address", "湖南省长沙市岳麓区王家湾路17号"), ("cn_mobile", "13912345678")],
    )


def test_engine_masks_an_address(engine: TextEngine) -> None:
    text = "寄到广东省广州市天河区天河路385号"
    masked, _ = engine.anonymize(text, "zh", "mask")
    assert masked == "寄到广东省广州市****"
