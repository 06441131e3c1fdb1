"""The report's words: the name and plain explanation of every figure, and the page's titles,
in each language a report page is written in.

A page's ``lang`` (:data:`LANGUAGES`) is one of ``zh-CN`` and ``en``; :data:`TERMS` and
:data:`TITLES` are keyed by its first subtag (:func:`language_key`).
"""

from __future__ import annotations

from anonymize.extract.outputs import REPORT_HTML_BY_LANGUAGE

LANGUAGES = tuple(REPORT_HTML_BY_LANGUAGE)  # a page's ``lang``; TERMS and TITLES use its first subtag


def language_key(language: str) -> str:
    """The key of ``language`` in :data:`TERMS` and :data:`TITLES`; ValueError for another language."""
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}")
    return language.split("-")[0]


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
