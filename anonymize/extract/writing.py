"""What an extract writes: the report and manifest documents, and the files - CSV (formulas
neutralized) and Parquet, whole or in Spark's parts, the chart, the report pages in each
language - each written atomically and hashed.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from anonymize.extract.metrics import Measures
from anonymize.extract.outputs import (
    CHART_NAME,
    CSV_NAME,
    PARQUET_NAME,
    REPORT_HTML,
    REPORT_JSON,
    part_name,
)
from anonymize.extract.population import Population
from anonymize.extract.report import render_html, report_file
from anonymize.extract.report_chart import histogram_png
from anonymize.extract.report_words import LANGUAGES
from anonymize.extract.spec import Engine, ExtractSpec, Role
from vault import DataKey

MANIFEST_KIND = "piivault.extract.manifest/v1"


def report_document(
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


def manifest_document(
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


def json_bytes(document: Mapping[str, Any]) -> bytes:
    return (json.dumps(document, ensure_ascii=False, indent=2, sort_keys=False) + "\n").encode("utf-8")


def write_atomic(path: Path, data: bytes) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    os.replace(partial, path)


def write_files(
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
    write_atomic(out_dir / CHART_NAME, charts[language])
    digests = {path.name: _digest(path) for path in files.values()}
    digests[CHART_NAME] = _digest(out_dir / CHART_NAME)
    report["outputs"] = digests
    write_atomic(out_dir / REPORT_JSON, json_bytes(report))
    pages = {lang: render_html(report, charts[lang], lang).encode("utf-8") for lang in LANGUAGES}
    for lang, page in pages.items():
        write_atomic(out_dir / report_file(lang), page)
    write_atomic(out_dir / REPORT_HTML, pages[language])
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
