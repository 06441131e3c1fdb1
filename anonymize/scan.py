"""Column discovery for a data inventory: which field type each column of a table most likely holds.

A DPO keeping a PIPL inventory needs to know which columns of a CSV or Parquet
export or a database table hold personal data. :func:`scan_csv`,
:func:`scan_parquet` and :func:`scan_table` sample rows (a seeded reservoir over
the whole CSV; seeded row numbers of the Parquet file; ``ORDER BY random()`` in
the database), run every sampled cell through the free-text detector
(:mod:`anonymize.text`, whole-cell matches only unless ``within``, ``en`` for ASCII cells and
``zh`` otherwise) and report per column:

* ``field_type``: the type most sampled values matched, or ``None`` when fewer
  than :data:`MIN_SHARE` of them matched any;
* ``matched`` and ``sampled`` (non-empty cells), ``share`` = matched / sampled;
* ``confidence`` = share x the detector's mean score on the matches (1.0 for a
  passed check digit), plus :data:`HEADER_BONUS` when the column's name says the
  same type (手机, mobile, 身份证...), at most 1.0;
* ``candidates``: how many sampled values matched each type.

A bare date has no birth cue for the detector: a column of valid dates is
``date_of_birth`` at score :data:`BARE_DATE_SCORE` only when its name says so
(出生日期, dob); a column of other dates (opened_on) is reported with no type.

No value is kept, returned, printed or logged: only counts and column names.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import random
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from fieldtypes import default_registry

DEFAULT_SAMPLE = 200
MIN_SHARE = 0.3
HEADER_BONUS = 0.15
BARE_DATE_SCORE = 0.5
# Words in a column name that say which type it holds (lower-cased substring match).
HEADER_HINTS: dict[str, tuple[str, ...]] = {
    "name": ("name", "姓名", "名字", "户名", "联系人", "客户名"),
    "cn_mobile": ("mobile", "phone", "tel", "手机", "电话", "联系方式"),
    "cn_resident_id": ("id_no", "id_number", "idcard", "身份证", "证件号"),
    "bank_card": ("card", "卡号", "账号", "银行卡"),
    "email": ("email", "e-mail", "mail", "邮箱"),
    "address": ("address", "addr", "地址", "住址", "住所"),
    "date_of_birth": ("birth", "dob", "生日", "出生"),
    "cn_vehicle_plate": ("plate", "车牌", "号牌"),
    "us_ssn": ("ssn", "social"),
    "cn_uscc": ("uscc", "信用代码"),
    "passport": ("passport", "护照"),
}


class ScanError(Exception):
    """The source cannot be read (no such file or table, bad URL); the message holds no value."""


@dataclass(frozen=True, slots=True)
class ColumnReport:
    column: str
    field_type: str | None
    confidence: float
    matched: int
    sampled: int
    share: float
    candidates: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _cell_types(value: str, within: bool = False) -> dict[str, float]:
    """Field types that the whole ``value`` is, with the detector's score for each; ``within``: the
    types it holds anywhere, a letter or _ glued to digits (x13912345678, id_110105...) cut off."""
    from anonymize.text import analyze

    text = value.strip()
    texts = [text]
    if within:  # glued before and after apart: a resident ID's final X stays glued to its digits
        texts += [cut for glued in _GLUED if (cut := glued.sub(" ", text)) != text]
    found = {
        e.type: e.score
        for t in texts
        for e in analyze(t, "en" if t.isascii() else "zh")
        if within or (e.start == 0 and e.end == len(t))
    }
    if not found and default_registry().get("date_of_birth").is_valid(text):
        found["date_of_birth"] = BARE_DATE_SCORE
    return found


# A letter or _ before a digit, and a digit before one: the detector's boundaries would see no number.
_GLUED = (re.compile(r"(?<=[A-Za-z_])(?=\d)"), re.compile(r"(?<=\d)(?=[A-Za-z_])"))


def header_says(column: str, field_type: str) -> bool:
    """Whether the column's name holds a word of :data:`HEADER_HINTS` for ``field_type``."""
    name = column.lower()
    return any(word in name for word in HEADER_HINTS.get(field_type, ()))


def scan_columns(
    columns: Sequence[str], rows: Iterable[Sequence[object]], within: bool = False
) -> list[ColumnReport]:
    """One :class:`ColumnReport` per column of ``rows`` (already sampled), in column order.

    ``within``: a cell counts for each type it holds anywhere, not only for the type it wholly is
    (a value with a character added, a list or record written out as text)."""
    matched = [Counter[str]() for _ in columns]
    scores = [Counter[str]() for _ in columns]
    sampled = [0] * len(columns)
    for row in rows:
        for index, cell in enumerate(row[: len(columns)]):
            if cell is None or not str(cell).strip():
                continue
            sampled[index] += 1
            for field_type, score in _cell_types(str(cell), within).items():
                matched[index][field_type] += 1
                scores[index][field_type] += score
    return [_report(c, matched[i], scores[i], sampled[i]) for i, c in enumerate(columns)]


