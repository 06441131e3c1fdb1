"""Regions from the administrative division code (GB/T 2260) that opens a resident ID number.

The first two digits name the province, the first four the prefecture-level
city; the first digit is the greater administrative region of 1949-1954
(华北, 东北, ...), which the province codes still follow. That gives the
region hierarchy city -> province -> greater region -> ``*``.

Only provinces are named: city names change with every redistricting, so a
city is released as its province and code (``浙江省 3301``).
"""

from __future__ import annotations

import re

PROVINCES: dict[str, str] = {
    "11": "北京市",
    "12": "天津市",
    "13": "河北省",
    "14": "山西省",
    "15": "内蒙古自治区",
    "21": "辽宁省",
    "22": "吉林省",
    "23": "黑龙江省",
    "31": "上海市",
    "32": "江苏省",
    "33": "浙江省",
    "34": "安徽省",
    "35": "福建省",
    "36": "江西省",
    "37": "山东省",
    "41": "河南省",
    "42": "湖北省",
    "43": "湖南省",
    "44": "广东省",
    "45": "广西壮族自治区",
    "46": "海南省",
    "50": "重庆市",
    "51": "四川省",
    "52": "贵州省",
    "53": "云南省",
    "54": "西藏自治区",
    "61": "陕西省",
    "62": "甘肃省",
    "63": "青海省",
    "64": "宁夏回族自治区",
    "65": "新疆维吾尔自治区",
    "71": "台湾省",
    "81": "香港特别行政区",
    "82": "澳门特别行政区",
    "83": "台湾居民居住证",  # residence permits of Taiwan residents (830000)
    "91": "外国人永久居留身份证",  # permanent residence IDs of foreigners (2023 format)
}

GREATER_REGIONS: dict[str, str] = {
    "1": "华北",
    "2": "东北",
    "3": "华东",
    "4": "中南",
    "5": "西南",
    "6": "西北",
    "7": "港澳台",
    "8": "港澳台",
    "9": "其他",
}


def province_name(code2: str) -> str | None:
    """The province named by the first two digits, or None if they name none."""
    return PROVINCES.get(code2)


def greater_region(code2: str) -> str:
    """The greater region of a province code (its first digit)."""
    return GREATER_REGIONS[code2[0]]


def city_label(code4: str) -> str:
    """A city as released: its province and its four-digit code (``浙江省 3301``).

    Raises :class:`KeyError` if the first two digits name no province.
    """
    return f"{PROVINCES[code4[:2]]} {code4}"


# -- addresses -------------------------------------------------------------------------------------

# Provinces an address can open with: not the two ID-only codes (83, 91).
_ADDRESS_PROVINCES = {code: name for code, name in PROVINCES.items() if code not in ("83", "91")}
_MUNICIPALITIES = frozenset({"11", "12", "31", "50", "81", "82"})
_SUFFIXES = ("特别行政区", "维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "省", "市")


def _short(name: str) -> str:
    for suffix in _SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


# Full names first, then short ones ("浙江", "广西"); the longest match wins.
_PROVINCE_PREFIX = re.compile(
    "|".join(
        sorted(
            {re.escape(n) for n in _ADDRESS_PROVINCES.values()}
            | {re.escape(_short(n)) for n in _ADDRESS_PROVINCES.values()},
            key=len,
            reverse=True,
        )
    )
)
_BY_NAME = {name: code for code, full in _ADDRESS_PROVINCES.items() for name in (full, _short(full))}
# A prefecture-level unit: a city, an autonomous prefecture, a prefecture or a league. A
# district, county, street or number inside the name means it is not one ("杭州西湖区农贸市场").
_CITY = re.compile(r"(?:(?![区县路街道号镇乡村])[\u4e00-\u9fff]){1,10}?(?:自治州|地区|盟|市)")
ADDRESS_HEAD = 32  # characters of an address its province and city can take


def address_place(address: str) -> tuple[str, str | None] | None:
    """The province code and city name an address opens with (``("33", "杭州市")``).

    A municipality is its own city (``("11", "北京市")``). None when the address does
    not open with a province; the city is None when no city follows it.
    """
    match = _PROVINCE_PREFIX.match(address)
    if match is None:
        return None
    code = _BY_NAME[match.group()]
    if code in _MUNICIPALITIES:
        return code, PROVINCES[code]
    city = _CITY.match(address, match.end())
    return code, city.group() if city is not None else None
