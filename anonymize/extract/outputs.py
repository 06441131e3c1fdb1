"""The files an extract writes, by name: shared by the runner that writes them and the
service that serves them, without the runner's numeric libraries."""

from __future__ import annotations

CSV_NAME = "extract.csv"
PARQUET_NAME = "extract.parquet"
CHART_NAME = "class_sizes.png"
REPORT_JSON = "report.json"
REPORT_HTML = "report.html"
MANIFEST_NAME = "manifest.json"
