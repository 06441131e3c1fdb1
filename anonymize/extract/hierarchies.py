"""Generalization hierarchies of quasi-identifiers, as declared in an extract spec.

Each hierarchy maps a column to leaf codes and a fitted :class:`Domain`
(:meth:`fit`); Mondrian then merges neighbouring leaves. The leaf is the most
precise value an extract may ever release:

========================  ==============================================  ==========================
``type``                  leaves                                          ranges release
========================  ==============================================  ==========================
``age_bands``             integer bands of ``width`` years (default 10)   ``"30-39"``, ``"30-49"``
``birth_year``            year of a date or of the birth date in an       ``"1985"``, ``"1980-1989"``
                          18-digit resident ID (bands of ``width``)
``region``                city (first four digits of the resident ID or   ``"浙江省 3301"``,
                          administrative code; the city an address        ``"浙江省"``, ``"华东"``, ``"*"``
                          names) or province
``gender``                ``男``/``女`` from a resident ID's 17th digit      the gender or ``"*"``
``income_bands``          monthly income between ``edges`` (yuan)        ``"[5000, 10000)"``
``intervals``             bands of ``width`` from ``origin``, or between  ``"[0.2, 0.4)"``; ``"3-5"``
                          ``edges``; ``integer: true`` for inclusive      with ``integer``
                          integer bands
``categories``            values, grouped by ``mapping`` (category ->     the value, its category,
                          values); others under ``other``                 ``"*"``
``suppress``              values                                          the value or ``"*"``
========================  ==============================================  ==========================

``region`` and ``categories`` take ``release``: ``children`` (default) releases
the children of a class's lowest common ancestor that its range spans
(``"浙江省/江苏省"``, readable, hierarchy-aligned); ``values`` releases the set of
leaves its rows actually hold (``"江苏省 3201/浙江省 3302"``: less information
loss, as anonypy's Mondrian releases, but long labels at city level). See
:class:`~anonymize.extract.domain.TreeDomain`.

A value that a hierarchy cannot place (missing, not a number, an unknown
province code, an unmapped category when ``other`` is null) gets code -1:
its row is suppressed and counts against the spec's suppression budget.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from anonymize.extract import _checks as c
from anonymize.extract import regions
from anonymize.extract.domain import ROOT_LABEL, Domain, IntervalDomain, Release, TreeDomain

MISSING = -1
# The field types whose values some hierarchies reduce (see Hierarchy.REDUCES).
RESIDENT_ID = "cn_resident_id"
ADDRESS = "address"
_REGION_KEY = {
    digit: min(d for d, n in regions.GREATER_REGIONS.items() if n == name)
    for digit, name in regions.GREATER_REGIONS.items()
}
DEFAULT_INCOME_EDGES = (0, 3000, 5000, 8000, 10000, 15000, 20000, 30000, 50000, 100000)
DEFAULT_OTHER = "其他"


@dataclass(frozen=True)
class Fitted:
    """Leaf code of every row (:data:`MISSING` where the value cannot be placed) and the domain."""

    codes: np.ndarray
    domain: Domain | None  # None when no row has a usable value


class Hierarchy:
    type: ClassVar[str]
    # The direct identifiers (field type codes) this hierarchy reduces to a coarse fact that
    # cannot give the value back: what an extract may release of such a field type.
    REDUCES: ClassVar[frozenset[str]] = frozenset()

    def fit(self, values: pd.Series) -> Fitted:  # pragma: no cover - abstract
        raise NotImplementedError

    def reduces(self, field_type: str) -> bool:
        """Whether this hierarchy turns a value of ``field_type`` into a coarse fact only."""
        return field_type in self.REDUCES

    def to_dict(self) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError


# -- numeric bands -------------------------------------------------------------------------------


def _fmt(value: float) -> str:
    if math.isinf(value):
        return "+∞" if value > 0 else "-∞"
    return str(int(value)) if float(value).is_integer() else format(value, ".10g")


def _numbers(values: pd.Series) -> np.ndarray:
    """Values as floats; anything that is not a finite number becomes NaN."""
    out = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
    out[~np.isfinite(out)] = np.nan
    return out


def _fit_bands(
    numbers: np.ndarray,
    *,
    width: float | None,
    origin: float,
    edges: tuple[float, ...] | None,
    integer: bool,
) -> Fitted:
    ok = ~np.isnan(numbers)
    codes = np.full(numbers.size, MISSING, dtype=np.int32)
    if not ok.any():
        return Fitted(codes, None)
    present = numbers[ok]
    if edges is not None:
        cuts = np.asarray(edges, dtype=np.float64)
        band = np.searchsorted(cuts, present, side="right")
        bands, inverse = np.unique(band, return_inverse=True)
        padded = np.concatenate(([-np.inf], cuts, [np.inf]))
        lower, upper = padded[bands], padded[bands + 1]
    else:
        assert width is not None
        band = np.floor((present - origin) / width).astype(np.int64)
        bands, inverse = np.unique(band, return_inverse=True)
        lower = origin + bands * width
        upper = lower + width
    codes[ok] = inverse.astype(np.int32)
    if integer:
        # Inclusive integer bands: [30, 40) is 30..39.
        upper = np.where(np.isinf(upper), upper, np.ceil(upper) - 1)
        lower = np.where(np.isinf(lower), lower, np.ceil(lower))
    # Open-ended bands are measured up to the data they hold.
    low, high = float(present.min()), float(present.max())
    measured_lower = np.where(np.isinf(lower), low, lower)
    measured_upper = np.where(np.isinf(upper), high, upper)

    def label(lo: int, hi: int) -> str:
        a, b = float(lower[lo]), float(upper[hi])
        if math.isinf(a) and math.isinf(b):
            return ROOT_LABEL
        if integer:
            if math.isinf(a):
                return f"≤{_fmt(b)}"
            if math.isinf(b):
                return f"≥{_fmt(a)}"
            return _fmt(a) if a == b else f"{_fmt(a)}-{_fmt(b)}"
        return f"{'(' if math.isinf(a) else '['}{_fmt(a)}, {_fmt(b)})"

    return Fitted(codes, IntervalDomain(measured_lower, measured_upper, label))


def _edges(raw: Any, path: str, problems: c.Problems) -> tuple[float, ...] | None:
    if not isinstance(raw, list | tuple) or not raw:
        problems.add(path, "must be a non-empty list of numbers")
        return None
    numbers = [c.number(v, f"{path}[{i}]", problems) for i, v in enumerate(raw)]
    if any(v is None for v in numbers):
        return None
    if any(b <= a for a, b in zip(numbers, numbers[1:], strict=False)):  # type: ignore[operator]
        problems.add(path, "must be strictly increasing")
        return None
    return tuple(numbers)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Intervals(Hierarchy):
    """Bands of ``width`` starting at ``origin``, or between ``edges`` (open below and above)."""

    type: ClassVar[str] = "intervals"
    width: float | None = None
    origin: float = 0
    edges: tuple[float, ...] | None = None
    integer: bool = False

    def fit(self, values: pd.Series) -> Fitted:
        return _fit_bands(
            _numbers(values), width=self.width, origin=self.origin, edges=self.edges, integer=self.integer
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "integer": self.integer}
        if self.edges is not None:
            out["edges"] = list(self.edges)
        else:
            out.update(width=self.width, origin=self.origin)
        return out

    @classmethod
    def parse(cls, raw: Mapping[str, Any], path: str, problems: c.Problems) -> Intervals | None:
        has_width, has_edges = "width" in raw, "edges" in raw
        if has_width == has_edges:
            problems.add(path, "needs exactly one of width and edges")
            return None
        integer = c.boolean(raw.get("integer", False), c.join(path, "integer"), problems)
        if has_edges:
            if "origin" in raw:
                problems.add(c.join(path, "origin"), "only goes with width")
            edges = _edges(raw["edges"], c.join(path, "edges"), problems)
            return None if edges is None or integer is None else cls(edges=edges, integer=integer)
        width = c.number(raw["width"], c.join(path, "width"), problems, minimum=0, exclusive_minimum=True)
        origin = c.number(raw.get("origin", 0), c.join(path, "origin"), problems)
        if integer and width is not None and not float(width).is_integer():
            problems.add(c.join(path, "width"), "must be a whole number with integer: true")
            return None
        if width is None or origin is None or integer is None:
            return None
        return cls(width=width, origin=origin, integer=integer)


@dataclass(frozen=True)
class AgeBands(Hierarchy):
    """Ages in integer bands of ``width`` years: ``"30-39"``."""

    type: ClassVar[str] = "age_bands"
    width: int = 10

    def fit(self, values: pd.Series) -> Fitted:
        numbers = _numbers(values)
        numbers[(numbers < 0) | (numbers > 150)] = np.nan
        return _fit_bands(numbers, width=self.width, origin=0, edges=None, integer=True)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "width": self.width}

    @classmethod
    def parse(cls, raw: Mapping[str, Any], path: str, problems: c.Problems) -> AgeBands | None:
        width = c.integer(raw.get("width", 10), c.join(path, "width"), problems, minimum=1)
        return None if width is None else cls(width=width)


@dataclass(frozen=True)
class BirthYear(Hierarchy):
    """A birth date released as its year, or year bands.

    The date is a date, datetime, ``YYYY-MM-DD`` or ``YYYYMMDD``, or an
    18-digit resident ID number, whose digits 7-14 are the holder's birth date.
    """

    type: ClassVar[str] = "birth_year"
    REDUCES: ClassVar[frozenset[str]] = frozenset({RESIDENT_ID})
    width: int = 1

    def fit(self, values: pd.Series) -> Fitted:
        present = values.notna().to_numpy()
        years = np.full(len(values), np.nan)
        if present.any():
            text = values[present].astype(str).str.strip()
            resident_id = text.str.fullmatch(r"\d{17}[\dXx]")
            head = text.str.slice(0, 4).where(~resident_id, text.str.slice(6, 10))
            years[present] = pd.to_numeric(head.where(head.str.fullmatch(r"\d{4}")), errors="coerce")
        years[(years < 1850) | (years > 2200)] = np.nan
        return _fit_bands(years, width=self.width, origin=0, edges=None, integer=True)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "width": self.width}

    @classmethod
    def parse(cls, raw: Mapping[str, Any], path: str, problems: c.Problems) -> BirthYear | None:
        width = c.integer(raw.get("width", 1), c.join(path, "width"), problems, minimum=1)
        return None if width is None else cls(width=width)


@dataclass(frozen=True)
class IncomeBands(Hierarchy):
    """Monthly income (yuan) between ``edges``: ``"[5000, 10000)"``; open below and above the edges."""

    type: ClassVar[str] = "income_bands"
    edges: tuple[float, ...] = DEFAULT_INCOME_EDGES

    def fit(self, values: pd.Series) -> Fitted:
        return _fit_bands(_numbers(values), width=None, origin=0, edges=self.edges, integer=False)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "edges": list(self.edges)}

    @classmethod
    def parse(cls, raw: Mapping[str, Any], path: str, problems: c.Problems) -> IncomeBands | None:
        if "edges" not in raw:
            return cls()
        edges = _edges(raw["edges"], c.join(path, "edges"), problems)
        return None if edges is None else cls(edges=edges)


# -- categorical trees ---------------------------------------------------------------------------


def _as_text(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Factorize values as stripped strings: (code per row, -1 if missing; distinct strings)."""
    present = values.notna().to_numpy()
    codes = np.full(len(values), MISSING, dtype=np.int64)
    if not present.any():
        return codes, np.array([], dtype=object)
    inverse, uniques = pd.factorize(values[present].astype(str).str.strip())
    codes[present] = inverse
    return codes, np.asarray(uniques, dtype=object)


