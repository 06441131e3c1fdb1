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
import itertools
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# bench/, the script's directory, is first on sys.path: the appends and the big log live beside it
from _audit_appends import Appends, appends, bare_commits  # noqa: E402
from _audit_log import build_log, proof_latency  # noqa: E402
from _support import bench_env, fresh_container, pg_schema  # noqa: E402

from piivault.devbao import start_ephemeral  # noqa: E402

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
