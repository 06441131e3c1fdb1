"""Group commit: read-only units of work of one process share the commit of their audit events."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from sqlalchemy import exc

from audit import tables as at
from audit.events import AuditEvent
from audit.group import GroupCommit, GroupCommitFailed
from audit.sink import QueueSink
from piivault.db import utcnow
from piivault.errors import StorageUnavailable
from vault import tables as vt


def _queued_and_logged(container) -> int:
    with container.session_factory() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(at.queue)) + s.scalar(
            sa.select(sa.func.count()).select_from(at.events)
        )


def _keys(container) -> int:
    with container.session_factory() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(vt.data_keys))


_sink: list[QueueSink] = []  # the container's sink (it MACs each payload with the container's key)


@pytest.fixture(autouse=True)
def _container_sink(container):
    _sink[:] = [container.audit_sink]
    yield
    _sink.clear()


def _payloads(n: int, actor: str = "group-test") -> list[tuple[str, bytes]]:
    return _sink[0].prepare([AuditEvent(action="test.read", actor=actor, request_id=f"r{n}")], utcnow())


class _HeldFirstBatch(GroupCommit):
    """Keeps its first batch from committing until ``waiting`` more callers have queued."""

    def __init__(self, engine, leaders: int = 1) -> None:
        super().__init__(engine, leaders=leaders)
        self.entered = threading.Event()
        self.release = threading.Event()
        self.sizes: list[int] = []
        self._held = False

    def _commit(self, batch):
        first, self._held = not self._held, True
        if first:
            self.entered.set()
            assert self.release.wait(30)
        self.sizes.append(len(batch))
        super()._commit(batch)

    def waiting(self) -> int:
        with self._cond:
            return len(self._waiting)


def _run_threads(targets) -> tuple[list[threading.Thread], list[BaseException]]:
    errors: list[BaseException] = []

    def guard(target):
        try:
            target()
        except BaseException as e:  # noqa: BLE001 - collected for the assertion
            errors.append(e)

    threads = [threading.Thread(target=guard, args=(t,)) for t in targets]
    for t in threads:
        t.start()
    return threads, errors


def test_callers_arriving_during_a_commit_share_the_next_one(container):
    group = _HeldFirstBatch(container.engine)
    first, errors = _run_threads([lambda: group.submit(_payloads(0))])
    assert group.entered.wait(30)  # the first caller leads, and its batch is being committed
    rest, more = _run_threads([lambda n=n: group.submit(_payloads(n)) for n in range(1, 8)])
    errors += more
    while group.waiting() < 7:  # all seven queued behind the held first batch
        threading.Event().wait(0.005)
    group.release.set()
    for t in first + rest:
        t.join(30)
    assert errors == []
    assert group.sizes == [1, 7]
    assert group.batches == 2
    assert _queued_and_logged(container) == 8


def test_with_two_leaders_a_caller_does_not_wait_for_a_commit_under_way(container):
    group = _HeldFirstBatch(container.engine, leaders=2)
    first, errors = _run_threads([lambda: group.submit(_payloads(0))])
    assert group.entered.wait(30)
    group.submit(_payloads(1))  # the second slot commits it while the first batch is held
    assert group.sizes == [1] and group.batches == 1
    group.release.set()
    for t in first:
        t.join(30)
    assert errors == [] and group.batches == 2
    assert _queued_and_logged(container) == 2


def test_a_failed_batch_fails_every_caller_and_writes_nothing(container):
    class Broken(GroupCommit):
        fail = True

        def _commit(self, batch):
            if self.fail:
                raise exc.OperationalError("INSERT", {}, Exception("connection refused"))
            super()._commit(batch)

    group = Broken(container.engine)
    with pytest.raises(StorageUnavailable):
        group.submit(_payloads(1))
    assert _queued_and_logged(container) == 0
    group.fail = False  # the next batch is not held up by the failed one
    group.submit(_payloads(2))
    assert _queued_and_logged(container) == 1


def test_a_batch_failing_otherwise_names_no_value(container, caplog):
    class Refused(GroupCommit):
        def _commit(self, batch):
            raise exc.IntegrityError("INSERT ... 'secret-value'", {}, Exception("'secret-value'"))

    with pytest.raises(GroupCommitFailed) as raised:
        Refused(container.engine).submit(_payloads(1))
    assert "secret-value" not in str(raised.value)
    assert "secret-value" not in caplog.text


def test_read_only_unit_of_work_commits_its_events(container, backend):
    with container.uow(read_only=True) as uow:
        uow.session.execute(sa.select(sa.func.count()).select_from(vt.data_keys))
        uow.record(AuditEvent(action="test.read", actor="group-test"))
        uow.commit()
    assert _queued_and_logged(container) == 1
    if backend == "postgresql":
        assert container.group_commit is not None and container.group_commit.batches == 1


def test_read_only_unit_of_work_refuses_a_write_on_postgresql(container, backend):
    def write_in_a_read_only_unit() -> None:
        with container.uow(read_only=True) as uow:
            container.keyring.create_subject_keys(uow.session, ["s-ro"])
            uow.record(AuditEvent(action="subject.create", actor="group-test", subject_id="s-ro"))
            uow.commit()

    before = _keys(container)
    if backend == "postgresql":  # READ ONLY: the write fails, and with it the events
        with pytest.raises(exc.InternalError, match="read-only"):
            write_in_a_read_only_unit()
        expected = 0
    else:  # SQLite has no group commit: an ordinary unit of work
        write_in_a_read_only_unit()
        expected = 1
    assert _keys(container) == before + expected
    assert _queued_and_logged(container) == expected


def test_many_threads_of_read_only_units_make_one_verifiable_log(container):
    def work(n: int) -> None:
        for i in range(20):
            with container.uow(read_only=True) as uow:
                uow.record(AuditEvent(action="test.read", actor=f"t{n}", request_id=f"{n}-{i}"))
                uow.commit()

    threads, errors = _run_threads([lambda n=n: work(n) for n in range(8)])
    for t in threads:
        t.join(60)
    assert errors == []
    audit = container.audit
    audit.sequencer.drain()
    assert audit.size() == 160
    assert audit.verify().ok


def test_an_interrupted_leader_leaves_no_caller_waiting(container):
    class Interrupted(BaseException):
        pass

    group = GroupCommit(container.engine)

    def interrupt(batch):
        raise Interrupted

    group._commit = interrupt  # type: ignore[method-assign]
    outcomes: list[BaseException | None] = []

    def call() -> None:
        try:
            group.submit(_payloads(1))
            outcomes.append(None)
        except BaseException as e:  # noqa: BLE001 - recorded for the assertion
            outcomes.append(e)

    threads = [threading.Thread(target=call) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads)
    assert len(outcomes) == 6 and all(isinstance(e, Interrupted | GroupCommitFailed) for e in outcomes)
    del group._commit  # the next batch goes through
    group.submit(_payloads(2))
    assert _queued_and_logged(container) == 1


def test_batches_hold_one_statement_and_an_oversized_caller_its_own_transaction(container, monkeypatch):
    import audit.group as group_module

    monkeypatch.setattr(group_module, "ROWS_PER_STATEMENT", 3)
    import audit.sink as sink_module

    monkeypatch.setattr(sink_module, "ROWS_PER_STATEMENT", 3)
    waiting = [
        group_module._Submission(["a", "b"]),
        group_module._Submission(["c"]),
        group_module._Submission(["d"]),
    ]
    batch, rest = group_module._take(waiting)
    assert [len(s.payloads) for s in batch] == [2, 1] and len(rest) == 1
    lone, rest = group_module._take([group_module._Submission(["a", "b", "c", "d", "e"])])
    assert len(lone) == 1 and rest == []

    events = [AuditEvent(action="test.read", actor="group-test", request_id=f"big-{n}") for n in range(7)]
    group = GroupCommit(container.engine)
    group.submit(container.audit_sink.prepare(events, utcnow()))  # 7 rows: three statements, one transaction
    assert _queued_and_logged(container) == 7
    group.close()


def test_a_failing_after_batch_step_does_not_fail_committed_callers(container):
    def sequencer_down() -> None:
        raise RuntimeError("sequencer down")

    group = GroupCommit(container.engine, after_batch=sequencer_down)
    group.submit(_payloads(1))
    assert _queued_and_logged(container) == 1
    group.close()


def test_after_a_fork_the_child_starts_afresh_and_leaves_the_parents_connection_open(container):
    group = GroupCommit(container.engine)
    group.submit(_payloads(1))
    (inherited,) = group._idle
    group._after_fork_in_child()  # what os.register_at_fork runs in a child
    assert group._idle == [] and not inherited.closed
    group.submit(_payloads(2))
    assert group._idle and group._idle[0] is not inherited
    assert _queued_and_logged(container) == 2
    group.close()
