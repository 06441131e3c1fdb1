"""Issue 21: the extract report an analyst reads: both languages, a plain explanation beside
every figure, exclusions nested under what they count towards, a chart with integer ticks and
a labelled k line, the spec's description, and a UTF-8 BOM on the CSV when asked for."""

from __future__ import annotations

import copy
import re

import pytest

from anonymize.extract import parse_spec, run_extract
from anonymize.extract.report import TERMS, histogram_figure
from tests.anonymize.extract.conftest import SPEC, everyone, make_rows, provider


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory):
    rows = make_rows(600)
    spec = copy.deepcopy(SPEC) | {"description": "2026Q4 信用模型更新", "csv": {"bom": True}}
    return run_extract(
        parse_spec(spec),
        provider(rows),
        everyone(rows, no_consent=512, withdrawn=7, restricted=3, erased=2),
        tmp_path_factory.mktemp("report"),
    )


def _block(page: str, lang: str) -> str:
    found = re.search(rf'<div id="{lang}" class="lang" lang="[^"]+">(.*?)</div>', page, re.S)
    assert found, lang
    return found.group(1)


def test_the_report_is_in_chinese_and_in_english_with_an_explanation_beside_each_figure(result) -> None:
    page = result.files["report_html"].read_text("utf-8")
    assert '<html lang="zh-CN">' in page
    zh, en = _block(page, "zh"), _block(page, "en")
    assert "匿名化提取报告" in zh and "Anonymized extract report" in en
    for term in ("risk_max", "ncp", "dm", "cavg", "k"):
        name_zh, explain_zh = TERMS["zh"][term]
        name_en, explain_en = TERMS["en"][term]
        assert name_zh in zh and explain_zh in zh, term
        assert name_en in en and explain_en in en, term
    # The spec's description is shown.
    assert "2026Q4 信用模型更新" in zh and "2026Q4 信用模型更新" in en


def test_exclusions_are_nested_under_what_they_count_towards(result) -> None:
    zh = _block(result.files["report_html"].read_text("utf-8"), "zh")
    rows = re.findall(r"<tr( class=\"sub1\")?><th>([^<]*)</th><td class=\"v\">([^<]*)</td>", zh)
    labels = [(bool(sub), label, value) for sub, label, value in rows]
    at = {label: i for i, (_, label, _) in enumerate(labels)}
    consent, state = at["因同意排除"], at["因限制处理或删除排除"]
    assert labels[consent][2] == "519" and labels[state][2] == "5"
    assert consent < at["未同意"] < at["已撤回"] < state < at["已限制处理"] < at["已删除"]
    assert labels[at["未同意"]] == (True, "未同意", "512")  # under consent, not under restricted/erased
    assert labels[at["已删除"]] == (True, "已删除", "2")


def test_the_class_size_chart_has_integer_ticks_and_a_labelled_k_line() -> None:
    figure = histogram_figure({5: 3, 6: 1, 7: 4, 9: 2}, k=5)
    axes = figure.axes[0]
    for ticks in (axes.get_xticks(), axes.get_yticks()):
        assert all(float(t).is_integer() for t in ticks), ticks
    [line] = axes.get_lines()
    assert line.get_label() == "k = 5" and line.get_xdata()[0] == 4.5
    assert [t.get_text() for t in axes.get_legend().get_texts()] == ["k = 5"]


def test_csv_opens_with_a_bom_only_when_asked(result, tmp_path) -> None:
    data = result.files["csv"].read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") and data[3:].decode("utf-8").startswith('"')
    rows = make_rows(300)
    plain = run_extract(parse_spec(copy.deepcopy(SPEC)), provider(rows), everyone(rows), tmp_path)
    assert not plain.files["csv"].read_bytes().startswith(b"\xef\xbb\xbf")
    # A spec without the option hashes as before; with it, differently (it changes the file).
    assert "csv" not in parse_spec(copy.deepcopy(SPEC)).to_dict()
    assert parse_spec(copy.deepcopy(SPEC) | {"csv": {"bom": True}}).sha256() != parse_spec(SPEC).sha256()


@pytest.mark.parametrize("bad", [{"bom": "yes"}, {"bom": True, "sep": ";"}, "bom"])
def test_a_bad_csv_option_is_refused(bad) -> None:
    from anonymize.extract import InvalidSpec

    with pytest.raises(InvalidSpec) as refused:
        parse_spec(copy.deepcopy(SPEC) | {"csv": bad})
    assert any(path.startswith("csv") for path in refused.value.errors), refused.value.errors
