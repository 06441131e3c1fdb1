"""Suppression within the budget: spend what rows the spec allows on outliers that widen a class.

Strict Mondrian leaves no class below ``k``, so the rows it must suppress are
only those a hierarchy cannot place (missing or invalid values). What is left
of the budget (``max_suppression`` of the rows) buys precision: a class of
twelve whose ages run 31-38 and one 79 releases "31-79" for all twelve; without
the 79 it releases "31-38".

For every class and every quasi-identifier released as a range, each tail of
rows at its low or high end is a candidate, if it holds at most a quarter of
the class (outliers, not a second population) and the class keeps ``k`` rows
and ``l`` distinct sensitive values. Its gain is the drop in the table's total
normalized certainty penalty, counting a suppressed row as fully generalized
(penalty 1), so suppression never makes the measured information loss worse.
Candidates are taken greedily by gain per suppressed row, one per class per
round, until the budget is spent.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from anonymize.extract.domain import Domain, Release, TreeDomain
from anonymize.extract.mondrian import Distinct, ranges

MAX_TAIL_SHARE = 0.25  # an outlier tail is at most a quarter of its class: suppression trims, never halves


def peel_outliers(
    codes: np.ndarray,
    part: np.ndarray,
    n_parts: int,
    domains: Sequence[Domain],
    sensitive: Sequence[np.ndarray],
    k: int,
    l: int,  # noqa: E741 - the model's own name
    budget: int,
    rounds: int = 2,
    fixed: Sequence[int] = (),
) -> np.ndarray:
    """Rows to suppress (a boolean mask), at most ``budget`` of them.

    Each class keeps at least ``k`` rows and ``l`` distinct values of each sensitive column.
    ``fixed`` quasi-identifiers release a whole level whatever their rows hold (global
    recoding): trimming their tails gains nothing, so no row is suppressed for them.
    """
    n = part.size
    removed = np.zeros(n, dtype=bool)
    if budget <= 0 or n == 0:
        return removed
    q = codes.shape[0]
    diversity = [Distinct(s) for s in sensitive] if l > 1 else []
    radix = max(d.n_leaves for d in domains) + 1
    peelable = [
        j
        for j, d in enumerate(domains)
        if j not in fixed and not (isinstance(d, TreeDomain) and d.mode is Release.VALUES)
    ]
    left = budget
    for _ in range(rounds):
        kept = np.flatnonzero(~removed)
        p = part[kept]
        c = codes[:, kept]
        sizes = np.bincount(p, minlength=n_parts)
        lo, hi = ranges(c, p, n_parts)
        penalty = np.vstack([domains[j].penalty(c[j], p, n_parts, lo[j], hi[j]) for j in range(q)])
        row_penalty = penalty.mean(axis=0)
        # Worth a look only if dropping one row and collapsing the widest dimension would pay.
        promising = (sizes > k) & (penalty.max(axis=0) * (sizes - 1) / q > 1.0 - row_penalty)
        look = promising[p]
        if not look.any():
            break
        kept, p, c = kept[look], p[look], c[:, look]
        found = [
            _tails(j, domains[j], c[j], p, sizes, lo[j], hi[j], penalty[j], row_penalty, q, k, radix)
            for j in peelable
        ]
        found = [f for f in found if f[0].size]
        if not found:
            break
        cand_part, ratio, dim, cut, high, count = (np.concatenate(cols) for cols in zip(*found, strict=True))
        # The best candidate of each class, then the best classes while the budget lasts.
        order = np.lexsort((-ratio, cand_part))
        first = np.ones(order.size, dtype=bool)
        first[1:] = cand_part[order][1:] != cand_part[order][:-1]
        best = order[first]
        best = best[np.argsort(-ratio[best], kind="stable")]
        best = best[np.cumsum(count[best]) <= left]
        if not best.size:
            break
        chosen_cut = np.full(n_parts, -1, dtype=np.int64)
        chosen_dim = np.zeros(n_parts, dtype=np.int64)
        chosen_high = np.zeros(n_parts, dtype=bool)
        chosen_cut[cand_part[best]] = cut[best]
        chosen_dim[cand_part[best]] = dim[best]
        chosen_high[cand_part[best]] = high[best]
        hit = chosen_cut[p] >= 0
        value = c[chosen_dim[p], np.arange(p.size)]
        drop = hit & np.where(chosen_high[p], value >= chosen_cut[p], value < chosen_cut[p])
        if diversity:
            stay = ~drop
            diverse = np.ones(n_parts, dtype=bool)
            for distinct in diversity:
                diverse &= distinct.counts(p[stay], n_parts, kept[stay]) >= l
            drop &= diverse[p]
        if not drop.any():
            break
        removed[kept[drop]] = True
        left -= int(drop.sum())
        if left <= 0:
            break
    return removed


def _tails(
    j: int,
    domain: Domain,
    x_rows: np.ndarray,
    p_rows: np.ndarray,
    sizes: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    penalty: np.ndarray,
    row_penalty: np.ndarray,
    q: int,
    k: int,
    radix: int,
) -> tuple[np.ndarray, ...]:
    """Candidate tails on dimension ``j`` with a positive gain.

    Returns (class, gain per suppressed row, dimension, cut, high tail?, rows suppressed).
    """
    keys = np.sort(p_rows * radix + x_rows)
    part = keys // radix
    x = keys - part * radix
    start = np.searchsorted(keys, np.arange(sizes.size) * radix)
    position = np.arange(keys.size) - start[part]
    size = sizes[part]
    new_value = np.ones(keys.size, dtype=bool)
    new_value[1:] = (x[1:] != x[:-1]) | (part[1:] != part[:-1])
    previous = np.empty_like(x)
    previous[1:] = x[:-1]
    previous[0] = x[0]
    boundary = new_value & (position >= 1)
    keep_share = 1.0 - row_penalty[part]
    out = []
    # Low tail: drop the ``position`` rows below x; the class then spans [x, hi].
    at_most = np.maximum(1, (size * MAX_TAIL_SHARE).astype(np.int64))
    low = boundary & (position <= size - k) & (position <= at_most)
    gain = (size - position) * (penalty[part] - domain.ncp(x, hi[part])) / q - position * keep_share
    low &= gain > 0
    out.append((low, gain, position, False))
    # High tail: drop the rows from x up; the class then spans [lo, previous].
    dropped = size - position
    high = boundary & (position >= k) & (dropped <= at_most)
    gain_high = position * (penalty[part] - domain.ncp(lo[part], previous)) / q - dropped * keep_share
    high &= gain_high > 0
    out.append((high, gain_high, dropped, True))
    cols: list[list[np.ndarray]] = [[], [], [], [], [], []]
    for mask, g, count, is_high in out:
        idx = np.flatnonzero(mask)
        cols[0].append(part[idx])
        cols[1].append(g[idx] / count[idx])
        cols[2].append(np.full(idx.size, j, dtype=np.int64))
        cols[3].append(x[idx])
        cols[4].append(np.full(idx.size, is_high))
        cols[5].append(count[idx].astype(np.int64))
    return tuple(np.concatenate(col) for col in cols)
