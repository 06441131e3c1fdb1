"""The rows an extract starts from: the eligible subjects' rows as the provider yields them
(dicts or DataFrames, the spec's columns only, one row per subject), and the risk table's
columns joined to them on Spark, scanned for direct identifiers before anything is released.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from anonymize.extract._checks import Problems
from anonymize.extract.errors import InvalidRows, InvalidSpec
from anonymize.extract.identifiers import bounded, table_problems
from anonymize.extract.spec import ExtractSpec
from anonymize.extract.table import column_of, describe, table_columns, verify_unchanged
from fieldtypes import FieldTypeRegistry

_CHUNK = 50_000

TableKeys = Callable[[Sequence[str]], pd.DataFrame]
"""``subject ids -> {subject_id, key}``: the join keys of a risk table matched by deterministic token."""


def load_rows(
    rows: Iterable[Mapping[str, Any] | pd.DataFrame],
    spec: ExtractSpec,
    eligible: frozenset[str],
    progress: Callable[[float], None],
) -> tuple[pd.DataFrame, int]:
    """The eligible rows, with the spec's columns only; and how many rows were dropped as not eligible."""
    from_vault = (c.source for c in spec.read if column_of(c.source) is None)  # not the risk table's
    names = list(dict.fromkeys([spec.subject_column, *from_vault]))
    frames: list[pd.DataFrame] = []
    buffer: list[Mapping[str, Any]] = []
    total = max(len(eligible), 1)
    seen = 0

    def flush() -> None:
        if buffer:
            frames.append(pd.DataFrame.from_records(buffer, columns=names))
            buffer.clear()

    for item in rows:
        if isinstance(item, pd.DataFrame):
            flush()
            frames.append(item.reindex(columns=names))
            seen += len(item)
            progress(min(seen / total, 1.0))
        elif isinstance(item, Mapping):
            buffer.append(item)
            seen += 1
            if len(buffer) >= _CHUNK:
                flush()
                progress(min(seen / total, 1.0))
        else:
            raise InvalidRows("rows must be mappings (one row each) or pandas DataFrames")
    flush()
    table = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame({name: [] for name in names}, dtype=object)
    )
    subjects = table[spec.subject_column].to_numpy(dtype=object)
    # A set lookup per row: several times faster than Series.isin on Arrow-backed strings.
    is_eligible = np.fromiter((s in eligible for s in subjects), dtype=bool, count=subjects.size)
    not_eligible = int((~is_eligible).sum())
    table = table.loc[is_eligible].reset_index(drop=True)
    if table[spec.subject_column].astype(str).duplicated().any():
        raise InvalidRows("a subject appears in more than one row; an extract holds one row per subject")
    progress(1.0)
    return table, not_eligible


def join_risk_table(
    spec: ExtractSpec, table: pd.DataFrame, table_keys: TableKeys | None, field_types: FieldTypeRegistry
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The eligible rows with the risk table's columns; a subject without a row in the table leaves.

    Spark joins the table to the eligible subjects' keys only: rows of subjects
    the vault left out never reach this process. A random sample of the joined
    columns is scanned for direct identifiers before anything is released (the
    table may have changed since the spec was checked, and a remote one was not
    read then). Raises InvalidRows, InvalidSpec naming a column and the rule.
    """
    from anonymize.extract.spark import join_table, spark_session

    assert spec.table is not None
    subjects = table[spec.subject_column].astype(str)
    if spec.table.by_token is None:
        keys = pd.DataFrame({"row": np.arange(len(table)), "key": subjects.to_numpy()})
    elif table_keys is None:
        raise InvalidRows("the risk table matches by deterministic token, and no token source was given")
    else:
        tokens = table_keys(subjects.tolist())
        # Tokens go to Spark with row positions, not with the subject they belong to.
        keys = pd.DataFrame(
            {"row": pd.Index(subjects).get_indexer(tokens["subject_id"]), "key": tokens["key"].to_numpy()}
        )
    features = join_table(spark_session(spec.engine.master), spec.table, keys, table_columns(spec.read))
    # Spark has read the table: it must have read what the vault checked (no directory swapped for a link).
    verify_unchanged(spec.table)
    problems = Problems()
    sample = bounded(features)
    # Each sampled row's join key beside it: a released column that copies the key is refused.
    key = sample["row"].map(keys.drop_duplicates("row").set_index("row")["key"])
    sample = sample.drop(columns="row").rename(columns=column_of).assign(**{spec.table.key: key.to_numpy()})
    table_problems(sample, spec.read, field_types, problems, key=spec.table.key)
    if problems:
        raise InvalidSpec(problems)
    joined = table.iloc[features.pop("row").to_numpy(np.int64)].reset_index(drop=True)
    for name in features.columns:
        joined[name] = features[name].array  # categories stay categories
    return joined, dict(describe(spec.table, len(joined), len(table) - len(joined)))
