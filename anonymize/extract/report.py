"""The extract report page: one self-contained HTML page per language, the chart inline.

The report document (:func:`anonymize.extract.writing.report_document`) is rendered with
the words of :mod:`anonymize.extract.report_words`; the chart
(:mod:`anonymize.extract.report_chart`) is embedded as a ``data:`` URI, so the
page loads nothing from anywhere else.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping
from typing import Any

from anonymize.extract.outputs import REPORT_HTML_BY_LANGUAGE
from anonymize.extract.report_words import LANGUAGES, TERMS, TITLES, language_key


def _num(value: Any) -> str:
    """A coded bound as a person writes it (1.09497, not 1.0949700000000004)."""
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _pct(value: float) -> str:
    return f"{100 * value:.2f}%"


def _row(lang: str, term: str, value: Any, *, level: int = 0, label: str | None = None) -> str:
    name, explain = TERMS[lang][term] if term else ("", "")
    cls = f' class="sub{level}"' if level else ""
    return (
        f'<tr{cls}><th>{html.escape(label or name)}</th><td class="v">{html.escape(str(value))}</td>'
        f'<td class="x">{html.escape(explain)}</td></tr>'
    )


def _section(lang: str, report: Mapping[str, Any]) -> str:
    """The whole report in one language."""
    tt = TITLES[lang]
    measures, rows, population = report["measures"], report["rows"], report["population"]
    privacy = report["privacy_model"]
    reasons = population["excluded_by_reason"]
    state = {r: n for r, n in reasons.items() if r in ("restricted", "erased")}
    consent = {r: n for r, n in reasons.items() if r not in state}
    summary = [
        _row(lang, "purpose", report["purpose"]),
        *([_row(lang, "description", report["description"])] if report.get("description") else []),
        _row(lang, "extract", report["extract_id"]),
        _row(lang, "created", report["created_at"]),
        _row(lang, "spec", report["spec_sha256"]),
        _row(lang, "k", f"{privacy['k']} / {measures['k']}"),
        _row(lang, "l", f"{privacy['l']} / {measures['l'] if measures['l'] is not None else '-'}"),
        _row(lang, "max_suppression", _pct(privacy["max_suppression"])),
    ]
    # Each reason sits under the exclusion it counts towards (consent, or the subject's state).
    counts = [
        _row(lang, "eligible", population["eligible"]),
        _row(lang, "excluded_consent", population["excluded_by_consent"]),
        *[_row(lang, "", n, level=1, label=tt["reasons"].get(r, r)) for r, n in consent.items()],
        _row(lang, "excluded_state", population["excluded_restricted_or_erased"]),
        *[_row(lang, "", n, level=1, label=tt["reasons"].get(r, r)) for r, n in state.items()],
        _row(lang, "not_eligible", population["rows_not_eligible"]),
        _row(lang, "rows_in", rows["in"]),
        _row(lang, "rows_kept", rows["kept"]),
        _row(lang, "suppressed_incomplete", rows["suppressed_incomplete"], level=1),
        _row(lang, "suppressed_outliers", rows["suppressed_outliers"], level=1),
        _row(lang, "budget", rows["suppression_budget"]),
        _row(lang, "classes", measures["classes"]),
    ]
    risk = [
        _row(lang, "risk_max", f"{measures['prosecutor_risk_max']:.4f}"),
        _row(lang, "risk_avg", f"{measures['prosecutor_risk_avg']:.4f}"),
        _row(lang, "ncp", f"{measures['ncp']:.4f}"),
        _row(lang, "ncp_kept", f"{measures['ncp_kept']:.4f}"),
        *[
            _row(lang, "ncp_col", f"{value:.4f}", level=1, label=f"NCP {name}")
            for name, value in measures["ncp_by_column"].items()
        ],
        _row(lang, "dm", f"{measures['discernibility']:,}"),
        _row(lang, "cavg", f"{measures['normalized_avg_class_size']:.3f}"),
    ]
    dropped = TERMS[lang]["dropped"][0]
    columns = []
    for col in report["columns"]:
        role = tt["roles"].get(col["role"], col["role"])
        treatment = col["treatment"]
        if col.get("coding"):
            treatment = tt["coded_treatment"].format(**{k: _num(v) for k, v in col["coding"].items()})
        released = f"{role} -> {col['as']}" + (f" ({treatment})" if treatment else "")
        columns.append(_row(lang, "", released if col["as"] else f"{role} ({dropped})", label=col["name"]))
    parts = [
        f"<h2>{tt['summary']}</h2><table>{''.join(summary)}</table>",
        f"<h2>{tt['population']}</h2><table>{''.join(counts)}</table>",
        f"<h2>{tt['risk']}</h2><table>{''.join(risk)}</table>",
        f"<h2>{tt['columns']}</h2><table>{''.join(columns)}</table>",
    ]
    identifiers = report.get("identifiers", {})
    if identifiers:
        name, explain = TERMS[lang]["derived"]
        pairs = [
            _row(lang, "", f"{u['source']} -> {u['released_as']}", label=n) for n, u in identifiers.items()
        ]
        parts.append(f'<h2>{name}</h2><p class="x">{html.escape(explain)}</p><table>{"".join(pairs)}</table>')
    recoding = report.get("recoding")
    if recoding:
        parts.append(_recoding_section(tt, recoding))
    engine = report.get("engine")
    if engine:
        parts.append(_engine_section(lang, engine))
    coding = report.get("coding", {})
    if coding:
        name, explain = TERMS[lang]["coding"]
        pairs = [
            _row(
                lang,
                "",
                tt["coded"].format(
                    bottom=_num(c["bottom_value"]),
                    bottom_n=c["bottom_coded"],
                    top=_num(c["top_value"]),
                    top_n=c["top_coded"],
                ),
                label=n,
            )
            for n, c in coding.items()
        ]
        parts.append(f'<h2>{name}</h2><p class="x">{html.escape(explain)}</p><table>{"".join(pairs)}</table>')
    return "".join(parts)


def _recoding_section(tt: Mapping[str, Any], recoding: Mapping[str, Any]) -> str:
    """How each quasi-identifier was recoded, and this extract's loss beside local recoding's."""
    rows = []
    for name, how in recoding["columns"].items():
        short, detail = tt["recoding_global"] if how["recoding"] == "global" else tt["recoding_local"]
        if how["recoding"] == "global":
            detail = detail.format(level=how["level"], top=how["top_level"], values=how["values"])
        rows.append(
            f'<tr><th>{html.escape(name)}</th><td class="v">{html.escape(short)}</td>'
            f'<td class="x">{html.escape(detail)}</td></tr>'
        )
    head = "".join(f"<th>{html.escape(h)}</th>" for h in tt["compare_head"])
    compared = []
    for key in ("this_extract", "local_only"):
        m = recoding["compared"][key]
        cells = (
            tt[key],
            f"{m['ncp']:.4f}",
            f"{m['discernibility']:,}",
            str(m["classes"]),
            str(m["rows_suppressed"]),
        )
        compared.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    return (
        f'<h2>{html.escape(tt["recoding"])}</h2><p class="x">{html.escape(tt["recoding_explain"])}</p>'
        f"<table>{''.join(rows)}</table>"
        f"<h3>{html.escape(tt['compared'])}</h3>"
        f'<table class="compare"><thead><tr>{head}</tr></thead><tbody>{"".join(compared)}</tbody></table>'
    )


def _engine_section(lang: str, engine: Mapping[str, Any]) -> str:
    """The Spark run: its master, fragments and check, and its loss beside a single machine's."""
    tt = TITLES[lang]
    sizes = engine["fragment_sizes"]
    verified = engine["verified"]
    rows = [
        _row(lang, "master", engine["master"]),
        _row(
            lang,
            "fragments",
            tt["fragment_sizes"].format(
                count=engine["fragments"], min=f"{sizes['min']:,}", max=f"{sizes['max']:,}"
            ),
        ),
        _row(lang, "verified", f"{verified['k']} / {verified['l'] if verified['l'] is not None else '-'}"),
    ]
    out = f"<h2>{html.escape(tt['engine'])}</h2><table>{''.join(rows)}</table>"
    compared = engine.get("single_machine")
    if not compared:  # a report written before the comparison existed
        return out
    name, explain = TERMS[lang]["single_machine"]
    out += f'<h3>{html.escape(name)}</h3><p class="x">{html.escape(explain)}</p>'
    if not compared["run"]:
        text = tt["not_compared"].format(rows=f"{compared['rows']:,}", bound=f"{compared['bound']:,}")
        return out + f"<p>{html.escape(text)}</p>"
    head = "".join(f"<th>{html.escape(h)}</th>" for h in tt["machine_head"])
    body = []
    for label, key in zip(tt["machines"], ("spark", "local"), strict=True):
        m = compared[key]
        cells = (
            label,
            f"{m['ncp']:.4f}",
            str(m["k"]),
            "-" if m["l"] is None else str(m["l"]),
            str(m["rows_suppressed"]),
            str(m["classes"]),
        )
        body.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    ratio = compared["ncp_ratio"]
    out += f'<table class="compare"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
    return out + f"<table>{_row(lang, 'ncp_ratio', '-' if ratio is None else f'{ratio:.3f}')}</table>"


