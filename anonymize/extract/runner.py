"""Run one extract: population -> rows -> generalize -> suppress -> release -> files, report and manifest.

The runner is Flask-free and storage-free. Its caller (the extract job) injects

* ``population(purpose)``: the eligible subject ids, from the consent service;
* ``rows_provider(eligible_ids)``: the rows of those subjects, decrypted from
  the vault: dicts (one per subject) or pandas DataFrames (batches of rows);

then writes the returned manifest to the audit log and keeps the returned
pseudonym key (wrapped by the KEK) for as long as the extract may be
re-identified, or lets it go to make the pseudonyms permanent.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from anonymize.extract._checks import Problems
from anonymize.extract.errors import (
    ExtractCheckFailed,
    InvalidRows,
    InvalidSpec,
    PrivacyModelUnsatisfiable,
    SuppressionBudgetExceeded,
)
from anonymize.extract.hierarchies import MISSING
from anonymize.extract.identifiers import bounded, table_problems
from anonymize.extract.metrics import Measures, measure
from anonymize.extract.mondrian import partition, ranges
from anonymize.extract.outputs import (
    CHART_NAME,
    CSV_NAME,
    MANIFEST_NAME,
    PARQUET_NAME,
    REPORT_HTML,
    REPORT_JSON,
    part_name,
)
from anonymize.extract.population import Population, PopulationProvider, resolve_population
from anonymize.extract.pseudonyms import extract_key, pseudonymize
from anonymize.extract.recoding import Choice, Level, search
from anonymize.extract.report import LANGUAGES, histogram_png, render_html, report_file
from anonymize.extract.spec import Column, Engine, ExtractSpec, IdentifierAction, Role, parse_spec
from anonymize.extract.suppression import peel_outliers
from anonymize.extract.table import column_of, describe, table_columns, verify_unchanged
from tokenization.fieldtypes import FieldTypeRegistry, default_registry
from vault import DataKey

TableKeys = Callable[[Sequence[str]], pd.DataFrame]
"""``subject ids -> {subject_id, key}``: the join keys of a risk table matched by deterministic token."""

RowsProvider = Callable[[frozenset[str]], Iterable[Mapping[str, Any] | pd.DataFrame]]
"""``eligible subject ids -> rows``: dicts, or DataFrames of many rows."""

Progress = Callable[[str, float], None]
"""``(stage, overall fraction done)``; stages: population, rows, generalize, suppress, release, write."""

MANIFEST_KIND = "piivault.extract.manifest/v1"
_CHUNK = 50_000
# The most rows a Spark job partitions a second time on the driver with the local engine, for the
# report's single-machine comparison (the operator's PIIVAULT_EXTRACT_COMPARE_ROWS). The local
# engine sets itself no bound; this is the size it is measured at (bench/extract_spark.py: 1M
# rows, about 1 GB of driver memory, its Mondrian about 11 s), and the driver holds the codes anyway.
DEFAULT_COMPARE_ROWS = 1_000_000


@dataclass
class ExtractResult:
    extract_id: str
    out_dir: Path
    files: dict[str, Path]
    report: dict[str, Any]
    manifest: dict[str, Any]
    key: DataKey | None  # the pseudonym key; None when no column is pseudonymized
    table: pd.DataFrame = field(repr=False)
    # The subject of each released row, in the table's order: what a re-identification mapping
    # is built from (it never leaves the process in clear).
    subjects: np.ndarray = field(repr=False, default_factory=lambda: np.array([], dtype=object))


def run_extract(
    spec: ExtractSpec | Mapping[str, Any],
    rows_provider: RowsProvider,
    population: PopulationProvider,
    out_dir: str | Path,
    progress: Progress | None = None,
    *,
    extract_id: str | None = None,
    key: DataKey | None = None,
    identifiers: Mapping[str, Mapping[str, str]] | None = None,
    table_keys: TableKeys | None = None,
    field_types: FieldTypeRegistry | None = None,
    compare_rows: int = DEFAULT_COMPARE_ROWS,
) -> ExtractResult:
    """Build one anonymized extract and write it to ``out_dir``.

    Writes ``extract.csv``, ``extract.parquet``, ``class_sizes.png``,
    ``report.json``, ``report.html`` and ``manifest.json`` (replacing files of
    those names; each appears whole or not at all). ``key`` is the pseudonym
    key to use (a fresh one per extract when None). ``identifiers`` says, for
    each column read from a direct identifier, its source and how it is
    released (:func:`anonymize.extract.source.plan`); the report lists them.
    ``table_keys`` gives the deterministic tokens of subjects, when the spec's
    risk table matches by token (:func:`anonymize.extract.source.table_keys`).
    ``field_types`` says which field types are direct identifiers, for the
    scan of the risk table's joined columns (default: the built-in types).
    ``compare_rows`` bounds the Spark engine's single-machine comparison
    (:func:`single_machine`): an extract of more rows is not partitioned again.

    Raises :class:`~anonymize.extract.errors.InvalidSpec` for an invalid spec, or
    a risk table's column found to hold a direct identifier it would release,
    :class:`~anonymize.extract.errors.InvalidRows` for rows that are not
    mappings or DataFrames, a non-numeric value in a coded column, or a subject
    in more than one row, :class:`~anonymize.extract.errors.SuppressionBudgetExceeded`
    when more rows are incomplete than the budget allows,
    :class:`~anonymize.extract.errors.PrivacyModelUnsatisfiable` when too few
    rows or sensitive values remain for k and l,
    :class:`~anonymize.extract.errors.ExtractCheckFailed` if the released
    table fails the final check (a bug: nothing is written), and
    :class:`OSError` if the files cannot be written.
    """
    spec = spec if isinstance(spec, ExtractSpec) else parse_spec(spec)
    report_progress = _monotonic(progress)
    extract_id = extract_id or uuid.uuid4().hex
    created_at = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    if spec.pseudonymized and key is None:
        key = extract_key(extract_id)

    report_progress("population", 0.0)
    people = resolve_population(population, spec.purpose)
    report_progress("rows", 0.02)
    table, not_eligible = _load_rows(
        rows_provider(people.eligible),
        spec,
        people.eligible,
        lambda f: report_progress("rows", 0.02 + 0.28 * f),
    )

    joined = None
    if spec.table is not None:
        table, joined = _join_table(spec, table, table_keys, field_types or default_registry())

    report_progress("generalize", 0.30)
    rows_in = len(table)
    budget = math.floor(spec.privacy.max_suppression * rows_in + 1e-9)
    complete, codes, domains, sensitive = _generalize(table, spec)
    incomplete = rows_in - int(complete.size)
    if incomplete > budget:
        raise SuppressionBudgetExceeded(
            f"{incomplete} of {rows_in} rows have a missing or unusable quasi-identifier or sensitive value; "
            f"max_suppression allows {budget}"
        )
    _check_satisfiable(complete.size, sensitive, spec)
    global_dims = [j for j, col in enumerate(spec.quasi) if col in spec.global_quasi]
    choice = None
    if global_dims and spec.engine.name != "local":  # parse_spec refuses it; a spec built by hand too
        raise InvalidSpec({"engine": "global recoding runs on engine: local only"})
    if global_dims:
        part, choice = _global_partition(
            spec,
            codes,
            domains,
            sensitive,
            global_dims,
            budget - incomplete,
            lambda f: report_progress("generalize", 0.35 + 0.40 * f),
        )
        engine = None
    else:
        part, engine = _partition(
            spec, codes, domains, sensitive, lambda f: report_progress("generalize", 0.35 + 0.40 * f)
        )

    # The executors' copy of the partitioned rows, for Spark's own check; freed whatever happens.
    placed = engine.pop("placed") if engine is not None else None
    try:
        report_progress("suppress", 0.75)
        outliers = _suppress(spec, codes, part, domains, sensitive, budget - incomplete, choice, global_dims)

        report_progress("release", 0.80)
        keep = ~outliers
        levels = {} if choice is None else {j: choice.level(j) for j in global_dims}
        output, subjects, penalties, coding_report, labels = _release(
            table, spec, complete[keep], codes[:, keep], part[keep], domains, key, levels
        )
        quasi_out = [c.output for c in spec.quasi]
        sensitive_out = [c.output for c in spec.sensitive]
        suppressed = rows_in - output.shape[0]
        measures = measure(output, quasi_out, sensitive_out, penalties, suppressed, spec.privacy.k)
        if measures.k < spec.privacy.k or (spec.privacy.l > 1 and (measures.l or 0) < spec.privacy.l):
            raise ExtractCheckFailed()
        if engine is not None and placed is not None:
            from anonymize.extract.spark import verify_release

            # The guarantee checked again by the cluster, on the rows its executors hold: only one
            # row per partition (its released value codes) and the suppressed rows are sent.
            checked = engine["verified"] = verify_release(
                engine.pop("session"), placed, np.flatnonzero(outliers), _labels_by_part(part, keep, labels)
            )
            if (
                checked["rows"] != len(output)
                or checked["k"] < spec.privacy.k
                or (spec.privacy.l > 1 and (checked["l"] or 0) < spec.privacy.l)
            ):
                raise ExtractCheckFailed()
            engine["single_machine"] = single_machine(
                measures,
                compare_rows,
                lambda: _local_run(spec, codes, domains, sensitive, budget - incomplete, incomplete),
            )
    finally:
        if placed is not None:
            placed.release()

    report_progress("write", 0.88)
    report = _report(
        spec,
        extract_id,
        created_at,
        people,
        not_eligible,
        measures,
        incomplete=incomplete,
        outliers=int(outliers.sum()),
        budget=budget,
        coding=coding_report,
        identifiers=identifiers or {},
    )
    if engine is not None:
        report["engine"] = engine | ({"table": joined} if joined is not None else {})
    if choice is not None:
        local = _local_run(spec, codes, domains, sensitive, budget - incomplete, incomplete)
        report["recoding"] = _recoding_report(spec, choice, global_dims, measures, local)
    files, digests = _write(
        Path(out_dir),
        output,
        report,
        spec.privacy.k,
        bom=spec.csv_bom,
        language=spec.report_language,
        parts=spec.engine if spec.engine.name == "spark" else None,
    )
    manifest = _manifest(spec, extract_id, created_at, people, not_eligible, measures, digests, key)
    _write_atomic(Path(out_dir) / MANIFEST_NAME, _json_bytes(manifest))
    files["manifest"] = Path(out_dir) / MANIFEST_NAME
    report_progress("write", 1.0)
    return ExtractResult(extract_id, Path(out_dir), files, report, manifest, key, output, subjects)


def _monotonic(progress: Progress | None) -> Progress:
    """Report progress that never goes back, however the stages' own fractions round."""
    done = [0.0]

    def report(stage: str, fraction: float) -> None:
        done[0] = max(done[0], round(min(fraction, 1.0), 4))
        if progress is not None:
            progress(stage, done[0])

    return report


