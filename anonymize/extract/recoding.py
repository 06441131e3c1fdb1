"""Global (full-domain) recoding: every row of a quasi-identifier generalized to one level of its
hierarchy, as ARX does, instead of Mondrian's local recoding (each class as little as it needs).

Local recoding loses the least information, but its values overlap from row to row (ages
``20-49``, ``30-49``, ``20-39``), which a model cannot take as one feature. Global recoding gives
every row of a column the same bands or the same tree level, at some cost in information.

Each fitted domain has a ladder of full-domain levels, finest first (:func:`ladder`): for a tree
(region, categories) its leaves, then each level of the tree, then ``*``; for bands (ages, birth
years, income, intervals) the bands, then 2, 4, 8... adjacent bands merged, then the whole range.
:func:`search` walks the lattice of level vectors of the globally recoded columns by height
(sum of levels), lowest first, and takes the first height where some node lets every class
(rows alike on those columns) hold ``k`` rows and ``l`` distinct sensitive values once the
classes that do not are suppressed within the budget; among that height's nodes, the one with
the least information loss. Columns left to local recoding are then cut by Mondrian inside each
class (:func:`anonymize.extract.runner`), so they never widen a global column.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from anonymize.extract.domain import Domain, TreeDomain
from anonymize.extract.mondrian import Distinct

MAX_NODES = 20_000  # level vectors evaluated before the search gives up


@dataclass(frozen=True)
class Level:
    """One full-domain level of a domain: each leaf's group, and each group's first and last leaf."""

    groups: np.ndarray  # leaf -> group id (0 .. n_groups-1, contiguous runs of leaves)
    first: np.ndarray  # group -> its first leaf
    last: np.ndarray  # group -> its last leaf

    @classmethod
    def of(cls, groups: np.ndarray) -> Level:
        groups = np.asarray(groups, dtype=np.int64)
        ids = np.arange(int(groups.max()) + 1)
        first = np.searchsorted(groups, ids, side="left")
        last = np.searchsorted(groups, ids, side="right") - 1
        return cls(groups, first.astype(np.int64), last.astype(np.int64))

    @property
    def n_groups(self) -> int:
        return int(self.first.size)


def ladder(domain: Domain) -> list[Level]:
    """The domain's full-domain levels, finest (the leaves) first, the root (one group) last."""
    n = domain.n_leaves
    candidates = [np.arange(n, dtype=np.int64)]
    if isinstance(domain, TreeDomain):
        candidates += [np.asarray(g, dtype=np.int64) for g in reversed(domain.levels)]
    else:
        width = 2
        while width < n:
            candidates.append(np.arange(n, dtype=np.int64) // width)
            width *= 2
    candidates.append(np.zeros(n, dtype=np.int64))
    levels: list[Level] = []
    for groups in candidates:
        _, dense = np.unique(groups, return_inverse=True)  # tree group ids may not start at 0
        level = Level.of(dense.astype(np.int64))
        if not levels or level.n_groups < levels[-1].n_groups:
            levels.append(level)
    return levels


@dataclass(frozen=True)
class Choice:
    """The level chosen for each globally recoded column, each row's class over those columns and
    the rows suppressed (classes too small or not diverse enough)."""

    levels: dict[int, int]  # quasi-identifier index -> level on its ladder
    ladders: dict[int, list[Level]]
    classes: np.ndarray  # class of every row over the global columns
    suppressed: np.ndarray  # boolean mask
    nodes: int  # level vectors evaluated

    def level(self, dim: int) -> Level:
        return self.ladders[dim][self.levels[dim]]


def search(
    codes: np.ndarray,
    domains: Sequence[Domain],
    dims: Sequence[int],
    sensitive: Sequence[np.ndarray],
    k: int,
    l: int,  # noqa: E741 - the model's own name
    budget: int,
) -> Choice | None:
    """The lowest full-domain levels of ``dims`` (indexes into ``codes`` and ``domains``) at which
    suppressing the classes below ``k`` rows or ``l`` distinct sensitive values costs at most
    ``budget`` rows; None if no level vector within :data:`MAX_NODES` does."""
    ladders = {j: ladder(domains[j]) for j in dims}
    # Nodes are evaluated on the distinct rows of (global columns, sensitive values) with their
    # counts: a class's size and its distinct sensitive values are the same, and there are far
    # fewer distinct rows than rows.
    distinct, inverse, weight = _compress(codes[list(dims)], sensitive if l > 1 else [])
    small = distinct[: len(dims)]
    diversity = [Distinct(s) for s in distinct[len(dims) :]]
    local_dims = list(range(len(dims)))
    steps = dict(enumerate(ladders[j] for j in dims))
    small_domains = [domains[j] for j in dims]
    nodes = sorted(itertools.product(*(range(len(ladders[j])) for j in dims)), key=sum)
    best: tuple[float, tuple[int, ...], np.ndarray, np.ndarray] | None = None
    evaluated = 0
    for node in nodes:
        if best is not None and sum(node) > sum(best[1]):
            break
        evaluated += 1
        if evaluated > MAX_NODES:
            return None
        classes = _classes(small, steps, local_dims, node)
        n_classes = int(classes.max()) + 1 if classes.size else 0
        sizes = np.bincount(classes, weights=weight, minlength=n_classes)
        bad = sizes < k
        for d in diversity:
            bad |= d.counts(classes, n_classes) < l
        suppressed = bad[classes]
        count = int(weight[suppressed].sum())
        if count > budget or count == int(weight.sum()):
            continue
        loss = _loss(small, small_domains, steps, local_dims, node, suppressed, weight)
        if best is None or loss < best[0]:
            best = (loss, node, classes, suppressed)
    if best is None:
        return None
    _, node, classes, suppressed = best
    return Choice(
        dict(zip(dims, node, strict=True)), ladders, classes[inverse], suppressed[inverse], evaluated
    )


def _compress(
    codes: np.ndarray, sensitive: Sequence[np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct columns of ``codes`` stacked on ``sensitive`` (one row each), each row's index
    among them, and how many rows each stands for."""
    stacked = np.vstack([codes, *[np.asarray(s, dtype=np.int64)[None, :] for s in sensitive]])
    key = np.zeros(stacked.shape[1], dtype=np.int64)
    for row in stacked:  # one integer per distinct row (np.unique(axis=1) is several times slower)
        key, _ = pd.factorize(key * (int(row.max()) + 2) + row)
        key = key.astype(np.int64)
    n_distinct = int(key.max()) + 1 if key.size else 0
    first = np.empty(n_distinct, dtype=np.int64)
    first[key[::-1]] = np.arange(key.size - 1, -1, -1)  # each distinct row's first occurrence
    return stacked[:, first], key, np.bincount(key, minlength=n_distinct).astype(np.int64)


def _classes(
    codes: np.ndarray, ladders: dict[int, list[Level]], dims: Sequence[int], node: Sequence[int]
) -> np.ndarray:
    key = np.zeros(codes.shape[1], dtype=np.int64)
    for j, level in zip(dims, node, strict=True):
        step = ladders[j][level]
        key, _ = pd.factorize(key * (step.n_groups + 1) + step.groups[codes[j]])
        key = key.astype(np.int64)
    return key


def level_ncp(domain: Domain, level: Level, codes: np.ndarray) -> np.ndarray:
    """Each row's normalized certainty penalty at ``level`` (its group's whole range released)."""
    group = level.groups[codes]
    return domain.ncp(level.first[group], level.last[group])


def _loss(
    codes: np.ndarray,
    domains: Sequence[Domain],
    ladders: dict[int, list[Level]],
    dims: Sequence[int],
    node: Sequence[int],
    suppressed: np.ndarray,
    weight: np.ndarray,
) -> float:
    """Mean NCP over the global columns and every row (``weight`` rows each), a suppressed row counting 1."""
    total = 0.0
    for j, level in zip(dims, node, strict=True):
        penalty = np.where(suppressed, 1.0, level_ncp(domains[j], ladders[j][level], codes[j]))
        total += float(np.average(penalty, weights=weight))
    return total / len(dims)
