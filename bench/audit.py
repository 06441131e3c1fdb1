"""Audit log benchmark: append throughput and merge delay, verification speed, proof latency.

    .venv/bin/python bench/audit.py [--appends N] [--writers 8] [--events 1000000]
    .venv/bin/python bench/audit.py --quick        # a small run while iterating

Starts its own OpenBao (``bao server -dev``) and uses PostgreSQL at
``PIIVAULT_BENCH_DATABASE_URL`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``) in a fresh schema that
is dropped afterwards, and SQLite in a temporary directory. Prints, for each:

* appends/s with one writer and with ``--writers`` concurrent writer
  processes. An append is what a request does: a unit of work that records
  one event and commits its own transaction; the sequencer runs as configured
  by default (inline, right after each commit, skipping when another process
  holds its lock), and again with a separate sequencer worker process instead
  (``piivault audit sequence --loop``). The clock runs from the first append
  until the queue is empty (every event has a sequence number), so the figure
  is sustained throughput with the sequencer keeping up. With each: the merge
  delay, from the event's enqueue time to the moment the log head covered it
  (sampled every ``--sample-ms``), p50 and p99;
* on PostgreSQL, the same with threads in the writer processes, as in gunicorn
  workers with threads (``--shapes``, processes x threads: by default 2 x 4,
  2 x 32 and 8 x 8), each append a read-only unit of work whose event the
  process's threads commit together (group commit, see :mod:`audit.group`):
  what a detokenize costs the log. Each shape runs with inline sequencing and
  again with a sequencer worker process;
* for reference, in the same run: the same processes committing a bare
  INSERT each through the driver (no ORM, no audit): what this machine can
  commit at all, one transaction per append;
* the time to verify a log of ``--events`` events (built by bulk-queueing
  synthetic events and letting the sequencer integrate them in big batches,
  then, on PostgreSQL, vacuumed as autovacuum would have done meanwhile),
  with the default worker processes and with one process;
* inclusion-proof latency in that log, p50/p99 over ``--proofs`` random events.
"""

from __future__ import annotations

import argparse
import bisect
import dataclasses
import datetime as dt
import itertools
import json
import multiprocessing as mp
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _support import bench_env, fresh_container, pg_schema  # noqa: E402

from audit import tables as audit_tables  # noqa: E402
from audit.canonical import canonical_json  # noqa: E402
from audit.events import AuditEvent  # noqa: E402
from audit.proof import verify_inclusion  # noqa: E402
from piivault.container import Container, build_container  # noqa: E402
from piivault.db import make_engine  # noqa: E402
from piivault.devbao import start_ephemeral  # noqa: E402
from piivault.settings import Settings  # noqa: E402

SPAWN = mp.get_context("spawn")  # like separate gunicorn workers: nothing shared


def _event(i: int, actor: str = "bench") -> AuditEvent:
    return AuditEvent(
        action="detokenize",
        actor=actor,
        subject_id=f"sub_{i % 50_000:08d}",
        purpose="risk_scoring",
        field_types=("cn_mobile",),
        request_id=f"req-{i}",
        details={"count": 1},
    )


# -- appends ------------------------------------------------------------------------------


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
                    uow.record(_event(i, name))
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
    payload = canonical_json(_event(0).payload(dt.datetime.now(dt.UTC))).decode()
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


# -- a big log: verification and proofs -----------------------------------------------------


