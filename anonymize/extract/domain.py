"""Fitted quasi-identifier domains: ordered leaf codes that Mondrian cuts, and what a class releases.

A hierarchy (:mod:`anonymize.extract.hierarchies`) turns a column into leaf
codes ``0 .. n_leaves - 1``, ordered so that every node of its generalization
tree is a contiguous run of codes. A Mondrian partition holds rows whose codes
span ``[lo, hi]`` on each quasi-identifier, and the domain says

* where that range may be cut (:meth:`Domain.cut_candidates`): between
  children of the range's lowest common ancestor first, deeper levels only
  when no such cut is allowable;
* what the partition releases (:meth:`Domain.release`): ``"30-39"``,
  ``"[5000, 10000)"``, ``"浙江省"``, ``"*"``;
* the normalized certainty penalty of that release (:meth:`Domain.penalty`,
  Xu et al. 2006): ``(upper - lower) / (domain upper - domain lower)`` for
  intervals; for trees 0 for a single leaf and otherwise ``leaves the
  released value stands for / all leaves``. Mondrian uses it as the
  normalized width when it picks the dimension to cut, so it cuts where the
  information loss is.

Methods work on whole partitionings at once: ``codes`` and ``part`` give every
row's leaf code and partition, ``lo``/``hi`` each partition's range.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import StrEnum

import numpy as np
import pandas as pd

ROOT_LABEL = "*"
MAX_LISTED = 5


def _boundary_tables(groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each leaf code m: the last boundary <= m and the first boundary > m.

    A boundary ``c`` separates codes ``< c`` from codes ``>= c`` where the group
    changes. Missing ones are 0 and ``n`` (never inside a range ``lo < c <= hi``).
    """
    n = groups.size
    is_boundary = np.zeros(n + 1, dtype=bool)
    is_boundary[1:n] = groups[1:] != groups[:-1]
    positions = np.arange(n + 1)
    last = np.maximum.accumulate(np.where(is_boundary, positions, 0))[:n]
    following = np.where(is_boundary, positions, n)
    first_after = np.minimum.accumulate(following[::-1])[::-1][1 : n + 1]
    return last.astype(np.int64), first_after.astype(np.int64)


