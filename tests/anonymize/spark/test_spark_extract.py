"""The Spark engine: same Mondrian core on fragments, same guarantees and outputs as the local engine."""

from __future__ import annotations

import copy
import dataclasses
import html
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pycanon import anonymity

from anonymize.extract import parse_spec, run_extract
from anonymize.extract._checks import Problems
from anonymize.extract.domain import IntervalDomain
from anonymize.extract.errors import InvalidRows, InvalidSpec
from anonymize.extract.identifiers import table_problems
from anonymize.extract.mondrian import FragmentTree, first_cuts
from anonymize.extract.report_words import TERMS, TITLES
from anonymize.extract.runner import DEFAULT_COMPARE_ROWS
from anonymize.extract.spark import Placed, _repair, verify_release
from anonymize.extract.table import CHANGED, check_schema, checked, head
from fieldtypes import default_registry
from tests.anonymize.extract.conftest import SPEC, everyone, make_rows, provider

QUASI = ["region", "age", "gender", "income", "occupation"]
SPARK = {"master": "local[2]", "fragment_rows": 1000, "sample_rows": 1500, "part_rows": 1000}


def spark_spec(**spark: Any) -> dict[str, Any]:
    document = copy.deepcopy(SPEC)
    document["engine"] = "spark"
    document["spark"] = SPARK | spark
    return document


@pytest.fixture(scope="module")
def both(spark, tmp_path_factory: pytest.TempPathFactory):
    """3000 customers through both engines (k=5, l=2); 40 without consent."""
    rows = make_rows(3000)
    population = everyone(rows[:-40])
    local = run_extract(parse_spec(SPEC), provider(rows), population, tmp_path_factory.mktemp("local"))
    on_spark = run_extract(
        parse_spec(spark_spec()), provider(rows), population, tmp_path_factory.mktemp("spark")
    )
    return local, on_spark, rows


def test_spark_run_is_k_anonymous_and_l_diverse_by_pycanon(both) -> None:
    _, result, _ = both
    parts = [path for name, path in result.files.items() if name.startswith("extract-")]
    table = pd.concat([pd.read_parquet(path) for path in parts], ignore_index=True).astype(str)
    assert anonymity.k_anonymity(table, QUASI) >= 5
    assert anonymity.l_diversity(table, QUASI, ["credit_grade"]) >= 2
    assert result.report["measures"]["k"] == anonymity.k_anonymity(table, QUASI)


def test_spark_run_reports_fragments_and_its_own_distributed_check(both) -> None:
    _, result, _ = both
    engine = result.report["engine"]
    assert engine["name"] == "spark" and engine["master"] == "local[2]"
    assert engine["fragments"] >= 2  # 2960 rows in fragments of at most ~1000
    assert engine["fragment_sizes"]["min"] >= 5
    assert engine["verified"]["k"] == result.report["measures"]["k"] >= 5
    assert engine["verified"]["l"] == result.report["measures"]["l"] >= 2
    assert engine["verified"]["classes"] == result.report["measures"]["classes"]
    assert result.manifest["achieved"] == {
        "k": result.report["measures"]["k"],
        "l": result.report["measures"]["l"],
    }
    assert result.report["spec"]["engine"] == "spark"


def test_both_engines_release_the_same_population_with_comparable_loss(both) -> None:
    local, on_spark, rows = both
    assert local.report["population"] == on_spark.report["population"]
    assert local.report["rows"]["in"] == on_spark.report["rows"]["in"] == 2960
    # Suppression spends the same budget; the released subjects are the eligible ones only.
    excluded = {r["subject_id"] for r in rows[-40:]}
    for result in (local, on_spark):
        assert not excluded & set(result.subjects)
        assert len(result.subjects) == result.report["rows"]["kept"]
    # Fragments cost some precision (cuts made on a sample), not much.
    ncp_local, ncp_spark = local.report["measures"]["ncp"], on_spark.report["measures"]["ncp"]
    assert ncp_spark <= ncp_local * 1.25 + 0.02
    assert "engine" not in local.report and "engine" not in local.report["spec"]


