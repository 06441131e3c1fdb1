"""Many threads and processes append at once: one gap-free chain, no fork, nothing lost."""

from __future__ import annotations

import json
import multiprocessing
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from audit import tables as at
from piivault.container import build_container
from piivault.settings import Settings
from tests.audit.conftest import append, settings_env
from tests.conftest import PG_URL, make_container


def _request_ids(container) -> list[str]:
    with container.engine.connect() as conn:
        payloads = conn.execute(sa.select(at.events.c.payload).order_by(at.events.c.seq)).scalars()
        return [json.loads(p)["request_id"] for p in payloads]


def _assert_one_chain(container, expected_ids: set[str]) -> None:
    audit_log = container.audit
    audit_log.sequencer.drain()
    report = audit_log.verify()
    assert report.ok, report.summary()
    assert report.events == len(expected_ids)
    ids = _request_ids(container)
    assert sorted(ids) == sorted(expected_ids)  # every event exactly once
    with container.engine.connect() as conn:
        seqs = conn.execute(sa.select(at.events.c.seq).order_by(at.events.c.seq)).scalars().all()
        assert seqs == list(range(len(expected_ids)))
        assert conn.execute(sa.select(sa.func.count()).select_from(at.queue)).scalar() == 0


def test_threads_append_to_one_chain(container):
    container.audit.sequencer.checkpoints.every = 50
    threads, each = 8, 40
    barrier = threading.Barrier(threads)

    def writer(n: int) -> None:
        barrier.wait()
        append(container, each, start=n * 1000, actor=f"thread-{n}")

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(writer, range(threads)))
    _assert_one_chain(container, {f"req-{n * 1000 + i}" for n in range(threads) for i in range(each)})


def test_racing_sequencers_in_separate_containers_do_not_fork(settings):
    # Writers and sequencers in different engines (as in different processes), all at once.
    containers = [make_container(settings.replace(audit_sequence_inline=False)) for _ in range(3)]
    try:
        stop = threading.Event()

        def sequencing(c) -> None:
            while not stop.is_set():
                c.audit.sequencer.sequence_pending(budget_seconds=None)
                stop.wait(0.002)

        sequencers = [threading.Thread(target=sequencing, args=(c,)) for c in containers]
        for t in sequencers:
            t.start()
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda n: append(containers[n % 3], 30, start=n * 1000), range(4)))
        stop.set()
        for t in sequencers:
            t.join()
        _assert_one_chain(containers[0], {f"req-{n * 1000 + i}" for n in range(4) for i in range(30)})
    finally:
        for c in containers:
            c.close()


def _process_writer(env: dict[str, str], n: int, count: int, ready, go) -> None:
    container = build_container(Settings.from_env(env))
    try:
        ready.put(n)
        go.wait(60)
        append(container, count, start=n * 100_000, actor=f"worker-{n}")
    finally:
        container.close()


def _run_processes(container, processes: int, each: int) -> None:
    env = settings_env(container.settings)
    ctx = multiprocessing.get_context("spawn")  # like separate gunicorn workers: nothing shared
    ready, go = ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=_process_writer, args=(env, n, each, ready, go)) for n in range(processes)]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get(timeout=120)
    go.set()
    for p in procs:
        p.join(timeout=300)
        assert p.exitcode == 0
    _assert_one_chain(container, {f"req-{n * 100_000 + i}" for n in range(processes) for i in range(each)})


@pytest.mark.postgres
@pytest.mark.skipif(not PG_URL, reason="set PIIVAULT_TEST_DATABASE_URL")
def test_eight_processes_times_five_hundred_appends_on_postgresql(container, backend):
    if backend != "postgresql":
        pytest.skip("the PostgreSQL variant of this test")
    container.audit.sequencer.checkpoints.every = 500
    _run_processes(container, 8, 500)
    assert container.audit.size() == 4000


def test_processes_on_sqlite(container, backend):
    if backend != "sqlite":
        pytest.skip("the SQLite variant of this test")
    _run_processes(container, 4, 100)