def build_log(container: Container, events: int, batch: int = 50_000) -> float:
    """Queue ``events`` synthetic events in bulk and let the sequencer integrate them."""
    from audit.sequencer import Sequencer

    settings = container.settings
    sequencer = Sequencer(
        container.engine,
        container.session_factory,
        container.keyring,
        origin=settings.audit_origin,
        batch_size=batch,
        checkpoint_every=batch,
        checkpoint_seconds=3600,
    )
    start = time.perf_counter()
    now = dt.datetime.now(dt.UTC)
    size = container.audit.size()
    done = 0
    try:
        while done < events:
            n = min(batch, events - done)
            # The sink's own rows: payload and source MAC (audit.authenticity).
            rows = container.audit_sink.prepare([_event(size + done + k) for k in range(n)], now)
            _enqueue(container, now, rows)
            sequencer.drain(idle_checkpoint=False)
            done += n
        sequencer.checkpoint_now()
    finally:
        sequencer.close()
    elapsed = time.perf_counter() - start
    if container.engine.dialect.name == "postgresql":
        # A live log's tables are vacuumed by autovacuum as they grow; this one was built in
        # a minute, leaving a million dead queue rows that verification's look at the queue
        # would scan, and pages whose hint bits its first read would write.
        with container.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM (ANALYZE) audit_queue, audit_events, audit_nodes")
    return elapsed


def _enqueue(container: Container, now: dt.datetime, rows: list[tuple[str, bytes]]) -> None:
    """Bulk-queue synthetic events (the sink's INSERT, without a unit of work per event)."""
    with container.engine.begin() as conn:
        dbapi = conn.connection.driver_connection
        if container.engine.dialect.name == "postgresql":
            with (
                dbapi.cursor() as cursor,
                cursor.copy("COPY audit_queue (enqueued_at, payload, mac) FROM STDIN") as copy,
            ):
                for payload, mac in rows:
                    copy.write_row((now, payload, mac))
        else:
            stamp = now.strftime("%Y-%m-%d %H:%M:%S.%f")
            dbapi.executemany(
                "INSERT INTO audit_queue (enqueued_at, payload, mac) VALUES (?, ?, ?)",
                [(stamp, p, m) for p, m in rows],
            )


def proof_latency(container: Container, proofs: int) -> tuple[float, float]:
    audit = container.audit
    checkpoint = audit.latest_checkpoint()
    rng = random.Random(1)
    timings = []
    for _ in range(proofs):
        seq = rng.randrange(checkpoint.size)
        start = time.perf_counter()
        proof = audit.inclusion_proof(seq)
        timings.append(time.perf_counter() - start)
        verify_inclusion(proof.leaf_hash, seq, proof.size, proof.proof, checkpoint.root_hash)
    timings.sort()
    return statistics.median(timings), timings[min(len(timings) - 1, int(len(timings) * 0.99))]


# -- the run -----------------------------------------------------------------------------------


