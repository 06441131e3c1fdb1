"""The unit of work: domain change and audit event commit together or not at all."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from audit import tables as at
from audit.events import AuditEvent
from vault import tables as vt


def _count(container, table) -> int:
    with container.session_factory() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(table))


def _audited(container) -> int:
    """Events recorded: queued, or already sequenced into the log."""
    return _count(container, at.queue) + _count(container, at.events)


def test_commit_writes_action_and_event_together(container):
    before = _count(container, vt.data_keys)
    with container.uow() as uow:
        container.keyring.create_subject_keys(uow.session, ["s-1"])
        uow.record(AuditEvent(action="subject.create", actor="test", subject_id="s-1"))
        uow.commit()
    assert _count(container, vt.data_keys) == before + 1
    # Queued, or already sequenced into the log by the container's after-commit step.
    assert _count(container, at.queue) + _count(container, at.events) == 1


def test_leaving_without_commit_rolls_back_both(container):
    before = _count(container, vt.data_keys)
    with container.uow() as uow:
        container.keyring.create_subject_keys(uow.session, ["s-2"])
        uow.record(AuditEvent(action="subject.create", actor="test", subject_id="s-2"))
    assert _count(container, vt.data_keys) == before
    assert _audited(container) == 0


def test_failing_audit_write_fails_the_action(container):
    before = _count(container, vt.data_keys)

    def broken_sink(session, events):
        raise RuntimeError("audit storage refused the write")

    container.audit_sink = broken_sink
    with container.uow() as uow, pytest.raises(RuntimeError, match="audit storage"):
        container.keyring.create_subject_keys(uow.session, ["s-3"])
        uow.record(AuditEvent(action="subject.create", actor="test", subject_id="s-3"))
        uow.commit()
    assert _count(container, vt.data_keys) == before


def test_events_are_validated():
    with pytest.raises(ValueError):
        AuditEvent(action="", actor="x")
    with pytest.raises(ValueError):
        AuditEvent(action="a", actor="x", outcome="maybe")
