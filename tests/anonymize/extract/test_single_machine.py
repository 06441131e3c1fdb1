"""Issue 20: a Spark job's report compares it with a single-machine run of the same rows, within
the operator's row bound; over it, the report says the comparison was not run and why. (Within the
bound: tests/anonymize/spark/test_spark_extract.py, which needs Spark.)"""

from __future__ import annotations

from anonymize.extract import parse_spec, run_extract
from anonymize.extract.metrics import Measures
from anonymize.extract.report import render_html
from anonymize.extract.runner import DEFAULT_COMPARE_ROWS, compare_locally, single_machine
from tests.anonymize.extract.conftest import SPEC, everyone, make_rows, provider


def test_the_comparison_runs_up_to_the_bound_and_not_past_it() -> None:
    assert compare_locally(DEFAULT_COMPARE_ROWS, DEFAULT_COMPARE_ROWS)
    assert not compare_locally(DEFAULT_COMPARE_ROWS + 1, DEFAULT_COMPARE_ROWS)
    assert not compare_locally(1, 0)  # 0: never


def _measures(rows_in: int) -> Measures:
    return Measures(
        k=5,
        l=2,
        classes=10,
        rows_in=rows_in,
        rows_kept=rows_in,
        rows_suppressed=0,
        class_sizes={rows_in // 10: 10},
        prosecutor_risk_max=0.2,
        prosecutor_risk_avg=0.1,
        ncp=0.3,
        ncp_kept=0.3,
        ncp_by_column={"age": 0.3},
        discernibility=rows_in * 10,
        normalized_avg_class_size=1.0,
    )


def test_over_the_bound_nothing_is_partitioned_and_the_report_says_why(tmp_path) -> None:
    def run_locally() -> Measures:
        raise AssertionError("the local engine ran over the bound")

    compared = single_machine(_measures(2_500_000), DEFAULT_COMPARE_ROWS, run_locally)
    assert compared == {
        "rows": 2_500_000,
        "bound": DEFAULT_COMPARE_ROWS,
        "run": False,
        "reason": "over_bound",
    }
    # At the bound it runs, and states both figures with their ratio.
    within = single_machine(_measures(1000), 1000, lambda: _measures(1000))
    assert within["run"] and within["local"]["ncp"] == within["spark"]["ncp"] == 0.3
    assert within["ncp_ratio"] == 1.0

    # Both pages say it was not run, with the rows, the bound and the reason.
    rows = make_rows(300)
    report = run_extract(parse_spec(SPEC), provider(rows), everyone(rows), tmp_path).report
    report["engine"] = {
        "name": "spark",
        "master": "local[2]",
        "fragments": 12,
        "fragment_sizes": {"min": 180_000, "max": 249_000},
        "verified": {"k": 10, "l": 2, "classes": 9000},
        "single_machine": compared,
    }
    zh, en = render_html(report, b"", "zh-CN"), render_html(report, b"", "en")
    assert "未运行：本提取有 2,500,000 行，超过 1,000,000 行的上限" in zh
    assert "Not run: this extract has 2,500,000 rows, over the bound of 1,000,000" in en
    assert "PIIVAULT_EXTRACT_COMPARE_ROWS" in zh and "PIIVAULT_EXTRACT_COMPARE_ROWS" in en
    assert "12 个（每个 180,000–249,000 行）" in zh and "12 (180,000-249,000 rows each)" in en