def present_leaves(codes: np.ndarray, part: np.ndarray, n_leaves: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct (partition, leaf) pairs, sorted: two arrays."""
    keys = np.sort(part.astype(np.int64) * n_leaves + codes)
    first = np.ones(keys.size, dtype=bool)
    first[1:] = keys[1:] != keys[:-1]
    keys = keys[first]
    return keys // n_leaves, keys % n_leaves


class Domain:
    """Ordered leaves with nested groupings (coarsest first, the leaves themselves last)."""

    def __init__(self, levels: Sequence[np.ndarray]) -> None:
        if not levels or levels[-1].size == 0:
            raise ValueError("a domain needs at least one leaf")
        self.levels = tuple(np.asarray(g, dtype=np.int64) for g in levels)
        self.n_leaves = int(self.levels[-1].size)
        tables = [_boundary_tables(g) for g in self.levels]
        self._last_boundary = tuple(t[0] for t in tables)
        self._next_boundary = tuple(t[1] for t in tables)

    @property
    def depth(self) -> int:
        return len(self.levels)

    def common_levels(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """How many levels (coarsest first) put ``lo`` and ``hi`` in the same group."""
        same = np.zeros(np.shape(lo), dtype=np.int64)
        for groups in self.levels:
            same += groups[lo] == groups[hi]
        return same

    def cut_candidates(self, level: int, median: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The boundaries of ``level`` nearest to ``median``: at or below it, and above it."""
        return self._last_boundary[level][median], self._next_boundary[level][median]

    def penalty(
        self, codes: np.ndarray, part: np.ndarray, n_parts: int, lo: np.ndarray, hi: np.ndarray
    ) -> np.ndarray:
        """Normalized certainty penalty of each partition's released value."""
        return self.ncp(lo, hi)

    def release(
        self, codes: np.ndarray, part: np.ndarray, n_parts: int, lo: np.ndarray, hi: np.ndarray
    ) -> np.ndarray:
        """The released value of each partition, as an object array of strings."""
        return self.labels(lo, hi)

    def ncp(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def labels(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """The released value of each range (ranges release by their ends alone)."""
        lo = np.asarray(lo, dtype=np.int64)
        hi = np.asarray(hi, dtype=np.int64)
        inverse, uniques = pd.factorize(lo * self.n_leaves + hi)
        texts = np.array(
            [self._label(int(pair // self.n_leaves), int(pair % self.n_leaves)) for pair in uniques],
            dtype=object,
        )
        return texts[inverse] if uniques.size else np.array([], dtype=object)

    def _label(self, lo: int, hi: int) -> str:  # pragma: no cover - abstract
        raise NotImplementedError


class IntervalDomain(Domain):
    """Numeric bands: leaf ``i`` covers ``[lower[i], upper[i]]``; a range releases its outer edges."""

    def __init__(
        self,
        lower: np.ndarray,
        upper: np.ndarray,
        label: Callable[[int, int], str],
    ) -> None:
        lower = np.asarray(lower, dtype=np.float64)
        upper = np.asarray(upper, dtype=np.float64)
        super().__init__([np.arange(lower.size)])
        self.lower = lower
        self.upper = upper
        self._label_range = label
        self._extent = float(upper[-1] - lower[0])

    def ncp(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        if self._extent <= 0:
            return np.zeros(np.shape(lo), dtype=np.float64)
        return (self.upper[hi] - self.lower[lo]) / self._extent

    def _label(self, lo: int, hi: int) -> str:
        return self._label_range(lo, hi)


class Release(StrEnum):
    """What a partition spanning several leaves of a tree releases."""

    ANCESTOR = "ancestor"  # the lowest common ancestor: "华东", "*"
    CHILDREN = "children"  # the ancestor's children it spans: "浙江省/安徽省"
    VALUES = "values"  # the leaves its rows hold, as whole subtrees where complete


class TreeDomain(Domain):
    """Categorical leaves under a tree.

    With :attr:`Release.CHILDREN` a partition releases the children of its
    lowest common ancestor that its range spans: ``"浙江省/安徽省"``,
    ``"浙江省 3301/3302"``, ``"教师~工程师"`` (more than :data:`MAX_LISTED`:
    the first and last in the hierarchy's order); spanning every child is the
    ancestor itself (``"华东"``, ``"*"``). ``short_labels`` name children after
    their parent's label (a city's code after its province).

    With :attr:`Release.VALUES` it releases the set of leaves its rows hold,
    complete subtrees by their node: ``"浙江省/江苏省 3201/江苏省 3205"``. The
    penalty counts only those leaves, as anonypy's Mondrian does.
    """

    def __init__(
        self,
        levels: Sequence[np.ndarray],
        level_labels: Sequence[Sequence[str]],
        *,
        release: Release = Release.ANCESTOR,
        short_labels: Sequence[Sequence[str]] | None = None,
    ) -> None:
        super().__init__(levels)
        if len(level_labels) != self.depth or (short_labels is not None and len(short_labels) != self.depth):
            raise ValueError("one label list per level")
        self.mode = Release(release)
        self._level_labels = tuple(tuple(labels) for labels in level_labels)
        self._short_labels = tuple(tuple(labels) for labels in (short_labels or level_labels))
        self._group_sizes = tuple(np.bincount(g) for g in self.levels)
        # First leaf of each group, and one past its last (groups are contiguous runs).
        self._group_start = tuple(np.searchsorted(g, np.arange(g[-1] + 1), side="left") for g in self.levels)
        self._group_end = tuple(np.searchsorted(g, np.arange(g[-1] + 1), side="right") for g in self.levels)

    def covered(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """How many leaves the released value of each range stands for (by its range alone)."""
        lo = np.asarray(lo, dtype=np.int64)
        hi = np.asarray(hi, dtype=np.int64)
        common = self.common_levels(lo, hi)
        out = np.ones(lo.shape, dtype=np.int64)
        for level in range(self.depth):
            at = common == level
            if not at.any():
                continue
            if self.mode is Release.ANCESTOR:
                out[at] = (
                    self.n_leaves
                    if level == 0
                    else self._group_sizes[level - 1][self.levels[level - 1][lo[at]]]
                )
            else:
                # The ancestor's children at ``level`` that the range spans.
                first = self._group_start[level][self.levels[level][lo[at]]]
                last = self._group_end[level][self.levels[level][hi[at]]]
                out[at] = last - first
        return out

    def ncp(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        covered = self.covered(lo, hi)
        return np.where(covered > 1, covered / self.n_leaves, 0.0)

    def penalty(
        self, codes: np.ndarray, part: np.ndarray, n_parts: int, lo: np.ndarray, hi: np.ndarray
    ) -> np.ndarray:
        if self.mode is not Release.VALUES:
            return self.ncp(lo, hi)
        owner, _ = present_leaves(codes, part, self.n_leaves)
        count = np.bincount(owner, minlength=n_parts)
        return np.where(count > 1, count / self.n_leaves, 0.0)

    def release(
        self, codes: np.ndarray, part: np.ndarray, n_parts: int, lo: np.ndarray, hi: np.ndarray
    ) -> np.ndarray:
        if self.mode is not Release.VALUES:
            return self.labels(lo, hi)
        owner, leaves = present_leaves(codes, part, self.n_leaves)
        bounds = np.searchsorted(owner, np.arange(n_parts + 1))
        cache: dict[bytes, str] = {}
        out = np.empty(n_parts, dtype=object)
        for p in range(n_parts):
            held = leaves[bounds[p] : bounds[p + 1]]
            key = held.tobytes()
            text = cache.get(key)
            if text is None:
                text = cache[key] = self._values_label(held)
            out[p] = text
        return out

    def _values_label(self, held: np.ndarray) -> str:
        """The leaves ``held`` (sorted codes): complete subtrees by their node, other leaves by name."""
        if held.size == 1:
            return self._level_labels[-1][int(self.levels[-1][held[0]])]
        if held.size == self.n_leaves:
            return ROOT_LABEL
        items: list[str] = []
        remaining = held
        for level in range(self.depth):
            groups = self.levels[level][remaining]
            ids, counts = np.unique(groups, return_counts=True)
            complete = ids[counts == self._group_sizes[level][ids]]
            if level == self.depth - 1:
                complete = ids
            else:
                # A node with a single child is named by that child, which is more specific.
                children = self.levels[level + 1]
                first = children[self._group_start[level][complete]]
                last = children[self._group_end[level][complete] - 1]
                complete = complete[last > first]
            if complete.size:
                items.extend(self._level_labels[level][int(g)] for g in complete)
                remaining = remaining[~np.isin(groups, complete)]
            if not remaining.size:
                break
        # Keep the hierarchy's order: items were collected level by level.
        order = {label: i for i, label in enumerate(self._ordered_labels(held))}
        return "/".join(sorted(items, key=lambda label: order.get(label, 0)))

    def _ordered_labels(self, held: np.ndarray) -> list[str]:
        out: list[str] = []
        for leaf in held:
            for level in range(self.depth):
                label = self._level_labels[level][int(self.levels[level][leaf])]
                if not out or out[-1] != label:
                    out.append(label)
        return out

    def _label(self, lo: int, hi: int) -> str:
        common = int(self.common_levels(np.array([lo]), np.array([hi]))[0])
        if common == self.depth:
            return self._level_labels[-1][int(self.levels[-1][lo])]
        if common == 0:
            parent, first_child, last_child = ROOT_LABEL, 0, int(self.levels[0][-1])
        else:
            node = int(self.levels[common - 1][lo])
            parent = self._level_labels[common - 1][node]
            first_child = int(self.levels[common][self._group_start[common - 1][node]])
            last_child = int(self.levels[common][self._group_end[common - 1][node] - 1])
        if self.mode is Release.ANCESTOR:
            return parent
        groups = self.levels[common]
        first, last = int(groups[lo]), int(groups[hi])
        if first == first_child and last == last_child:
            return parent
        names = self._short_labels[common]
        if last - first + 1 <= MAX_LISTED:
            listed = "/".join(names[g] for g in range(first, last + 1))
        else:
            listed = f"{names[first]}~{names[last]}"
        full = self._level_labels[common]
        prefixed = any(names[g] != full[g] for g in range(first, last + 1))
        return f"{parent} {listed}" if prefixed else listed
