"""The database itself refuses to rewrite the audit log (triggers from migration 0003)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.audit.conftest import append, scalar

STATEMENTS = {
    "audit_events": ("UPDATE audit_events SET actor = 'someone else'", "DELETE FROM audit_events"),
    "audit_nodes": ("UPDATE audit_nodes SET hash = hash", "DELETE FROM audit_nodes"),
    "audit_checkpoints": ("UPDATE audit_checkpoints SET timestamp = 0", "DELETE FROM audit_checkpoints"),
}


@pytest.fixture
def log_with_rows(container):
    container.audit.sequencer.checkpoints.every = 2
    append(container, 4)
    for table in STATEMENTS:
        assert scalar(container, f"SELECT count(*) FROM {table}") > 0  # noqa: S608
    return container


@pytest.mark.parametrize(
    "statement", [s for pair in STATEMENTS.values() for s in pair], ids=lambda s: " ".join(s.split()[:3])
)
def test_update_and_delete_are_rejected(log_with_rows, statement):
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), log_with_rows.engine.begin() as conn:
        conn.exec_driver_sql(statement)


def test_truncate_is_rejected_on_postgresql(log_with_rows, backend):
    if backend != "postgresql":
        pytest.skip("SQLite has no TRUNCATE (DELETE is covered)")
    for table in STATEMENTS:
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), log_with_rows.engine.begin() as conn:
            conn.exec_driver_sql(f"TRUNCATE {table}")


def test_queued_events_cannot_be_altered_only_removed(container):
    container.settings = container.settings.replace(audit_sequence_inline=False)
    append(container, 2)
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), container.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE audit_queue SET payload = '{}'")
    with container.engine.begin() as conn:  # the sequencer's job
        conn.exec_driver_sql("DELETE FROM audit_queue")


def test_the_head_cannot_be_deleted_or_moved_back(container):
    append(container, 3)
    with pytest.raises(sa.exc.DBAPIError, match="cannot be deleted"), container.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM audit_state")
    with pytest.raises(sa.exc.DBAPIError, match="cannot decrease"), container.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE audit_state SET size = 1")
    with container.engine.begin() as conn:  # moving forward (or not at all) is what the sequencer does
        conn.exec_driver_sql("UPDATE audit_state SET size = size")
    assert scalar(container, "SELECT size FROM audit_state") == 3


def test_appending_still_works(log_with_rows):
    append(log_with_rows, 1, start=100)
    assert log_with_rows.audit.size() == 5
