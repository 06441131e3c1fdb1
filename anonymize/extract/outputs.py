"""The files an extract writes, by name: shared by the runner that writes them and the
service that serves them, without the runner's numeric libraries."""

from __future__ import annotations

CSV_NAME = "extract.csv"
PARQUET_NAME = "extract.parquet"
CHART_NAME = "class_sizes.png"
REPORT_JSON = "report.json"
REPORT_HTML = "report.html"  # in the spec's report.language; each language's page beside it:
REPORT_HTML_BY_LANGUAGE = {"zh-CN": "report.zh-CN.html", "en": "report.en.html"}
MANIFEST_NAME = "manifest.json"
