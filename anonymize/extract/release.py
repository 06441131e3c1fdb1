"""Generalization and release: the usable rows' quasi-identifier codes and domains, whether
k and l can be reached at all, and the released table - rows shuffled, each quasi-identifier
released as its partition's label with its NCP, identifiers pseudonymized, numeric attributes
top/bottom coded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from anonymize.extract.errors import InvalidRows, PrivacyModelUnsatisfiable
from anonymize.extract.hierarchy import MISSING
from anonymize.extract.mondrian import ranges
from anonymize.extract.pseudonyms import pseudonymize
from anonymize.extract.recoding import Level
from anonymize.extract.spec import Column, ExtractSpec, IdentifierAction, Role
from vault import DataKey


def generalize(
    table: pd.DataFrame, spec: ExtractSpec
) -> tuple[np.ndarray, np.ndarray, list[Any], list[np.ndarray]]:
    """Rows whose quasi-identifiers and sensitive values are all usable; their codes and domains.

    Domains are fitted on those rows only, so an incomplete row widens nothing.
    """
    usable = np.ones(len(table), dtype=bool)
    fitted = []
    for col in spec.quasi:
        assert col.hierarchy is not None
        fitted.append(col.hierarchy.fit(table[col.source]))
        usable &= fitted[-1].codes != MISSING
    for col in spec.sensitive:
        usable &= table[col.source].notna().to_numpy()
    complete = np.flatnonzero(usable)
    subset = table.iloc[complete]
    if complete.size < len(table):
        fitted = [col.hierarchy.fit(subset[col.source]) for col in spec.quasi]  # type: ignore[union-attr]
    if not complete.size:
        return complete, np.zeros((len(fitted), 0), dtype=np.int64), [], []
    codes = np.vstack([f.codes for f in fitted]).astype(np.int64)
    sensitive = [pd.factorize(subset[col.source])[0].astype(np.int64) for col in spec.sensitive]
    return complete, codes, [f.domain for f in fitted], sensitive


def check_satisfiable(rows: int, sensitive: list[np.ndarray], spec: ExtractSpec) -> None:
    k, l_value = spec.privacy.k, spec.privacy.l
    if rows < k:
        raise PrivacyModelUnsatisfiable(f"{rows} complete rows cannot form a class of k = {k}")
    if l_value > 1:
        for col, codes in zip(spec.sensitive, sensitive, strict=True):
            if int(codes.max()) + 1 < l_value:
                raise PrivacyModelUnsatisfiable(
                    f"sensitive column {col.name} has fewer than l = {l_value} distinct values in all rows"
                )


def release(
    table: pd.DataFrame,
    spec: ExtractSpec,
    rows: np.ndarray,
    codes: np.ndarray,
    part: np.ndarray,
    domains: list[Any],
    key: DataKey | None,
    levels: Mapping[int, Level] | None = None,
) -> tuple[pd.DataFrame, np.ndarray, dict[str, np.ndarray], dict[str, dict[str, Any]], list[np.ndarray]]:
    """The released table of ``rows`` in random order, the subject of each of its rows, each quasi
    column's per-row NCP, the coding report, and each quasi column's released value codes by
    partition (of ``part`` renumbered by :func:`renumber`). A quasi-identifier in ``levels`` (index -> the
    global level chosen) releases its rows' whole group at that level, whatever the rows hold."""
    part, n_parts = renumber(part)
    lo, hi = ranges(codes, part, n_parts)
    levels = levels or {}
    for j, level in levels.items():
        group = level.groups[lo[j]]  # every row of a partition is in one group of the level
        lo[j], hi[j] = level.first[group], level.last[group]
    shuffle = np.random.default_rng().permutation(rows.size)  # row order must not leak input order
    # Only the columns released as they are (or as pseudonyms) are copied: quasi-identifiers come
    # from their codes, and their source columns (an address, an ID number) are the widest.
    read = [c.source for c in spec.columns if c.role is not Role.QUASI and c.released]
    source = (
        table[list(dict.fromkeys([spec.subject_column, *read]))].iloc[rows[shuffle]].reset_index(drop=True)
    )
    quasi_index = {col.name: j for j, col in enumerate(spec.quasi)}
    released: dict[str, Any] = {}
    penalties: dict[str, np.ndarray] = {}
    coding: dict[str, dict[str, Any]] = {}
    by_part: dict[int, np.ndarray] = {}
    for col in spec.columns:
        if col.role is Role.IDENTIFIER:
            if col.action is IdentifierAction.PSEUDONYM:
                assert key is not None
                released[col.output] = pseudonymize(key, source[col.source]).to_numpy()
        elif col.role is Role.QUASI:
            j = quasi_index[col.name]
            label_codes, categories, penalty = released_quasi(
                domains[j], codes[j], part, n_parts, lo[j], hi[j], fixed=j in levels
            )
            released[col.output] = pd.Categorical.from_codes(label_codes[part[shuffle]], categories)
            penalties[col.output] = penalty[part[shuffle]]
            by_part[j] = label_codes
        elif col.role is Role.ATTRIBUTE and col.coding is not None:
            released[col.output], coding[col.output] = _top_bottom_code(source[col.source], col)
        else:
            released[col.output] = source[col.source].to_numpy()
    subjects = source[spec.subject_column].astype(str).to_numpy(dtype=object)
    labels = [by_part[j] for j in range(len(spec.quasi))]
    return pd.DataFrame(released), subjects, penalties, coding, labels