def _partition(
    spec: ExtractSpec,
    codes: np.ndarray,
    domains: list[Any],
    sensitive: list[np.ndarray],
    progress: Callable[[float], None],
) -> tuple[np.ndarray, dict[str, Any] | None]:
    """Every row's Mondrian partition, by the spec's engine; for Spark, also what the run did."""
    k, l_value = spec.privacy.k, spec.privacy.l
    if spec.engine.name == "local":
        return partition(codes, domains, sensitive, k, l_value, progress), None
    from anonymize.extract.spark import partition_on_spark, spark_session

    session = spark_session(spec.engine.master)
    part, engine = partition_on_spark(session, codes, domains, sensitive, k, l_value, spec.engine, progress)
    return part, engine | {"session": session}


def _global_partition(
    spec: ExtractSpec,
    codes: np.ndarray,
    domains: list[Any],
    sensitive: list[np.ndarray],
    dims: list[int],
    budget: int,
    progress: Callable[[float], None],
) -> tuple[np.ndarray, Choice]:
    """Every row's partition when some quasi-identifiers are recoded globally: the classes of the
    lowest full-domain levels of ``dims`` that reach k and l within ``budget`` suppressed rows
    (:func:`anonymize.extract.recoding.search`), each cut further by Mondrian on the other
    quasi-identifiers. Rows of the classes the search suppressed get partition -1.

    Raises PrivacyModelUnsatisfiable when no level vector reaches k and l within the budget.
    """
    k, l_value = spec.privacy.k, spec.privacy.l
    choice = search(codes, domains, dims, sensitive, k, l_value, budget)
    if choice is None:
        raise PrivacyModelUnsatisfiable(
            f"no level of the globally recoded columns gives every class k = {k} rows"
            + (f" and l = {l_value} sensitive values" if l_value > 1 else "")
            + " within max_suppression"
        )
    progress(0.3)
    part = np.full(codes.shape[1], -1, dtype=np.int64)
    kept = np.flatnonzero(~choice.suppressed)
    local = [j for j in range(codes.shape[0]) if j not in dims]
    if not local:
        part[kept] = _renumber(choice.classes[kept])[0]
        return part, choice
    # Mondrian on the locally recoded columns inside each class of the global ones.
    order = kept[np.argsort(choice.classes[kept], kind="stable")]
    bounds = np.flatnonzero(np.diff(choice.classes[order])) + 1
    offset = 0
    for rows in np.split(order, bounds):
        sub = partition(
            codes[np.ix_(local, rows)], [domains[j] for j in local], [s[rows] for s in sensitive], k, l_value
        )
        part[rows] = sub + offset
        offset += int(sub.max()) + 1
    return part, choice