def _tree(
    row_codes: np.ndarray,
    keys: list[tuple[Any, ...] | None],
    level_names: list[dict[Any, str]],
    *,
    release: Release,
    short_names: dict[int, dict[Any, str]] | None = None,
) -> Fitted:
    """Build a tree domain from distinct values.

    ``keys[i]`` is the path of distinct value ``i`` from the coarsest level to
    the leaf (or None if it cannot be placed); ``level_names[d]`` gives the
    label of each key component at level ``d``.
    """
    placed = [i for i, key in enumerate(keys) if key is not None]
    codes = np.full(row_codes.size, MISSING, dtype=np.int32)
    if not placed:
        return Fitted(codes, None)
    ordered = sorted(placed, key=lambda i: keys[i])  # type: ignore[arg-type, return-value]
    leaf_of_value = np.full(len(keys), MISSING, dtype=np.int32)
    leaves: list[tuple[Any, ...]] = []
    for i in ordered:
        if not leaves or leaves[-1] != keys[i]:
            leaves.append(keys[i])  # type: ignore[arg-type]
        leaf_of_value[i] = len(leaves) - 1
    have = row_codes >= 0
    codes[have] = leaf_of_value[row_codes[have]]
    depth = len(leaves[0])
    short_names = short_names or {}
    levels, labels, shorts = [], [], []
    for d in range(depth):
        group_ids: list[int] = []
        group_labels: list[str] = []
        group_shorts: list[str] = []
        last = None
        for leaf in leaves:
            prefix = leaf[: d + 1]
            if prefix != last:
                name = level_names[d][prefix[-1]] if level_names[d] else str(prefix[-1])
                group_labels.append(name)
                group_shorts.append(short_names.get(d, {}).get(prefix[-1], name))
                last = prefix
            group_ids.append(len(group_labels) - 1)
        levels.append(np.asarray(group_ids))
        labels.append(group_labels)
        shorts.append(group_shorts)
    return Fitted(codes, TreeDomain(levels, labels, release=release, short_labels=shorts))