def test_the_report_states_a_single_machine_run_of_the_same_rows_beside_its_own(both) -> None:
    local, on_spark, _ = both
    compared = on_spark.report["engine"]["single_machine"]
    assert compared["run"] is True
    assert compared["rows"] == 2960 and compared["bound"] == DEFAULT_COMPARE_ROWS
    # The single machine's figures are the local engine's own, run on the same rows by run_extract.
    alone, spark = local.report["measures"], on_spark.report["measures"]
    for name in ("k", "l", "classes", "rows_suppressed", "discernibility"):
        assert compared["local"][name] == alone[name], name
        assert compared["spark"][name] == spark[name], name
    assert compared["local"]["ncp"] == pytest.approx(alone["ncp"], rel=1e-12)
    assert compared["local"]["ncp_by_column"] == pytest.approx(alone["ncp_by_column"], rel=1e-12)
    assert compared["spark"]["ncp"] == spark["ncp"]
    assert compared["ncp_ratio"] == pytest.approx(spark["ncp"] / alone["ncp"])
    # Machine-readable as the report holds it.
    assert json.loads(on_spark.files["report_json"].read_text("utf-8"))["engine"] == on_spark.report["engine"]
    # Each page states the fragment count, both NCP figures and their ratio, each explained.
    engine = on_spark.report["engine"]
    for language, lang in (("zh-CN", "zh"), ("en", "en")):
        page = on_spark.files[f"report_html_{language}"].read_text("utf-8")
        sizes = engine["fragment_sizes"]
        fragments = TITLES[lang]["fragment_sizes"].format(
            count=engine["fragments"], min=f"{sizes['min']:,}", max=f"{sizes['max']:,}"
        )
        assert html.escape(fragments) in page, language
        for term in ("fragments", "single_machine", "ncp_ratio"):
            name, explain = TERMS[lang][term]
            assert html.escape(name) in page and html.escape(explain) in page, (language, term)
        assert f"<td>{spark['ncp']:.4f}</td>" in page and f"<td>{alone['ncp']:.4f}</td>" in page
        assert f">{compared['ncp_ratio']:.3f}<" in page


def test_spark_outputs_match_the_local_engine_files(both) -> None:
    local, on_spark, _ = both
    # Parquet in parts of at most part_rows rows (no CSV unless asked), hashed in the manifest.
    parts = sorted(name for name in on_spark.files if name.startswith("extract-"))
    assert parts == ["extract-00000.parquet", "extract-00001.parquet", "extract-00002.parquet"]
    assert set(on_spark.manifest["outputs"]) == set(local.manifest["outputs"]) - {
        "extract.csv",
        "extract.parquet",
    } | set(parts)
    released = pd.concat([pd.read_parquet(on_spark.files[name]) for name in parts], ignore_index=True)
    assert list(released.columns) == list(local.table.columns)
    assert (
        len(released) == len(on_spark.table)
        and max(len(pd.read_parquet(on_spark.files[name])) for name in parts) <= 1000
    )
    # Pseudonyms under each extract's own key.
    assert on_spark.key is not None and on_spark.key.key_id != local.key.key_id
    assert not set(on_spark.table["subject_id"]) & set(local.table["subject_id"])


def test_verify_release_counts_classes_where_the_executors_hold_the_rows(spark) -> None:
    """Spark's check counts classes by released values, not partitions: two partitions releasing
    the same values are one class; suppressed rows, and a partition left empty, count nowhere."""
    rows = pd.DataFrame(
        {
            "row": [0, 1, 2, 3, 4, 5],
            "fragment": [0, 0, 0, 1, 1, 1],
            "part": [0, 0, 0, 0, 0, 1],
            "s0": [1, 2, 2, 3, 3, 4],
        }
    )
    placed = Placed(spark.createDataFrame(rows), np.array([0, 7, 8]), 7, 1)
    # Partitions 1 and 2 release the same value (1): one class of rows 3, 4, 5; row 2 suppressed.
    same = verify_release(spark, placed, np.array([2]), np.array([[0], [1], [1]]))
    assert same == {"k": 2, "l": 2, "classes": 2, "rows": 5}
    # Partition 2 wholly suppressed: the class of rows 3 and 4 holds one sensitive value.
    alone = verify_release(spark, placed, np.array([5]), np.array([[0], [1], [-1]]))
    assert alone == {"k": 2, "l": 1, "classes": 2, "rows": 5}


def _domain(n_leaves: int) -> IntervalDomain:
    return parse_spec(SPEC).quasi[1].hierarchy.fit(pd.Series(np.arange(n_leaves) + 18)).domain


def test_first_cuts_leave_fragments_within_the_budget_and_cover_every_row() -> None:
    rng = np.random.default_rng(3)
    domain = _domain(60)
    codes = rng.integers(0, domain.n_leaves, (2, 5000))
    fitted = [domain, domain]
    tree = first_cuts(codes, fitted, [rng.integers(0, 4, 5000)], 5, 2, 800)
    leaf = tree.leaves(codes)
    sizes = np.bincount(leaf)[np.unique(leaf)]
    assert len(sizes) >= 7 and sizes.sum() == 5000
    assert sizes.max() <= 800


