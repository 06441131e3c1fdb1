"""Privacy and utility of a released table, measured on the table itself.

Equivalence classes are the groups of rows with identical released
quasi-identifiers (two Mondrian partitions that release the same values are
one class), so the figures describe what an analyst actually receives:

* ``k`` = the smallest class; ``l`` = the fewest distinct values of any
  sensitive column in any class (distinct l-diversity);
* prosecutor re-identification risk: highest ``1 / smallest class``, average
  ``classes / rows kept`` (the mean of ``1 / class size`` over rows);
* normalized certainty penalty (NCP, Xu et al. 2006) per quasi-identifier and
  overall, over every row that entered the extract, a suppressed row counting
  as fully generalized (1);
* discernibility metric (Bayardo and Agrawal 2005): ``sum of class size
  squared`` plus ``rows in the extract`` for each suppressed row;
* normalized average class size (LeFevre et al. 2006): ``rows kept / classes / k``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Measures:
    k: int
    l: int | None  # noqa: E741 - the model's own name; None without a sensitive column
    classes: int
    rows_in: int
    rows_kept: int
    rows_suppressed: int
    class_sizes: dict[int, int]  # class size -> number of classes
    prosecutor_risk_max: float
    prosecutor_risk_avg: float
    ncp: float
    ncp_kept: float
    ncp_by_column: dict[str, float]
    discernibility: int
    normalized_avg_class_size: float

    def to_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["class_sizes"] = [[size, count] for size, count in sorted(self.class_sizes.items())]
        return out


def class_ids(table: pd.DataFrame, columns: Sequence[str]) -> tuple[np.ndarray, int]:
    """The equivalence class of each row (``0 .. classes-1``) over ``columns``, and the number of classes."""
    if not len(table):
        return np.zeros(0, dtype=np.int64), 0
    key = np.zeros(len(table), dtype=np.int64)
    for name in columns:
        codes, uniques = pd.factorize(table[name], use_na_sentinel=False)
        key, _ = pd.factorize(key * (len(uniques) + 1) + codes)
        key = key.astype(np.int64)
    return key, int(key.max()) + 1


def distinct_per_class(classes: np.ndarray, n_classes: int, values: pd.Series) -> np.ndarray:
    """How many distinct values of ``values`` each class holds."""
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    keys = np.sort(classes * (len(uniques) + 1) + codes)
    first = np.ones(keys.size, dtype=bool)
    first[1:] = keys[1:] != keys[:-1]
    return np.bincount(keys[first] // (len(uniques) + 1), minlength=n_classes)


def measure(
    table: pd.DataFrame,
    quasi: Sequence[str],
    sensitive: Sequence[str],
    penalties: Mapping[str, np.ndarray],
    rows_suppressed: int,
    k: int,
) -> Measures:
    """Measure a released table.

    ``penalties[column]`` is the NCP of each kept row's released value, in the
    row order of ``table``. Raises :class:`ValueError` if the table is empty.
    """
    kept = len(table)
    if kept == 0:
        raise ValueError("nothing was released")
    rows_in = kept + rows_suppressed
    classes, n_classes = class_ids(table, quasi)
    sizes = np.bincount(classes, minlength=n_classes)
    histogram = np.bincount(sizes)
    l_value = None
    if sensitive:
        l_value = int(min(distinct_per_class(classes, n_classes, table[name]).min() for name in sensitive))
    by_column = {name: float((penalties[name].sum() + rows_suppressed) / rows_in) for name in quasi}
    kept_mean = float(np.mean([penalties[name].mean() for name in quasi]))
    return Measures(
        k=int(sizes.min()),
        l=l_value,
        classes=n_classes,
        rows_in=rows_in,
        rows_kept=kept,
        rows_suppressed=rows_suppressed,
        class_sizes={int(size): int(count) for size, count in enumerate(histogram) if count},
        prosecutor_risk_max=1.0 / int(sizes.min()),
        prosecutor_risk_avg=n_classes / kept,
        ncp=float(np.mean(list(by_column.values()))),
        ncp_kept=kept_mean,
        ncp_by_column=by_column,
        discernibility=int((sizes.astype(np.int64) ** 2).sum()) + rows_suppressed * rows_in,
        normalized_avg_class_size=kept / n_classes / k,
    )
