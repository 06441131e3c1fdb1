"""Prometheus metrics: every family piivault exports, and how ``/metrics`` renders them.

The counters and histograms are module globals that the code paths they count
increment (``prometheus_client``). Under gunicorn each worker is a process: with
``PROMETHEUS_MULTIPROC_DIR`` set (``piivault serve`` empties it at start and
marks exited workers dead), every process writes its values to files there and
a scrape adds them up, so any worker answers for all of them.

What lives in the database (audit queue, checkpoints, extract jobs) is read at
scrape time by :class:`piivault.gauges.DatabaseCollector`, so the numbers are the
same whoever answers and need no process to keep them current.

Labels are bounded codes only: route templates (``/v1/subjects/<subject_id>``,
never a path), statuses, outcome and reason codes. No label ever carries a
subject id, token, value or client id; :func:`code` enforces that for labels
that come from data.
"""

from __future__ import annotations

import functools
import os
import re
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.registry import REGISTRY, Collector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_CODE = re.compile(r"[a-z][a-z0-9_.:]{0,63}")


def code(value: Any, default: str = "other") -> str:
    """``value`` if it is a short lower-case code (``no_consent``), else ``default``: a label
    built from data can never carry an identifier, a token or a value."""
    text = "" if value is None else str(value)
    return text if _CODE.fullmatch(text) else default


@functools.lru_cache(maxsize=4096, typed=True)
def labelled(metric: Any, *values: str) -> Any:
    """``metric.labels(*values)`` (the values in the order of its label names), looked up once:
    the same child every time, as ``labels`` returns it, without converting the values and
    taking the metric's lock again. Seven of them were about 2% of a single tokenize's CPU
    (issue 22). The labels are codes from bounded sets (see above), so the combinations are
    few. Never clear a metric counted through here, nor remove its children: the cached child
    would go on counting, unexported (or call ``labelled.cache_clear()`` as well)."""
    return metric.labels(*values)


HTTP_METHODS = frozenset({"get", "head", "post", "put", "patch", "delete", "options"})


def method_label(method: str) -> str:
    """The HTTP method as a label: one of :data:`HTTP_METHODS`, else ``other``. A client picks
    the method: any other would make a new series per made-up name."""
    method = method.lower()
    return method if method in HTTP_METHODS else "other"


HTTP_REQUESTS = Counter(
    "piivault_http_requests_total",
    "HTTP requests by route template and status",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "piivault_http_request_duration_seconds",
    "HTTP request latency by route template and status",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
TOKEN_ITEMS = Counter(
    "piivault_token_items_total",
    "tokenize/detokenize items by outcome (ok or the error code) and reason",
    ["operation", "outcome", "reason"],
)
DEK_CACHE = Counter("piivault_dek_cache_requests_total", "data-key cache look-ups", ["result"])
VAULT_ERRORS = Counter("piivault_vault_errors_total", "failed Vault/OpenBao calls by kind", ["kind"])
DATABASE_ERRORS = Counter(
    "piivault_database_errors_total", "requests answered 503 because the database was unavailable", ["kind"]
)
LEDGER_WRITES = Counter("piivault_erasure_ledger_writes_total", "erasure ledger appends", ["result"])
AUTH_LIMITER_REFUSALS = Counter(
    "piivault_auth_failure_limiter_refusals_total", "API-key attempts refused by the failure limiter (429)"
)
ANSWER_BUDGET = Counter(
    "piivault_answer_budget_events_total",
    "answer (enumeration) budget: exhausted (tripped, audited) and refused (requests while locked)",
    ["event"],
)
BREAK_GLASS = Counter("piivault_break_glass_grants_total", "break-glass grants taken", ["action"])


def render(*collectors: Collector) -> bytes:
    """The exposition text: this process's (or, in multiprocess mode, every worker's) families,
    then those of ``collectors`` (the database gauges, :class:`piivault.gauges.DatabaseCollector`)."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    text = generate_latest(registry)
    if collectors:
        # A registry of its own per scrape; the exposition format allows families one after another.
        extra = CollectorRegistry(auto_describe=False)
        for collector in collectors:
            extra.register(collector)
        text += generate_latest(extra)
    return text


def reset_multiprocess_dir() -> None:
    """Remove a previous run's value files (a restarted server must not add up dead workers)."""
    directory = os.environ.get(MULTIPROC_ENV)
    if not directory:
        return
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):
        if name.endswith(".db"):
            os.unlink(os.path.join(directory, name))


def worker_exited(pid: int) -> None:
    """gunicorn's ``child_exit``: a dead worker's live gauges stop counting."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(pid)