def _release(raw: Mapping[str, Any], path: str, problems: c.Problems) -> Release | None:
    options = (Release.CHILDREN.value, Release.VALUES.value)
    chosen = c.choice(raw.get("release", Release.CHILDREN.value), c.join(path, "release"), problems, options)
    return None if chosen is None else Release(chosen)


@dataclass(frozen=True)
class Region(Hierarchy):
    """Province or city of a resident ID number, a 6-digit administrative division code or an address.

    An address must open with its province (``浙江省杭州市...``, ``北京市朝阳区...``; the short
    names ``浙江``, ``广西`` too); its city is the prefecture-level name that follows
    (``杭州市``; a municipality is its own city). An address that opens otherwise cannot be
    placed. Nothing after the city is ever read.
    """

    type: ClassVar[str] = "region"
    source: str = "resident_id"
    level: str = "city"
    release: Release = Release.CHILDREN
    SOURCES: ClassVar[tuple[str, ...]] = ("resident_id", "admin_code", "address")
    LEVELS: ClassVar[tuple[str, ...]] = ("city", "province")

    def reduces(self, field_type: str) -> bool:
        if self.source == "address":
            return field_type == ADDRESS
        return field_type == RESIDENT_ID  # both digit sources read only the code's head

    def fit(self, values: pd.Series) -> Fitted:
        if self.source == "address":
            return self._fit_addresses(values)
        # Both sources open with the 6-digit administrative code; only its head is used.
        width = 4 if self.level == "city" else 2
        text = values.astype("string").str.strip()
        # Shorter than the 6-digit code: not a code at all. Only the head is kept from here on.
        head = text.str.slice(0, width).where(text.str.len() >= 6)
        row_codes, uniques = _as_text(head)
        keys: list[tuple[Any, ...] | None] = []
        for raw in uniques:
            code = str(raw)
            digits = len(code) == width and code.isascii() and code.isdigit()
            if not digits or code[:2] not in regions.PROVINCES:
                keys.append(None)
                continue
            # Keyed by the region's first province digit so that 7x and 8x (港澳台) form one group.
            region = _REGION_KEY[code[0]]
            keys.append((region, code[:2], code) if self.level == "city" else (region, code[:2]))
        names = self._level_names()
        if self.level != "city":
            return _tree(row_codes, keys, names, release=self.release)
        cities = {key[2] for key in keys if key is not None}
        names.append({city: regions.city_label(city) for city in cities})
        shorts = {2: {city: city for city in cities}}
        return _tree(row_codes, keys, names, release=self.release, short_names=shorts)

    def _fit_addresses(self, values: pd.Series) -> Fitted:
        # Only the head an address's province and city can take is factorized and parsed.
        head = values.astype("string").str.strip().str.slice(0, regions.ADDRESS_HEAD)
        row_codes, uniques = _as_text(head)
        keys: list[tuple[Any, ...] | None] = []
        for raw in uniques:
            place = regions.address_place(str(raw))
            if place is None or (self.level == "city" and place[1] is None):
                keys.append(None)
                continue
            code2, city = place
            region = _REGION_KEY[code2[0]]
            keys.append((region, code2, city) if self.level == "city" else (region, code2))
        names = self._level_names()
        if self.level != "city":
            return _tree(row_codes, keys, names, release=self.release)
        labels = {key[2]: f"{regions.PROVINCES[key[1]]} {key[2]}" for key in keys if key is not None}
        names.append(labels)
        shorts = {2: {city: city for city in labels}}
        return _tree(row_codes, keys, names, release=self.release, short_names=shorts)

    @staticmethod
    def _level_names() -> list[dict[Any, str]]:
        return [
            {key: regions.GREATER_REGIONS[key] for key in set(_REGION_KEY.values())},
            dict(regions.PROVINCES),
        ]

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "source": self.source, "level": self.level, "release": str(self.release)}

    @classmethod
    def parse(cls, raw: Mapping[str, Any], path: str, problems: c.Problems) -> Region | None:
        source = c.choice(raw.get("source", "resident_id"), c.join(path, "source"), problems, cls.SOURCES)
        level = c.choice(raw.get("level", "city"), c.join(path, "level"), problems, cls.LEVELS)
        release = _release(raw, path, problems)
        if source is None or level is None or release is None:
            return None
        return cls(source=source, level=level, release=release)