def _suppress(
    spec: ExtractSpec,
    codes: np.ndarray,
    part: np.ndarray,
    domains: list[Any],
    sensitive: list[np.ndarray],
    budget: int,
    choice: Choice | None,
    fixed: list[int],
) -> np.ndarray:
    """The rows to suppress: the global search's (if any), then outliers within what budget is left."""
    k, l_value = spec.privacy.k, spec.privacy.l
    if choice is None:
        return peel_outliers(codes, part, int(part.max()) + 1, domains, sensitive, k, l_value, budget)
    out = choice.suppressed.copy()
    rows = np.flatnonzero(~out)
    sub, n_parts = _renumber(part[rows])
    peeled = peel_outliers(
        codes[:, rows],
        sub,
        n_parts,
        domains,
        [s[rows] for s in sensitive],
        k,
        l_value,
        budget - int(out.sum()),
        fixed=fixed,
    )
    out[rows[peeled]] = True
    return out


def _local_run(
    spec: ExtractSpec,
    codes: np.ndarray,
    domains: list[Any],
    sensitive: list[np.ndarray],
    budget: int,
    incomplete: int,
) -> Measures:
    """The local engine's local recoding of the same rows, measured: :func:`partition` and
    :func:`_suppress` as :func:`run_extract` calls them, then :func:`measure` on the quasi-identifiers'
    released labels and the sensitive codes (the same classes, k, l and NCP as its released table;
    rows that left as incomplete count as suppressed, as there)."""
    k, l_value = spec.privacy.k, spec.privacy.l
    part = partition(codes, domains, sensitive, k, l_value)
    kept = ~_suppress(spec, codes, part, domains, sensitive, budget, None, [])
    p, n_parts = _renumber(part[kept])
    released = codes[:, kept]
    lo, hi = ranges(released, p, n_parts)
    frame: dict[str, Any] = {}
    penalties: dict[str, np.ndarray] = {}
    for j, col in enumerate(spec.quasi):
        labels, categories, penalty = _released_quasi(domains[j], released[j], p, n_parts, lo[j], hi[j])
        frame[col.output] = pd.Categorical.from_codes(labels[p], categories)
        penalties[col.output] = penalty[p]
    for col, values in zip(spec.sensitive, sensitive, strict=True):
        frame[col.output] = values[kept]
    suppressed = incomplete + codes.shape[1] - int(kept.sum())
    quasi_out, sensitive_out = [c.output for c in spec.quasi], [c.output for c in spec.sensitive]
    return measure(pd.DataFrame(frame), quasi_out, sensitive_out, penalties, suppressed, k)


