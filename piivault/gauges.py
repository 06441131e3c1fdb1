"""The gauges read from the database at scrape time (audit queue, checkpoints, verification,
extract jobs): above the packages whose tables they read, beside the container; the kernel's
:mod:`piivault.metrics` renders them with its own families.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import sqlalchemy as sa
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from piivault.db import utcnow


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
        # Loaded at the first scrape, as before: the app's import does not pay for them.
        from anonymize.extract.tables import extracts
        from audit import tables as audit
        from audit.authenticity import FORGED_ACTION
        from audit.cli import VERIFIED_ACTION

        now = utcnow()
        with self._engine.connect() as conn:
            depth, oldest = conn.execute(
                sa.select(sa.func.count(), sa.func.min(audit.queue.c.enqueued_at))
            ).one()
            size, checkpoint_ts = conn.execute(
                sa.select(sa.func.max(audit.checkpoints.c.size), sa.func.max(audit.checkpoints.c.timestamp))
            ).one()
            forged = conn.execute(
                sa.select(sa.func.count()).where(audit.events.c.action == FORGED_ACTION)
            ).scalar_one()
            by_state = sa.select(extracts.c.state, sa.func.count()).group_by(extracts.c.state)
            verified = conn.execute(
                sa.select(audit.events.c.time, audit.events.c.outcome)
                .where(audit.events.c.action == VERIFIED_ACTION)
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
