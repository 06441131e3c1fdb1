"""run_extract end to end: pycanon checks privacy; identifiers, pseudonyms, coding, suppression, report."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pycanon import anonymity

from anonymize.extract import (
    InvalidPseudonym,
    InvalidRows,
    Population,
    PrivacyModelUnsatisfiable,
    SuppressionBudgetExceeded,
    parse_spec,
    reidentify,
    run_extract,
)
from anonymize.extract.regions import PROVINCES, greater_region
from tests.anonymize.extract.conftest import everyone, make_rows, provider

QUASI = ["region", "age", "gender", "income", "occupation"]


@pytest.fixture(scope="module")
def extract(tmp_path_factory: pytest.TempPathFactory):
    """One extract of 2000 customers (k=5, l=2), shared by the read-only tests."""
    from tests.anonymize.extract.conftest import SPEC

    rows = make_rows(2000)
    stages: list[tuple[str, float]] = []
    out = tmp_path_factory.mktemp("extract")
    result = run_extract(
        parse_spec(SPEC),
        provider(rows),
        everyone(rows, no_consent=37, restricted=2),
        out,
        progress=lambda s, f: stages.append((s, f)),
    )
    return result, rows, stages


def read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def test_pycanon_confirms_k_anonymity_and_l_diversity(extract) -> None:
    result, _, _ = extract
    table = read_csv(result.files["csv"])
    assert anonymity.k_anonymity(table, QUASI) >= 5
    assert anonymity.l_diversity(table, QUASI, ["credit_grade"]) >= 2
    assert anonymity.k_anonymity(table, QUASI) == result.report["measures"]["k"]
    assert anonymity.l_diversity(table, QUASI, ["credit_grade"]) == result.report["measures"]["l"]


def test_parquet_holds_the_same_table_as_csv(extract) -> None:
    result, _, _ = extract
    parquet = pd.read_parquet(result.files["parquet"])
    csv = read_csv(result.files["csv"])
    assert list(parquet.columns) == list(csv.columns)
    for name in QUASI + ["subject_id", "credit_grade"]:
        assert parquet[name].astype(str).tolist() == csv[name].tolist()
    assert np.allclose(parquet["debt_ratio"].to_numpy(float), csv["debt_ratio"].astype(float))
    assert anonymity.k_anonymity(parquet.astype({c: str for c in QUASI}), QUASI) >= 5


def test_identifiers_are_dropped_and_never_written(extract) -> None:
    result, rows, _ = extract
    table = read_csv(result.files["csv"])
    assert list(table.columns) == [
        "subject_id", "region", "age", "gender", "income", "occupation",
        "credit_grade", "default_24m", "debt_ratio",
    ]  # fmt: skip
    written = b"".join(path.read_bytes() for path in result.files.values())
    for row in rows[:200]:
        for field in ("subject_id", "name", "mobile", "resident_id"):
            assert row[field].encode() not in written, field


def test_released_values_are_generalizations_of_the_inputs(extract) -> None:
    result, rows, _ = extract
    by_subject = {r["subject_id"]: r for r in rows}
    table = result.table
    matched = 0
    for pseudonym_text, region, age in zip(
        table["subject_id"][:50], table["region"][:50], table["age"][:50], strict=True
    ):
        subject = reidentify(pseudonym_text, result.key, by_subject)
        row = by_subject[subject]
        low, _, high = age.partition("-")
        assert int(low) <= row["age"] <= int(high or low) + 4  # bands of 5
        code = row["resident_id"]
        names = (PROVINCES[code[:2]], greater_region(code[:2]), code[:4])
        assert region == "*" or any(name in region for name in names), (region, names)
        matched += 1
    assert matched == 50


def test_pseudonyms_differ_between_two_extracts_and_reidentify_only_with_their_key(extract, tmp_path) -> None:
    from tests.anonymize.extract.conftest import SPEC

    result, rows, _ = extract
    again = run_extract(parse_spec(SPEC), provider(rows), everyone(rows), tmp_path)
    first, second = set(result.table["subject_id"]), set(again.table["subject_id"])
    assert len(first) == len(result.table) and not first & second
    assert result.key is not None and again.key is not None and result.key.key_id != again.key.key_id
    candidates = [r["subject_id"] for r in rows]
    one = result.table["subject_id"].iloc[0]
    subject = reidentify(one, result.key, candidates)
    assert subject in candidates
    assert reidentify(one, again.key, candidates) is None
    assert result.manifest["pseudonym_key_id"] == result.key.key_id
    with pytest.raises(InvalidPseudonym):
        reidentify("not-a-pseudonym", result.key, candidates)


def test_top_and_bottom_coding_clip_at_the_percentiles(extract) -> None:
    result, _, _ = extract
    coding = result.report["coding"]["debt_ratio"]
    values = result.table["debt_ratio"].to_numpy(float)
    assert values.min() == pytest.approx(coding["bottom_value"])
    assert values.max() == pytest.approx(coding["top_value"])
    assert coding["bottom_coded"] > 0 and coding["top_coded"] > 0
    # About 5% of rows sit at each end.
    assert (values == values.min()).sum() >= coding["bottom_coded"]
    assert abs(coding["top_coded"] - 0.05 * len(values)) < 0.02 * len(values)


def test_the_report_agrees_with_the_released_table(extract) -> None:
    result, rows, _ = extract
    report, measures = result.report, result.report["measures"]
    table = read_csv(result.files["csv"])
    sizes = table.groupby(QUASI).size()
    diversity = table.groupby(QUASI)["credit_grade"].nunique()
    assert measures["k"] == sizes.min()
    assert measures["l"] == diversity.min()
    assert measures["classes"] == len(sizes)
    assert measures["rows_kept"] == len(table) == report["rows"]["kept"]
    assert report["rows"]["in"] == len(rows) == measures["rows_kept"] + measures["rows_suppressed"]
    assert measures["prosecutor_risk_max"] == pytest.approx(1 / sizes.min())
    assert measures["prosecutor_risk_avg"] == pytest.approx(len(sizes) / len(table))
    suppressed = measures["rows_suppressed"]
    assert measures["discernibility"] == int((sizes**2).sum()) + suppressed * len(rows)
    assert dict(measures["class_sizes"]) == sizes.value_counts().to_dict()
    assert measures["normalized_avg_class_size"] == pytest.approx(len(table) / len(sizes) / 5)
    assert report["population"] == {
        "eligible": 2000,
        "excluded_by_consent": 37,
        "excluded_restricted_or_erased": 2,
        "excluded_by_reason": {"no_consent": 37, "restricted": 2},
        "rows_not_eligible": 0,
    }
    # NCP of the age and gender columns, recomputed from the labels alone.
    ages = [r["age"] for r in rows]
    extent = (max(ages) // 5 * 5 + 4) - (min(ages) // 5 * 5)
    bounds = table["age"].str.split("-", expand=True).astype(int)
    age_ncp = ((bounds[1] - bounds[0]).sum() / extent + suppressed) / len(rows)
    assert measures["ncp_by_column"]["age"] == pytest.approx(age_ncp)
    gender_ncp = ((table["gender"] == "*").sum() + suppressed) / len(rows)
    assert measures["ncp_by_column"]["gender"] == pytest.approx(gender_ncp)
    assert measures["ncp"] == pytest.approx(np.mean(list(measures["ncp_by_column"].values())))


def test_files_match_the_manifest_and_the_html_is_self_contained(extract) -> None:
    result, _, _ = extract
    manifest = result.manifest
    for name, digest in manifest["outputs"].items():
        data = (result.out_dir / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == digest["sha256"] and len(data) == digest["bytes"]
    assert json.loads((result.out_dir / "manifest.json").read_text("utf-8")) == manifest
    assert json.loads(result.files["report_json"].read_text("utf-8")) == result.report
    assert manifest["spec_sha256"] == parse_spec(result.report["spec"]).sha256()
    assert manifest["counts"]["rows_kept"] == result.report["rows"]["kept"]
    assert manifest["achieved"] == {"k": result.report["measures"]["k"], "l": result.report["measures"]["l"]}
    assert manifest["parameters"]["dropped"] == ["name", "mobile"]
    png = result.files["chart"].read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    page = result.files["report_html"].read_text("utf-8")
    assert base64.b64encode(png).decode() in page
    assert not re.search(r"(?:src|href)=[\"']?(?:https?:)?//", page)
    assert "因同意排除" in page
    assert "Excluded: consent" in result.files["report_html_en"].read_text("utf-8")


def test_progress_moves_forward_and_finishes(extract) -> None:
    _, _, stages = extract
    fractions = [f for _, f in stages]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert [s for s, _ in stages][0] == "population"
    assert {"rows", "generalize", "suppress", "release", "write"} <= {s for s, _ in stages}


def test_rows_outside_the_population_are_dropped_and_counted(spec_document, tmp_path) -> None:
    rows = make_rows(600)
    eligible = [r["subject_id"] for r in rows[:500]]
    result = run_extract(
        parse_spec(spec_document),
        provider(rows),
        lambda purpose: Population.of(eligible, no_consent=100),
        tmp_path,
    )
    assert result.report["population"]["rows_not_eligible"] == 100
    assert result.report["population"]["excluded_by_consent"] == 100
    assert result.report["rows"]["in"] == 500
    kept = {reidentify(p, result.key, eligible) for p in result.table["subject_id"]}
    assert None not in kept


def test_the_population_may_be_plain_ids_and_rows_may_come_as_dataframes(spec_document, tmp_path) -> None:
    rows = make_rows(500)
    frame = pd.DataFrame(rows)
    batches = lambda eligible: [frame.iloc[:200], frame.iloc[200:]]  # noqa: E731
    result = run_extract(parse_spec(spec_document), batches, lambda p: frame["subject_id"].tolist(), tmp_path)
    assert result.report["rows"]["in"] == 500
    assert result.report["population"]["excluded_by_consent"] == 0


def test_incomplete_rows_are_suppressed_within_the_budget(spec_document, tmp_path) -> None:
    rows = make_rows(1000)
    for row in rows[:15]:
        row["age"] = None
    for row in rows[15:20]:
        row["resident_id"] = "99" + row["resident_id"][2:]  # no such province
    spec_document["privacy"]["max_suppression"] = 0.02
    result = run_extract(parse_spec(spec_document), provider(rows), everyone(rows), tmp_path)
    assert result.report["rows"]["suppressed_incomplete"] == 20
    assert result.report["rows"]["suppressed"] <= result.report["rows"]["suppression_budget"] == 20
    assert result.report["rows"]["kept"] == 1000 - result.report["rows"]["suppressed"]


def test_more_incomplete_rows_than_the_budget_fail(spec_document, tmp_path) -> None:
    rows = make_rows(1000)
    for row in rows[:21]:
        row["credit_grade"] = None
    spec_document["privacy"]["max_suppression"] = 0.02
    with pytest.raises(SuppressionBudgetExceeded, match="21 of 1000 rows .* allows 20"):
        run_extract(parse_spec(spec_document), provider(rows), everyone(rows), tmp_path)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("budget", [0.0, 0.01, 0.05])
def test_outlier_suppression_respects_the_budget_and_never_raises_ncp(
    spec_document, tmp_path, budget
) -> None:
    rows = make_rows(800, seed=5)
    for row in rows[:6]:
        row["income"] = 900_000.0 + row["income"]  # a few extreme incomes
    spec_document["columns"]["income"]["hierarchy"] = {"type": "intervals", "width": 1000}
    spec_document["privacy"]["max_suppression"] = budget
    result = run_extract(parse_spec(spec_document), provider(rows), everyone(rows), tmp_path / str(budget))
    suppressed = result.report["rows"]["suppressed"]
    assert suppressed <= int(budget * 800)
    if budget == 0.0:
        assert suppressed == 0
    else:
        baseline = run_extract(
            parse_spec(spec_document | {"privacy": {"k": 5, "l": 2}}),
            provider(rows),
            everyone(rows),
            tmp_path / "0",
        )
        assert suppressed > 0
        assert result.report["measures"]["ncp"] < baseline.report["measures"]["ncp"]
    table = result.table
    assert anonymity.k_anonymity(table.astype(str), QUASI) >= 5


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"privacy": {"k": 5000}}, "cannot form a class of k = 5000"),
        ({"privacy": {"k": 10, "l": 6}}, "fewer than l = 6 distinct values"),
    ],
)
def test_an_unsatisfiable_model_fails_before_writing(spec_document, tmp_path, change, message) -> None:
    rows = make_rows(300)
    with pytest.raises(PrivacyModelUnsatisfiable, match=message):
        run_extract(parse_spec(spec_document | change), provider(rows), everyone(rows), tmp_path)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (lambda rows: [rows[0], rows[0], *rows[1:]], "more than one row"),
        (lambda rows: ["not a row"], "mappings"),
        (
            lambda rows: [dict(r, debt_ratio="high") if i == 3 else r for i, r in enumerate(rows)],
            "non-numeric",
        ),
    ],
)
def test_bad_rows_are_refused(spec_document, tmp_path, rows: Any, message: str) -> None:
    base = make_rows(200)
    with pytest.raises(InvalidRows, match=message) as caught:
        run_extract(parse_spec(spec_document), provider(rows(base)), everyone(base), tmp_path)
    assert "sub_" not in str(caught.value) and "high" not in str(caught.value)  # no values in errors


def test_without_pseudonyms_there_is_no_key(spec_document, tmp_path) -> None:
    spec_document["columns"]["subject_id"]["action"] = "drop"
    rows = make_rows(300)
    result = run_extract(parse_spec(spec_document), provider(rows), everyone(rows), tmp_path)
    assert result.key is None and result.manifest["pseudonym_key_id"] is None
    assert "subject_id" not in result.table.columns
