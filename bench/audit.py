"""Audit log benchmark: append throughput, verification speed, proof latency.

    .venv/bin/python bench/audit.py [--appends N] [--events 1000000] [--writers 8]

Starts its own OpenBao (``bao server -dev``) and uses PostgreSQL at
``PIIVAULT_BENCH_DATABASE_URL`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``) in a fresh schema that
is dropped afterwards, and SQLite in a temporary directory. Prints:

* appends/s with one writer and with N concurrent writer processes, on both
  databases. An append is a unit of work that records one event and commits,
  followed by the inline sequencing the container does after every commit;
  the clock stops when the queue is empty (every event has a sequence number);
* the time to verify a log of ``--events`` events (built by bulk-queueing
  synthetic events and letting the sequencer integrate them in big batches);
* inclusion-proof latency in that log, p50/p99 over ``--proofs`` random events.
"""

from __future__ import annotations

import argparse
import datetime as dt
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

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _support import bench_env, fresh_container, pg_schema  # noqa: E402

from audit.canonical import canonical_json  # noqa: E402
from audit.events import AuditEvent  # noqa: E402
from audit.proof import verify_inclusion  # noqa: E402
from piivault.container import Container, build_container  # noqa: E402
from piivault.devbao import start_ephemeral  # noqa: E402
from piivault.settings import Settings  # noqa: E402


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


def _append(container: Container, count: int, actor: str) -> None:
    for i in range(count):
        with container.uow() as uow:
            uow.record(_event(i, actor))
            uow.commit()


def _writer(env: dict[str, str], count: int, actor: str, ready: mp.Queue, go: mp.Event) -> None:
    container = build_container(Settings.from_env(env))
    try:
        with container.session_factory() as s:  # open a pooled connection before the clock starts
            s.execute(sa.text("SELECT 1"))
        ready.put(actor)
        go.wait()
        _append(container, count, actor)
    finally:
        container.close()


def _drain(container: Container) -> None:
    container.services["audit"].sequencer.drain(idle_checkpoint=False)


def appends_single(container: Container, count: int) -> float:
    start = time.perf_counter()
    _append(container, count, "single")
    _drain(container)
    return count / (time.perf_counter() - start)


def appends_concurrent(
    container: Container, env: dict[str, str], writers: int, count: int, *, worker: bool = False
) -> float:
    """``writers`` processes append at once. With ``worker``, they leave sequencing to one
    background sequencer (``piivault audit sequence --loop``) instead of doing it inline."""
    ctx = mp.get_context("spawn")
    ready, go = ctx.Queue(), ctx.Event()
    stop = threading.Event()
    background = None
    if worker:
        env = {**env, "PIIVAULT_AUDIT_SEQUENCE_INLINE": "false"}
        sequencer = container.services["audit"].sequencer
        background = threading.Thread(target=sequencer.run, args=(stop,), kwargs={"interval": 0.005})
    procs = [ctx.Process(target=_writer, args=(env, count, f"writer-{n}", ready, go)) for n in range(writers)]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get(timeout=120)
    start = time.perf_counter()
    if background is not None:
        background.start()
    go.set()
    for p in procs:
        p.join()
        if p.exitcode:
            raise RuntimeError(f"writer exited with {p.exitcode}")
    stop.set()
    if background is not None:
        background.join()
    _drain(container)
    return writers * count / (time.perf_counter() - start)


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
    size = container.services["audit"].size()
    done = 0
    while done < events:
        n = min(batch, events - done)
        rows = [(now, canonical_json(_event(size + done + k).payload(now)).decode()) for k in range(n)]
        _enqueue(container, rows)
        sequencer.drain(idle_checkpoint=False)
        done += n
    sequencer.checkpoint_now()
    return time.perf_counter() - start


def _enqueue(container: Container, rows: list[tuple[dt.datetime, str]]) -> None:
    """Bulk-queue synthetic events (the sink's INSERT, without a unit of work per event)."""
    with container.engine.begin() as conn:
        dbapi = conn.connection.driver_connection
        if container.engine.dialect.name == "postgresql":
            with (
                dbapi.cursor() as cursor,
                cursor.copy("COPY audit_queue (enqueued_at, payload) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
        else:
            stamp = rows[0][0].strftime("%Y-%m-%d %H:%M:%S.%f")
            dbapi.executemany(
                "INSERT INTO audit_queue (enqueued_at, payload) VALUES (?, ?)", [(stamp, p) for _, p in rows]
            )


def proof_latency(container: Container, proofs: int) -> tuple[float, float]:
    audit = container.services["audit"]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appends", type=int, default=1_000, help="appends per writer")
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--events", type=int, default=1_000_000, help="log size for verify and proofs")
    parser.add_argument("--proofs", type=int, default=300)
    parser.add_argument("--skip-sqlite-log", action="store_true", help="verify/proofs on PostgreSQL only")
    args = parser.parse_args()

    results: dict[str, object] = {"cpus": os.cpu_count(), "load_average_at_start": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="piivault-bench-") as tmp:
        bao = start_ephemeral(Path(tmp) / "bao")
        try:
            base = bench_env(bao, Path(tmp))
            with pg_schema() as pg_url:
                backends = {"postgresql": pg_url, "sqlite": f"sqlite:///{Path(tmp) / 'bench.db'}"}
                for name, url in backends.items():
                    env = {**base, "PIIVAULT_DATABASE_URL": url}
                    container = fresh_container(env)
                    try:
                        single = appends_single(container, args.appends)
                        print(f"{name}: 1 writer: {single:,.0f} appends/s", flush=True)
                        many = appends_concurrent(container, env, args.writers, args.appends)
                        print(f"{name}: {args.writers} writers: {many:,.0f} appends/s", flush=True)
                        worker = appends_concurrent(container, env, args.writers, args.appends, worker=True)
                        print(
                            f"{name}: {args.writers} writers + sequencer worker: {worker:,.0f} appends/s",
                            flush=True,
                        )
                        report = container.services["audit"].verify()
                        assert report.ok, report.summary()
                        results[name] = {
                            "appends_1": round(single),
                            f"appends_{args.writers}": round(many),
                            f"appends_{args.writers}_worker": round(worker),
                        }
                        if name == "sqlite" and args.skip_sqlite_log:
                            continue
                        built = build_log(container, args.events)
                        size = container.services["audit"].size()
                        print(f"{name}: built a log of {size:,} events in {built:.1f}s", flush=True)
                        for workers in (None, 1):
                            report = container.services["audit"].verify(workers=workers)
                            assert report.ok, report.summary()
                            rate = report.events / report.seconds
                            label = "default workers" if workers is None else "1 process"
                            print(
                                f"{name}: verify {report.events:,} events ({label}): {report.seconds:.2f}s "
                                f"({rate:,.0f} events/s)",
                                flush=True,
                            )
                            results[name][f"verify_s_{label.replace(' ', '_')}"] = round(report.seconds, 2)  # type: ignore[index]
                        p50, p99 = proof_latency(container, args.proofs)
                        print(
                            f"{name}: inclusion proof at size {size:,}: p50 {p50 * 1000:.2f} ms, "
                            f"p99 {p99 * 1000:.2f} ms",
                            flush=True,
                        )
                        results[name].update(  # type: ignore[union-attr]
                            {
                                "log_size": size,
                                "proof_p50_ms": round(p50 * 1000, 2),
                                "proof_p99_ms": round(p99 * 1000, 2),
                            }
                        )
                    finally:
                        container.close()
        finally:
            bao.stop()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