def _report(column: str, matched: Counter[str], scores: Counter[str], sampled: int) -> ColumnReport:
    candidates = dict(matched.most_common())
    if not sampled or not matched:
        return ColumnReport(column, None, 0.0, 0, sampled, 0.0, candidates)
    # Most matches first; a header that names the type breaks a tie.
    best = max(matched, key=lambda t: (matched[t], header_says(column, t), scores[t]))
    share = matched[best] / sampled
    # A column of dates is a birth date only when its name says so (opened_on is not).
    bare_dates = best == "date_of_birth" and not header_says(column, best)
    if share < MIN_SHARE or bare_dates:
        return ColumnReport(column, None, 0.0, matched[best], sampled, round(share, 4), candidates)
    confidence = share * scores[best] / matched[best]
    if header_says(column, best):
        confidence += HEADER_BONUS
    return ColumnReport(
        column, best, round(min(confidence, 1.0), 4), matched[best], sampled, round(share, 4), candidates
    )


def _reservoir(rows: Iterator[list[str]], size: int, seed: int) -> list[list[str]]:
    rng = random.Random(seed)
    kept: list[list[str]] = []
    for seen, row in enumerate(rows):
        if seen < size:
            kept.append(row)
        else:
            slot = rng.randint(0, seen)
            if slot < size:
                kept[slot] = row
    return kept


def scan_csv(path: str | Path, sample: int = DEFAULT_SAMPLE, seed: int = 0) -> list[ColumnReport]:
    """Scan a CSV file with a header row (UTF-8, a BOM allowed). Raises :class:`ScanError`."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                raise ScanError("the file is empty: no header row")
            rows = _reservoir(reader, sample, seed)
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise ScanError(f"cannot read the CSV file ({type(e).__name__})") from None
    return scan_columns(header, rows)


def scan_parquet(path: str | Path, sample: int = DEFAULT_SAMPLE, seed: int = 0) -> list[ColumnReport]:
    """Scan a Parquet file: a seeded random sample of its rows. Raises :class:`ScanError`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
        total = parquet.metadata.num_rows
        picked = sorted(random.Random(seed).sample(range(total), min(sample, total)))
        table = parquet.read().take(pa.array(picked, type=pa.int64()))
    except (OSError, pa.ArrowException) as e:
        raise ScanError(f"cannot read the Parquet file ({type(e).__name__})") from None
    columns = table.column_names
    rows = zip(*(table.column(c).to_pylist() for c in columns), strict=True) if columns else iter(())
    return scan_columns(columns, rows)


def scan_table(url: str, table: str, sample: int = DEFAULT_SAMPLE) -> list[ColumnReport]:
    """Scan ``table`` of the database at SQLAlchemy ``url``, on a random sample. Raises :class:`ScanError`."""
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(url)
    except (sa.exc.ArgumentError, ImportError) as e:
        raise ScanError(f"not a usable database URL ({type(e).__name__})") from None
    try:
        with engine.connect() as connection:
            try:
                reflected = sa.Table(table, sa.MetaData(), autoload_with=connection)
            except sa.exc.NoSuchTableError:
                raise ScanError(f"no table {table!r} in that database") from None
            query = sa.select(reflected).order_by(sa.func.random()).limit(sample)
            rows = connection.execute(query).all()
    except sa.exc.SQLAlchemyError as e:
        raise ScanError(f"cannot read the table ({type(e).__name__})") from None
    finally:
        engine.dispose()
    return scan_columns([c.name for c in reflected.columns], rows)


def render_text(reports: list[ColumnReport]) -> str:
    """A readable table of the reports (column names and counts only)."""
    lines = [f"{'column':<24}{'field type':<18}{'confidence':>11}{'matched':>9}{'sampled':>9}{'share':>8}"]
    for r in reports:
        kind = r.field_type or "-"
        lines.append(
            f"{r.column:<24}{kind:<18}{r.confidence:>11.2f}{r.matched:>9}{r.sampled:>9}{r.share:>8.2f}"
        )
    return "\n".join(lines)


