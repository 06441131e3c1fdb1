"""Issue 21: global (full-domain) recoding, per extract or per quasi-identifier: every row of a
globally recoded column at one level of its hierarchy, k and l kept (pycanon), the level and the
information loss beside local recoding's in the report; the Spark engine refuses it."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from pycanon import anonymity

from anonymize.extract import InvalidSpec, parse_spec, run_extract
from anonymize.extract.recoding import ladder
from tests.anonymize.extract.conftest import SPEC, everyone, make_rows, provider

QUASI = ["region", "age", "gender", "income", "occupation"]
ROWS = make_rows(1200)


def _run(tmp_path, spec):
    return run_extract(parse_spec(spec), provider(ROWS), everyone(ROWS), tmp_path)


@pytest.fixture(scope="module")
def everything_global(tmp_path_factory):
    spec = copy.deepcopy(SPEC)
    spec["privacy"]["recoding"] = "global"
    return spec, _run(tmp_path_factory.mktemp("global"), spec)


@pytest.fixture(scope="module")
def age_and_income_global(tmp_path_factory):
    spec = copy.deepcopy(SPEC)
    spec["columns"]["age"]["recoding"] = "global"
    spec["columns"]["income"]["recoding"] = "global"
    return spec, _run(tmp_path_factory.mktemp("mixed"), spec)


def _one_level(spec: dict, result, output: str) -> int:
    """The level of the column's ladder whose groups the released labels are exactly (fails if none):
    each leaf is released as one label, and the labels split the leaves as that level does."""
    parsed = parse_spec(spec)
    column = next(c for c in parsed.quasi if c.output == output)
    source = pd.DataFrame(ROWS).set_index("subject_id")[column.source]
    fitted = column.hierarchy.fit(source)  # the domain the run fitted (every row is complete here)
    leaves = pd.Series(fitted.codes, index=source.index).loc[list(result.subjects)].to_numpy()
    labels = result.table[output].astype(str).to_numpy()
    pairs = pd.DataFrame({"leaf": leaves, "label": labels}).drop_duplicates()
    assert not pairs["leaf"].duplicated().any(), f"{output}: a leaf released under two labels"
    for index, level in enumerate(ladder(fitted.domain)):
        groups = pd.Series(level.groups[pairs["leaf"].to_numpy()])
        if (groups.groupby(pairs["label"].to_numpy()).nunique() == 1).all() and (
            pd.Series(pairs["label"].to_numpy()).groupby(groups.to_numpy()).nunique() == 1
        ).all():
            return index
    raise AssertionError(f"{output}: the labels are no single level of the hierarchy")


def test_every_row_of_a_globally_recoded_column_is_at_one_level(everything_global) -> None:
    spec, result = everything_global
    recoding = result.report["recoding"]["columns"]
    for output in QUASI:
        assert recoding[output]["recoding"] == "global"
        assert _one_level(spec, result, output) == recoding[output]["level"], output


def test_global_recoding_keeps_k_and_l(everything_global, age_and_income_global) -> None:
    for _, result in (everything_global, age_and_income_global):
        table = pd.read_csv(result.files["csv"], dtype=str, keep_default_na=False)
        assert anonymity.k_anonymity(table, QUASI) >= 5
        assert anonymity.l_diversity(table, QUASI, ["credit_grade"]) >= 2
        assert result.report["rows"]["suppressed"] <= result.report["rows"]["suppression_budget"]


def test_per_column_global_recoding_leaves_the_others_to_mondrian(age_and_income_global) -> None:
    spec, result = age_and_income_global
    recoding = result.report["recoding"]["columns"]
    assert {name for name, how in recoding.items() if how["recoding"] == "global"} == {"age", "income"}
    for output in ("age", "income"):
        assert _one_level(spec, result, output) == recoding[output]["level"]
    # Age bands of one width: no "20-49" beside "30-39" (the complaint).
    bands = {tuple(map(int, label.split("-"))) for label in result.table["age"].astype(str)}
    ordered = sorted(bands)
    assert all(a[1] < b[0] for a, b in zip(ordered, ordered[1:], strict=False)), ordered


def test_the_report_puts_both_losses_side_by_side(age_and_income_global) -> None:
    _, result = age_and_income_global
    compared = result.report["recoding"]["compared"]
    assert compared["this_extract"]["ncp"] == pytest.approx(result.report["measures"]["ncp"])
    local = compared["local_only"]
    assert 0 < local["ncp"] < 1 and local["classes"] > 0 and local["discernibility"] > 0
    zh = result.files["report_html_zh-CN"].read_text("utf-8")
    en = result.files["report_html_en"].read_text("utf-8")
    assert "泛化方式：全局与局部" in zh and "仅局部泛化" in zh and f"{local['ncp']:.4f}" in zh
    assert "Recoding: global and local" in en and "local recoding only" in en
    assert "level {} of".format(result.report["recoding"]["columns"]["age"]["level"]) in en


def test_local_recoding_stays_the_default_and_hashes_as_before(tmp_path) -> None:
    plain = parse_spec(copy.deepcopy(SPEC))
    assert "recoding" not in plain.to_dict()["privacy"] and not plain.global_quasi
    assert all("recoding" not in c for c in plain.to_dict()["columns"].values())
    spec = copy.deepcopy(SPEC)
    spec["columns"]["age"]["recoding"] = "global"
    assert parse_spec(spec).sha256() != plain.sha256()
    rows = ROWS[:300]
    result = run_extract(plain, provider(rows), everyone(rows), tmp_path)
    assert "recoding" not in result.report


@pytest.mark.parametrize(
    "change, path",
    [
        ({"privacy": {"k": 5, "recoding": "full"}}, "privacy.recoding"),
        ({"columns": {"age": {"recoding": "everywhere"}}}, "columns.age.recoding"),
        ({"columns": {"credit_grade": {"recoding": "global"}}}, "columns.credit_grade.recoding"),
        ({"engine": "spark", "privacy": {"k": 5, "recoding": "global"}}, "engine"),
        ({"engine": "spark", "columns": {"age": {"recoding": "global"}}}, "engine"),
    ],
)
def test_bad_recoding_options_and_spark_are_refused(change, path) -> None:
    spec = copy.deepcopy(SPEC)
    for key, value in change.items():
        if isinstance(value, dict) and key == "columns":
            for name, extra in value.items():
                spec["columns"][name] |= extra
        else:
            spec[key] = value
    with pytest.raises(InvalidSpec) as refused:
        parse_spec(spec)
    assert path in refused.value.errors, refused.value.errors


def test_the_ladder_runs_from_the_leaves_to_one_group() -> None:
    spec = parse_spec(copy.deepcopy(SPEC))
    frame = pd.DataFrame(ROWS)
    for column in spec.quasi:
        levels = ladder(column.hierarchy.fit(frame[column.source]).domain)
        sizes = [level.n_groups for level in levels]
        assert sizes[-1] == 1 and sizes == sorted(sizes, reverse=True) and len(set(sizes)) == len(sizes)
        assert np.array_equal(levels[0].groups, np.arange(levels[0].groups.size))
