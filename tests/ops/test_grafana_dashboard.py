"""deploy/grafana/piivault.json and deploy/prometheus/rules.yml against what piivault exports (issue 19).

The series an expression names must be one a real scrape offers: the families are
read from ``metrics.render`` on a migrated database with a recorded verification and a checkpoint (so the
scrape-time gauges are there too), and each family gives its series names by type
(a counter's ``_total``, a histogram's ``_bucket``/``_sum``/``_count``). A renamed
metric, or a panel typed from memory, fails here instead of drawing an empty graph.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families

from audit.cli import record_verification
from piivault import metrics
from piivault.gauges import DatabaseCollector

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SERIES = re.compile(r"\bpiivault_[a-z0-9_]+\b")
SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count", "_created")}


def _exported(container) -> dict[str, set[str]]:
    """Family name -> the series names a scrape may carry for it."""
    record_verification(container, container.audit.verify())
    container.audit.checkpoint_now()
    text = metrics.render(DatabaseCollector(container.engine, merge_delay=60.0)).decode()
    families = {
        f.name: f.type for f in text_string_to_metric_families(text) if f.name.startswith("piivault_")
    }
    # The text format carries a counter's or histogram's `_created` as a gauge family of its own.
    families = {n: k for n, k in families.items() if not (n.endswith("_created") and n[:-8] in families)}
    return {name: {name + s for s in SUFFIXES.get(kind, ("",))} for name, kind in families.items()}


def _dashboard_expressions() -> list[str]:
    dashboard = json.loads((DEPLOY / "grafana" / "piivault.json").read_text())
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def test_every_dashboard_expression_uses_series_piivault_exports_and_every_family_is_shown(container):
    exported = _exported(container)
    known = set().union(*exported.values())
    expressions = _dashboard_expressions()
    used = {name for expr in expressions for name in SERIES.findall(expr)}
    assert expressions and used - known == set()
    assert all(SERIES.search(expr) for expr in expressions)
    shown = {family for family, series in exported.items() if series & used}
    assert set(exported) - shown == set(), "families with no panel"


def test_every_alert_rule_uses_series_piivault_exports(container):
    known = set().union(*_exported(container).values())
    rules = yaml.safe_load((DEPLOY / "prometheus" / "rules.yml").read_text())
    expressions = [r["expr"] for group in rules["groups"] for r in group["rules"]]
    used = {name for expr in expressions for name in SERIES.findall(str(expr))}
    assert used and used - known == set()


def test_a_misspelt_series_would_be_caught(container):
    known = set().union(*_exported(container).values())
    assert "piivault_http_requests_total" in known
    assert {"piivault_http_request_total", "piivault_http_request_duration_seconds"} & known == set()
