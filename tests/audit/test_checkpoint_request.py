"""A process that does not sequence asks the sequencer loop for a checkpoint (AuditLog.await_checkpoint).

Under deploy/'s grants the API may only queue audit events; a checkpoint that must
cover everything logged so far (POST /v1/audit/checkpoint, a DSR access package) is cut
by the loop, in the step that integrates the request, however far from due it is.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from audit import tables as t
from audit.errors import CheckpointNotCut
from piivault.container import Container, build_container
from tests.audit.conftest import append


@pytest.fixture
def two(container: Container) -> Iterator[tuple[Container, Container]]:
    """The API's container (does not sequence) and the sequencer loop's, on one database;
    checkpoints are far from due by count or by time."""
    far = {
        "audit_checkpoint_every": 1_000_000,
        "audit_checkpoint_seconds": 86_400.0,
        "audit_merge_delay": 0.5,
    }
    api = build_container(container.settings.replace(audit_sequence_inline=False, **far))
    loop = build_container(container.settings.replace(audit_sequence_inline=False, **far))
    try:
        yield api, loop
    finally:
        api.close()
        loop.close()


def _running(loop: Container) -> tuple[threading.Event, threading.Thread]:
    stop = threading.Event()
    thread = threading.Thread(target=loop.audit.sequencer.run, args=(stop,), kwargs={"interval": 0.05})
    thread.start()
    return stop, thread


def test_the_loop_cuts_a_checkpoint_covering_every_event_queued_before_the_request(two) -> None:
    api, loop = two
    append(api, 2)
    assert loop.audit.checkpoint_now().size == 2
    append(api, 5)  # queued, not sequenced: the API does not sequence
    loop.audit.sequence_pending()
    assert loop.audit.size() == 7 and loop.audit.latest_checkpoint().size == 2  # not due
    append(api, 1, start=5)
    stop, thread = _running(loop)
    try:
        record = api.audit.await_checkpoint("user:auditor", request_id="req-1")
    finally:
        stop.set()
        thread.join()
    assert record.size == api.audit.size() == 9  # every event before it, and the request
    request = api.audit.search_events(action="audit.checkpoint").events[-1]
    entry = json.loads(request.entry)
    assert entry["actor"] == "user:auditor" and entry["request_id"] == "req-1"
    assert entry["details"]["requested"] is True
    assert request.seq == 8
    assert api.audit.verify().ok


def test_without_the_loop_the_request_is_refused_in_time_and_stays_queued(two) -> None:
    api, _ = two
    with pytest.raises(CheckpointNotCut) as refused:
        api.audit.await_checkpoint("user:auditor", timeout=0.3)
    assert refused.value.http_status == 503 and "audit sequence --loop" in refused.value.message
    assert api.audit.latest_checkpoint() is None
    with api.session_factory() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(t.queue)) == 1  # waits for the loop


def test_an_ordinary_checkpoint_event_asks_for_nothing(two) -> None:
    """Only a request (details ``requested``) makes the loop cut one before it is due."""
    api, loop = two
    append(api, 1)
    assert loop.audit.checkpoint_now().size == 1
    with api.uow() as uow:
        api.audit.record_access(uow, "user:auditor", "audit.checkpoint", details={"size": 1})
    loop.audit.sequence_pending()
    assert loop.audit.size() == 2 and loop.audit.latest_checkpoint().size == 1
