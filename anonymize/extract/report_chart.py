"""The report's chart: a histogram of equivalence class sizes, as a Figure or PNG bytes.

It is drawn with matplotlib's Agg canvas on a private ``Figure`` (no ``pyplot``
state, so concurrent jobs do not share a figure); :mod:`anonymize.extract.report`
embeds the PNG in its page.
"""

from __future__ import annotations

import io
from collections.abc import Mapping

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from anonymize.extract.report_words import language_key

MAX_BARS = 60


# The fonts of the chart's words: a CJK face first for the Chinese labels (.ci/run installs
# fonts-noto-cjk), matplotlib's own DejaVu Sans for the rest.
CHART_FONTS = ["Noto Sans CJK SC", "DejaVu Sans"]
CHART_TEXTS = {
    "zh": {"title": "等价类大小分布", "x": "每类行数（等价类大小）", "y": "类的个数"},
    "en": {"title": "Equivalence class sizes", "x": "class size (rows per class)", "y": "classes"},
}


def histogram_png(class_sizes: Mapping[int, int], k: int, language: str = "en") -> bytes:
    """:func:`histogram_figure` as PNG bytes."""
    figure = histogram_figure(class_sizes, k, language)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def histogram_figure(class_sizes: Mapping[int, int], k: int, language: str = "en") -> Figure:
    """A bar chart of how many equivalence classes have each size (sizes binned above :data:`MAX_BARS`),
    its words in ``language`` (``zh-CN`` or ``en``).

    Sizes and counts are whole numbers, so both axes have integer ticks only, and the k line
    is labelled in a legend.
    """
    words = CHART_TEXTS[language_key(language)]
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
        at = next((i for i in range(len(counts)) if edges[i] <= k < edges[i + 1]), None)
        k_x = None if at is None else at - 0.5
    else:
        axes.bar(sizes, [class_sizes[s] for s in sizes], color="#3b6ea5", width=0.8)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        k_x = k - 0.5
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    if k_x is not None:
        axes.axvline(k_x, color="#b03a2e", lw=1.2, ls="--", label=f"k = {k}")
        axes.legend(loc="upper right", frameon=False, prop={"family": CHART_FONTS, "size": 8})
    axes.set_xlabel(words["x"], fontfamily=CHART_FONTS)
    axes.set_ylabel(words["y"], fontfamily=CHART_FONTS)
    axes.set_title(words["title"], fontfamily=CHART_FONTS)
    figure.tight_layout()
    return figure


def _bins(low: int, high: int) -> list[int]:
    """About 30 integer bin edges from ``low`` to past ``high``."""
    step = max(1, (high - low + 1 + 29) // 30)
    return list(range(low, high + step + 1, step))