def report_file(language: str) -> str:
    """The name of the report page in ``language``: ``report.zh-CN.html``, ``report.en.html``."""
    language_key(language)
    return REPORT_HTML_BY_LANGUAGE[language]


def render_html(report: Mapping[str, Any], png: bytes, language: str = "zh-CN") -> str:
    """The report as one HTML page in ``language`` (``zh-CN`` or ``en``), the chart inline.

    The page's ``lang`` is its language; a link names the page in the other language
    (:func:`report_file`, written beside it). Raises ValueError for another language.
    """
    lang = language_key(language)
    other = next(x for x in LANGUAGES if x != language)
    tt = TITLES[lang]
    image = base64.b64encode(png).decode("ascii")
    return f"""<!DOCTYPE html>
<html lang="{language}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(tt["h1"])} {html.escape(report["extract_id"])}</title>
<style>
body{{font-family:system-ui,"PingFang SC","Microsoft YaHei","Noto Sans CJK SC",sans-serif;margin:2em auto;
max-width:64em;padding:0 1em;color:#222;line-height:1.5}}
table{{border-collapse:collapse;margin-bottom:1em;width:100%;table-layout:fixed}}
th,td{{text-align:left;padding:.3em .8em;border-bottom:1px solid #ddd;font-weight:normal;vertical-align:top}}
th{{color:#333;width:15em}}
td.v{{font-variant-numeric:tabular-nums;width:14em;overflow-wrap:anywhere}}
.x{{color:#666;font-size:.88em}}
tr.sub1 th{{padding-left:2.2em;color:#555}}
table.compare th{{width:auto;font-weight:600}}
img{{max-width:100%;height:auto}}
.switch{{text-align:right;margin:0}}
@media print{{.switch{{display:none}}}}
</style></head><body>
<p class="switch"><a href="{report_file(other)}" hreflang="{other}" lang="{other}">{tt["switch"]}</a></p>
<h1>{html.escape(tt["h1"])}</h1>
{_section(lang, report)}
<h2>{html.escape(tt["chart"])}</h2>
<img alt="{html.escape(tt["chart_alt"])}" src="data:image/png;base64,{image}">
<p class="x">{html.escape(tt["chart_note"])}</p>
</body></html>
"""
