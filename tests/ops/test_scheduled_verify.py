"""The scheduled full verification (issue 19): `piivault audit verify --record`, read back by /metrics.

The job (CronJob piivault-audit-verify, Compose service audit-verify) records each
result as an audit event; the scrape turns the latest into
``piivault_audit_verification_ok`` and ``_age_seconds``, which the alert rules
watch. The attack: an event edited in the database (triggers off, as a database
superuser could). The next run exits 1, records the failure, and the gauge drops to 0.
"""

from __future__ import annotations

import sqlalchemy as sa
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from audit import tables as at
from piivault import metrics
from piivault.cli import main
from piivault.gauges import DatabaseCollector
from tests.audit.conftest import settings_env, tampering
from tests.consent.conftest import customer


def _verify(container, *args):
    return CliRunner().invoke(
        main, ["audit", "verify", "--record", *args], env=settings_env(container.settings)
    )


def _gauges(container) -> dict[str, float]:
    container.audit.sequencer.drain()  # the recorded result, sequenced as the worker would
    text = metrics.render(DatabaseCollector(container.engine, merge_delay=60.0)).decode()
    return {
        s.name: s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name.startswith("piivault_audit_verification")
    }


def test_the_recorded_result_is_scraped_and_a_tampered_log_drops_it_to_zero(container):
    customer(container, "cust-v001")
    assert _gauges(container) == {}  # before the first run: absent (the "missing" rule fires)

    result = _verify(container)
    assert result.exit_code == 0, result.output
    gauges = _gauges(container)
    assert gauges["piivault_audit_verification_ok"] == 1.0
    assert gauges["piivault_audit_verification_age_seconds"] >= 0.0

    with tampering(container) as conn:
        first = conn.execute(sa.select(sa.func.min(at.events.c.seq))).scalar_one()
        conn.execute(sa.update(at.events).where(at.events.c.seq == first).values(actor="someone-else"))
    result = _verify(container)
    assert result.exit_code == 1, result.output
    assert _gauges(container)["piivault_audit_verification_ok"] == 0.0
    with container.engine.connect() as conn:
        outcomes = conn.execute(
            sa.select(at.events.c.outcome)
            .where(at.events.c.action == "audit.verified")
            .order_by(at.events.c.seq)
        ).scalars()
        assert list(outcomes) == ["success", "error"]


def test_record_is_refused_with_the_read_only_key_mode(container):
    result = _verify(container, "--key", "example+00000000+AAAA")
    assert result.exit_code == 2 and "cannot record" in result.output
