"""The files an extract writes, by name: shared by the runner that writes them and the
service that serves them, without the runner's numeric libraries."""

from __future__ import annotations

import re

CSV_NAME = "extract.csv"
PARQUET_NAME = "extract.parquet"
CHART_NAME = "class_sizes.png"
REPORT_JSON = "report.json"
REPORT_HTML = "report.html"  # in the spec's report.language; each language's page beside it:
REPORT_HTML_BY_LANGUAGE = {"zh-CN": "report.zh-CN.html", "en": "report.en.html"}
MANIFEST_NAME = "manifest.json"

# The Spark engine's data files: extract-00000.parquet, ... (and .csv on request), in row order.
PART_PATTERN = re.compile(r"extract-[0-9]{5}\.(parquet|csv)")


def part_name(index: int, extension: str) -> str:
    """The name of the ``index``-th data file of a partitioned extract (``extract-00003.parquet``)."""
    return f"extract-{index:05d}.{extension}"
