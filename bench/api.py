"""The tokenization API end to end, against the app served by gunicorn (or granian) on loopback.

    .venv/bin/python bench/api.py [--database postgresql|sqlite] [--workers 3] [--threads 4]
                                  [--server gunicorn|granian] [--baseline-server gunicorn|granian]
                                  [--rounds 1]
                                  [--batches 40] [--batch-clients 4] [--clients 50] [--seconds 8]
                                  [--client-procs 2] [--audit worker|inline] [--auth-cache 2]
                                  [--worker-class CLASS] [--trace]
                                  [--baseline-src DIR] [--baseline-env NAME=VALUE]
                                  [--baseline-worker CLASS]

Starts its own OpenBao (``bao server -dev``), migrates a fresh database
(PostgreSQL at ``PIIVAULT_BENCH_DATABASE_URL``, default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``, in a schema dropped
afterwards; or SQLite in a temporary directory), creates a ``service`` client
(asked for by an admin, approved by a DPO), serves ``piivault.wsgi:app()`` with
gunicorn (``piivault serve``'s worker, :mod:`piivault.serving`) on a loopback
port, and prints in one run:

* the floor: a bare Flask route (``bench/_bare_app.py``) under the same server
  and load generator, closed loop and paced, just before each column;
* batch tokenize throughput, values/s, in batches of 1,000: each batch onboards
  200 new customers with 5 values each (name, mobile, resident ID, bank card,
  email), so every batch also creates and wraps 200 data keys in Vault;
* single-value tokenize (a new mobile for an onboarded customer) and
  single-token detokenize (under ``account_service``) with ``--clients`` concurrent
  clients: requests/s and latency p50/p99 in a closed loop (each client sends
  its next request as soon as the last returns), then paced at 1/2 and 1/4 of
  that rate (an open-loop schedule, latency counted from the scheduled start,
  so waiting for a free client counts): the latency callers see from a service
  that is not saturated. In a closed loop, Little's law ties the latency to
  the throughput: 50 clients at N requests/s wait 50/N s on average;
* batch detokenize, 1,000 tokens per request (the tokens of one onboarding
  batch: 200 known customers, so 200 audit events per request): values/s;
* the naive design on the same OpenBao: one Transit encrypt per value (and one
  decrypt per detokenized value) through hvac, and the ratios;
* the CPU each part used per request (gunicorn, the app's PostgreSQL
  backends, OpenBao, the audit worker with ``--audit worker``: together the
  "server CPU"; and this load generator) and the workers' peak memory. On a
  shared machine CPU per request is the steadier figure: latency also counts
  the time other processes held the CPUs;
* every goal of issue 22 (and the batch goals before it), met or not met.

With ``--trace`` the workers record every request slower than 40 ms
(``bench/_stall_trace.py``, a gunicorn config) with the garbage collections it
overlapped, a thread samples what the app's PostgreSQL backends wait on, and
each paced phase says what its tail requests were: how many were their
connection's first, how slow they were inside the worker, what the database
was doing meanwhile. That is how the stall of stock gthread was found
(:mod:`piivault.serving`); ``--baseline-worker gthread`` shows it beside the fix.

The load generator runs in ``--client-procs`` processes, each with its
clients as threads holding one keep-alive ``http.client`` connection each.
With ``--baseline-src DIR`` (another checkout of piivault, e.g.
``git archive HEAD | tar -x -C DIR``) the same measurements run first against
that tree's code, on its own fresh database, so both appear side by side;
``--baseline-env NAME=VALUE`` sets a setting for the baseline only (without
``--baseline-src`` the baseline is this tree: an A/B of one setting).

``--server granian`` serves the same app with granian's WSGI interface
(``--workers`` processes, ``--threads`` blocking threads each, where the app
runs); ``--baseline-server gunicorn --server granian --rounds 2`` measures
gunicorn, granian, gunicorn, granian in one run, each with its own floor.

Everything (OpenBao, the database, the server and the load generator) shares
this machine's CPUs; ``nproc`` and the load average are printed with the
figures.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import http.client
import json
import multiprocessing
import os
import resource
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _support import bench_env, pg_schema  # noqa: E402

from fieldtypes.checksums import GB11643, LUHN  # noqa: E402
from piivault.devbao import BaoServer, free_port, start_ephemeral  # noqa: E402

BATCH = 1_000
SURNAMES = "王李张刘陈杨黄赵吴周"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰涛明超秀霞平刚"
TICK = os.sysconf("SC_CLK_TCK")

# Run in a subprocess with the tree under test on PYTHONPATH: migrate, bootstrap, create a client.
SETUP = """
import json
from piivault import migrate
from piivault.bootstrap import bootstrap
from piivault.container import build_container
from piivault.settings import Settings
container = build_container(Settings.from_env())
migrate.upgrade(container.engine)
bootstrap(container)
fields = dict(name="bench-crm", role="service", purposes=["aml_kyc", "account_service"])
try:  # a key that reads data: asked for by an admin, approved by a DPO, another person
    from access import model as m
    from access.onboarding import create_client