def labels_by_part(part: np.ndarray, keep: np.ndarray, labels: Sequence[np.ndarray]) -> np.ndarray:
    """Each partition's released value code of every quasi-identifier (a row per partition of
    ``part``, as the engine numbered them; -1 where every row was suppressed). ``labels`` are
    :func:`release`'s, by its renumbering of ``part[keep]``."""
    renumbered, _ = renumber(part[keep])
    out = np.full((int(part.max()) + 1 if part.size else 0, len(labels)), -1, dtype=np.int64)
    for j, codes in enumerate(labels):
        out[part[keep], j] = codes[renumbered]
    return out


def released_quasi(
    domain: Any,
    codes: np.ndarray,
    part: np.ndarray,
    n_parts: int,
    lo: np.ndarray,
    hi: np.ndarray,
    *,
    fixed: bool = False,
) -> tuple[np.ndarray, Any, np.ndarray]:
    """One quasi-identifier's release per partition: its label (a code into the categories
    returned) and its NCP. ``fixed``: recoded globally, ``lo`` and ``hi`` already bound its level's
    groups, whatever the rows hold."""
    if fixed:
        labels, penalty = domain.labels(lo, hi), domain.ncp(lo, hi)
    else:
        labels = domain.release(codes, part, n_parts, lo, hi)
        penalty = domain.penalty(codes, part, n_parts, lo, hi)
    label_codes, categories = pd.factorize(labels)
    return label_codes, categories, penalty


def renumber(part: np.ndarray) -> tuple[np.ndarray, int]:
    codes, uniques = pd.factorize(part)
    return codes.astype(np.int64), len(uniques)


def _top_bottom_code(values: pd.Series, col: Column) -> tuple[Any, dict[str, Any]]:
    """Clip a numeric attribute at its percentiles; raises InvalidRows for non-numeric values."""
    assert col.coding is not None
    numbers = pd.to_numeric(values, errors="coerce")
    if (numbers.isna() & values.notna()).any():
        raise InvalidRows(f"column {col.name} has non-numeric values; top/bottom coding needs numbers")
    present = numbers.dropna().to_numpy(dtype=np.float64)
    out = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
    summary: dict[str, Any] = {"bottom_percentile": col.coding.bottom, "top_percentile": col.coding.top}
    bottom = (
        float(np.percentile(present, col.coding.bottom))
        if col.coding.bottom is not None and present.size
        else None
    )
    top = (
        float(np.percentile(present, col.coding.top)) if col.coding.top is not None and present.size else None
    )
    summary.update(
        bottom_value=bottom,
        top_value=top,
        bottom_coded=int((out < bottom).sum()) if bottom is not None else 0,
        top_coded=int((out > top).sum()) if top is not None else 0,
    )
    if bottom is not None or top is not None:
        out = np.clip(out, bottom, top)
    if pd.api.types.is_integer_dtype(values.dtype):
        # Percentiles of integers may fall between them; keep the column integral.
        return pd.array(np.round(out), dtype="Int64"), summary
    return out, summary
