"""Numeric hierarchies: bands of a number (age, birth year, income, any interval).

A value's leaf is its band; Mondrian merges neighbouring bands, released as a
range (``"30-49"``, ``"[5000, 10000)"``). Values that are not finite numbers
get :data:`~anonymize.extract.hierarchy.MISSING`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from anonymize.extract import _checks as c
from anonymize.extract.domain import ROOT_LABEL, IntervalDomain
from anonymize.extract.hierarchy import MISSING, RESIDENT_ID, Fitted, Hierarchy

DEFAULT_INCOME_EDGES = (0, 3000, 5000, 8000, 10000, 15000, 20000, 30000, 50000, 100000)


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
