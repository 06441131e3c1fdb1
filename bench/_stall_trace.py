"""A gunicorn config module that records where slow requests spend their time (``bench/api.py --trace``).

Each worker writes ``<dir>/worker-<pid>.jsonl`` (``PIIVAULT_BENCH_TRACE_DIR``):
one line per request slower than ``PIIVAULT_BENCH_TRACE_MS`` (default 40 ms)
with its wall-clock start, duration and the garbage collections that overlapped
it, and one line per garbage collection that took longer than 5 ms. The bench
reads them back to say what its tail requests waited for.
"""

from __future__ import annotations

import gc
import json
import os
import threading
import time

_local = threading.local()
_gcs: list[tuple[float, float, int]] = []  # (start, end, generation) of recent collections
_lock = threading.Lock()
_gc_start = [0.0]
_out: list = []


def _gc_callback(phase: str, info: dict) -> None:
    now = time.time()
    if phase == "start":
        _gc_start[0] = now
        return
    start = _gc_start[0]
    with _lock:
        _gcs.append((start, now, info.get("generation", -1)))
        del _gcs[:-200]
    if now - start > 0.005:
        _write({"kind": "gc", "at": start, "ms": (now - start) * 1000, "generation": info.get("generation")})


def _write(record: dict) -> None:
    if _out:
        _out[0].write(json.dumps(record) + "\n")
        _out[0].flush()


def post_fork(server, worker) -> None:  # noqa: ANN001 - gunicorn's hook signature
    directory = os.environ.get("PIIVAULT_BENCH_TRACE_DIR")
    if directory:
        # Open for the worker's life (closed when it exits).
        _out.append(open(os.path.join(directory, f"worker-{os.getpid()}.jsonl"), "a", encoding="utf-8"))  # noqa: SIM115
        gc.callbacks.append(_gc_callback)


def pre_request(worker, req) -> None:  # noqa: ANN001
    _local.t0 = time.time()
    _local.cpu0 = time.thread_time()


def post_request(worker, req, environ, resp) -> None:  # noqa: ANN001
    t0 = getattr(_local, "t0", None)
    if t0 is None:
        return
    now = time.time()
    ms = (now - t0) * 1000
    if ms < float(os.environ.get("PIIVAULT_BENCH_TRACE_MS", "40")):
        return
    with _lock:
        overlapping = [(s, e, g) for s, e, g in _gcs if e >= t0 and s <= now]
    _write(
        {
            "kind": "request",
            "at": t0,
            "ms": ms,
            "thread_cpu_ms": (time.thread_time() - _local.cpu0) * 1000,
            "path": req.path,
            "gc_ms": sum((e - s) * 1000 for s, e, _ in overlapping),
            "gc_generations": sorted({g for _, _, g in overlapping}),
        }
    )