except ImportError:  # a tree from before four eyes on API keys
    _, key = container.clients.create(actor="bench", **fields)
else:
    made = create_client(
        container.clients, container.access, m.Acting("bench-admin", "admin", "bench:admin"), **fields
    )
    key = made.key
    if made.approval is not None and made.approval.state == m.PENDING:
        container.access.approve(m.Acting("bench-dpo", "dpo", "bench:dpo"), made.approval.id)
container.close()
print(json.dumps({"key": key}))
"""


# -- synthetic customers (valid values, random; never real people) -------------
def _mobile() -> str:
    return f"1{secrets.choice('3456789')}{secrets.randbelow(10**9):09d}"


def _resident_id() -> str:
    year, month, day = 1950 + secrets.randbelow(55), 1 + secrets.randbelow(12), 1 + secrets.randbelow(28)
    return GB11643.complete(f"110105{year:04d}{month:02d}{day:02d}{secrets.randbelow(1000):03d}")


def _card() -> str:
    return LUHN.complete("622202" + f"{secrets.randbelow(10**12):012d}")


def customer_items(subject_id: str) -> list[dict]:
    name = secrets.choice(SURNAMES) + "".join(secrets.choice(GIVEN) for _ in range(2))
    return [
        {"field_type": "name", "value": name, "subject_id": subject_id},
        {"field_type": "cn_mobile", "value": _mobile(), "subject_id": subject_id},
        {"field_type": "cn_resident_id", "value": _resident_id(), "subject_id": subject_id},
        {"field_type": "bank_card", "value": _card(), "subject_id": subject_id},
        {"field_type": "email", "value": f"c{secrets.token_hex(5)}@example.com", "subject_id": subject_id},
    ]


def onboarding_batch() -> list[dict]:
    items: list[dict] = []
    while len(items) < BATCH:
        items.extend(customer_items("cust-" + secrets.token_hex(8)))
    return items[:BATCH]


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


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        kids = _children(todo.pop())
        found += kids
        todo += kids
    return found


def _peak_rss_mb(pid: int) -> float:
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

    def postgres_backends(self) -> list[int]:
        if self.app_name is None:
            return []
        engine = sa.create_engine(self.database_url.split("?")[0])
        try:
            with engine.connect() as conn:
                return list(
                    conn.scalars(
                        sa.text("SELECT pid FROM pg_stat_activity WHERE application_name = :n"),
                        {"n": self.app_name},
                    )
                )
        finally:
            engine.dispose()

    def snapshot(self) -> dict[str, float]:
        workers = [self.server, *_descendants(self.server)]
        return {
            "server": sum(_cpu_seconds(p) for p in workers),
            "postgres": sum(_cpu_seconds(p) for p in self.postgres_backends()),
            "openbao": _cpu_seconds(self.bao),
            **({"sequencer": _cpu_seconds(self.sequencer)} if self.sequencer else {}),
        }


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


# -- the server -------------------------------------------------------------------------
@contextlib.contextmanager
def database(kind: str, work: Path, app_name: str) -> Iterator[str]:
    """A fresh database: SQLite under ``work``, or a PostgreSQL schema dropped afterwards,
    whose connections carry ``app_name`` (to find the app's backends and their CPU)."""
    if kind == "sqlite":
        yield f"sqlite:///{work / 'bench.db'}"
        return
    with pg_schema() as url:
        yield f"{url}&application_name={app_name}"


def _get(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


def _server_argv(
    kind: str, port: int, args: argparse.Namespace, app: str, worker_class: str | None
) -> list[str]:
    """The command line of ``kind`` (gunicorn or granian) serving ``app`` with ``--workers`` worker
    processes of ``--threads`` threads each (granian: blocking threads, where the WSGI app runs)."""
    if kind == "granian":
        factory = app.endswith("()")
        return [
            str(Path(sys.executable).with_name("granian")),
            "--interface=wsgi",
            *(["--factory"] if factory else []),
            "--host=127.0.0.1",
            f"--port={port}",
            "--http=1",
            f"--workers={args.workers}",
            f"--blocking-threads={args.threads}",
            "--backlog=2048",
            "--no-access-log",
            "--log-level=warning",
            app.removesuffix("()"),
        ]
    return [
        str(Path(sys.executable).with_name("gunicorn")),
        app,
        f"--bind=127.0.0.1:{port}",
        f"--workers={args.workers}",
        f"--worker-class={worker_class or args.worker_class}",
        f"--threads={args.threads}",
        "--keep-alive=30",
        "--backlog=2048",
        "--log-level=warning",
        *(["--config", str(ROOT / "bench" / "_stall_trace.py")] if args.trace else []),
    ]


@contextlib.contextmanager
def server(
    kind: str,
    env: dict[str, str],
    port: int,
    args: argparse.Namespace,
    log: Path,
    app: str = "piivault.wsgi:app()",
    worker_class: str | None = None,
) -> Iterator[int]:
    """``app`` served by ``kind`` on ``port`` until the block ends: the server's main pid."""
    argv = _server_argv(kind, port, args, app, worker_class)
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            argv, env=env, cwd=env["PYTHONPATH"].split(os.pathsep)[-1], stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{kind} exited:\n{log.read_text()[-3000:]}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                if _get(port, "/readyz") == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{kind} did not become ready")
            time.sleep(0.2)
        yield proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def audit_worker(env: dict[str, str], log: Path, wanted: bool) -> Iterator[int | None]:
    """``piivault audit sequence --loop`` alongside, when events are not sequenced inline: its pid."""
    if not wanted:
        yield None
        return
    argv = [
        str(Path(sys.executable).with_name("piivault")),
        "audit",
        "sequence",
        "--loop",
        "--interval",
        "0.05",
    ]
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, env=env, cwd=env["PYTHONPATH"], stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=30)


# -- one tree's measurements ---------------------------------------------------------------
@dataclass
class TreeResult:
    label: str
    phases: dict[str, Phase]
    peak_worker_mb: float
    total_mb: float
    bare: dict[str, Phase] = field(default_factory=dict)  # the floor under the same server, just before


@dataclass(frozen=True)
class Tree:
    """What one column of the summary measures: a source tree, its settings and its server."""

    label: str
    src: Path
    extra: dict[str, str]
    worker_class: str | None  # gunicorn's, when not --worker-class
    server: str  # gunicorn or granian


def measure_tree(tree: Tree, args: argparse.Namespace, bao: BaoServer, work: Path) -> TreeResult:
    label, src, extra = tree.label, tree.src, tree.extra
    app_name = "pvbench_" + secrets.token_hex(4)
    tree_work = work / label.replace(" ", "-")
    tree_work.mkdir()
    with database(args.database, tree_work, app_name) as url:
        env = {
            **os.environ,
            **bench_env(bao, tree_work),
            "PYTHONPATH": str(src),
            "PIIVAULT_ENV": "production",
            "PIIVAULT_DATABASE_URL": url,
            # what production requires besides (piivault check names each)
            "PIIVAULT_EXTRACT_DIR": str(tree_work / "extracts"),
            "PIIVAULT_CONTROLLER_NAME": "Bench Bank",
            "PIIVAULT_CONTROLLER_CONTACT": "DPO",
            "PIIVAULT_CONTROLLER_ADDRESS": "1 Bench Road",
            "PIIVAULT_CONTROLLER_EMAIL": "dpo@bench.example",
            "PIIVAULT_CONTROLLER_PHONE": "+86 21 0000 0000",
            "PIIVAULT_PRIVACY_POLICY_URL": "https://bench.example/privacy",
            "PIIVAULT_AUDIT_SEQUENCE_INLINE": "true" if args.audit == "inline" else "false",
            "PIIVAULT_AUTH_CACHE_SECONDS": str(args.auth_cache),
            **extra,
        }
        if args.trace:
            (tree_work / "trace").mkdir()
            env["PIIVAULT_BENCH_TRACE_DIR"] = str(tree_work / "trace")
        setup = subprocess.run(
            [sys.executable, "-c", SETUP], env=env, cwd=src, capture_output=True, text=True, check=False
        )
        if setup.returncode != 0:
            raise RuntimeError(f"setup failed for {label}:\n{setup.stderr[-3000:]}")
        key = json.loads(setup.stdout.strip().splitlines()[-1])["key"]
        port = free_port()
        with (
            audit_worker(env, tree_work / "sequencer.log", args.audit == "worker") as sequencer,
            server(
                tree.server, env, port, args, tree_work / "server.log", worker_class=tree.worker_class
            ) as master,
        ):
            app_conns = app_name if args.database == "postgresql" else None
            procs = Processes(master, bao.process.pid, url, app_conns, sequencer)
            trace = tree_work / "trace" if args.trace else None
            return _measure(label, procs, port, key, args, master, trace)


def _measure(
    label: str,
    procs: Processes,
    port: int,
    key: str,
    args: argparse.Namespace,
    master: int,
    trace: Path | None = None,
) -> TreeResult:
    phases: dict[str, Phase] = {}
    common = {"procs": procs, "port": port, "key": key, "client_procs": args.client_procs}

    def report(phase: Phase) -> None:
        phases[phase.name] = phase
        print(f"  {phase.line()}", flush=True)

    print(f"\n[{label}]", flush=True)
    # Warm up every worker: system keys, caches, connection pools.
    warm = [json.dumps({"items": onboarding_batch()[:50]}).encode() for _ in range(8 * args.workers)]
    run_phase("warm-up", path="/v1/tokenize", bodies=warm, clients=min(8, args.clients), **common)

    # 1. Batch tokenize: 1,000 values per request, 200 new customers in every batch.
    batches = [onboarding_batch() for _ in range(args.batches)]
    bodies = [json.dumps({"items": b}).encode() for b in batches]
    batch, responses = run_phase(
        "batch tokenize (1,000 values/req)",
        path="/v1/tokenize",
        bodies=bodies,
        clients=args.batch_clients,
        values_per_request=BATCH,
        keep=True,
        **common,
    )
    report(batch)
    print(f"  {'':34s} = {batch.values / batch.seconds:,.0f} values/s", flush=True)
    tokens = [item["token"] for r in responses for item in json.loads(r)["items"] if "token" in item]
    if batch.errors or len(tokens) != batch.values:
        raise RuntimeError(f"batch tokenize: {batch.errors} failed requests, {len(tokens):,} tokens")

    # 2. Single values, concurrent clients: a new mobile for an onboarded customer,
    # and one token under account_service (no consent needed, every field type: the consent
    # check is bench/consent.py's).
    customers = sorted({item["subject_id"] for b in batches for item in b})
    singles = {
        "tokenize": [
            json.dumps({"items": [{"field_type": "cn_mobile", "value": _mobile(), "subject_id": c}]}).encode()
            for c in customers
        ],
        "detokenize": [
            json.dumps({"purpose": "account_service", "tokens": [t]}).encode()
            for t in tokens[:: max(1, len(tokens) // 5000)]
        ],
    }
    for op, op_bodies in singles.items():
        closed_rate = 0.0
        for share in (1, 2, 4):  # closed loop, then paced at 1/2 and 1/4 of its rate
            with WaitSampler(procs) if trace else contextlib.nullcontext() as waits:
                phase, _ = run_phase(
                    f"single {op} closed loop" if share == 1 else f"single {op} paced at 1/{share}",
                    path=f"/v1/{op}",
                    bodies=op_bodies,
                    clients=args.clients,
                    seconds=args.seconds,
                    rate=None if share == 1 else closed_rate / share,
                    **common,
                )
            report(phase)
            if trace and share > 1:
                explain_tail(phase, trace, waits)
            closed_rate = closed_rate or phase.rate
    # 3. Batch detokenize: 1,000 tokens per request, the tokens of one onboarding batch each
    # (200 known customers, so 200 audit events per request).
    chunks = [tokens[i : i + BATCH] for i in range(0, len(tokens) - BATCH + 1, BATCH)]
    batch_detok, _ = run_phase(
        BATCH_DETOKENIZE,
        path="/v1/detokenize",
        bodies=[json.dumps({"purpose": "account_service", "tokens": c}).encode() for c in chunks],
        clients=args.batch_clients,
        seconds=args.seconds,
        values_per_request=BATCH,
        **common,
    )
    report(batch_detok)
    print(f"  {'':34s} = {batch_detok.values / batch_detok.seconds:,.0f} values/s", flush=True)
    workers = _descendants(master)
    peaks = [_peak_rss_mb(p) for p in workers]
    return TreeResult(label, phases, max(peaks, default=0.0), sum(peaks) + _peak_rss_mb(master))


# -- the floor: a bare Flask route under the same server -------------------------------------------
def measure_bare(
    kind: str, label: str, args: argparse.Namespace, bao: BaoServer, work: Path
) -> dict[str, Phase]:
    """Single detokenize-shaped requests to ``bench/_bare_app.py`` under the same server (``kind``)
    and load generator: closed loop, then paced at 1/2 and 1/4 of its rate."""
    bare_work = work / f"bare-flask-{label.replace(' ', '-')}"
    bare_work.mkdir()
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'bench'}{os.pathsep}{ROOT}"}
    if args.trace:
        (bare_work / "trace").mkdir()
        env["PIIVAULT_BENCH_TRACE_DIR"] = str(bare_work / "trace")
    port = free_port()
    phases: dict[str, Phase] = {}
    body = [json.dumps({"purpose": "account_service", "tokens": ["tok_" + "a" * 22]}).encode()]
    print(f"\n[bare Flask, {kind}, before {label}]", flush=True)
    with server(kind, env, port, args, bare_work / "server.log", app="_bare_app:app") as master:
        procs = Processes(master, bao.process.pid, "", None, None)
        closed_rate = 0.0
        for share in (1, 2, 4):
            name = "bare Flask closed loop" if share == 1 else f"bare Flask paced at 1/{share}"
            phase, _ = run_phase(
                name,
                procs,
                port,
                "-",
                "/v1/detokenize",
                body,
                clients=args.clients,
                client_procs=args.client_procs,
                seconds=args.seconds,
                rate=None if share == 1 else closed_rate / share,
            )
            phases[name] = phase
            print(f"  {phase.line()}", flush=True)
            if args.trace and share > 1:
                explain_tail(phase, bare_work / "trace", None)
            closed_rate = closed_rate or phase.rate
    return phases


# -- what the slow requests waited for (--trace) -----------------------------------------------
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


# -- the naive design ---------------------------------------------------------------------
def naive_rates(bao: BaoServer, values: list[str], callers: int) -> tuple[float, float]:
    """values/s of one Transit encrypt per value, then one decrypt per value, ``callers`` at a time."""
    import hvac

    hvac.Client(url=bao.addr, token=bao.token).secrets.transit.create_key(
        "naive-bench", mount_point="transit"
    )
    ciphertexts: list[str] = []
    lock = threading.Lock()

    def run(op: str, items: list[str]) -> float:
        chunks = [items[i::callers] for i in range(callers)]

        def one(chunk: list[str]) -> None:
            client = hvac.Client(url=bao.addr, token=bao.token)
            transit = client.secrets.transit
            for v in chunk:
                if op == "encrypt":
                    r = transit.encrypt_data("naive-bench", plaintext=base64.b64encode(v.encode()).decode())
                    with lock:
                        ciphertexts.append(r["data"]["ciphertext"])
                else:
                    transit.decrypt_data("naive-bench", ciphertext=v)

        t0 = time.perf_counter()
        with ThreadPoolExecutor(callers) as pool:
            list(pool.map(one, chunks))
        return len(items) / (time.perf_counter() - t0)

    encrypt = run("encrypt", values)
    decrypt = run("decrypt", list(ciphertexts))
    return encrypt, decrypt


# -- report --------------------------------------------------------------------------------
BATCH_PHASE = "batch tokenize (1,000 values/req)"
BATCH_DETOKENIZE = "batch detokenize (1,000 tokens/req)"


Row = tuple[str, str, str, "bool | None"]  # title, value, goal, met (None: no goal)


def _tail_ok(phase: Phase) -> bool:
    return phase.pct(0.99) <= 5 * phase.pct(0.5)


def _metrics(r: TreeResult, naive_encrypt: float, naive_decrypt: float) -> list[Row]:
    """(title, value, goal, met) rows for one tree; the goals are issue 22's and the earlier ones."""
    batch = r.phases[BATCH_PHASE]
    batch_rate = batch.values / batch.seconds
    rows: list[Row] = [
        ("batch tokenize, values/s", f"{batch_rate:,.0f}", ">= 20,000", batch_rate >= 20_000),
        (
            "  vs naive Transit encrypt",
            f"{batch_rate / naive_encrypt:.1f}x",
            ">= 20x",
            batch_rate / naive_encrypt >= 20,
        ),
        ("  server CPU per 1,000 values, ms", f"{_server_cpu(batch) / batch.requests * 1000:.0f}", "", None),
    ]
    cpu_goal = {"tokenize": 3.0, "detokenize": 1.5}
    for op in ("tokenize", "detokenize"):
        closed = r.phases[f"single {op} closed loop"]
        half, quarter = r.phases[f"single {op} paced at 1/2"], r.phases[f"single {op} paced at 1/4"]
        cpu = _server_cpu(closed) / closed.requests * 1000
        rows += [
            (f"single {op}, closed loop: req/s", f"{closed.rate:,.0f}", "", None),
            ("  p50 / p99 ms, closed loop", _p(closed), "", None),
            ("  p50 / p99 ms, paced at 1/2", _p(half), "p99 <= 5x p50", _tail_ok(half)),
            ("  p50 / p99 ms, paced at 1/4", _p(quarter), "p99 <= 5x p50", _tail_ok(quarter)),
            ("  server CPU per request, ms", f"{cpu:.2f}", f"<= {cpu_goal[op]}", cpu <= cpu_goal[op]),
            ("  load generator's share of the CPU used", f"{_client_share(closed):.0%}", "", None),
        ]
    detok = r.phases["single detokenize closed loop"]
    batch_detok = r.phases[BATCH_DETOKENIZE]
    detok_values = batch_detok.values / batch_detok.seconds
    rows += [
        (
            "single detokenize req/s vs naive decrypts/s",
            f"{detok.rate / naive_decrypt:.1f}x",
            ">= 1.0x",
            detok.rate >= naive_decrypt,
        ),
        ("batch detokenize, values/s", f"{detok_values:,.0f}", ">= 50,000", detok_values >= 50_000),
        (
            "  server CPU per 1,000 values, ms",
            f"{_server_cpu(batch_detok) / batch_detok.requests * 1000:.0f}",
            "",
            None,
        ),
        ("peak RSS, largest worker / all, MB", f"{r.peak_worker_mb:.0f} / {r.total_mb:.0f}", "", None),
    ]
    bare = r.bare
    floor = bare["bare Flask closed loop"]
    rows += [
        ("bare Flask route, same server: req/s", f"{floor.rate:,.0f}", "", None),
        ("  server CPU per request, ms", f"{_server_cpu(floor) / floor.requests * 1000:.2f}", "", None),
        ("  p50 / p99 ms, paced at 1/4", _p(bare["bare Flask paced at 1/4"]), "", None),
    ]
    return rows


def summary(
    results: list[TreeResult],
    naive_encrypt: float,
    naive_decrypt: float,
    callers: int,
) -> None:
    """The figures side by side, each goal with met or not met for the last tree (this one)."""
    labels = " -> ".join(r.label for r in results)
    print(f"\nsummary ({labels}); goal: met / not met for {results[-1].label}")
    table = [_metrics(r, naive_encrypt, naive_decrypt) for r in results]
    for i, (title, _, goal, _met) in enumerate(table[0]):
        cells = "  ->  ".join(f"{t[i][1]:>13s}" for t in table)
        met = table[-1][i][3]
        verdict = "" if met is None else f"goal {goal}: {'met' if met else 'NOT MET'}"
        print(f"  {title:44s} {cells}   {verdict}")
    print(f"  naive: one Transit encrypt per value, {callers} callers: {naive_encrypt:,.0f} values/s")
    print(f"  naive: one Transit decrypt per value, {callers} callers: {naive_decrypt:,.0f} values/s")
    print(f"  bench process peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    print(f"  load average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")


def _server_cpu(phase: Phase) -> float:
    return sum(v for k, v in phase.cpu.items() if k != "client")


def _client_share(phase: Phase) -> float:
    total = sum(phase.cpu.values())
    return phase.cpu["client"] / total if total else 0.0


def _p(phase: Phase) -> str:
    return f"{phase.pct(0.5):.1f} / {phase.pct(0.99):.1f}"


def _trees(args: argparse.Namespace) -> list[Tree]:
    """The columns in the order measured: baseline then this tree, ``--rounds`` times over
    (alternating, so drift on a shared machine hits both alike)."""
    overrides = dict(args.baseline_env)
    pair = [Tree("this tree", ROOT, {}, None, args.server)]
    if args.baseline_src or overrides or args.baseline_worker or args.baseline_server:
        baseline_src = (args.baseline_src or ROOT).resolve()
        server = args.baseline_server or args.server
        pair.insert(0, Tree("baseline", baseline_src, overrides, args.baseline_worker, server))
    trees = []
    for n in range(1, args.rounds + 1):
        for t in pair:
            label = f"{t.label} ({t.server}){f' #{n}' if args.rounds > 1 else ''}"
            trees.append(Tree(label, t.src, t.extra, t.worker_class, t.server))
    return trees


def _setting(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.startswith("PIIVAULT_"):
        raise argparse.ArgumentTypeError(f"expected PIIVAULT_NAME=VALUE, got {text!r}")
    return name, value


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--database", choices=("sqlite", "postgresql"), default="postgresql")
    ap.add_argument(
        "--server",
        choices=("gunicorn", "granian"),
        default="gunicorn",
        help="the WSGI server of this tree (and of the baseline, unless --baseline-server)",
    )
    ap.add_argument(
        "--baseline-server",
        choices=("gunicorn", "granian"),
        help="the WSGI server of the baseline, e.g. gunicorn beside --server granian (with no "
        "--baseline-src, the baseline is this tree)",
    )
    ap.add_argument(
        "--rounds", type=int, default=1, help="measure baseline and this tree this many times, alternating"
    )
    ap.add_argument("--workers", type=int, default=3, help="worker processes (either server)")
    ap.add_argument(
        "--threads",
        type=int,
        default=4,
        help="threads per worker (gunicorn's threads, granian's blocking threads)",
    )
    ap.add_argument(
        "--worker-class",
        default="piivault.serving.ThreadWorker",
        help="gunicorn worker class (`piivault serve` uses the default; gthread is gunicorn's own)",
    )
    ap.add_argument(
        "--baseline-worker",
        metavar="CLASS",
        help="a gunicorn worker class for the baseline only, e.g. gthread (with no --baseline-src, "
        "the baseline is this tree)",
    )
    ap.add_argument("--batches", type=int, default=40, help="batches of 1,000 values")
    ap.add_argument("--batch-clients", type=int, default=4, help="concurrent batch senders")
    ap.add_argument("--clients", type=int, default=50, help="concurrent single-value clients")
    ap.add_argument("--client-procs", type=int, default=2, help="load generator processes")
    ap.add_argument("--seconds", type=float, default=8.0, help="duration of each single-value run")
    ap.add_argument("--naive", type=int, default=2_000, help="values for the naive Transit runs")
    ap.add_argument(
        "--audit",
        choices=("inline", "worker"),
        default="worker",
        help="worker (the default, as production runs): PIIVAULT_AUDIT_SEQUENCE_INLINE=false and "
        "`piivault audit sequence --loop` alongside; inline: sequence audit events after each "
        "commit, as development and tests do",
    )
    ap.add_argument(
        "--auth-cache",
        type=float,
        default=2.0,
        help="PIIVAULT_AUTH_CACHE_SECONDS: reuse a verified API key this long (0: check every request)",
    )
    ap.add_argument(
        "--trace",
        action="store_true",
        help="record each request slower than 40 ms in the workers, with the garbage collections "
        "it overlapped, and sample the app's PostgreSQL backends' wait events; print what the "
        "slow requests of each phase waited for",
    )
    ap.add_argument("--baseline-src", type=Path, help="another piivault source tree, measured first")
    ap.add_argument(
        "--baseline-env",
        action="append",
        type=_setting,
        default=[],
        metavar="NAME=VALUE",
        help="a setting for the baseline only, e.g. PIIVAULT_AUDIT_GROUP_COMMIT=false "
        "(with no --baseline-src, the baseline is this tree)",
    )
    args = ap.parse_args()
    if args.trace and "granian" in (args.server, args.baseline_server):
        ap.error("--trace records requests through a gunicorn config: gunicorn only")

    print(
        f"piivault API bench: {args.database}, {args.workers} workers x {args.threads} threads "
        f"(gunicorn: {args.worker_class}; granian: WSGI, blocking threads), audit sequencing {args.audit}, "
        f"verified API keys reused for {args.auth_cache:g} s (where supported), OpenBao dev server; "
        f"load generator: {args.client_procs} processes, http.client keep-alive; "
        f"{os.cpu_count()} CPUs shared by all of it; "
        f"load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    work = Path(tempfile.mkdtemp(prefix="pv-bench-api-"))
    bao = start_ephemeral(work / "bao")
    try:
        results = []
        for tree in _trees(args):
            # The floor under the same server just before each column, so a server's floor and
            # its app are measured side by side in time (the machine is shared and drifts).
            bare = measure_bare(tree.server, tree.label, args, bao, work)
            result = measure_tree(tree, args, bao, work)
            result.bare = bare
            results.append(result)
        sample = [item["value"] for item in onboarding_batch()] * (args.naive // BATCH + 1)
        naive_encrypt, naive_decrypt = naive_rates(bao, sample[: args.naive], args.batch_clients)
        summary(results, naive_encrypt, naive_decrypt, args.batch_clients)
    finally:
        bao.stop()


if __name__ == "__main__":
    main()
