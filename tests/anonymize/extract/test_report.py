"""Issue 21: the extract report an analyst reads: both languages (one page each, its ``lang``
its language; report.html in the spec's), a plain explanation beside every figure, exclusions
nested under what they count towards, a chart with integer ticks and a labelled k line, the
spec's description, and a UTF-8 BOM on the CSV when asked for."""

from __future__ import annotations

import copy
import re

import pytest

from anonymize.extract import parse_spec, run_extract
from anonymize.extract.report_chart import histogram_figure
from anonymize.extract.report_words import TERMS
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


def _page(result, language: str) -> str:
    page = result.files[f"report_html_{language}"].read_text("utf-8")
    assert page.startswith(f'<!DOCTYPE html>\n<html lang="{language}">'), page[:80]
    return page


HAN = re.compile(r"[\u4e00-\u9fff]")


def _text(page: str) -> str:
    """The words a reader sees: no markup, no inline image."""
    page = re.sub(r"<style>.*?</style>|data:image/png;base64,[A-Za-z0-9+/=]+", "", page, flags=re.S)
    return re.sub(r"<[^>]+>", " ", page)


def test_the_report_is_in_chinese_and_in_english_with_an_explanation_beside_each_figure(result) -> None:
    zh, en = _page(result, "zh-CN"), _page(result, "en")
    # report.html is the spec's language: Chinese unless the spec says otherwise.
    assert result.files["report_html"].read_text("utf-8") == zh
    assert "匿名化提取报告" in zh and "Anonymized extract report" in en
    for term in ("risk_max", "ncp", "dm", "cavg", "k"):
        name_zh, explain_zh = TERMS["zh"][term]
        name_en, explain_en = TERMS["en"][term]
        assert name_zh in zh and explain_zh in zh, term
        assert name_en in en and explain_en in en, term
        assert explain_en not in zh and explain_zh not in en, term
    # The spec's description is shown.
    assert "2026Q4 信用模型更新" in zh and "2026Q4 信用模型更新" in en
    # The English page says nothing in Chinese but the description, and links to the Chinese one.
    assert HAN.findall(_text(en).replace("2026Q4 信用模型更新", "")) == ["中", "文"]
    assert 'href="report.zh-CN.html"' in en and 'href="report.en.html"' in zh
    # The Chinese page's roles are in Chinese.
    assert "准标识符" in zh and "quasi" not in _text(zh)


def test_the_spec_chooses_the_language_of_report_html(tmp_path) -> None:
    rows = make_rows(300)
    spec = parse_spec(copy.deepcopy(SPEC) | {"report": {"language": "en"}})
    assert spec.to_dict()["report"] == {"language": "en"} and spec.sha256() != parse_spec(SPEC).sha256()
    assert "report" not in parse_spec(copy.deepcopy(SPEC)).to_dict()  # the default hashes as before
    done = run_extract(spec, provider(rows), everyone(rows), tmp_path)
    page = done.files["report_html"].read_text("utf-8")
    assert page == done.files["report_html_en"].read_text("utf-8") and '<html lang="en">' in page
    assert set(done.report["outputs"]) >= {"class_sizes.png"}


@pytest.mark.parametrize("bad", [{"language": "fr"}, {"language": "zh"}, {"lang": "en"}, "en"])
def test_a_bad_report_option_is_refused(bad) -> None:
    from anonymize.extract import InvalidSpec

    with pytest.raises(InvalidSpec) as refused:
        parse_spec(copy.deepcopy(SPEC) | {"report": bad})
    assert any(path.startswith("report") for path in refused.value.errors), refused.value.errors


def test_exclusions_are_nested_under_what_they_count_towards(result) -> None:
    zh = _page(result, "zh-CN")
    rows = re.findall(r"<tr( class=\"sub1\")?><th>([^<]*)</th><td class=\"v\">([^<]*)</td>", zh)
    labels = [(bool(sub), label, value) for sub, label, value in rows]
    at = {label: i for i, (_, label, _) in enumerate(labels)}
    consent, state = at["因同意排除"], at["因限制处理或删除排除"]
    assert labels[consent][2] == "519" and labels[state][2] == "5"
    assert consent < at["未同意"] < at["已撤回"] < state < at["已限制处理"] < at["已删除"]
    assert labels[at["未同意"]] == (True, "未同意", "512")  # under consent, not under restricted/erased
    assert labels[at["已删除"]] == (True, "已删除", "2")


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_the_class_size_chart_has_integer_ticks_and_a_labelled_k_line(language) -> None:
    figure = histogram_figure({5: 3, 6: 1, 7: 4, 9: 2}, k=5, language=language)
    axes = figure.axes[0]
    assert bool(HAN.search(axes.get_xlabel())) is (language == "zh-CN")
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