_HTML_TEXT = {
    "zh": {
        "title": "个人信息字段清单",
        "source": "数据来源",
        "when": "扫描时间",
        "sample": "每列抽样行数上限",
        "summary": "{found} / {total} 列可能含个人信息",
        "column": "列名",
        "type": "可能的字段类型",
        "class": "分级 / 敏感个人信息",
        "confidence": "置信度",
        "matched": "命中 / 抽样",
        "others": "其他候选",
        "none": "未发现",
        "sensitive": "敏感个人信息",
        "identifying": "直接标识符",
        "method": (
            "方法：对每列抽样的非空单元格逐个用自由文本检测器整格匹配；份额 = 命中数 / 抽样数，"
            "置信度 = 份额 × 检测器平均分（列名与类型一致时加 0.15，最高 1.0）。"
            "本页只含列名与计数，未保存、未显示任何值。结果是线索，不是结论：请人工核对。"
        ),
    },
    "en": {
        "title": "Personal data inventory",
        "source": "Source",
        "when": "Scanned at",
        "sample": "Rows sampled per column, at most",
        "summary": "{found} of {total} columns likely hold personal data",
        "column": "Column",
        "type": "Likely field type",
        "class": "Class / PIPL sensitive",
        "confidence": "Confidence",
        "matched": "Matched / sampled",
        "others": "Other candidates",
        "none": "none found",
        "sensitive": "sensitive personal information",
        "identifying": "direct identifier",
        "method": (
            "Method: every sampled non-empty cell of a column is run through the free-text detector, "
            "whole-cell matches only; share = matched / sampled, confidence = share x the detector's "
            "mean score (+0.15 when the column's name says the same type, at most 1.0). This page "
            "holds column names and counts only: no value was kept or shown. A finding is a lead, "
            "not a verdict: have a person check it."
        ),
    },
}


def render_html(
    reports: list[ColumnReport],
    source: str,
    sample: int,
    language: str = "zh",
    now: dt.datetime | None = None,
) -> str:
    """A self-contained page a DPO can keep as the inventory of one table (names and counts only).

    ``source`` names the file or table (never a URL with a password). Column names come from the
    data and are escaped like everything else.
    """
    text = _HTML_TEXT[language]
    types = default_registry()
    known = set(types.codes())
    now = now or dt.datetime.now(dt.UTC)

    def type_cell(code: str | None) -> str:
        if code is None:
            return f'<span class="none">{html.escape(text["none"])}</span>'
        if code not in known:  # a detector-only type (us_ssn)
            return f"<code>{html.escape(code)}</code>"
        ft = types.get(code)
        name = ft.names.zh if language == "zh" else ft.names.en
        return f"{html.escape(name)} <code>{html.escape(code)}</code>"

    def class_cell(code: str | None) -> str:
        if code is None or code not in known:
            return ""
        ft = types.get(code)
        marks = [ft.sensitivity.value]
        if ft.pipl_sensitive:
            marks.append(text["sensitive"])
        if ft.identifying:
            marks.append(text["identifying"])
        return html.escape(" · ".join(marks))

    rows = []
    for r in reports:
        others = ", ".join(f"{code} {n}" for code, n in sorted(r.candidates.items()) if code != r.field_type)
        rows.append(
            f'<tr class="{"pii" if r.field_type else "clear"}"><th scope="row">{html.escape(r.column)}</th>'
            f"<td>{type_cell(r.field_type)}</td><td>{class_cell(r.field_type)}</td>"
            f'<td class="n">{r.confidence:.2f}</td><td class="n">{r.matched} / {r.sampled}</td>'
            f"<td>{html.escape(others)}</td></tr>"
        )
    found = sum(1 for r in reports if r.field_type)
    head = "".join(
        f'<th scope="col">{html.escape(text[k])}</th>'
        for k in ("column", "type", "class", "confidence", "matched", "others")
    )
    return f"""<!doctype html>
<html lang="{"zh-CN" if language == "zh" else "en"}"><head><meta charset="utf-8">
<title>{html.escape(text["title"])}: {html.escape(source)}</title>
<style>
body {{ font: 14px/1.5 system-ui, "Noto Sans CJK SC", sans-serif; margin: 2rem; color: #1f2933; }}
dl {{ display: grid; grid-template-columns: max-content auto; gap: .2rem 1rem; }}
dt {{ color: #52606d; }} dd {{ margin: 0; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ border-bottom: 1px solid #d9e2ec; padding: .4rem .6rem; text-align: left; vertical-align: top; }}
thead th {{ background: #f0f4f8; }}
tr.pii th {{ border-left: 4px solid #c23; }}
td.n {{ text-align: right; font-variant-numeric: tabular-nums; }}
.none {{ color: #829ab1; }}
code {{ font-size: 12px; color: #52606d; }}
p.method {{ color: #52606d; max-width: 60rem; }}
@media print {{ body {{ margin: 1cm; }} }}
</style></head><body>
<h1>{html.escape(text["title"])}</h1>
<dl><dt>{html.escape(text["source"])}</dt><dd>{html.escape(source)}</dd>
<dt>{html.escape(text["when"])}</dt><dd>{now.strftime("%Y-%m-%d %H:%M UTC")}</dd>
<dt>{html.escape(text["sample"])}</dt><dd>{sample}</dd></dl>
<p><strong>{html.escape(text["summary"].format(found=found, total=len(reports)))}</strong></p>
<table><thead><tr>{head}</tr></thead><tbody>
{"".join(rows)}
</tbody></table>
<p class="method">{html.escape(text["method"])}</p>
</body></html>
"""
