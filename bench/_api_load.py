"""The API bench's load: the generator in child processes, and what one phase measured.

``run_phase`` runs one phase (a closed loop for a while, a paced open-loop schedule, or
every body once) in ``client_procs`` forked processes, each with its clients as threads
holding one keep-alive ``http.client`` connection each (``Plan``, ``run_plan``), and returns
a ``Phase``: the requests, their latencies, and the CPU each process involved spent
meanwhile (``Processes``: the server and its workers, the app's PostgreSQL backends,
OpenBao, the audit worker; and the load generator itself).
"""

from __future__ import annotations

import contextlib
import http.client
import multiprocessing
import os
import resource
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

TICK = os.sysconf("SC_CLK_TCK")


# -- the load generator (runs in child processes) -----------------------------------
@dataclass
class Plan:
    """One phase for one load process: its clients, and what each sends."""

    port: int
    key: str
    path: str
    bodies: list[bytes]  # client i sends bodies[i::clients_total] round robin (closed) or in turn
    first_client: int
    clients: int
    clients_total: int
    start_at: float  # time.monotonic() (system-wide on Linux) when to begin
    seconds: float | None = None  # closed loop for this long; None: send every body once
    rate: float | None = None  # paced: the whole phase's requests/s, shared by all processes
    procs: int = 1
    proc_index: int = 0
    keep: bool = False  # return the response bodies (tokens of the batch phase)


@dataclass
class Outcome:
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    cpu_s: float = 0.0
    responses: list[bytes] = field(default_factory=list)
    first_error: str = ""  # the status and start of the first failed response, to say why
    starts: list[float] = field(default_factory=list)  # each request's start, s after the phase's
    firsts: list[bool] = field(default_factory=list)  # whether it was its connection's first


def _connect(port: int) -> http.client.HTTPConnection:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.connect()
    return conn


def _send(conn: http.client.HTTPConnection, path: str, body: bytes, headers: dict) -> tuple[int, bytes]:
    conn.request("POST", path, body, headers)
    response = conn.getresponse()
    return response.status, response.read()


def run_plan(plan: Plan) -> Outcome:
    """Run this process's share of a phase; returns latencies, errors and its CPU time."""
    headers = {"Authorization": f"Bearer {plan.key}", "Content-Type": "application/json"}
    outcomes = [Outcome() for _ in range(plan.clients)]
    due_q: list[float] = []
    if plan.rate is not None:
        assert plan.seconds is not None
        # This process's share of one open-loop schedule: every procs-th slot.
        total = int(plan.rate * plan.seconds)
        due_q = [plan.start_at + n / plan.rate for n in range(plan.proc_index, total, plan.procs)]
    lock = threading.Lock()
    next_slot = [0]

    def take_slot() -> float | None:
        with lock:
            if next_slot[0] >= len(due_q):
                return None
            due = due_q[next_slot[0]]
            next_slot[0] += 1
            return due

    def client(i: int) -> None:
        out = outcomes[i]
        global_i = plan.first_client + i
        mine = plan.bodies[global_i :: plan.clients_total] or plan.bodies
        conn = _connect(plan.port)
        wait = plan.start_at - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        stop = plan.start_at + plan.seconds if plan.seconds is not None else None
        n = 0
        while True:
            if plan.rate is not None:
                due = take_slot()
                if due is None:
                    break
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                t0 = due
            else:
                if stop is None and n >= len(mine):
                    break
                if stop is not None and time.monotonic() >= stop:
                    break
                t0 = time.monotonic()
            body = mine[n % len(mine)]
            try:
                status, data = _send(conn, plan.path, body, headers)
            except (http.client.HTTPException, OSError):
                conn.close()
                conn = _connect(plan.port)
                status, data = 0, b""
            out.latencies_ms.append((time.monotonic() - t0) * 1000)
            out.starts.append(t0 - plan.start_at)
            out.firsts.append(n == 0)
            if status != 200 or b'"error"' in data:  # refused item by item: an error too
                out.errors += 1
                out.first_error = out.first_error or f"{status} {data[:300]!r}"
            elif plan.keep:
                out.responses.append(data)
            n += 1
        conn.close()

    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    with ThreadPoolExecutor(plan.clients) as pool:
        list(pool.map(client, range(plan.clients)))
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    merged = Outcome(cpu_s=(usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime))
    for out in outcomes:
        merged.latencies_ms.extend(out.latencies_ms)
        merged.errors += out.errors
        merged.responses.extend(out.responses)
        merged.first_error = merged.first_error or out.first_error
        merged.starts.extend(out.starts)
        merged.firsts.extend(out.firsts)
    return merged


# -- CPU and memory of the processes involved ----------------------------------------
def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


def descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        kids = _children(todo.pop())
        found += kids
        todo += kids
    return found


