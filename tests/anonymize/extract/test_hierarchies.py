"""Generalization tables: what a class holding some values of a column releases, and its NCP."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from anonymize.extract import (
    AgeBands,
    BirthYear,
    Categories,
    Gender,
    Hierarchy,
    IncomeBands,
    Intervals,
    Region,
    Release,
    Suppress,
)
from anonymize.extract.hierarchy import MISSING
from anonymize.extract.regions import PROVINCES, city_label, greater_region, province_name
from fieldtypes.builtin.resident_id import PROVINCE_CODES

OCCUPATIONS = Categories(
    mapping=(("专业技术", ("教师", "工程师", "医生")), ("生产运输", ("工人", "司机"))),
)
ADDR = ["浙江省杭州市西湖区文三路1号", "浙江省宁波市海曙区中山路2号", "江苏省南京市玄武区3号"]
IDS = ["11010519491231002X", "110105194912310037", "330102850101001"]
DOMAIN_OF = {
    "age": [18, 23, 31, 37, 44, 52, 67],
    "income": [0, 2500, 4000, 7000, 9000, 12000, 60000, 250000],
    "ids": ["330102", "330205", "320101", "320501", "110101", "440301", "510101", "650101", "810000"],
    "occupations": ["教师", "工程师", "医生", "工人", "司机", "农民"],
    "addresses": ADDR,
    "resident_ids": IDS,
}


def release(hierarchy: Hierarchy, domain_values: list[Any], held: list[Any]) -> tuple[str, float]:
    """What a class holding ``held`` (a subset of ``domain_values``) releases, and its NCP."""
    fitted = hierarchy.fit(pd.Series(domain_values, dtype=object))
    held_codes = fitted.codes[[domain_values.index(v) for v in held]].astype(np.int64)
    part = np.zeros(held_codes.size, dtype=np.int64)
    lo, hi = np.array([held_codes.min()]), np.array([held_codes.max()])
    label = fitted.domain.release(held_codes, part, 1, lo, hi)[0]
    ncp = float(fitted.domain.penalty(held_codes, part, 1, lo, hi)[0])
    return label, ncp


@pytest.mark.parametrize(
    ("hierarchy", "domain", "held", "label", "ncp"),
    [
        # Ages in bands of 10 (domain 10..69 -> extent 59).
        (AgeBands(10), "age", [31], "30-39", 9 / 59),
        (AgeBands(10), "age", [31, 37], "30-39", 9 / 59),
        (AgeBands(10), "age", [31, 44], "30-49", 19 / 59),
        (AgeBands(10), "age", [18, 67], "10-69", 1.0),
        (AgeBands(1), "age", [31], "31", 0.0),
        (AgeBands(1), "age", [23, 37], "23-37", 14 / 49),
        # Income bands: open below 0 and above 100000, measured to the data's own ends.
        (IncomeBands(), "income", [4000], "[3000, 5000)", 2000 / 250000),
        (IncomeBands(), "income", [7000, 9000], "[5000, 10000)", 5000 / 250000),
        (IncomeBands(), "income", [12000, 250000], "[10000, +∞)", 240000 / 250000),
        (IncomeBands(edges=(5000,)), "income", [0, 250000], "*", 1.0),
        (IncomeBands(edges=(5000,)), "income", [0], "(-∞, 5000)", 5000 / 250000),
        (Intervals(width=5000), "income", [7000, 9000], "[5000, 10000)", 5000 / 255000),
        (Intervals(edges=(18, 30, 60), integer=True), "age", [18, 23], "18-29", 11 / 49),
        (Intervals(edges=(18, 30, 60), integer=True), "age", [67], "≥60", 7 / 49),
        (Intervals(edges=(30, 60), integer=True), "age", [18, 23], "≤29", 11 / 49),
        # Regions: city -> province -> greater region -> *; a class spanning part of a
        # node's children releases those children.
        (Region(source="admin_code"), "ids", ["330102"], "浙江省 3301", 0.0),
        (Region(source="admin_code"), "ids", ["330102", "330205"], "浙江省", 2 / 9),
        (Region(source="admin_code"), "ids", ["320101", "330205"], "华东", 4 / 9),
        (Region(source="admin_code"), "ids", ["320101", "320501"], "江苏省", 2 / 9),
        (Region(source="admin_code"), "ids", ["110101", "320101"], "华北/华东", 5 / 9),
        (Region(source="admin_code"), "ids", ["110101", "810000"], "*", 1.0),
        (Region(source="admin_code", level="province"), "ids", ["330102", "330205"], "浙江省", 0.0),
        (Region(source="admin_code", level="province"), "ids", ["320101", "330205"], "华东", 2 / 7),
        (
            Region(source="admin_code", release=Release.VALUES),
            "ids",
            ["320101", "330205"],
            "江苏省 3201/浙江省 3302",
            2 / 9,
        ),
        (
            Region(source="admin_code", release=Release.VALUES),
            "ids",
            ["330102", "330205", "110101"],
            "北京市 1101/浙江省",
            3 / 9,
        ),
        # Occupations: value -> category -> *; values not in the mapping under 其他.
        (OCCUPATIONS, "occupations", ["医生"], "医生", 0.0),
        (OCCUPATIONS, "occupations", ["教师", "工程师"], "教师/工程师", 2 / 6),
        (OCCUPATIONS, "occupations", ["教师", "医生"], "专业技术", 3 / 6),
        (OCCUPATIONS, "occupations", ["工人", "农民"], "生产运输/其他", 3 / 6),
        (OCCUPATIONS, "occupations", ["教师", "农民"], "*", 1.0),
        # Addresses: the province and city they open with, nothing after.
        (Region(source="address"), "addresses", [ADDR[0]], "浙江省 杭州市", 0.0),
        (Region(source="address"), "addresses", ADDR[:2], "浙江省", 2 / 3),
        (Region(source="address", level="province"), "addresses", ADDR[1:2], "浙江省", 0.0),
        (Region(source="address", level="province"), "addresses", ADDR[1:], "华东", 1.0),
        # Gender from a resident ID's 17th digit (the 15th of an old 15-digit number).
        (Gender(), "resident_ids", IDS[:1], "女", 0.0),
        (Gender(), "resident_ids", IDS[1:], "男", 0.0),
        (Gender(), "resident_ids", IDS[:2], "*", 1.0),
        # Suppression: the value, or * for any two.
        (Suppress(), "occupations", ["工人"], "工人", 0.0),
        (Suppress(), "occupations", ["工人", "司机"], "*", 1.0),
    ],
)
def test_generalization_table(
    hierarchy: Hierarchy, domain: str, held: list[Any], label: str, ncp: float
) -> None:
    assert release(hierarchy, DOMAIN_OF[domain], held) == (label, pytest.approx(ncp))


def test_children_are_listed_up_to_five_then_given_as_a_span() -> None:
    values = [f"o{i}" for i in range(8)]
    hierarchy = Categories(mapping=(("all", tuple(values)),), other=None)
    assert release(hierarchy, values, values[:5])[0] == "o0/o1/o2/o3/o4"
    assert release(hierarchy, values, values[:7])[0] == "o0~o6"
    assert release(hierarchy, values, values)[0] == "all"


@pytest.mark.parametrize(
    ("hierarchy", "values", "expected"),
    [
        (AgeBands(10), [25, None, "abc", -1, 151, "42"], [0, MISSING, MISSING, MISSING, MISSING, 1]),
        (
            BirthYear(),
            ["1985-03-02", "19900101", pd.Timestamp("1970-01-01"), "85-01-01", None],
            [1, 2, 0, MISSING, MISSING],
        ),
        (
            Region(),
            ["330102199001011234", " 110101199001011234", "990000199001011234", "3301", None, "abcdef"],
            [1, 0, MISSING, MISSING, MISSING, MISSING],
        ),
        (OCCUPATIONS, ["教师", "宇航员", None], [0, 1, MISSING]),
        (Categories(mapping=(("a", ("教师",)),), other=None), ["教师", "宇航员"], [0, MISSING]),
        (Intervals(width=10), [5, float("nan"), float("inf"), "7"], [0, MISSING, MISSING, 0]),
        (
            Region(source="address", level="province"),
            ["北京市朝阳区建国路", "杭州市西湖区", "广西南宁市青秀区", None],
            [0, MISSING, 1, MISSING],
        ),
        (  # no city after the province, or a "city" that holds a district: not placed at city level
            Region(source="address"),
            ["浙江省杭州市文三路", "浙江杭州西湖", "浙江省杭州西湖区农贸市场", "北京市朝阳区"],
            [1, MISSING, MISSING, 0],
        ),
        (
            Gender(),
            ["11010519491231002X", "男", "女", "1101051949", "11010519491231003", None],
            [1, 0, 1, MISSING, MISSING, MISSING],
        ),
    ],
)
def test_values_a_hierarchy_cannot_place_are_missing(
    hierarchy: Hierarchy, values: list[Any], expected: list[int]
) -> None:
    assert hierarchy.fit(pd.Series(values, dtype=object)).codes.tolist() == expected


def test_birth_dates_release_years_and_year_bands() -> None:
    dates = ["1985-03-02", "1987-12-31", "1992-01-01"]
    assert release(BirthYear(), dates, dates[:1]) == ("1985", 0.0)
    assert release(BirthYear(), dates, dates[:2]) == ("1985-1987", pytest.approx(2 / 7))
    assert release(BirthYear(width=10), dates, dates[:2])[0] == "1980-1989"


def test_the_province_table_covers_every_code_a_resident_id_may_start_with() -> None:
    assert {int(code) for code in PROVINCES} == set(PROVINCE_CODES)
    assert province_name("33") == "浙江省" and province_name("44") == "广东省" and province_name("99") is None
    assert [greater_region(c) for c in ("11", "21", "33", "44", "51", "65", "81")] == [
        "华北", "东北", "华东", "中南", "西南", "西北", "港澳台",
    ]  # fmt: skip
    assert city_label("3301") == "浙江省 3301"


def test_a_column_with_no_usable_value_has_no_domain() -> None:
    fitted = AgeBands().fit(pd.Series([None, "x"], dtype=object))
    assert fitted.domain is None and fitted.codes.tolist() == [MISSING, MISSING]
