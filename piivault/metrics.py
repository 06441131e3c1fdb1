"""Prometheus metrics: every family piivault exports, and how ``/metrics`` renders them.

The counters and histograms are module globals that the code paths they count
increment (``prometheus_client``). Under gunicorn each worker is a process: with
``PROMETHEUS_MULTIPROC_DIR`` set (``piivault serve`` empties it at start and
marks exited workers dead), every process writes its values to files there and
a scrape adds them up, so any worker answers for all of them.

What lives in the database (audit queue, checkpoints, extract jobs) is read at
scrape time by :class:`DatabaseCollector`, so the numbers are the same whoever
answers and need no process to keep them current.

Labels are bounded codes only: route templates (``/v1/subjects/<subject_id>``,
never a path), statuses, outcome and reason codes. No label ever carries a
subject id, token, value or client id; :func:`code` enforces that for labels
that come from data.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_CODE = re.compile(r"[a-z][a-z0-9_.:]{0,63}")


def code(value: Any, default: str = "other") -> str:
    """``value`` if it is a short lower-case code (``no_consent``), else ``default``: a label
    built from data can never carry an identifier, a token or a value."""
    text = "" if value is None else str(value)
    return text if _CODE.fullmatch(text) else default


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


class DatabaseCollector(Collector):
    """The gauges read from the database at scrape time; ``piivault_database_up`` 0 if it cannot."""

    def __init__(self, engine: sa.Engine, merge_delay: float) -> None:
        self._engine = engine
        self._merge_delay = merge_delay

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(
            "piivault_audit_merge_delay_bound_seconds",
            "PIIVAULT_AUDIT_MERGE_DELAY: the bound on piivault_audit_queue_oldest_seconds",
            value=self._merge_delay,
        )
        try:
            families = list(self._read())
            up = 1.0
        except sa.exc.SQLAlchemyError:
            families, up = [], 0.0
        yield GaugeMetricFamily("piivault_database_up", "1 if the scrape could read the database", value=up)
        yield from families

    def _read(self) -> Iterator[GaugeMetricFamily]:
        from anonymize.extract.tables import extracts
        from audit import tables as audit
        from piivault.db import utcnow

        now = utcnow()
        with self._engine.connect() as conn:
            depth, oldest = conn.execute(
                sa.select(sa.func.count(), sa.func.min(audit.queue.c.enqueued_at))
            ).one()
            size, checkpoint_ts = conn.execute(
                sa.select(sa.func.max(audit.checkpoints.c.size), sa.func.max(audit.checkpoints.c.timestamp))
            ).one()
            forged = conn.execute(
                sa.select(sa.func.count()).where(audit.events.c.action == _forged_action())
            ).scalar_one()
            by_state = sa.select(extracts.c.state, sa.func.count()).group_by(extracts.c.state)
            verified = conn.execute(
                sa.select(audit.events.c.time, audit.events.c.outcome)
                .where(audit.events.c.action == _verified_action())
                .order_by(audit.events.c.seq.desc())
                .limit(1)
            ).one_or_none()
            states = {state: n for state, n in conn.execute(by_state)}
        yield GaugeMetricFamily("piivault_audit_queue_depth", "audit events waiting for the sequencer", depth)
        yield GaugeMetricFamily(
            "piivault_audit_queue_oldest_seconds",
            "age of the oldest queued audit event (the merge delay now; 0 when empty)",
            (now - oldest).total_seconds() if oldest else 0.0,
        )
        yield GaugeMetricFamily(
            "piivault_audit_checkpoint_size", "events covered by the latest signed checkpoint", size or 0
        )
        if checkpoint_ts:  # absent before the first checkpoint: the rule fires on absence too
            yield GaugeMetricFamily(
                "piivault_audit_checkpoint_age_seconds",
                "seconds since the latest signed checkpoint",
                max(0.0, time.time() - checkpoint_ts),
            )
        yield GaugeMetricFamily(
            "piivault_audit_forged_events",
            "queue rows the sequencer found forged (failed their MAC) and recorded: verification failed",
            forged,
        )
        if verified:  # absent before the first recorded run: the rule fires on absence too
            yield GaugeMetricFamily(
                "piivault_audit_verification_ok",
                "1 if the latest recorded `piivault audit verify --record` found the log intact",
                1.0 if verified.outcome == "success" else 0.0,
            )
            yield GaugeMetricFamily(
                "piivault_audit_verification_age_seconds",
                "seconds since the latest recorded full verification",
                max(0.0, (now - verified.time).total_seconds()),
            )
        jobs = GaugeMetricFamily(
            "piivault_extract_jobs", "anonymized extract jobs by state", labels=["state"]
        )
        for state in ("queued", "running", "succeeded", "failed", "expired"):
            jobs.add_metric([state], states.get(state, 0))
        yield jobs


def _verified_action() -> str:
    from audit.cli import VERIFIED_ACTION

    return VERIFIED_ACTION


def _forged_action() -> str:
    from audit.authenticity import FORGED_ACTION

    return FORGED_ACTION


def render(engine: sa.Engine | None = None, merge_delay: float = 0.0) -> bytes:
    """The exposition text: this process's (or, in multiprocess mode, every worker's) families,
    and the database gauges when an engine is given."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    text = generate_latest(registry)
    if engine is not None:
        # A registry of its own per scrape; the exposition format allows families one after another.
        database = CollectorRegistry(auto_describe=False)
        database.register(DatabaseCollector(engine, merge_delay))
        text += generate_latest(database)
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