def peak_rss_mb(pid: int) -> float:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Processes:
    """The pids whose CPU a phase is charged with."""

    server: int  # the WSGI server's main process; its workers are its descendants
    bao: int
    database_url: str
    app_name: str | None  # PostgreSQL application_name of the app's connections
    sequencer: int | None  # the audit worker, when events are not sequenced inline
    sequencer_app_name: str | None = None  # the audit worker's connections' application_name

    def postgres_backends(self, app_name: str | None = None) -> list[int]:
        """The server processes of the connections named ``app_name`` (default: the app's)."""
        name = app_name or self.app_name
        if name is None:
            return []
        engine = sa.create_engine(self.database_url.split("?")[0])
        try:
            with engine.connect() as conn:
                return list(
                    conn.scalars(
                        sa.text("SELECT pid FROM pg_stat_activity WHERE application_name = :n"), {"n": name}
                    )
                )
        finally:
            engine.dispose()

    def snapshot(self) -> dict[str, float]:
        workers = [self.server, *descendants(self.server)]
        found = {
            "server": sum(_cpu_seconds(p) for p in workers),
            "postgres": sum(_cpu_seconds(p) for p in self.postgres_backends()),
            "openbao": _cpu_seconds(self.bao),
        }
        if self.sequencer:
            found["sequencer"] = _cpu_seconds(self.sequencer)
            if self.sequencer_app_name:  # its PostgreSQL backends apart from the app's
                backends = self.postgres_backends(self.sequencer_app_name)
                found["sequencer's postgres"] = sum(_cpu_seconds(p) for p in backends)
        return found


@dataclass
class Phase:
    name: str
    requests: int
    values: int
    seconds: float
    latencies_ms: list[float]
    errors: int
    cpu: dict[str, float]  # seconds per component, "client" included
    first_error: str = ""
    window: tuple[float, float] = (0.0, 0.0)  # wall-clock start and end (time.time())
    starts: list[float] = field(default_factory=list)  # per request, s after the phase began
    firsts: list[bool] = field(default_factory=list)  # per request, its connection's first?

    def tail(self, p: float = 0.99) -> tuple[int, int, float]:
        """Of the requests at or over the ``p`` quantile: how many, how many were their
        connection's first, and the latest start among them (s into the phase)."""
        cut = self.pct(p)
        slow = [i for i, ms in enumerate(self.latencies_ms) if ms >= cut]
        return len(slow), sum(self.firsts[i] for i in slow), max((self.starts[i] for i in slow), default=0.0)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def pct(self, p: float) -> float:
        lat = sorted(self.latencies_ms)
        return lat[min(len(lat) - 1, int(len(lat) * p))] if lat else float("nan")

    def line(self) -> str:
        per = " ".join(f"{k} {v / max(self.requests, 1) * 1000:.2f}" for k, v in self.cpu.items())
        return (
            f"{self.name:34s} {self.rate:8,.0f} req/s  p50 {self.pct(0.5):7.2f} ms  "
            f"p99 {self.pct(0.99):7.2f} ms  ({self.requests:,} req, {self.errors} errors)  CPU ms/req: {per}"
            + (f"\n    first error: {self.first_error}" if self.first_error else "")
        )


def run_phase(
    name: str,
    procs: Processes,
    port: int,
    key: str,
    path: str,
    bodies: list[bytes],
    *,
    clients: int,
    client_procs: int,
    seconds: float | None = None,
    rate: float | None = None,
    values_per_request: int = 1,
    keep: bool = False,
) -> tuple[Phase, list[bytes]]:
    client_procs = max(1, min(client_procs, clients))
    share = [clients // client_procs + (1 if i < clients % client_procs else 0) for i in range(client_procs)]
    start_at = time.monotonic() + 1.0  # the children fork, import and connect meanwhile
    plans, first = [], 0
    for i, n in enumerate(share):
        plans.append(
            Plan(port, key, path, bodies, first, n, clients, start_at, seconds, rate, client_procs, i, keep)
        )
        first += n
    before = procs.snapshot()
    with ProcessPoolExecutor(client_procs, mp_context=multiprocessing.get_context("fork")) as pool:
        outcomes = list(pool.map(run_plan, plans))
    elapsed = time.monotonic() - start_at
    wall_end = time.time()
    after = procs.snapshot()
    cpu = {k: after[k] - before[k] for k in before}
    cpu["client"] = sum(o.cpu_s for o in outcomes)
    latencies = [x for o in outcomes for x in o.latencies_ms]
    starts = [x for o in outcomes for x in o.starts]
    firsts = [x for o in outcomes for x in o.firsts]
    phase = Phase(
        name,
        len(latencies),
        len(latencies) * values_per_request,
        elapsed,
        latencies,
        sum(o.errors for o in outcomes),
        cpu,
        next((o.first_error for o in outcomes if o.first_error), ""),
        (wall_end - elapsed, wall_end),
        starts,
        firsts,
    )
    return phase, [r for o in outcomes for r in o.responses]
