"""The extract report: a JSON document, a class-size histogram (PNG) and a self-contained HTML page.

The chart is drawn with matplotlib's Agg canvas on a private ``Figure`` (no
``pyplot`` state, so concurrent jobs do not share a figure); the HTML embeds
it as a ``data:`` URI and loads nothing from anywhere else.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

MAX_BARS = 60


def histogram_png(class_sizes: Mapping[int, int], k: int) -> bytes:
    """A bar chart of how many equivalence classes have each size (sizes binned above :data:`MAX_BARS`)."""
    sizes = sorted(class_sizes)
    figure = Figure(figsize=(7.5, 3.6), dpi=110)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    if sizes and sizes[-1] - sizes[0] + 1 > MAX_BARS:
        edges = _bins(sizes[0], sizes[-1])
        counts = [0] * (len(edges) - 1)
        for size, count in class_sizes.items():
            for i in range(len(edges) - 1):
                if edges[i] <= size < edges[i + 1]:
                    counts[i] += count
                    break
        axes.bar(range(len(counts)), counts, color="#3b6ea5")
        axes.set_xticks(range(len(counts)))
        labels = [f"{edges[i]}-{edges[i + 1] - 1}" for i in range(len(counts))]
        axes.set_xticklabels(labels, rotation=45, ha="right", fontsize=7)
    else:
        axes.bar(sizes, [class_sizes[s] for s in sizes], color="#3b6ea5", width=0.8)
        axes.axvline(k - 0.5, color="#b03a2e", lw=1)
    axes.set_xlabel(f"equivalence class size (k = {k})")
    axes.set_ylabel("classes")
    axes.set_title("Equivalence class sizes")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _bins(low: int, high: int) -> list[int]:
    """About 30 integer bin edges from ``low`` to past ``high``."""
    step = max(1, (high - low + 1 + 29) // 30)
    return list(range(low, high + step + 1, step))


def _pct(value: float) -> str:
    return f"{100 * value:.2f}%"


def _rows(pairs: list[tuple[str, Any]]) -> str:
    return "".join(f"<tr><th>{html.escape(str(a))}</th><td>{html.escape(str(b))}</td></tr>" for a, b in pairs)


def render_html(report: Mapping[str, Any], png: bytes) -> str:
    """The report as one HTML page with the chart inline."""
    measures = report["measures"]
    rows = report["rows"]
    population = report["population"]
    privacy = report["privacy_model"]
    summary = [
        ("purpose", report["purpose"]),
        ("extract", report["extract_id"]),
        ("created", report["created_at"]),
        ("spec SHA-256", report["spec_sha256"]),
        ("k required / achieved", f"{privacy['k']} / {measures['k']}"),
        ("l required / achieved", f"{privacy['l']} / {measures['l'] if measures['l'] is not None else '-'}"),
        ("max suppression", _pct(privacy["max_suppression"])),
    ]
    counts = [
        ("eligible subjects", population["eligible"]),
        ("excluded by consent", population["excluded_by_consent"]),
        ("excluded: restricted or erased", population["excluded_restricted_or_erased"]),
        *[(f"  - {reason}", n) for reason, n in population["excluded_by_reason"].items()],
        ("rows received, not eligible (dropped)", population["rows_not_eligible"]),
        ("rows in the extract", rows["in"]),
        ("rows released", rows["kept"]),
        ("rows suppressed: incomplete", rows["suppressed_incomplete"]),
        ("rows suppressed: outliers", rows["suppressed_outliers"]),
        ("suppression budget (rows)", rows["suppression_budget"]),
        ("equivalence classes", measures["classes"]),
    ]
    risk = [
        ("prosecutor risk, highest", f"{measures['prosecutor_risk_max']:.4f}"),
        ("prosecutor risk, average", f"{measures['prosecutor_risk_avg']:.4f}"),
        ("NCP (suppressed rows count 1)", f"{measures['ncp']:.4f}"),
        ("NCP of released rows", f"{measures['ncp_kept']:.4f}"),
        *[(f"  NCP {name}", f"{value:.4f}") for name, value in measures["ncp_by_column"].items()],
        ("discernibility metric", f"{measures['discernibility']:,}"),
        ("normalized average class size", f"{measures['normalized_avg_class_size']:.3f}"),
    ]
    columns = [
        (
            col["name"],
            f"{col['role']} -> {col['as']}" + (f" ({col['treatment']})" if col["treatment"] else "")
            if col["as"]
            else f"{col['role']} (dropped)",
        )
        for col in report["columns"]
    ]
    coding = [
        (
            name,
            f"bottom {c['bottom_value']} ({c['bottom_coded']} rows), "
            f"top {c['top_value']} ({c['top_coded']} rows)",
        )
        for name, c in report.get("coding", {}).items()
    ]
    identifiers = [
        (name, f"{use['source']} -> {use['released_as']}")
        for name, use in report.get("identifiers", {}).items()
    ]
    image = base64.b64encode(png).decode("ascii")
    sections = [
        ("Extract", summary),
        ("Population and rows", counts),
        ("Risk and information loss", risk),
        ("Columns", columns),
    ]
    if identifiers:
        sections.append(("Derived from direct identifiers", identifiers))
    if coding:
        sections.append(("Top/bottom coding", coding))
    body = "".join(f"<h2>{html.escape(title)}</h2><table>{_rows(pairs)}</table>" for title, pairs in sections)
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>piivault extract report {html.escape(report["extract_id"])}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2em;max-width:60em;color:#222}}
table{{border-collapse:collapse;margin-bottom:1em}}
th,td{{text-align:left;padding:.2em .8em;border-bottom:1px solid #ddd;font-weight:normal}}
th{{color:#555;white-space:pre}}
</style></head><body>
<h1>Anonymized extract report</h1>
{body}
<h2>Equivalence class sizes</h2>
<img alt="histogram of equivalence class sizes" src="data:image/png;base64,{image}">
</body></html>
"""
