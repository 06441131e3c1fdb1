"""Server-rendered SVG charts: no JavaScript, no library, no inline style (the CSP allows none).

Colours come from CSS classes in ``console.css``; every chart has a title and
a description for screen readers, and the page shows the same numbers in a
table beside it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from markupsafe import Markup, escape


def diverging_bars(
    *,
    chart_id: str,
    title: str,
    description: str,
    days: Sequence[dt.date],
    up: Sequence[int],
    down: Sequence[int],
    up_label: str,
    down_label: str,
    width: int = 360,
    height: int = 120,
) -> Markup:
    """Bars per day: ``up`` above the axis (e.g. grants), ``down`` below it (withdrawals)."""
    pad_left, pad_right, pad_top, pad_bottom = 30, 6, 8, 18
    plot_w = width - pad_left - pad_right
    plot_h = height - pad_top - pad_bottom
    peak = max([*up, *down, 1])
    axis_y = pad_top + plot_h / 2
    scale = (plot_h / 2) / peak
    step = plot_w / max(len(days), 1)
    bar_w = max(step * 0.7, 1.0)
    cid = escape(chart_id)
    parts = [
        f'<svg class="chart" id="{cid}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{cid}-title {cid}-desc" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{cid}-title">{escape(title)}</title>',
        f'<desc id="{cid}-desc">{escape(description)}</desc>',
        # Above the axis counts up, below it counts down: the lower label carries a minus sign
        # (U+2212) so the two ends are not read as the same number; the axis itself is 0.
        _text(pad_left - 4, pad_top + 8, f"+{peak}", anchor="end"),
        _text(pad_left - 4, axis_y + 3, "0", anchor="end"),
        _text(pad_left - 4, pad_top + plot_h, f"\u2212{peak}", anchor="end"),
        f'<line class="chart-axis" x1="{pad_left}" y1="{axis_y:.1f}" x2="{width - pad_right}" '
        f'y2="{axis_y:.1f}"/>',
    ]
    for i, day in enumerate(days):
        x = pad_left + i * step + (step - bar_w) / 2
        label = f"{day.isoformat()}: {up_label} {up[i]}, {down_label} {down[i]}"
        parts.append(f"<g><title>{escape(label)}</title>")
        if up[i]:
            parts.append(_rect("bar-up", x, axis_y - up[i] * scale, bar_w, up[i] * scale))
        if down[i]:
            parts.append(_rect("bar-down", x, axis_y, bar_w, down[i] * scale))
        parts.append("</g>")
    if days:
        parts.append(_text(pad_left, height - 4, days[0].strftime("%m-%d")))
        parts.append(_text(width - pad_right, height - 4, days[-1].strftime("%m-%d"), anchor="end"))
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - built from numbers and escaped text only


def _rect(css_class: str, x: float, y: float, w: float, h: float) -> str:
    return f'<rect class="{css_class}" x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}"/>'


def _text(x: float, y: float, text: str, *, anchor: str = "start") -> str:
    return f'<text class="chart-tick" x="{x}" y="{y}" text-anchor="{anchor}">{escape(text)}</text>'
