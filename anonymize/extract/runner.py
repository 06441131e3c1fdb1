"""Run one extract: population -> rows -> generalize -> suppress -> release -> files, report and manifest.

The runner is Flask-free and storage-free. Its caller (the extract job) injects

* ``population(purpose)``: the eligible subject ids, from the consent service;
* ``rows_provider(eligible_ids)``: the rows of those subjects, decrypted from
  the vault: dicts (one per subject) or pandas DataFrames (batches of rows);

then writes the returned manifest to the audit log and keeps the returned
pseudonym key (wrapped by the KEK) for as long as the extract may be
re-identified, or lets it go to make the pseudonyms permanent.

This module owns the pipeline, partitioning (local, Spark, global recoding), suppression and
the single-machine comparison; the stages around them have their own modules: the rows
(:mod:`anonymize.extract.loading`), generalization and release
(:mod:`anonymize.extract.release`), the report, manifest and files (:mod:`anonymize.extract.writing`).
"""

from __future__ import annotations

import datetime as dt
import math
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from anonymize.extract import loading, release, writing
from anonymize.extract.errors import (
    ExtractCheckFailed,
    InvalidSpec,
    PrivacyModelUnsatisfiable,
    SuppressionBudgetExceeded,
)
from anonymize.extract.metrics import Measures, measure
from anonymize.extract.mondrian import partition, ranges
from anonymize.extract.outputs import (
    MANIFEST_NAME,
)
from anonymize.extract.population import PopulationProvider, resolve_population
from anonymize.extract.pseudonyms import extract_key
from anonymize.extract.recoding import Choice, search
from anonymize.extract.spec import ExtractSpec
from anonymize.extract.spec_parser import parse_spec
from anonymize.extract.suppression import peel_outliers
from fieldtypes import FieldTypeRegistry, default_registry
from vault import DataKey

RowsProvider = Callable[[frozenset[str]], Iterable[Mapping[str, Any] | pd.DataFrame]]
"""``eligible subject ids -> rows``: dicts, or DataFrames of many rows."""

Progress = Callable[[str, float], None]
"""``(stage, overall fraction done)``; stages: population, rows, generalize, suppress, release, write."""

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
    table_keys: loading.TableKeys | None = None,
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
    table, not_eligible = loading.load_rows(
        rows_provider(people.eligible),
        spec,
        people.eligible,
        lambda f: report_progress("rows", 0.02 + 0.28 * f),
    )

    joined = None
    if spec.table is not None:
        table, joined = loading.join_risk_table(spec, table, table_keys, field_types or default_registry())

    report_progress("generalize", 0.30)
    rows_in = len(table)
    budget = math.floor(spec.privacy.max_suppression * rows_in + 1e-9)
    complete, codes, domains, sensitive = release.generalize(table, spec)
    incomplete = rows_in - int(complete.size)
    if incomplete > budget:
        raise SuppressionBudgetExceeded(
            f"{incomplete} of {rows_in} rows have a missing or unusable quasi-identifier or sensitive value; "
            f"max_suppression allows {budget}"
        )
    release.check_satisfiable(complete.size, sensitive, spec)
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
        output, subjects, penalties, coding_report, labels = release.release(
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
                engine.pop("session"),
                placed,
                np.flatnonzero(outliers),
                release.labels_by_part(part, keep, labels),
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
    report = writing.report_document(
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
    files, digests = writing.write_files(
        Path(out_dir),
        output,
        report,
        spec.privacy.k,
        bom=spec.csv_bom,
        language=spec.report_language,
        parts=spec.engine if spec.engine.name == "spark" else None,
    )
    manifest = writing.manifest_document(
        spec, extract_id, created_at, people, not_eligible, measures, digests, key
    )
    writing.write_atomic(Path(out_dir) / MANIFEST_NAME, writing.json_bytes(manifest))
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
        part[kept] = release.renumber(choice.classes[kept])[0]
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
    sub, n_parts = release.renumber(part[rows])
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
    p, n_parts = release.renumber(part[kept])
    released = codes[:, kept]
    lo, hi = ranges(released, p, n_parts)
    frame: dict[str, Any] = {}
    penalties: dict[str, np.ndarray] = {}
    for j, col in enumerate(spec.quasi):
        labels, categories, penalty = release.released_quasi(
            domains[j], released[j], p, n_parts, lo[j], hi[j]
        )
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