@dataclass(frozen=True)
class Gender(Hierarchy):
    """The holder's gender from an 18-digit (or old 15-digit) resident ID number: ``男`` or ``女``.

    The 17th digit (the 15th of an old number) is odd for men, even for women;
    ``男`` and ``女`` themselves are taken as they are. Merged, both are ``"*"``.
    """

    type: ClassVar[str] = "gender"
    REDUCES: ClassVar[frozenset[str]] = frozenset({RESIDENT_ID})

    def fit(self, values: pd.Series) -> Fitted:
        row_codes, uniques = _as_text(values)
        keys: list[tuple[Any, ...] | None] = [_gender_key(str(v)) for v in uniques]
        return _tree(row_codes, keys, [{0: "男", 1: "女"}], release=Release.ANCESTOR)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type}

    @classmethod
    def parse(cls, raw: Mapping[str, Any], path: str, problems: c.Problems) -> Gender | None:
        return cls()


def _gender_key(text: str) -> tuple[int] | None:
    if text in ("男", "女"):
        return (0 if text == "男" else 1,)
    if len(text) == 18 and text[:17].isascii() and text[:17].isdigit():
        digit = text[16]
    elif len(text) == 15 and text.isascii() and text.isdigit():
        digit = text[14]
    else:
        return None
    return (0 if int(digit) % 2 else 1,)