def test_repair_undoes_a_cut_that_leaves_a_fragment_below_k() -> None:
    codes = np.array([[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]])
    tree = FragmentTree()
    low, _ = tree.split(0, 0, 8)  # 8 rows left, 2 right: below k = 3
    tree.split(low, 0, 4)  # 4 and 4: fine
    leaf = _repair(tree, codes, [np.zeros(10, dtype=np.int64)], 3, 1)
    assert sorted(np.bincount(leaf)[np.unique(leaf)]) == [10]


def _with_table(path: Any, rows: list[dict[str, Any]], attribute: str) -> tuple[dict[str, Any], list]:
    """A Spark spec joining the table at ``path`` by subject id (``cif``): the credit grade and
    ``attribute`` from it; and the vault's rows without the grade."""
    document = spark_spec() | {"table": {"path": str(path), "key": "cif", "matches": "subject_id"}}
    document["columns"] = copy.deepcopy(SPEC["columns"]) | {
        "credit_grade": {"role": "sensitive", "source": "table.grade"},
        attribute: {"role": "attribute", "source": f"table.{attribute}"},
    }
    return document, [{k: v for k, v in r.items() if k != "credit_grade"} for r in rows]


def test_a_risk_table_joined_by_subject_id_and_its_bad_rows(spark, tmp_path) -> None:
    """Features from a Parquet table by subject id: a subject the vault leaves out stays out; a
    subject without a row leaves; a subject with two rows, or a missing column, is refused."""
    rows = make_rows(300)
    features = pd.DataFrame(
        {
            "cif": [r["subject_id"] for r in rows],
            "grade": [r["credit_grade"] for r in rows],
            "tag": range(300),
        }
    )
    features.iloc[5:].to_parquet(tmp_path / "risk.parquet")  # the first five have no row
    document, vault_rows = _with_table(tmp_path / "risk.parquet", rows, "tag")
    result = run_extract(
        parse_spec(document), provider(vault_rows), everyone(vault_rows[:-50]), tmp_path / "out"
    )
    assert set(result.table["tag"]) <= set(range(5, 250))  # neither the five nor the 50 left out
    assert result.report["engine"]["table"]["eligible_without_row"] == 5
    assert result.report["rows"]["in"] == result.report["engine"]["table"]["rows_joined"] == 245

    pd.concat([features, features.iloc[[7]]]).to_parquet(tmp_path / "twice.parquet")
    document["table"]["path"] = str(tmp_path / "twice.parquet")
    with pytest.raises(InvalidRows, match="more than one row"):
        run_extract(parse_spec(document), provider(vault_rows), everyone(vault_rows), tmp_path / "out2")
    document["columns"]["tag"]["source"] = "table.tags"
    with pytest.raises(InvalidRows, match="no column tags"):
        run_extract(parse_spec(document), provider(vault_rows), everyone(vault_rows), tmp_path / "out3")


def test_a_risk_tables_mobile_column_fails_the_job_before_anything_is_written(spark, tmp_path) -> None:
    """Issue 20: the joined rows are scanned before release (the table may have changed since the
    spec was checked, and a remote one is read only here): a column of mobiles released as an
    attribute fails the run naming the column and the type, and no file is left."""
    rows = make_rows(300)
    pd.DataFrame(
        {
            "cif": [r["subject_id"] for r in rows],
            "grade": [r["credit_grade"] for r in rows],
            "contact": [r["mobile"] for r in rows],
        }
    ).to_parquet(tmp_path / "risk.parquet")
    document, vault_rows = _with_table(tmp_path / "risk.parquet", rows, "contact")
    with pytest.raises(InvalidSpec) as caught:
        run_extract(parse_spec(document), provider(vault_rows), everyone(vault_rows), tmp_path / "out")
    (message,) = caught.value.errors["columns.contact"]
    assert message.startswith("table column contact holds field type cn_mobile (")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_table_changed_after_submit_fails_its_job_with_the_reason_and_no_files(
    spark, container, tmp_path
) -> None:
    """Issue 20: the spec passed at submit; the bank then put its customers' mobiles in the column
    the spec releases as a sensitive value. The job fails, saying which column holds what, and
    leaves no file behind."""
    from tests.anonymize.extract.test_jobs import _customers, _row, _submit

    service = container.extracts
    service.extract_dir = tmp_path / "extracts"
    service.table_roots = frozenset({str(tmp_path / "bank")})
    _customers(container, service, 12)
    (tmp_path / "bank").mkdir()
    path = tmp_path / "bank" / "risk.parquet"
    cif = [f"subject-{i:04d}" for i in range(12)]
    pd.DataFrame({"cif": cif, "grade": ["AB"[i % 2] for i in range(12)]}).to_parquet(path)
    spec = {
        "purpose": "risk_scoring",
        "engine": "spark",
        "spark": {"master": "local[1]"},
        "table": {"path": str(path), "key": "cif", "matches": "subject_id"},
        "columns": {
            "subject_id": {"role": "identifier", "action": "pseudonym"},
            "age": {"role": "quasi", "hierarchy": {"type": "age_bands"}},
            "grade": {"role": "sensitive", "source": "table.grade"},
        },
        "privacy": {"k": 2},
    }
    extract_id = _submit(container, service, spec)
    pd.DataFrame({"cif": cif, "grade": [f"139{i:08d}" for i in range(12)]}).to_parquet(path)
    job = service.run_one(extract_id, "test")
    assert job["state"] == "failed"
    row = _row(container, extract_id)
    assert row.error_code == "invalid_extract_spec"
    assert "columns.grade: table column grade holds field type cn_mobile (12 of 12" in row.error_detail
    assert "13900000000" not in row.error_detail
    assert not (tmp_path / "extracts" / extract_id).exists()


