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
from matplotlib.ticker import MaxNLocator

from anonymize.extract.outputs import REPORT_HTML_BY_LANGUAGE

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
    words = CHART_TEXTS[_key(language)]
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


def _num(value: Any) -> str:
    """A coded bound as a person writes it (1.09497, not 1.0949700000000004)."""
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _pct(value: float) -> str:
    return f"{100 * value:.2f}%"


# What each figure is called and what it means, in both languages: (name, plain explanation).
# An analyst reads the explanation beside the number, so it says what a good value looks like.
TERMS: dict[str, dict[str, tuple[str, str]]] = {
    "zh": {
        "purpose": ("处理目的", "本次提取所依据的处理目的；只有该目的覆盖的主体会被纳入。"),
        "description": ("说明", "提取规格中填写的用途说明。"),
        "extract": ("提取编号", ""),
        "created": ("生成时间", "UTC 时间。"),
        "spec": ("规格 SHA-256", "提取规格的指纹：同一规格得到相同的值，可用于复核。"),
        "k": (
            "k（要求 / 实际）",
            "每个等价类至少包含的行数。k 越大，越难从准标识符认出某个人；实际值应不小于要求值。",
        ),
        "l": ("l（要求 / 实际）", "每个等价类中敏感属性至少有几个不同取值，防止同类的人被推断出同一敏感值。"),
        "max_suppression": ("最大抑制比例", "为满足 k 最多允许删除的行占比。"),
        "eligible": ("纳入的主体", "同意或其他合法性基础覆盖本目的、且未被限制处理或删除的主体数。"),
        "excluded_consent": ("因同意排除", "没有有效同意（未同意、已撤回、已过期等）而未纳入的主体。"),
        "excluded_state": ("因限制处理或删除排除", "已限制处理或已删除、不得再使用其数据的主体。"),
        "not_eligible": ("收到但不合格的行（已丢弃）", "数据源中属于未纳入主体的行。"),
        "rows_in": ("提取中的行", "合格主体的行数，即匿名化的输入。"),
        "rows_kept": ("发布的行", "匿名化后实际交付的行数。"),
        "suppressed_incomplete": ("抑制：不完整", "准标识符缺失而无法归类的行。"),
        "suppressed_outliers": ("抑制：离群", "无法在允许的泛化内凑够 k 行的少数行，被整行删除。"),
        "budget": ("抑制上限（行）", "最大抑制比例对应的行数。"),
        "classes": ("等价类数", "准标识符取值完全相同的行组成一个等价类。"),
        "risk_max": (
            "最高重识别风险（检察官模型）",
            "攻击者确知某人在数据中时，认出他的最大概率 = 1/最小等价类大小。应不超过 1/k，越低越好。",
        ),
        "risk_avg": ("平均重识别风险", "所有发布行的平均概率；越低越好。"),
        "ncp": (
            "信息损失 NCP（抑制行计为 1）",
            "归一化确定性惩罚：0 = 原值未变，1 = 完全泛化（或被删除）。越低越好，0.2 以下通常仍可用于建模。",
        ),
        "ncp_kept": ("发布行的 NCP", "只计算发布行的信息损失。"),
        "ncp_col": ("各列 NCP", "该准标识符被泛化的程度（0 到 1）。"),
        "dm": (
            "可区分度指标（DM）",
            "每行计其所在等价类的大小再求和（抑制行计为总行数）。相对指标：同一数据的不同方案比较时越小越好。",
        ),
        "cavg": ("归一化平均等价类大小", "平均等价类大小除以 k。1 为理想；越大说明泛化超出了必要程度。"),
        "master": ("Spark 主节点", "对各片段做 Mondrian 划分的集群（local[N] 为本机）。"),
        "fragments": (
            "片段数",
            "驱动端先把数据切成互不重叠的片段，再由各执行器分别划分；每个片段满足 k 与 l，整体即满足。",
        ),
        "verified": ("Spark 复核的 k / l", "Spark 在发布表上重新统计的 k 与 l，应与上方实际值一致。"),
        "single_machine": (
            "与单机运行的比较",
            "同一批行在驱动端再用本地引擎的 Mondrian 划分一次（不切片段）。片段的切分依据抽样，"
            "可能比单机多损失一些信息；比值说明多了多少：1 表示分布式没有额外损失，1.10 表示信息损失多 10%。",
        ),
        "ncp_ratio": ("NCP 比值（Spark / 单机）", "大于 1：分布式运行的信息损失更大；越接近 1 越好。"),
        "role": ("角色", ""),
        "dropped": ("不发布", ""),
        "coding": ("顶部/底部编码", "超出百分位的极端值被替换为界值，以免个别极端值认出一个人。"),
        "derived": (
            "由直接标识符派生的列",
            "这些列取自直接标识符（如身份证号中的地区、出生年），只发布泛化后的结果。",
        ),
    },
    "en": {
        "purpose": ("Purpose", "The purpose the extract is made for; only subjects it covers are included."),
        "description": ("Description", "What the spec says the extract is for."),
        "extract": ("Extract", ""),
        "created": ("Created", "UTC."),
        "spec": ("Spec SHA-256", "The spec's fingerprint: the same spec gives the same value, for review."),
        "k": (
            "k (required / achieved)",
            (
                "The fewest rows any equivalence class holds. The larger k, the harder it is to "
                "single a person out by the quasi-identifiers; achieved must be at least required."
            ),
        ),
        "l": (
            "l (required / achieved)",
            (
                "The fewest distinct sensitive values in a class, so a class does not reveal "
                "everyone's sensitive value."
            ),
        ),
        "max_suppression": ("Max suppression", "The largest share of rows that may be removed to reach k."),
        "eligible": (
            "Eligible subjects",
            (
                "Subjects whose consent or other legal basis covers the purpose and who are neither "
                "restricted nor erased."
            ),
        ),
        "excluded_consent": ("Excluded: consent", "No valid consent (never given, withdrawn, expired, ...)."),
        "excluded_state": ("Excluded: restricted or erased", "Subjects whose data may no longer be used."),
        "not_eligible": (
            "Rows received, not eligible (dropped)",
            "Rows of the source that belong to subjects left out.",
        ),
        "rows_in": ("Rows in the extract", "Rows of eligible subjects: the input of anonymization."),
        "rows_kept": ("Rows released", "Rows delivered after anonymization."),
        "suppressed_incomplete": (
            "Suppressed: incomplete",
            "Rows missing a quasi-identifier, which cannot be placed in a class.",
        ),
        "suppressed_outliers": (
            "Suppressed: outliers",
            "The few rows that could not join k others within the allowed generalization.",
        ),
        "budget": ("Suppression budget (rows)", "Max suppression, in rows."),
        "classes": ("Equivalence classes", "Groups of rows with the same quasi-identifier values."),
        "risk_max": (
            "Re-identification risk, highest (prosecutor)",
            (
                "The chance of recognising a person known to be in the data: 1 / smallest class. At "
                "most 1/k; lower is better."
            ),
        ),
        "risk_avg": (
            "Re-identification risk, average",
            "The same chance averaged over the released rows; lower is better.",
        ),
        "ncp": (
            "Information loss, NCP (suppressed rows count 1)",
            (
                "Normalized certainty penalty: 0 = values unchanged, 1 = fully generalized (or "
                "removed). Lower is better; below about 0.2 usually stays useful for modelling."
            ),
        ),
        "ncp_kept": ("NCP of released rows", "The same, over the released rows only."),
        "ncp_col": ("NCP per column", "How far each quasi-identifier was generalized (0 to 1)."),
        "dm": (
            "Discernibility metric (DM)",
            (
                "Each row counts the size of its class (a suppressed row the whole table). Relative: "
                "lower is better when comparing runs on the same data."
            ),
        ),
        "cavg": (
            "Normalized average class size",
            "Average class size divided by k. 1 is ideal; larger means more generalization than needed.",
        ),
        "master": ("Spark master", "Where the fragments were partitioned (local[N]: this machine)."),
        "fragments": (
            "Fragments",
            (
                "The driver first cuts the rows into disjoint fragments, which executors partition "
                "independently; each fragment being k-anonymous and l-diverse makes the whole so."
            ),
        ),
        "verified": (
            "k / l checked by Spark",
            "k and l counted again by Spark on the released table; they equal the achieved figures above.",
        ),
        "single_machine": (
            "Spark beside a single machine",
            (
                "The same rows partitioned once more on the driver by the local engine's Mondrian, without "
                "fragments. Fragments are cut on a sample and may lose some information a single process "
                "would keep; the ratio says how much: 1 = distribution lost nothing, 1.10 = 10% more "
                "information loss than on one machine."
            ),
        ),
        "ncp_ratio": (
            "NCP ratio (Spark / single machine)",
            "Above 1: the distributed run lost more information; the closer to 1 the better.",
        ),
        "role": ("Role", ""),
        "dropped": ("not released", ""),
        "coding": (
            "Top/bottom coding",
            (
                "Extreme values beyond the percentiles are replaced by the bounds, so an outlier does"
                " not single a person out."
            ),
        ),
        "derived": (
            "Derived from direct identifiers",
            (
                "Columns taken from a direct identifier (region, birth year from an ID number); only "
                "the generalized value is released."
            ),
        ),
    },
}
TITLES = {
    "zh": {
        "h1": "匿名化提取报告",
        "summary": "提取",
        "population": "主体与行",
        "risk": "风险与信息损失",
        "columns": "列",
        "chart": "等价类大小分布",
        "chart_alt": "等价类大小直方图：横轴为每类行数，纵轴为类的个数，虚线为 k",
        "chart_note": "虚线左侧不应有柱：每个发布的类至少有 k 行。",
        "switch": "English",
        "roles": {
            "identifier": "直接标识符",
            "quasi": "准标识符",
            "sensitive": "敏感属性",
            "attribute": "属性",
        },
        "coded": "底部 {bottom}（{bottom_n} 行），顶部 {top}（{top_n} 行）",
        "coded_treatment": "按 {bottom}/{top} 百分位顶部/底部编码",
        "recoding": "泛化方式：全局与局部",
        "recoding_explain": (
            "全局泛化：该列每一行都泛化到层级中的同一层（例如所有年龄都按 10 岁分段），取值互不重叠，"
            "可直接作为模型特征，但信息损失通常更大。"
            "局部泛化（Mondrian）：每个等价类只泛化到满足 k 所需的程度，信息损失更小，"
            "但不同行的取值可能重叠（如 20-49 与 30-39）。下表并列两种方式的信息损失，供选择。"
        ),
        "recoding_global": ("全局", "第 {level} 层（共 {top} 层，0 为原始分段），{values} 个取值"),
        "recoding_local": ("局部（Mondrian）", ""),
        "compared": "本提取与仅局部泛化的比较",
        "engine": "计算引擎：Spark",
        "fragment_sizes": "{count} 个（每个 {min}–{max} 行）",
        "machines": ("Spark", "单机（本地引擎）"),
        "machine_head": ("运行", "信息损失 NCP", "k", "l", "抑制行", "等价类数"),
        "not_compared": (
            "未运行：本提取有 {rows} 行，超过 {bound} 行的上限（PIIVAULT_EXTRACT_COMPARE_ROWS）。"
            "在驱动端对整表再划分一次会占用过多内存和时间。"
        ),
        "this_extract": "本提取",
        "local_only": "仅局部泛化",
        "compare_head": ("方式", "信息损失 NCP", "可区分度 DM", "等价类数", "抑制行"),
        "reasons": {
            "no_consent": "未同意",
            "withdrawn": "已撤回",
            "expired": "已过期",
            "reconsent_required": "需重新同意",
            "restricted": "已限制处理",
            "erased": "已删除",
        },
    },
    "en": {
        "h1": "Anonymized extract report",
        "summary": "Extract",
        "population": "Population and rows",
        "risk": "Risk and information loss",
        "columns": "Columns",
        "chart": "Equivalence class sizes",
        "chart_alt": (
            "Histogram of equivalence class sizes: rows per class across, number of classes up, k dashed"
        ),
        "chart_note": (
            "No bar should stand left of the dashed line: every released class has at least k rows."
        ),
        "switch": "中文",
        "roles": {
            "identifier": "identifier",
            "quasi": "quasi-identifier",
            "sensitive": "sensitive",
            "attribute": "attribute",
        },
        "coded": "bottom {bottom} ({bottom_n} rows), top {top} ({top_n} rows)",
        "coded_treatment": "top/bottom coding at {bottom}/{top} percentiles",
        "recoding": "Recoding: global and local",
        "recoding_explain": (
            "Global recoding: every row of the column is generalized to the same level of its hierarchy "
            "(all ages in 10-year bands, say), so values never overlap and can be used as model features, "
            "usually at a higher information loss. Local recoding (Mondrian): each class is generalized "
            "only as far as k needs, losing less, but values may overlap from row to row (20-49 beside "
            "30-39). The table puts both losses side by side, for you to choose."
        ),
        "recoding_global": ("global", "level {level} of {top} (0 = the finest), {values} values"),
        "recoding_local": ("local (Mondrian)", ""),
        "compared": "This extract beside local recoding alone",
        "engine": "Engine: Spark",
        "fragment_sizes": "{count} ({min}-{max} rows each)",
        "machines": ("Spark", "single machine (local engine)"),
        "machine_head": ("run", "information loss NCP", "k", "l", "rows suppressed", "classes"),
        "not_compared": (
            "Not run: this extract has {rows} rows, over the bound of {bound} "
            "(PIIVAULT_EXTRACT_COMPARE_ROWS), above which partitioning the whole table again on the "
            "driver would cost it too much memory and time."
        ),
        "this_extract": "this extract",
        "local_only": "local recoding only",
        "compare_head": (
            "recoding",
            "information loss NCP",
            "discernibility DM",
            "classes",
            "rows suppressed",
        ),
        "reasons": {
            "no_consent": "no consent",
            "withdrawn": "withdrawn",
            "expired": "expired",
            "reconsent_required": "reconsent required",
            "restricted": "restricted",
            "erased": "erased",
        },
    },
}


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


LANGUAGES = tuple(REPORT_HTML_BY_LANGUAGE)  # a page's ``lang``; TERMS and TITLES use its first subtag


def _key(language: str) -> str:
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}")
    return language.split("-")[0]


def report_file(language: str) -> str:
    """The name of the report page in ``language``: ``report.zh-CN.html``, ``report.en.html``."""
    _key(language)
    return REPORT_HTML_BY_LANGUAGE[language]


def render_html(report: Mapping[str, Any], png: bytes, language: str = "zh-CN") -> str:
    """The report as one HTML page in ``language`` (``zh-CN`` or ``en``), the chart inline.

    The page's ``lang`` is its language; a link names the page in the other language
    (:func:`report_file`, written beside it). Raises ValueError for another language.
    """
    lang = _key(language)
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
