"""Categorical hierarchies: trees of regions, genders, mapped categories and plain values.

A value's leaf is a node of its tree (a city under its province under its
greater region, a value under its category); Mondrian merges neighbouring
leaves, released as their ancestor or their set (:class:`Release`). A value
the tree cannot place gets :data:`~anonymize.extract.hierarchy.MISSING`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from anonymize.extract import _checks as c
from anonymize.extract import regions
from anonymize.extract.domain import Release, TreeDomain
from anonymize.extract.hierarchy import ADDRESS, MISSING, RESIDENT_ID, Fitted, Hierarchy

_REGION_KEY = {
    digit: min(d for d, n in regions.GREATER_REGIONS.items() if n == name)
    for digit, name in regions.GREATER_REGIONS.items()
}
DEFAULT_OTHER = "其他"


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