def _recoding_report(
    spec: ExtractSpec, choice: Choice, dims: list[int], measures: Measures, local: Measures
) -> dict[str, Any]:
    """The report's ``recoding``: each column's recoding, the levels chosen, and the information
    loss of this extract beside that of local recoding alone, for the analyst to choose."""
    columns = {}
    for j, col in enumerate(spec.quasi):
        if j in dims:
            level = choice.levels[j]
            top = len(choice.ladders[j]) - 1
            columns[col.output] = {
                "recoding": "global",
                "level": level,
                "top_level": top,
                "values": choice.level(j).n_groups,
            }
        else:
            columns[col.output] = {"recoding": "local"}
    return {
        "columns": columns,
        "lattice_nodes": choice.nodes,
        "compared": {"this_extract": _loss(measures), "local_only": _loss(local)},
    }


def _loss(measures: Measures) -> dict[str, Any]:
    """What two runs on the same rows are compared by: information loss, classes, k, l, suppression."""
    return {
        "ncp": measures.ncp,
        "ncp_by_column": measures.ncp_by_column,
        "discernibility": measures.discernibility,
        "classes": measures.classes,
        "rows_suppressed": measures.rows_suppressed,
        "k": measures.k,
        "l": measures.l,
    }


def compare_locally(rows: int, bound: int) -> bool:
    """Whether a Spark job of ``rows`` rows is partitioned again by the local engine (at most ``bound``)."""
    return rows <= bound