def _partitioned(root: Path, rows: list[dict[str, Any]], by: str, values: list[Any]) -> None:
    """The rows' ``cif`` and ``tag`` as a table partitioned by directory: ``root/<by>=<value>/``
    holds the rows of that value, which no file holds as a column."""
    frame = pd.DataFrame({"cif": [r["subject_id"] for r in rows], "tag": range(len(rows)), by: values})
    for value, group in frame.groupby(by):
        (root / f"{by}={value}").mkdir(parents=True)
        group.drop(columns=by).to_parquet(root / f"{by}={value}" / "part-0.parquet")


def _checked(document: dict[str, Any], roots: list[str]) -> Any:
    """The spec with its table checked against ``roots``, as a job starts it."""
    spec = parse_spec(document)
    return dataclasses.replace(spec, table=checked(spec.table, roots))


def test_a_tables_partition_directories_are_columns_under_the_same_checks(spark, tmp_path) -> None:
    """Issue 20: a table partitioned as grade=A/part-0.parquet releases its partition column,
    read from the directory names, each subject with its own grade; the column passes the checks
    any column does: the schema check sees it, and a partition of mobiles is a direct identifier."""
    rows = make_rows(300)
    _partitioned(tmp_path / "risk", rows, "grade", [r["credit_grade"] for r in rows])
    document, vault_rows = _with_table(tmp_path / "risk", rows, "tag")
    spec = _checked(document, [str(tmp_path)])
    check_schema(spec.table, spec.read)  # grade is a column of the table
    result = run_extract(spec, provider(vault_rows), everyone(vault_rows), tmp_path / "out")
    grade = {r["subject_id"]: r["credit_grade"] for r in rows}
    assert result.report["rows"]["kept"] > 250
    assert list(result.table["credit_grade"]) == [grade[s] for s in result.subjects]

    _partitioned(tmp_path / "phones", rows[:40], "phone", [r["mobile"] for r in rows[:40]])
    document = _with_table(tmp_path / "phones", rows, "phone")[0]
    spec = _checked(document, [str(tmp_path)])
    problems = Problems()
    table_problems(head(spec.table, ["phone", "tag"], 40), spec.read, default_registry(), problems)
    assert dict(problems)["columns.phone"][0].startswith("table column phone holds field type cn_mobile (")


def test_a_directory_swapped_for_a_link_between_check_and_read_releases_nothing(spark, tmp_path) -> None:
    """Issue 20 (TOCTOU): the table was checked; before Spark reads it, a directory under the
    root becomes a symbolic link to a copy outside the roots. Spark follows the link, and the
    job, seeing the directory is not the one checked, fails and writes nothing."""
    rows = make_rows(300)
    _partitioned(tmp_path / "risk", rows, "grade", [r["credit_grade"] for r in rows])
    shutil.copytree(tmp_path / "risk", tmp_path / "outside")
    document, vault_rows = _with_table(tmp_path / "risk", rows, "tag")
    spec = _checked(document, [str(tmp_path / "risk")])
    swapped: list[str] = []

    def swap_before_the_read(stage: str, fraction: float) -> None:  # the rows load before the join
        if stage == "rows" and not swapped:
            shutil.rmtree(tmp_path / "risk" / "grade=A")
            os.symlink(tmp_path / "outside" / "grade=A", tmp_path / "risk" / "grade=A")
            swapped.append(stage)

    with pytest.raises(InvalidSpec) as caught:
        run_extract(spec, provider(vault_rows), everyone(vault_rows), tmp_path / "out", swap_before_the_read)
    assert swapped and caught.value.errors == {"table.path": [CHANGED]}
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
