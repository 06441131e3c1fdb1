"""Appending to the audit log from concurrent processes: appends/s and the merge delay.

Writer processes (spawned, like separate gunicorn workers, of one or more threads) each
record and commit events, with inline sequencing or a sequencer worker process; a sampler
polls the log head to tell when each event was sequenced. For reference, the same
processes committing a bare INSERT each through the driver.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import multiprocessing as mp
import statistics
import threading
import time
from typing import Any

import sqlalchemy as sa
from _audit_log import synthetic_event

from audit import tables as audit_tables
from audit.canonical import canonical_json
from piivault.container import Container, build_container
from piivault.db import make_engine
from piivault.settings import Settings

SPAWN = mp.get_context("spawn")  # like separate gunicorn workers: nothing shared


@dataclasses.dataclass
class Appends:
    rate: float
    merge_p50_ms: float
    merge_p99_ms: float
    merge_max_ms: float

    def line(self) -> str:
        return (
            f"{self.rate:,.0f} appends/s; merge delay p50 {self.merge_p50_ms:.1f} ms, "
            f"p99 {self.merge_p99_ms:.1f} ms, max {self.merge_max_ms:.1f} ms"
        )

    def to_dict(self) -> dict[str, float]:
        return {key: round(value, 1) for key, value in dataclasses.asdict(self).items()}


def _writer(
    env: dict[str, str],
    count: int,
    actor: str,
    ready: Any,
    go: Any,
    threads: int = 1,
    read_only: bool = False,
) -> None:
    """One writer process: ``threads`` threads (like a gunicorn worker's), ``count`` appends each."""
    container = build_container(Settings.from_env(env))
    errors: list[BaseException] = []

    def append(name: str) -> None:
        try:
            for i in range(count):
                with container.uow(read_only=read_only) as uow:
                    uow.record(synthetic_event(i, name))
                    uow.commit()
        except BaseException as e:  # noqa: BLE001 - re-raised in the process's main thread
            errors.append(e)

    try:
        with container.session_factory() as s:  # open a pooled connection before the clock starts
            s.execute(sa.text("SELECT 1"))
        ready.put(actor)
        go.wait()
        if threads == 1:
            append(actor)
        else:
            pool = [threading.Thread(target=append, args=(f"{actor}-{n}",)) for n in range(threads)]
            for t in pool:
                t.start()
            for t in pool:
                t.join()
        if errors:
            raise errors[0]
    finally:
        container.close()


def _sequencer_worker(env: dict[str, str], ready: Any, stop: Any, interval: float) -> None:
    # What `piivault audit sequence --loop --interval ...` runs.
    container = build_container(Settings.from_env(env))
    try:
        ready.put("sequencer")
        container.audit.sequencer.run(stop, interval=interval)
    finally:
        container.close()


class _HeadSampler(threading.Thread):
    """Polls the log size, to tell when each event was sequenced."""

    def __init__(self, url: str, interval: float) -> None:
        super().__init__(daemon=True)
        self.engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        self.interval = interval
        self.samples: list[tuple[float, int]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        with self.engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            cursor = conn.connection.driver_connection.cursor()  # the cheapest poll: the driver's own
            while not self.stop.is_set():
                cursor.execute("SELECT size FROM audit_state WHERE id = 1")
                self.samples.append((time.time(), int(cursor.fetchone()[0])))
                self.stop.wait(self.interval)

    def close(self) -> None:
        self.stop.set()
        self.join()
        self.engine.dispose()


def _merge_delays(container: Container, first: int, samples: list[tuple[float, int]]) -> list[float]:
    """Seconds from each event's enqueue time to the first sample whose size covers it."""
    events = audit_tables.events
    with container.engine.connect() as conn:
        rows = conn.execute(
            sa.select(events.c.seq, events.c.time).where(events.c.seq >= first).order_by(events.c.seq)
        ).all()
    sizes = [size for _, size in samples]
    delays = []
    for seq, when in rows:
        at = bisect.bisect_right(sizes, seq)  # the first sample with size > seq
        if at < len(samples):
            delays.append(max(0.0, samples[at][0] - when.timestamp()))
    return delays


def appends(
    container: Container,
    env: dict[str, str],
    writers: int,
    count: int,
    *,
    worker: bool = False,
    sample_ms: float = 2.0,
    threads: int = 1,
    read_only: bool = False,
) -> Appends:
    """``writers`` processes of ``threads`` threads append ``count`` events each. With
    ``worker``, they only queue and one sequencer worker process integrates (``piivault
    audit sequence --loop``). With ``read_only``, each append is a read-only unit of work,
    whose events a process's threads commit together (group commit, PostgreSQL)."""
    audit = container.audit
    audit.sequencer.drain(idle_checkpoint=False)
    first = audit.size()
    ready, go, stop = SPAWN.Queue(), SPAWN.Event(), SPAWN.Event()
    procs = []
    if worker:
        env = {**env, "PIIVAULT_AUDIT_SEQUENCE_INLINE": "false"}
        procs.append(SPAWN.Process(target=_sequencer_worker, args=(env, ready, stop, 0.01)))
    procs += [
        SPAWN.Process(target=_writer, args=(env, count, f"writer-{n}", ready, go, threads, read_only))
        for n in range(writers)
    ]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get(timeout=120)
    sampler = _HeadSampler(container.engine.url.render_as_string(hide_password=False), sample_ms / 1000)
    sampler.start()
    start = time.perf_counter()
    go.set()
    for p in procs[1:] if worker else procs:
        p.join()
        if p.exitcode:
            raise RuntimeError(f"writer exited with {p.exitcode}")
    # The clock runs until every event is sequenced: by the worker, or by the inline
    # callers (and this drain, for any left when an inline time budget ran out).
    total = writers * threads * count
    if not worker:
        audit.sequencer.drain(idle_checkpoint=False)
    while audit.size() < first + total:
        if time.perf_counter() - start > 600:
            raise RuntimeError("the queue was not drained within 10 minutes")
        time.sleep(sample_ms / 1000)
    elapsed = time.perf_counter() - start
    time.sleep(2 * sample_ms / 1000)  # one more sample after the end
    sampler.close()
    if worker:
        stop.set()
        procs[0].join()
    if audit.size() != first + total:
        raise RuntimeError(f"expected {first + total} events, the log has {audit.size()}")
    delays = sorted(_merge_delays(container, first, sampler.samples))
    return Appends(
        total / elapsed,
        statistics.median(delays) * 1000,
        delays[min(len(delays) - 1, int(len(delays) * 0.99))] * 1000,
        delays[-1] * 1000,
    )


_BARE_TABLE = "bench_bare_commits"


def _bare_writer(url: str, count: int, payload: str, ready: Any, go: Any) -> None:
    engine = make_engine(url)
    raw = engine.raw_connection()
    try:
        db = raw.driver_connection
        sqlite = engine.dialect.name == "sqlite"
        insert = f"INSERT INTO {_BARE_TABLE} (enqueued_at, payload) VALUES ({'?, ?' if sqlite else '%s, %s'})"  # noqa: S608
        ready.put(1)
        go.wait()
        for _ in range(count):
            now = dt.datetime.now(dt.UTC)
            if sqlite:  # autocommit driver (see piivault.db): take the write lock as the app does
                db.execute("BEGIN IMMEDIATE")
                db.execute(insert, (now.strftime("%Y-%m-%d %H:%M:%S.%f"), payload))
                db.execute("COMMIT")
            else:
                db.execute(insert, (now, payload))
                db.commit()
    finally:
        raw.close()
        engine.dispose()


def bare_commits(container: Container, writers: int, count: int) -> float:
    """``writers`` processes each commit ``count`` one-row INSERTs through the bare driver."""
    url = container.engine.url.render_as_string(hide_password=False)
    serial = "INTEGER" if container.engine.dialect.name == "sqlite" else "BIGSERIAL"
    with container.engine.begin() as conn:
        conn.exec_driver_sql(
            f"CREATE TABLE {_BARE_TABLE} (id {serial} PRIMARY KEY, "
            "enqueued_at TIMESTAMP WITH TIME ZONE NOT NULL, "
            "payload TEXT NOT NULL)"
        )
        conn.exec_driver_sql(f"CREATE INDEX ix_{_BARE_TABLE} ON {_BARE_TABLE} (enqueued_at)")
    payload = canonical_json(synthetic_event(0).payload(dt.datetime.now(dt.UTC))).decode()
    ready, go = SPAWN.Queue(), SPAWN.Event()
    procs = [
        SPAWN.Process(target=_bare_writer, args=(url, count, payload, ready, go)) for _ in range(writers)
    ]
    try:
        for p in procs:
            p.start()
        for _ in procs:
            ready.get(timeout=120)
        start = time.perf_counter()
        go.set()
        for p in procs:
            p.join()
            if p.exitcode:
                raise RuntimeError(f"writer exited with {p.exitcode}")
        return writers * count / (time.perf_counter() - start)
    finally:
        with container.engine.begin() as conn:
            conn.exec_driver_sql(f"DROP TABLE {_BARE_TABLE}")
