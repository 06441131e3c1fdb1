"""Strict multidimensional Mondrian partitioning (LeFevre, DeWitt, Ramakrishnan, ICDE 2006).

Start with one partition holding every row; cut each partition in two at the
median of one quasi-identifier, as long as both halves keep at least ``k``
rows and ``l`` distinct values of every sensitive column (distinct
l-diversity, checked on each cut). The dimension tried first is the one with
the widest normalized range, measured as its normalized certainty penalty; if
no allowable cut exists on it the next widest is tried, and a partition with
no allowable cut on any dimension is final.

Cuts are strict (the halves are disjoint) and fall on leaf boundaries. In a
categorical tree they fall between children of the range's lowest common
ancestor, nearest the median (deeper levels only when no such cut is
allowable), so halves keep releasing whole subtrees.

The implementation is breadth-first and vectorized: each round cuts every
open partition at once with a handful of sorts, ``ufunc.at`` reductions and
binary searches over all rows, so the Python loop runs once per tree level
(about ``log2(n / k)`` rounds) rather than once per partition.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from anonymize.extract.domain import Domain

_BITS = 64


class Distinct:
    """Counts distinct values of one sensitive column within groups of rows."""

    def __init__(self, values: np.ndarray) -> None:
        self.values = np.asarray(values, dtype=np.int64)
        self.cardinality = int(self.values.max()) + 1 if self.values.size else 0
        # Up to 64 distinct values: one bit each, OR-reduced per group and counted.
        self.bits = (
            np.left_shift(np.uint64(1), self.values.astype(np.uint64)) if self.cardinality <= _BITS else None
        )

    def take(self, keep: np.ndarray) -> Distinct:
        out = Distinct.__new__(Distinct)
        out.values = self.values[keep]
        out.cardinality = self.cardinality
        out.bits = None if self.bits is None else self.bits[keep]
        return out

    def counts(self, groups: np.ndarray, n_groups: int, rows: np.ndarray | None = None) -> np.ndarray:
        """Distinct values per group; ``groups[i]`` is the group of row ``rows[i]`` (of every row if None)."""
        if self.bits is not None:
            bits = self.bits if rows is None else self.bits[rows]
            acc = np.zeros(n_groups, dtype=np.uint64)
            np.bitwise_or.at(acc, groups, bits)
            return np.bitwise_count(acc).astype(np.int64)
        values = self.values if rows is None else self.values[rows]
        keys = np.sort(groups.astype(np.int64) * self.cardinality + values)
        first = np.ones(keys.size, dtype=bool)
        first[1:] = keys[1:] != keys[:-1]
        return np.bincount(keys[first] // self.cardinality, minlength=n_groups)


def ranges(codes: np.ndarray, part: np.ndarray, n_parts: int) -> tuple[np.ndarray, np.ndarray]:
    """Lowest and highest code of each quasi-identifier in each partition: two ``(q, n_parts)`` arrays."""
    q = codes.shape[0]
    lo = np.full((q, n_parts), np.iinfo(np.int64).max, dtype=np.int64)
    hi = np.full((q, n_parts), -1, dtype=np.int64)
    for j in range(q):
        np.minimum.at(lo[j], part, codes[j])
        np.maximum.at(hi[j], part, codes[j])
    return lo, hi


def partition(
    codes: np.ndarray,
    domains: Sequence[Domain],
    sensitive: Sequence[np.ndarray],
    k: int,
    l: int,  # noqa: E741 - the model's own name
    progress: Callable[[float], None] | None = None,
) -> np.ndarray:
    """The final partition (``0 .. P-1``) of every row.

    ``codes`` is ``(q, n)``: leaf codes of ``q`` quasi-identifiers, no missing
    values; ``sensitive`` holds codes ``0..S-1`` of each sensitive column. The
    caller makes sure the whole table has at least ``k`` rows and ``l``
    distinct values of each sensitive column; every final partition then has
    both. Raises :class:`ValueError` if it does not.
    """
    q, n = codes.shape
    diversity = [Distinct(s) for s in sensitive] if l > 1 else []
    if n < k or any(int(d.counts(np.zeros(n, dtype=np.int64), 1)[0]) < l for d in diversity):
        raise ValueError("the whole table is not k-anonymous and l-diverse")
    final = np.empty(n, dtype=np.int64)
    rows = np.arange(n)
    part = np.zeros(n, dtype=np.int64)
    active = np.asarray(codes, dtype=np.int64)
    n_parts, next_final = 1, 0
    radix = max(d.n_leaves for d in domains) + 1
    while rows.size:
        sizes = np.bincount(part, minlength=n_parts)
        cut_dim, cut_at = _cut_round(active, part, sizes, sizes >= 2 * k, domains, diversity, k, l, radix)
        split = cut_dim >= 0
        finished = ~split[part]
        if finished.any():
            rank = np.cumsum(~split) - 1
            final[rows[finished]] = next_final + rank[part[finished]]
            next_final += int((~split).sum())
            keep = ~finished
            rows, active, part = rows[keep], active[:, keep], part[keep]
            diversity = [d.take(keep) for d in diversity]
        if not rows.size:
            break
        side = active[cut_dim[part], np.arange(rows.size)] >= cut_at[part]
        part = 2 * (np.cumsum(split) - 1)[part] + side
        n_parts = 2 * int(split.sum())
        if progress is not None:
            progress(1.0 - rows.size / n)
    return final


def _cut_round(
    active: np.ndarray,
    part: np.ndarray,
    sizes: np.ndarray,
    splittable: np.ndarray,
    domains: Sequence[Domain],
    diversity: Sequence[Distinct],
    k: int,
    l: int,  # noqa: E741
    radix: int,
) -> tuple[np.ndarray, np.ndarray]:
    """One round: the dimension and cut of every ``splittable`` partition (dimension -1: no allowable cut)."""
    q, n_parts = active.shape[0], sizes.size
    lo, hi = ranges(active, part, n_parts)
    span = np.vstack([domains[j].penalty(active[j], part, n_parts, lo[j], hi[j]) for j in range(q)])
    order = np.argsort(-span, axis=0, kind="stable")
    cut_dim = np.full(n_parts, -1, dtype=np.int64)
    cut_at = np.zeros(n_parts, dtype=np.int64)
    every = np.arange(n_parts)
    for attempt in range(q):
        dim = order[attempt]
        candidates = splittable & (cut_dim < 0) & (span[dim, every] > 0)
        if not candidates.any():
            continue
        cuts = _median_cuts(
            candidates, dim, active, part, sizes, lo, hi, domains, diversity, k, l, radix, n_parts
        )
        found = cuts > 0
        cut_dim[found] = dim[found]
        cut_at[found] = cuts[found]
    return cut_dim, cut_at


@dataclass
class FragmentTree:
    """The first cuts: a binary tree whose leaves are fragments, replayable on any rows.

    Node ``i`` is a leaf when ``dim[i] < 0``; otherwise codes ``< cut[i]`` of
    quasi-identifier ``dim[i]`` go to ``left[i]`` and the others to ``right[i]``.
    """

    dim: list[int] = field(default_factory=lambda: [-1])
    cut: list[int] = field(default_factory=lambda: [0])
    left: list[int] = field(default_factory=lambda: [-1])
    right: list[int] = field(default_factory=lambda: [-1])

    def split(self, node: int, dim: int, cut: int) -> tuple[int, int]:
        self.dim[node], self.cut[node] = dim, cut
        children = []
        for side in (self.left, self.right):
            side[node] = len(self.dim)
            children.append(len(self.dim))
            self.dim.append(-1)
            self.cut.append(0)
            self.left.append(-1)
            self.right.append(-1)
        return children[0], children[1]

    def undo(self, node: int) -> None:
        """Make ``node`` a leaf again (its children are left unreachable)."""
        self.dim[node] = -1

    def leaves(self, codes: np.ndarray) -> np.ndarray:
        """The leaf node of every row (``codes`` is ``(q, n)``)."""
        dim, cut = np.asarray(self.dim), np.asarray(self.cut)
        left, right = np.asarray(self.left), np.asarray(self.right)
        node = np.zeros(codes.shape[1], dtype=np.int64)
        columns = np.arange(codes.shape[1])
        while (inner := dim[node] >= 0).any():
            rows = columns[inner]
            at = node[rows]
            go_right = codes[dim[at], rows] >= cut[at]
            node[rows] = np.where(go_right, right[at], left[at])
        return node

    def parent(self) -> np.ndarray:
        parent = np.full(len(self.dim), -1, dtype=np.int64)
        for i, (a, b) in enumerate(zip(self.left, self.right, strict=True)):
            if self.dim[i] >= 0:
                parent[a] = parent[b] = i
        return parent


def first_cuts(
    codes: np.ndarray,
    domains: Sequence[Domain],
    sensitive: Sequence[np.ndarray],
    k: int,
    l: int,  # noqa: E741
    max_rows: int,
) -> FragmentTree:
    """Cut ``codes`` (typically a sample) with Mondrian's own rule until every part has ``max_rows`` or fewer.

    The same cut choice as :func:`partition` (widest dimension, nearest the
    median, both halves keeping ``k`` rows and ``l`` distinct sensitive values),
    recorded as a tree so that every row of the full table can be sent down it.
    """
    diversity = [Distinct(s) for s in sensitive] if l > 1 else []
    radix = max(d.n_leaves for d in domains) + 1
    tree = FragmentTree()
    active = np.asarray(codes, dtype=np.int64)
    part = np.zeros(active.shape[1], dtype=np.int64)
    nodes = np.zeros(1, dtype=np.int64)  # the tree node of each open part
    while nodes.size:
        n_parts = nodes.size
        sizes = np.bincount(part, minlength=n_parts)
        cut_dim, cut_at = _cut_round(active, part, sizes, sizes > max_rows, domains, diversity, k, l, radix)
        split = cut_dim >= 0
        if not split.any():
            break
        children = [tree.split(int(nodes[i]), int(cut_dim[i]), int(cut_at[i])) for i in np.flatnonzero(split)]
        keep = split[part]
        active, part = active[:, keep], part[keep]
        diversity = [d.take(keep) for d in diversity]
        side = active[cut_dim[part], np.arange(part.size)] >= cut_at[part]
        part = 2 * (np.cumsum(split) - 1)[part] + side
        nodes = np.asarray([child for pair in children for child in pair], dtype=np.int64)
    return tree


def _target_left(size: np.ndarray, k: int) -> np.ndarray:
    """How many rows the left half should get: the multiple of ``k`` nearest half the partition.

    A plain median cut of ``3k`` rows makes two halves of ``1.5k`` that cannot be
    cut again; ``k`` and ``2k`` can, and end as three classes instead of two.
    With ``size`` in multiples of ``k`` this never yields fewer final classes.
    """
    target = k * np.floor(size / (2 * k) + 0.5).astype(np.int64)
    return np.clip(target, k, size - k)


def _median_cuts(
    candidates: np.ndarray,
    dim: np.ndarray,
    codes: np.ndarray,
    part: np.ndarray,
    sizes: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    domains: Sequence[Domain],
    diversity: Sequence[Distinct],
    k: int,
    l: int,  # noqa: E741
    radix: int,
    n_parts: int,
) -> np.ndarray:
    """For each candidate partition, an allowable cut on ``dim`` nearest its median (0 if none).

    A cut ``c`` sends codes ``< c`` left and ``>= c`` right.
    """
    parts = np.flatnonzero(candidates)
    row_index = np.flatnonzero(candidates[part])
    row_part = part[row_index]
    x = codes[dim[row_part], row_index]
    keys = np.sort(row_part * radix + x)
    start = np.searchsorted(keys, parts * radix)
    size = sizes[parts]
    target = _target_left(size, k)
    median = keys[start + target - 1] - parts * radix
    d = dim[parts]
    plo, phi = lo[d, parts], hi[d, parts]
    cut = np.zeros(parts.size, dtype=np.int64)
    for j in np.unique(d):
        domain = domains[int(j)]
        on_j = np.flatnonzero(d == j)
        first_level = domain.common_levels(plo[on_j], phi[on_j])
        for level in range(domain.depth):
            pick = on_j[(first_level <= level) & (cut[on_j] == 0)]
            if not pick.size:
                continue
            below, above = domain.cut_candidates(level, median[pick])
            best = np.zeros(pick.size, dtype=np.int64)
            best_gap = np.full(pick.size, np.iinfo(np.int64).max)
            for c in (below, above):
                left = np.searchsorted(keys, parts[pick] * radix + c) - start[pick]
                right = size[pick] - left
                ok = (c > plo[pick]) & (c <= phi[pick]) & (left >= k) & (right >= k)
                gap = np.abs(left - target[pick])
                better = ok & (gap < best_gap)
                best[better], best_gap[better] = c[better], gap[better]
            cut[pick] = best
    if diversity and (cut > 0).any():
        cut_of = np.zeros(n_parts, dtype=np.int64)
        cut_of[parts] = cut
        chosen = cut_of[row_part] > 0
        child = 2 * row_part[chosen] + (x[chosen] >= cut_of[row_part[chosen]])
        diverse = np.ones(2 * n_parts, dtype=bool)
        for distinct in diversity:
            diverse &= distinct.counts(child, 2 * n_parts, row_index[chosen]) >= l
        cut[~(diverse[2 * parts] & diverse[2 * parts + 1])] = 0
    out = np.zeros(n_parts, dtype=np.int64)
    out[parts] = cut
    return out