@dataclass(frozen=True)
class Categories(Hierarchy):
    """Values grouped into categories (occupation -> occupation category -> ``*``).

    Values are compared as stripped strings. Values the mapping does not list
    go under ``other``; with ``other: null`` they cannot be placed.
    """

    type: ClassVar[str] = "categories"
    mapping: tuple[tuple[str, tuple[str, ...]], ...] = field(default=())
    other: str | None = DEFAULT_OTHER
    release: Release = Release.CHILDREN

    def fit(self, values: pd.Series) -> Fitted:
        row_codes, uniques = _as_text(values)
        position: dict[str, tuple[int, int]] = {}
        for ci, (_, members) in enumerate(self.mapping):
            for vi, member in enumerate(members):
                position.setdefault(member, (ci, vi))
        other_index = len(self.mapping)
        keys: list[tuple[Any, ...] | None] = []
        for raw in uniques:
            text = str(raw)
            if text in position:
                ci, vi = position[text]
                keys.append((ci, (vi, text)))
            elif self.other is not None:
                keys.append((other_index, (0, text)))
            else:
                keys.append(None)
        category_names = {i: name for i, (name, _) in enumerate(self.mapping)}
        category_names[other_index] = self.other or ""
        leaf_names = {key[1]: key[1][1] for key in keys if key is not None}
        return _tree(row_codes, keys, [category_names, leaf_names], release=self.release)

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "mapping": {name: list(members) for name, members in self.mapping},
            "other": self.other,
            "release": str(self.release),
        }

    @classmethod
    def parse(cls, raw: Mapping[str, Any], path: str, problems: c.Problems) -> Categories | None:
        where = c.join(path, "mapping")
        mapping = raw.get("mapping")
        if not isinstance(mapping, Mapping) or not mapping:
            problems.add(where, "must be a non-empty mapping of category -> list of values")
            return None
        seen: set[str] = set()
        out: list[tuple[str, tuple[str, ...]]] = []
        ok = True
        for name, members in mapping.items():
            member_path = c.join(where, str(name))
            if not isinstance(name, str) or not name.strip():
                problems.add(member_path, "category names must be non-empty strings")
                ok = False
                continue
            if not isinstance(members, list) or not members:
                problems.add(member_path, "must be a non-empty list of values")
                ok = False
                continue
            texts = tuple(str(m).strip() for m in members)
            if any(t in seen for t in texts) or len(set(texts)) != len(texts):
                problems.add(member_path, "a value may belong to one category only")
                ok = False
            seen.update(texts)
            out.append((name, texts))
        other = raw.get("other", DEFAULT_OTHER)
        if other is not None and c.text(other, c.join(path, "other"), problems) is None:
            ok = False
        if isinstance(other, str) and other in dict(out):
            problems.add(c.join(path, "other"), "must differ from the mapped categories")
            ok = False
        release = _release(raw, path, problems)
        return cls(mapping=tuple(out), other=other, release=release) if ok and release is not None else None


