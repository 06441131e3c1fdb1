"""Outlier suppression: within the budget, only where it lowers the measured information loss."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from anonymize.extract import AgeBands, Suppress
from anonymize.extract.mondrian import partition, ranges
from anonymize.extract.suppression import peel_outliers


def one_class_with_an_outlier() -> tuple[np.ndarray, list, np.ndarray]:
    ages = np.array([30, 31, 31, 32, 33, 34, 35, 35, 36, 95])
    genders = np.array(["M", "F"] * 5)
    fits = [AgeBands(1).fit(pd.Series(ages)), Suppress().fit(pd.Series(genders))]
    return np.vstack([f.codes for f in fits]).astype(np.int64), [f.domain for f in fits], np.arange(10) % 3


def ncp(codes: np.ndarray, part: np.ndarray, domains: list, removed: np.ndarray) -> float:
    kept = ~removed
    p = pd.factorize(part[kept])[0]
    lo, hi = ranges(codes[:, kept], p, int(p.max()) + 1)
    penalties = np.vstack([d.ncp(lo[j], hi[j])[p] for j, d in enumerate(domains)])
    return float((penalties.mean(axis=0).sum() + removed.sum()) / part.size)


@pytest.mark.parametrize(("budget", "expected"), [(0, []), (1, [9]), (5, [9])])
def test_the_outlier_goes_when_the_budget_allows(budget: int, expected: list[int]) -> None:
    codes, domains, sensitive = one_class_with_an_outlier()
    part = np.zeros(10, dtype=np.int64)
    removed = peel_outliers(codes, part, 1, domains, [sensitive], 5, 2, budget)
    assert np.flatnonzero(removed).tolist() == expected


def test_a_class_never_drops_below_k_or_l() -> None:
    codes, domains, sensitive = one_class_with_an_outlier()
    part = np.zeros(10, dtype=np.int64)
    removed = peel_outliers(codes, part, 1, domains, [sensitive], 10, 1, 5)
    assert not removed.any()
    only_two = np.array([0, 0, 0, 0, 0, 0, 0, 0, 0, 1])  # the outlier holds the only 1
    assert not peel_outliers(codes, part, 1, domains, [only_two], 5, 2, 5).any()


@pytest.mark.parametrize("budget", [10, 50, 200])
def test_suppression_stays_within_budget_and_lowers_ncp(budget: int) -> None:
    rng = np.random.default_rng(4)
    ages = np.concatenate([rng.integers(25, 60, 2000), [95, 97, 99]])  # too few to form a class
    genders = rng.choice(["M", "F"], ages.size)
    fits = [AgeBands(1).fit(pd.Series(ages)), Suppress().fit(pd.Series(genders))]
    codes = np.vstack([f.codes for f in fits]).astype(np.int64)
    domains = [f.domain for f in fits]
    sensitive = rng.integers(0, 3, ages.size)
    part = partition(codes, domains, [sensitive], 8, 2)
    removed = peel_outliers(codes, part, int(part.max()) + 1, domains, [sensitive], 8, 2, budget)
    assert 0 < removed.sum() <= budget
    assert removed[-3:].all()
    assert ncp(codes, part, domains, removed) < ncp(codes, part, domains, np.zeros(ages.size, dtype=bool))
    kept_sizes = np.bincount(part[~removed])
    assert kept_sizes[kept_sizes > 0].min() >= 8
    assert pd.Series(sensitive[~removed]).groupby(part[~removed]).nunique().min() >= 2
