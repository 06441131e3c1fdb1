"""What the API bench's slow requests waited for (``bench/api.py --trace``).

``WaitSampler`` samples what the app's busy PostgreSQL backends wait on, every 10 ms,
while a phase runs; ``explain_tail`` prints a paced phase's tail: the client's view (how
many requests at or over p99, how many their connection's first) and the workers' (the
requests ``bench/_stall_trace.py`` recorded, the garbage collections they overlapped,
the database's waits meanwhile).
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import sqlalchemy as sa
from _api_load import Phase, Processes


class WaitSampler:
    """Samples the app's PostgreSQL backends every 10 ms: what the busy ones wait for."""

    def __init__(self, procs: Processes) -> None:
        self.procs = procs
        self.samples: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        if self.procs.app_name is None:
            return
        engine = sa.create_engine(self.procs.database_url.split("?")[0])
        query = sa.text(
            "SELECT coalesce(wait_event_type, 'CPU') || ':' || coalesce(wait_event, '-') || ' ' || "
            "left(regexp_replace(query, '\\s+', ' ', 'g'), 60) FROM pg_stat_activity "
            "WHERE application_name = :n AND state = 'active'"
        )
        with engine.connect() as conn:
            while not self._stop.wait(0.01):
                now = time.time()
                for what in conn.scalars(query, {"n": self.procs.app_name}):
                    self.samples.append((now, what))
                conn.rollback()
        engine.dispose()

    def __enter__(self) -> WaitSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def explain_tail(phase: Phase, trace_dir: Path, waits: WaitSampler | None) -> None:
    """Print the phase's slow requests as the workers saw them: how many, how long, how many
    overlapped a garbage collection, and what PostgreSQL's backends were waiting on meanwhile."""
    n, first, latest = phase.tail()
    print(
        f"    client side: {n} requests at or over p99, {first} of them their connection's first; "
        f"the last of them started {latest:.2f} s into the phase"
    )
    start, end = phase.window
    slow, gcs = [], []
    for path in trace_dir.glob("worker-*.jsonl"):
        for line in path.read_text().splitlines():
            record = json.loads(line)
            if start <= record["at"] <= end:
                (slow if record["kind"] == "request" else gcs).append(record)
    if not slow:
        print(f"    trace: no request over the threshold in the workers; {len(gcs)} gc pauses > 5 ms")
        return
    slow.sort(key=lambda r: -r["ms"])
    with_gc = [r for r in slow if r["gc_ms"] > 0]
    gen2 = [g for g in gcs if g["generation"] == 2]
    print(
        f"    trace: {len(slow)} requests over the threshold in the workers (worst {slow[0]['ms']:.0f} ms, "
        f"thread CPU {slow[0]['thread_cpu_ms']:.0f} ms); {len(with_gc)} overlapped a gc "
        f"({sum(r['gc_ms'] for r in with_gc):.0f} ms of gc in all); gc pauses > 5 ms: {len(gcs)} "
        f"(generation 2: {len(gen2)}, longest {max((g['ms'] for g in gcs), default=0):.0f} ms)"
    )
    for r in slow[:5]:
        print(
            f"      {time.strftime('%H:%M:%S', time.localtime(r['at']))}.{int(r['at'] % 1 * 1000):03d} "
            f"{r['ms']:6.0f} ms  thread CPU {r['thread_cpu_ms']:5.1f} ms  gc {r['gc_ms']:5.1f} ms"
        )
    if waits is not None:
        during = [
            what for at, what in waits.samples if any(s["at"] <= at <= s["at"] + s["ms"] / 1000 for s in slow)
        ]
        counts: dict[str, int] = {}
        for what in during:
            counts[what] = counts.get(what, 0) + 1
        top = sorted(counts.items(), key=lambda kv: -kv[1])[:5]
        print("    PostgreSQL backends during slow requests (10 ms samples):")
        for what, n in top or [("nothing active", 0)]:
            print(f"      {n:5d}  {what}")