@dataclass(frozen=True)
class Suppress(Hierarchy):
    """A value is released as itself or, merged with any other, as ``"*"``."""

    type: ClassVar[str] = "suppress"

    def fit(self, values: pd.Series) -> Fitted:
        row_codes, uniques = _as_text(values)
        keys: list[tuple[Any, ...] | None] = [(str(v),) for v in uniques]
        return _tree(row_codes, keys, [{}], release=Release.ANCESTOR)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type}

    @classmethod
    def parse(cls, raw: Mapping[str, Any], path: str, problems: c.Problems) -> Suppress | None:
        return cls()


HIERARCHIES: dict[str, type[Hierarchy]] = {
    h.type: h for h in (AgeBands, BirthYear, Region, Gender, IncomeBands, Intervals, Categories, Suppress)
}
HIERARCHY_KEYS: dict[str, frozenset[str]] = {
    "age_bands": frozenset({"width"}),
    "birth_year": frozenset({"width"}),
    "region": frozenset({"source", "level", "release"}),
    "gender": frozenset(),
    "income_bands": frozenset({"edges"}),
    "intervals": frozenset({"width", "origin", "edges", "integer"}),
    "categories": frozenset({"mapping", "other", "release"}),
    "suppress": frozenset(),
}


def parse_hierarchy(raw: Any, path: str, problems: c.Problems) -> Hierarchy | None:
    """A hierarchy from its spec mapping; problems are recorded under ``path``."""
    if not isinstance(raw, Mapping):
        problems.add(path, "must be a mapping with a type")
        return None
    if "type" not in raw:
        problems.add(c.join(path, "type"), "is required")
        return None
    kind = c.choice(raw["type"], c.join(path, "type"), problems, tuple(HIERARCHIES))
    if kind is None:
        return None
    checked = c.mapping(raw, path, problems, allowed=HIERARCHY_KEYS[kind] | {"type"})
    if checked is None:
        return None
    return HIERARCHIES[kind].parse(checked, path, problems)  # type: ignore[attr-defined, no-any-return]