def single_machine(measures: Measures, bound: int, run_locally: Callable[[], Measures]) -> dict[str, Any]:
    """The Spark report's ``single_machine``: this run's loss beside the local engine's on the same rows.

    Fragments are cut on a sample, so a distributed run may generalize more than one process
    would. Within ``bound`` rows, ``run_locally`` (:func:`_local_run`: the local engine's own
    partition and suppression on the same codes, on the driver) is called and the report states
    both runs with the ratio of their NCP; above it, nothing is run and the report says why.
    """
    out: dict[str, Any] = {"rows": measures.rows_in, "bound": bound}
    if not compare_locally(measures.rows_in, bound):
        return out | {"run": False, "reason": "over_bound"}
    started = time.perf_counter()
    local = run_locally()
    return out | {
        "run": True,
        "seconds": round(time.perf_counter() - started, 3),
        "spark": _loss(measures),
        "local": _loss(local),
        # Spark's NCP in units of the single machine's: 1 means distribution cost nothing.
        "ncp_ratio": measures.ncp / local.ncp if local.ncp > 0 else None,
    }


# -- rows ----------------------------------------------------------------------------------------


def _load_rows(
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


def _join_table(
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


# -- generalization ------------------------------------------------------------------------------


def _generalize(
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


def _check_satisfiable(rows: int, sensitive: list[np.ndarray], spec: ExtractSpec) -> None:
    k, l_value = spec.privacy.k, spec.privacy.l
    if rows < k:
        raise PrivacyModelUnsatisfiable(f"{rows} complete rows cannot form a class of k = {k}")
    if l_value > 1:
        for col, codes in zip(spec.sensitive, sensitive, strict=True):
            if int(codes.max()) + 1 < l_value:
                raise PrivacyModelUnsatisfiable(
                    f"sensitive column {col.name} has fewer than l = {l_value} distinct values in all rows"
                )


def _release(
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
    partition (of ``part`` renumbered by :func:`_renumber`). A quasi-identifier in ``levels`` (index -> the
    global level chosen) releases its rows' whole group at that level, whatever the rows hold."""
    part, n_parts = _renumber(part)
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
            label_codes, categories, penalty = _released_quasi(
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


def _labels_by_part(part: np.ndarray, keep: np.ndarray, labels: Sequence[np.ndarray]) -> np.ndarray:
    """Each partition's released value code of every quasi-identifier (a row per partition of
    ``part``, as the engine numbered them; -1 where every row was suppressed). ``labels`` are
    :func:`_release`'s, by its renumbering of ``part[keep]``."""
    renumbered, _ = _renumber(part[keep])
    out = np.full((int(part.max()) + 1 if part.size else 0, len(labels)), -1, dtype=np.int64)
    for j, codes in enumerate(labels):
        out[part[keep], j] = codes[renumbered]
    return out


def _released_quasi(
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


def _renumber(part: np.ndarray) -> tuple[np.ndarray, int]:
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


# -- outputs -------------------------------------------------------------------------------------


def _report(
    spec: ExtractSpec,
    extract_id: str,
    created_at: str,
    people: Population,
    not_eligible: int,
    measures: Measures,
    *,
    incomplete: int,
    outliers: int,
    budget: int,
    coding: dict[str, dict[str, Any]],
    identifiers: Mapping[str, Mapping[str, str]],
) -> dict[str, Any]:
    columns = []
    for col in spec.columns:
        treatment = ""
        if col.action is not None:
            treatment = str(col.action)
        elif col.hierarchy is not None:
            treatment = col.hierarchy.type
        elif col.coding is not None:
            treatment = f"top/bottom coding at {col.coding.bottom}/{col.coding.top} percentiles"
        entry = {"name": col.name, "role": str(col.role), "as": col.output if col.released else None}
        if col.coding is not None:  # the percentiles, for the report page to word in its language
            entry["coding"] = col.coding.to_dict()
        columns.append(entry | {"treatment": treatment})
    return {
        "extract_id": extract_id,
        "purpose": spec.purpose,
        "description": spec.description,
        "created_at": created_at,
        "spec_sha256": spec.sha256(),
        "spec": spec.to_dict(),
        "privacy_model": spec.privacy.to_dict(),
        "population": {
            "eligible": len(people.eligible),
            "excluded_by_consent": people.excluded_by_consent,
            "excluded_restricted_or_erased": people.excluded_by_state,
            "excluded_by_reason": dict(people.excluded),
            "rows_not_eligible": not_eligible,
        },
        "rows": {
            "in": measures.rows_in,
            "kept": measures.rows_kept,
            "suppressed": measures.rows_suppressed,
            "suppressed_incomplete": incomplete,
            "suppressed_outliers": outliers,
            "suppression_budget": budget,
        },
        "measures": measures.to_dict(),
        "columns": columns,
        "coding": coding,
        # Columns read from a direct identifier: its field type and how it was released.
        "identifiers": {name: dict(use) for name, use in identifiers.items()},
    }


def _manifest(
    spec: ExtractSpec,
    extract_id: str,
    created_at: str,
    people: Population,
    not_eligible: int,
    measures: Measures,
    digests: dict[str, dict[str, Any]],
    key: DataKey | None,
) -> dict[str, Any]:
    return {
        "kind": MANIFEST_KIND,
        "extract_id": extract_id,
        "purpose": spec.purpose,
        "created_at": created_at,
        "spec_sha256": spec.sha256(),
        "parameters": {
            **spec.privacy.to_dict(),
            "quasi": [c.name for c in spec.quasi],
            "sensitive": [c.name for c in spec.sensitive],
            "attributes": [c.name for c in spec.of_role(Role.ATTRIBUTE)],
            "pseudonymized": [c.name for c in spec.of_role(Role.IDENTIFIER) if c.released],
            "dropped": [c.name for c in spec.of_role(Role.IDENTIFIER) if not c.released],
        },
        "counts": {
            "eligible_subjects": len(people.eligible),
            "excluded_by_consent": people.excluded_by_consent,
            "excluded_restricted_or_erased": people.excluded_by_state,
            "rows_not_eligible": not_eligible,
            "rows_in": measures.rows_in,
            "rows_kept": measures.rows_kept,
            "rows_suppressed": measures.rows_suppressed,
            "classes": measures.classes,
        },
        "achieved": {"k": measures.k, "l": measures.l},
        "outputs": digests,
        "pseudonym_key_id": key.key_id if key is not None else None,
    }


def _json_bytes(document: Mapping[str, Any]) -> bytes:
    return (json.dumps(document, ensure_ascii=False, indent=2, sort_keys=False) + "\n").encode("utf-8")


def _write_atomic(path: Path, data: bytes) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    os.replace(partial, path)


def _write(
    out_dir: Path,
    table: pd.DataFrame,
    report: dict[str, Any],
    k: int,
    *,
    bom: bool = False,
    language: str = "zh-CN",
    parts: Engine | None = None,
) -> tuple[dict[str, Path], dict[str, Any]]:
    """Write the data files, the chart and the report; return their paths and digests.

    One ``extract.csv`` and one ``extract.parquet``; with ``parts`` (the Spark
    engine), Parquet files of at most ``parts.part_rows`` rows each
    (``extract-00000.parquet``, ...) and CSV ones beside them when ``parts.csv``.
    The report page is written in each language (``report.zh-CN.html``, ``report.en.html``),
    and as ``report.html`` in ``language``, the spec's; the chart file is in that language too.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    # One Arrow table for both files: pyarrow's CSV writer is an order of magnitude faster than pandas'.
    ready = _arrow_ready(table)
    files: dict[str, Path] = {}
    if parts is None:
        files |= _write_data(out_dir, ready, CSV_NAME, PARQUET_NAME, bom=bom, csv=True)
    else:
        for index, start in enumerate(range(0, max(len(ready), 1), parts.part_rows)):
            piece = ready.iloc[start : start + parts.part_rows]
            csv_name, parquet_name = part_name(index, "csv"), part_name(index, "parquet")
            files |= _write_data(out_dir, piece, csv_name, parquet_name, bom=bom, csv=parts.csv)
    sizes = dict(report["measures"]["class_sizes"])
    charts = {lang: histogram_png(sizes, k, lang) for lang in LANGUAGES}
    _write_atomic(out_dir / CHART_NAME, charts[language])
    digests = {path.name: _digest(path) for path in files.values()}
    digests[CHART_NAME] = _digest(out_dir / CHART_NAME)
    report["outputs"] = digests
    _write_atomic(out_dir / REPORT_JSON, _json_bytes(report))
    pages = {lang: render_html(report, charts[lang], lang).encode("utf-8") for lang in LANGUAGES}
    for lang, page in pages.items():
        _write_atomic(out_dir / report_file(lang), page)
    _write_atomic(out_dir / REPORT_HTML, pages[language])
    written = (REPORT_JSON, REPORT_HTML, *(report_file(lang) for lang in LANGUAGES))
    digests = digests | {name: _digest(out_dir / name) for name in written}
    files |= {
        "chart": out_dir / CHART_NAME,
        "report_json": out_dir / REPORT_JSON,
        "report_html": out_dir / REPORT_HTML,
    } | {f"report_html_{lang}": out_dir / report_file(lang) for lang in LANGUAGES}
    return files, digests


def _write_data(
    out_dir: Path, ready: pd.DataFrame, csv_name: str, parquet_name: str, *, bom: bool, csv: bool
) -> dict[str, Path]:
    """One Parquet file of ``ready`` (and one CSV file, formulas neutralized), each written whole.

    Keys: ``csv`` and ``parquet`` for the single files, the file's name for parts.
    """
    single = parquet_name == PARQUET_NAME
    written: dict[str, Path] = {}
    if csv:
        csv_path = out_dir / csv_name
        partial_csv = csv_path.with_name(csv_name + ".partial")
        with partial_csv.open("wb") as sink:
            if bom:
                sink.write(UTF8_BOM)
            pa_csv.write_csv(pa.Table.from_pandas(neutralize_formulas(ready), preserve_index=False), sink)
        os.replace(partial_csv, csv_path)
        written["csv" if single else csv_name] = csv_path
    parquet_path = out_dir / parquet_name
    partial_parquet = parquet_path.with_name(parquet_name + ".partial")
    pq.write_table(pa.Table.from_pandas(ready, preserve_index=False), partial_parquet)
    os.replace(partial_parquet, parquet_path)
    written["parquet" if single else parquet_name] = parquet_path
    return written


def _arrow_ready(table: pd.DataFrame) -> pd.DataFrame:
    """Object columns of mixed types become strings, which Arrow can store."""
    out = table.copy(deep=False)
    for name in out.columns:
        if out[name].dtype == object:
            kinds = {type(v) for v in out[name].dropna().head(10_000)}
            if len(kinds) > 1:
                out[name] = out[name].map(lambda v: v if v is None or v != v else str(v))
    return out


UTF8_BOM = b"\xef\xbb\xbf"

# What a spreadsheet takes for the start of a formula (OWASP, "CSV Injection").
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralize_formulas(table: pd.DataFrame) -> pd.DataFrame:
    """The table for ``extract.csv``: a text cell opening with a formula trigger gets a leading ``'``.

    OWASP's advice for CSV injection (``=HYPERLINK(...)`` in a stored attribute
    would run when the analyst opens the file): the quote makes a spreadsheet
    show the cell as text. Only text cells: numbers of a numeric column are
    written as numbers (``-1200`` stays ``-1200``), while a text label such as
    the band ``-10--1`` becomes ``'-10--1``. Parquet keeps the values as they are.
    """
    out = table.copy(deep=False)
    for name in out.columns:
        column = out[name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            column = column.astype(object)
        elif not (column.dtype == object or pd.api.types.is_string_dtype(column.dtype)):
            continue
        try:
            # NaN for the cells that are not text: they are left alone.
            starts = column.str.startswith(FORMULA_TRIGGERS, na=False).astype(bool)
        except AttributeError:  # no text in the column at all
            continue
        if starts.any():
            column = column.mask(starts, "'" + column[starts].astype(str))
            out[name] = column
    return out


def _digest(path: Path) -> dict[str, Any]:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return {"sha256": sha.hexdigest(), "bytes": path.stat().st_size}