def run_backend(name: str, env: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {}
    container = fresh_container(env)

    def report(key: str, label: str, value: Appends) -> None:
        print(f"{name}: {label}: {value.line()}", flush=True)
        results[key] = value.to_dict()

    try:
        report("appends_1", "1 writer", appends(container, env, 1, args.appends, sample_ms=args.sample_ms))
        for round_ in range(args.rounds):
            suffix = f" (round {round_ + 1})" if args.rounds > 1 else ""
            key = f"_r{round_ + 1}" if args.rounds > 1 else ""
            many = appends(container, env, args.writers, args.appends, sample_ms=args.sample_ms)
            report(f"appends_{args.writers}{key}", f"{args.writers} writers, inline sequencing{suffix}", many)
            worker = appends(
                container, env, args.writers, args.appends, worker=True, sample_ms=args.sample_ms
            )
            report(
                f"appends_{args.writers}_worker{key}",
                f"{args.writers} writers + sequencer worker process{suffix}",
                worker,
            )
            if name == "postgresql":
                for (processes, threads), worker in itertools.product(args.shapes, (False, True)):
                    grouped = appends(
                        container,
                        env,
                        processes,
                        args.appends,
                        worker=worker,
                        sample_ms=args.sample_ms,
                        threads=threads,
                        read_only=True,
                    )
                    how = "sequencer worker process" if worker else "inline sequencing"
                    report(
                        f"appends_{processes}x{threads}_group{'_worker' if worker else ''}{key}",
                        f"{processes} processes x {threads} threads, read-only units "
                        f"(group commit), {how}{suffix}",
                        grouped,
                    )
            bare = bare_commits(container, args.writers, args.appends)
            print(
                f"{name}: reference: {args.writers} processes committing a bare INSERT each "
                f"(no ORM, no audit){suffix}: {bare:,.0f}/s",
                flush=True,
            )
            results[f"bare_commits_{args.writers}{key}"] = round(bare)
        check = container.audit.verify()
        assert check.ok, check.summary()
        if args.events == 0 or name == "sqlite" and args.skip_sqlite_log:
            return results
        built = build_log(container, args.events)
        size = container.audit.size()
        print(f"{name}: built a log of {size:,} events in {built:.1f}s", flush=True)
        for workers in (None, 1):
            verified = container.audit.verify(workers=workers)
            assert verified.ok, verified.summary()
            rate = verified.events / verified.seconds
            label = "default workers" if workers is None else "1 process"
            print(
                f"{name}: verify {verified.events:,} events ({label}): {verified.seconds:.2f}s "
                f"({rate:,.0f} events/s)",
                flush=True,
            )
            results[f"verify_s_{label.replace(' ', '_')}"] = round(verified.seconds, 2)
        p50, p99 = proof_latency(container, args.proofs)
        print(
            f"{name}: inclusion proof at size {size:,}: p50 {p50 * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms",
            flush=True,
        )
        results.update(log_size=size, proof_p50_ms=round(p50 * 1000, 2), proof_p99_ms=round(p99 * 1000, 2))
        return results
    finally:
        container.close()


def _shapes(text: str) -> list[tuple[int, int]]:
    try:
        shapes = [tuple(int(n) for n in shape.split("x")) for shape in text.split(",")]
    except ValueError:
        shapes = []
    if not shapes or any(len(shape) != 2 or min(shape) < 1 for shape in shapes):
        raise argparse.ArgumentTypeError(f"expected PROCESSESxTHREADS[,...], e.g. 2x32,8x8; got {text!r}")
    return shapes  # type: ignore[return-value]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appends", type=int, default=1_000, help="appends per writer")
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument(
        "--shapes",
        type=_shapes,
        default=_shapes("2x4,2x32,8x8"),
        help="PROCESSESxTHREADS,... for the group-commit runs (PostgreSQL)",
    )
    parser.add_argument("--rounds", type=int, default=1, help="repeat the concurrent measurements")
    parser.add_argument(
        "--events", type=int, default=1_000_000, help="log size for verify and proofs (0: appends only)"
    )
    parser.add_argument("--proofs", type=int, default=300)
    parser.add_argument("--sample-ms", type=float, default=2.0, help="how often the log head is polled")
    parser.add_argument("--skip-sqlite-log", action="store_true", help="verify/proofs on PostgreSQL only")
    parser.add_argument("--backend", choices=("postgresql", "sqlite"), help="only this database")
    parser.add_argument("--quick", action="store_true", help="300 appends per writer, a 100,000-event log")
    args = parser.parse_args()
    if args.quick:
        args.appends, args.events, args.proofs = 300, 100_000, 100

    results: dict[str, object] = {"cpus": os.cpu_count(), "load_average_at_start": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="piivault-bench-") as tmp:
        bao = start_ephemeral(Path(tmp) / "bao")
        try:
            base = bench_env(bao, Path(tmp))
            with pg_schema() as pg_url:
                backends = {"postgresql": pg_url, "sqlite": f"sqlite:///{Path(tmp) / 'bench.db'}"}
                for name, url in backends.items():
                    if args.backend in (None, name):
                        # Each backend its own checkpoint key, so its own pinned public key.
                        pin = str(Path(tmp) / f"audit-public-key-{name}.txt")
                        env = {**base, "PIIVAULT_DATABASE_URL": url, "PIIVAULT_AUDIT_PUBLIC_KEY_FILE": pin}
                        results[name] = run_backend(name, env, args)
        finally:
            bao.stop()
    results["load_average_at_end"] = os.getloadavg()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
