"""Strict Mondrian: every partition k-anonymous and l-diverse, cuts on hierarchy boundaries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from anonymize.extract import AgeBands, Categories, Region, Suppress
from anonymize.extract.mondrian import Distinct, _target_left, partition, ranges


def table(n: int, seed: int = 3) -> tuple[np.ndarray, list, np.ndarray]:
    rng = np.random.default_rng(seed)
    cities = [f"{p}{c:02d}00" for p in ("11", "13", "32", "33", "44", "51") for c in range(1, 6)]
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, n),
            "gender": rng.choice(["M", "F"], n),
            "region": np.array(cities)[rng.integers(0, len(cities), n)],
            "job": rng.choice(["a", "b", "c", "d", "e", "f"], n),
        }
    )
    fits = [
        AgeBands(1).fit(frame["age"]),
        Suppress().fit(frame["gender"]),
        Region(source="admin_code").fit(frame["region"]),
        Categories(mapping=(("x", ("a", "b", "c")), ("y", ("d", "e")))).fit(frame["job"]),
    ]
    codes = np.vstack([f.codes for f in fits]).astype(np.int64)
    return codes, [f.domain for f in fits], rng.integers(0, 4, n)


@pytest.mark.parametrize(("n", "k", "l_value"), [(500, 2, 1), (2000, 5, 2), (2000, 10, 3), (5000, 25, 4)])
def test_every_partition_holds_k_rows_and_l_sensitive_values(n: int, k: int, l_value: int) -> None:
    codes, domains, sensitive = table(n)
    part = partition(codes, domains, [sensitive], k, l_value)
    sizes = np.bincount(part)
    assert sizes.min() >= k
    distinct = pd.Series(sensitive).groupby(part).nunique()
    assert distinct.min() >= l_value
    assert part.max() + 1 > n // (4 * k)  # it really partitions


def test_partitions_of_one_numeric_column_are_disjoint_ranges() -> None:
    rng = np.random.default_rng(1)
    ages = rng.integers(18, 80, 1000)
    fitted = AgeBands(1).fit(pd.Series(ages))
    part = partition(fitted.codes[None, :].astype(np.int64), [fitted.domain], [], 7, 1)
    lo, hi = ranges(fitted.codes[None, :].astype(np.int64), part, int(part.max()) + 1)
    order = np.argsort(lo[0])
    assert (lo[0][order][1:] > hi[0][order][:-1]).all()


def test_cuts_fall_between_greater_regions_before_provinces() -> None:
    # 200 rows in 华北 (11, 13) and 200 in 华东 (32, 33): no partition may straddle them.
    rng = np.random.default_rng(2)
    regions = [f"{p}0100" for p in ("11", "13", "32", "33") for _ in range(100)]
    fitted = Region(source="admin_code").fit(pd.Series(regions))
    codes = fitted.codes[None, :].astype(np.int64)
    part = partition(codes, [fitted.domain], [rng.integers(0, 3, 400)], 50, 1)
    lo, hi = ranges(codes, part, int(part.max()) + 1)
    labels = fitted.domain.labels(lo[0], hi[0])
    assert set(labels) == {"北京市 1101", "河北省 1301", "江苏省 3201", "浙江省 3301"}


def test_l_diversity_stops_cuts_that_would_leave_a_half_uniform() -> None:
    ages = np.repeat(np.arange(20, 60), 10)
    sensitive = (ages >= 40).astype(np.int64)  # the older half all 1, the younger all 0
    fitted = AgeBands(1).fit(pd.Series(ages))
    codes = fitted.codes[None, :].astype(np.int64)
    assert partition(codes, [fitted.domain], [sensitive], 5, 1).max() > 0
    assert partition(codes, [fitted.domain], [sensitive], 5, 2).max() == 0


@pytest.mark.parametrize(("size", "target"), [(20, 10), (25, 10), (30, 20), (35, 20), (45, 20), (1000, 500)])
def test_the_left_half_gets_a_multiple_of_k(size: int, target: int) -> None:
    assert _target_left(np.array([size]), 10)[0] == target


def test_the_whole_table_must_be_k_anonymous_and_l_diverse() -> None:
    codes, domains, sensitive = table(30)
    with pytest.raises(ValueError):
        partition(codes, domains, [sensitive], 31, 1)
    with pytest.raises(ValueError):
        partition(codes, domains, [np.zeros(30, dtype=np.int64)], 5, 2)


def test_partitioning_is_deterministic() -> None:
    codes, domains, sensitive = table(3000)
    first = partition(codes, domains, [sensitive], 5, 2)
    assert (first == partition(codes, domains, [sensitive], 5, 2)).all()


@pytest.mark.parametrize("cardinality", [3, 64, 65, 500])
def test_distinct_counts_agree_for_few_and_many_values(cardinality: int) -> None:
    rng = np.random.default_rng(cardinality)
    values = rng.integers(0, cardinality, 5000)
    groups = rng.integers(0, 40, 5000)
    expected = pd.Series(values).groupby(groups).nunique().to_numpy()
    assert (Distinct(values).counts(groups, 40) == expected).all()
    rows = np.flatnonzero(groups < 20)
    assert (Distinct(values).counts(groups[rows], 40, rows)[:20] == expected[:20]).all()
