"""The CPU one API request costs the app itself: in one process, without a server or load generator.

    .venv/bin/python bench/request_cpu.py [--op detokenize|tokenize|batch-detokenize|batch-tokenize]
                                          [--cold] [--auth-cache 2] [--requests 1500] [--rounds 3]
                                          [--baseline-src DIR] [--profile FILE] [--floor]
                                          [--instructions]

``bench/api.py`` measures the whole service under load, and on a shared 2-core
machine its per-request CPU moves by a fifth between runs: gunicorn, PostgreSQL,
OpenBao and the load generator all share the CPUs. This bench asks a narrower
question with less noise: how much CPU does the app's own thread spend on one
request? It builds the app as a worker does (``piivault.wsgi:app()``, PostgreSQL,
group commit, audit events queued for a sequencer that is not running), calls it
through WSGI directly, one request at a time, and reads the process's CPU time.
Not counted in it: the WSGI server, OpenBao and the sequencer. The CPU of the app's
PostgreSQL backends (its connections, named by ``application_name``; read from ``/proc``,
so PostgreSQL must run on this host) is printed beside it: the statements a request
sends cost the server too, and differ where the app does.

The requests (``--op``): ``detokenize`` one token under ``account_service``, cycling
over 200 customers; ``tokenize`` a new mobile for one of those 200;
``batch-detokenize`` the 1,000 tokens of one onboarding batch (200 customers);
``batch-tokenize`` a new onboarding batch (200 new customers, 1,000 values, 200 data
keys wrapped in Transit). With ``--cold`` the data-key cache holds nothing
(``PIIVAULT_DEK_CACHE_SIZE=0``): every request unwraps its customers' keys in Transit.
``--auth-cache`` is ``PIIVAULT_AUTH_CACHE_SECONDS``, 2 as in ``bench/api.py``; 0, the
production default, checks the API key in the database on every request.

With ``--baseline-src DIR`` (another piivault checkout) both trees are measured
``--rounds`` times, alternating, each in a fresh process against its own fresh
database and the same OpenBao, and the ratio of the means is printed. ``--profile FILE``
adds a round of this tree under cProfile (not counted: cProfile slows it) and prints
where its time went. ``--floor`` (with ``--auth-cache 0``, hot keys) measures
``bench/_floor_app.py`` alongside, in turn (single detokenize and tokenize only):
the least a request keeping piivault's guarantees does, on Flask and psycopg with
none of piivault's code; it prints this tree's CPU as a multiple of the floor's.

``--instructions`` counts instead of timing, for a difference of a few percent that
this machine's drift hides (rounds of one tree have moved from 1.6 to 3.1 ms in one
run): each tree's process runs under valgrind's callgrind, which counts the
instructions it executes whatever else the machine does, once with ``--requests``
and once with twice as many; the difference over the extra requests is the app's
instructions per request, its setup (imports, migrations, warm-up) cancelled out.
Only the app's process is counted, not PostgreSQL or OpenBao. Both runs build the
same request bodies, fix the hash seed and keep every data key for the run (with
``--auth-cache 0``, the only setting it counts with), so they differ in the extra
requests, and in what random draws (tokens, keys) change. valgrind slows the process
some fifty times: it sends 300 requests more by default (10 batches), once.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from piivault.devbao import BaoServer

ROOT = Path(__file__).resolve().parents[1]
APP_NAME = "bench_request_cpu"  # PostgreSQL application_name of the measured app's connections
OPS = ("detokenize", "tokenize", "batch-detokenize", "batch-tokenize")


def _caller(app: Callable, key: str) -> Callable[[str, bytes], bytes]:
    """A function that POSTs a JSON body to ``app`` through WSGI, as ``key``, and returns the
    answer's body; any status but 200 raises."""

    def call(path: str, body: bytes) -> bytes:
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": path,
            "SCRIPT_NAME": "",
            "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": "127.0.0.1",
            "HTTP_AUTHORIZATION": f"Bearer {key}",
            "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
            "wsgi.version": (1, 0),
        }
        status: list[str] = []
        out = app(environ, lambda s, _h, _e=None: status.append(s))
        try:
            data = b"".join(out)
        finally:
            getattr(out, "close", lambda: None)()
        if not status[0].startswith("200"):
            raise RuntimeError(f"{path}: {status[0]}")
        return data

    return call


# -- one tree, in its own process ------------------------------------------------------------
def _child(op: str, requests: int, cold: bool) -> dict[str, float]:
    """Runs in a process whose sys.path starts with the tree under test."""
    from _api_customers import onboarding_batch, single_bodies
    from _support import fresh_container

    from piivault.wsgi import app as make_app

    if cold:
        os.environ["PIIVAULT_DEK_CACHE_SIZE"] = "0"
    container = fresh_container(dict(os.environ))
    fields = dict(name="bench-crm", role="service", purposes=["aml_kyc", "account_service"])
    from access import model as m
    from access.onboarding import create_client

    made = create_client(
        container.clients, container.access, m.Acting("bench-admin", "admin", "bench:admin"), **fields
    )
    if made.approval is not None and made.approval.state == m.PENDING:
        container.access.approve(m.Acting("bench-dpo", "dpo", "bench:dpo"), made.approval.id)
    container.close()
    call = _caller(make_app(), made.key)
    batch = onboarding_batch()
    made_tokens = json.loads(call("/v1/tokenize", json.dumps({"items": batch}).encode()))["items"]
    tokens = [item["token"] for item in made_tokens]
    customers = sorted({item["subject_id"] for item in batch})
    if op == "detokenize":
        path = "/v1/detokenize"
        bodies = [json.dumps({"purpose": "account_service", "tokens": [t]}).encode() for t in tokens[::5]]
    elif op == "tokenize":  # new values, as many as are sent
        path = "/v1/tokenize"
        bodies = single_bodies(_every_value_new(customers, _bodies_for(requests)), [])[op]
    elif op == "batch-detokenize":
        path = "/v1/detokenize"
        bodies = [json.dumps({"purpose": "account_service", "tokens": tokens}).encode()]
    else:
        path = "/v1/tokenize"
        bodies = [
            json.dumps({"items": onboarding_batch()}).encode() for _ in range(_bodies_for(requests) + 10)
        ]
    warm = min(10 if op.startswith("batch") else 200, len(bodies))
    return _timed(call, path, bodies, warm, requests)


def _floor_child(op: str, requests: int) -> dict[str, float]:
    """The floor with the guarantees (``bench/_floor_app.py``) in this process, on its own tables
    in the schema of ``PIIVAULT_DATABASE_URL``: 200 customers' values as in ``_child``."""
    import _floor_app
    from _api_customers import onboarding_batch, single_bodies

    dsn = os.environ["PIIVAULT_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://", 1)
    os.environ["BENCH_FLOOR_DSN"] = dsn
    batch = onboarding_batch()
    vault = (os.environ["PIIVAULT_VAULT_ADDR"], os.environ["PIIVAULT_VAULT_TOKEN"])
    key, tokens = _floor_app.setup(dsn, batch, vault)
    customers = sorted({item["subject_id"] for item in batch})
    bodies = single_bodies(_every_value_new(customers, _bodies_for(requests)), tokens[::5])[op]
    return _timed(_caller(_floor_app.app, key), f"/v1/{op}", bodies, 200, requests)


def _bodies_for(requests: int) -> int:
    """How many requests to build bodies for: ``BENCH_BODIES_FOR`` if more (``--instructions``
    builds as many in both of its runs, so that building them is not counted per request)."""
    return max(requests, int(os.environ.get("BENCH_BODIES_FOR", "0")))


def _every_value_new(customers: list[str], requests: int) -> list[str]:
    """``customers`` repeated for more tokenize bodies than the 200 warm-up and ``requests``
    calls send: each sends a new value (one sent again takes the cheaper reuse path)."""
    return customers * ((requests + 200) // len(customers) + 1)


def _timed(
    call: Callable[[str, bytes], bytes], path: str, bodies: list[bytes], warm: int, requests: int
) -> dict[str, float]:
    """``requests`` calls after ``warm`` unmeasured ones, the bodies in turn: CPU and wall ms each."""
    for body in bodies[:warm]:
        call(path, body)
    profile = os.environ.get("BENCH_PROFILE")
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile(time.process_time)  # CPU, as measured: not the waits on PostgreSQL
        profiler.enable()
    backends = _backends_cpu()
    cpu = time.process_time()
    wall = time.perf_counter()
    for n in range(requests):
        call(path, bodies[(warm + n) % len(bodies)])
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    backends = sum(used - backends.get(pid, 0.0) for pid, used in _backends_cpu().items())
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile)
    return {
        "cpu_ms": cpu / requests * 1000,
        "wall_ms": wall / requests * 1000,
        "postgres_ms": backends / requests * 1000,
    }


def _backends_cpu() -> dict[int, float]:
    """pid -> CPU seconds used so far, of the PostgreSQL backends of the measured app's
    connections (by their application_name). Between two readings, a backend that closed
    meanwhile is missed and one that opened is counted from its start."""
    import psycopg
    from _api_load import _cpu_seconds

    dsn = os.environ["PIIVAULT_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(dsn, application_name="bench_request_cpu_observer") as conn:
        pids = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (APP_NAME,)
        ).fetchall()
    return {pid: _cpu_seconds(pid) for (pid,) in pids}


# -- the run ----------------------------------------------------------------------------------
def _measure(src: Path | None, args: argparse.Namespace, env: dict[str, str], requests: int = 0) -> dict:
    """One tree's child (``src``; None: the floor's) in its own process and schema: its figures,
    and with ``--instructions`` the instructions it executed (under callgrind)."""
    from _support import pg_schema

    requests = requests or args.requests
    tree = ROOT if src is None else src
    with pg_schema() as url, tempfile.TemporaryDirectory() as out:
        child_env = {**env, "PYTHONPATH": os.pathsep.join([str(tree), str(ROOT / "bench")])}
        child_env["PIIVAULT_DATABASE_URL"] = f"{url}&application_name={APP_NAME}"
        if src is None:
            argv = [sys.executable, __file__, "--floor-child", args.op, str(requests)]
        else:
            argv = [sys.executable, __file__, "--child", args.op, str(requests), str(int(args.cold))]
        if args.instructions:
            child_env["PYTHONHASHSEED"] = "0"
            child_env["BENCH_BODIES_FOR"] = str(2 * args.requests)
            if not args.cold:  # no key expires in a run fifty times slower
                child_env["PIIVAULT_DEK_CACHE_TTL"] = "86400"
            argv = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}/callgrind.out", *argv]
        done = subprocess.run(argv, env=child_env, cwd=tree, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{src or 'floor'}: {done.stderr[-3000:]}")
    got = json.loads(done.stdout.strip().splitlines()[-1])
    if args.instructions:
        collected = re.search(r"Collected : (\d+)", done.stderr)
        if collected is None:
            raise RuntimeError(f"callgrind printed no count: {done.stderr[-1000:]}")
        got["instructions"] = int(collected.group(1))
    return got


def _instructions(
    src: Path | None, args: argparse.Namespace, env_for: Callable[[str], dict[str, str]]
) -> float:
    """The app's instructions per request: twice ``--requests`` less once, over the difference."""
    once = _measure(src, args, env_for("once"))["instructions"]
    twice = _measure(src, args, env_for("twice"), 2 * args.requests)["instructions"]
    return (twice - once) / args.requests


def _settings(bao: BaoServer, work: Path) -> dict[str, str]:
    """What a production worker needs, for a bench against ``bao``; events left queued."""
    from _support import bench_env, production_settings

    return {**bench_env(bao, work), **production_settings(work), "PIIVAULT_AUDIT_SEQUENCE_INLINE": "false"}


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--floor-child":
        sys.path.insert(0, str(ROOT))  # before bench/, whose audit.py would shadow the package
        print(json.dumps(_floor_child(sys.argv[2], int(sys.argv[3]))))
        return
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        # sys.path[0] is bench/ (this script's directory); the tree under test goes before it.
        sys.path.insert(0, os.environ["PYTHONPATH"].split(os.pathsep)[0])
        op, requests, cold = sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
        print(json.dumps(_child(op, requests, cold)))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--op", choices=OPS, default="detokenize")
    ap.add_argument("--cold", action="store_true", help="an empty data-key cache: every key from Transit")
    ap.add_argument(
        "--auth-cache",
        type=float,
        default=2.0,
        help="PIIVAULT_AUTH_CACHE_SECONDS (default 2, as bench/api.py; 0: the database on every request)",
    )
    ap.add_argument("--requests", type=int, default=None, help="per round (default 1,500; batches 40)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--baseline-src", type=Path, help="another piivault checkout, measured alternately")
    ap.add_argument("--profile", type=Path, help="one more round of this tree under cProfile, saved here")
    ap.add_argument(
        "--floor",
        action="store_true",
        help="also measure bench/_floor_app.py, the least a request keeping piivault's guarantees does",
    )
    ap.add_argument(
        "--instructions",
        action="store_true",
        help="count the app's instructions per request under valgrind (callgrind) instead of timing",
    )
    args = ap.parse_args()
    if args.floor and args.op not in ("detokenize", "tokenize"):
        ap.error("--floor measures single detokenize and tokenize only")
    if args.floor and (args.cold or args.auth_cache != 0):
        # Like with like: the floor reads its key's row on every request and holds every data key.
        ap.error("--floor compares with --auth-cache 0 and without --cold")
    if args.instructions and args.profile:
        ap.error("--instructions counts; --profile times: one at a time")
    if args.instructions and args.auth_cache != 0:
        # A verified key kept for seconds, under valgrind: checked again every few dozen
        # requests, how often depending on how busy the machine is.
        ap.error("--instructions counts with --auth-cache 0")
    if args.instructions and shutil.which("valgrind") is None:
        ap.error("--instructions needs valgrind (Debian's valgrind package)")
    if args.requests is None:
        batch = args.op.startswith("batch")
        if args.instructions:
            args.requests = 10 if batch else 300
        else:
            args.requests = 40 if batch else 1_500
    if args.requests < 1 or args.rounds < 1:
        ap.error("--requests and --rounds take 1 or more")
    sys.path.insert(0, str(ROOT))
    from piivault.devbao import start_ephemeral

    trees: list[tuple[str, Path | None]] = [("this tree", ROOT)]  # None: the floor
    if args.baseline_src:
        trees.insert(0, ("baseline", args.baseline_src.resolve()))
    if args.floor:
        trees.append(("floor", None))
    results: dict[str, list[dict[str, float]]] = {label: [] for label, _ in trees}
    print(
        f"request CPU in one process: {args.op}{' (cold keys)' if args.cold else ''}, "
        f"verified API keys reused for {args.auth_cache:g} s, "
        + (
            f"instructions of {args.requests:,} requests more under callgrind, per tree; "
            if args.instructions
            else f"{args.requests:,} requests x {args.rounds} rounds per tree; "
        )
        + "PostgreSQL, OpenBao dev server; "
        f"{os.cpu_count()} CPUs, load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}",
        flush=True,
    )
    if args.instructions:
        _count(args, trees)
        return
    with tempfile.TemporaryDirectory() as work, start_ephemeral(Path(work) / "bao") as bao:
        for n in range(1, args.rounds + 1):
            for label, src in trees:
                # Each measurement its own files (ledger, the checkpoint key's pin) and Transit key.
                own = Path(work) / f"{label.replace(' ', '-')}-{n}"
                own.mkdir()
                settings = {**_settings(bao, own), "PIIVAULT_AUTH_CACHE_SECONDS": str(args.auth_cache)}
                env = {**os.environ, **settings}
                got = _measure(src, args, env)
                results[label].append(got)
                line = (
                    f"{got['cpu_ms']:7.3f} ms CPU  {got['wall_ms']:7.3f} ms wall  "
                    f"PostgreSQL backends {got['postgres_ms']:6.3f} ms CPU"
                )
                print(f"  {label:10s} #{n}: {line}", flush=True)
        if args.profile:  # one more round of this tree under cProfile: slower, so not compared
            own = Path(work) / "profile"
            own.mkdir()
            settings = {**_settings(bao, own), "PIIVAULT_AUTH_CACHE_SECONDS": str(args.auth_cache)}
            _measure(ROOT, args, {**os.environ, **settings, "BENCH_PROFILE": str(args.profile.resolve())})
    means = {label: statistics.fmean(r["cpu_ms"] for r in runs) for label, runs in results.items()}
    backends = {label: statistics.fmean(r["postgres_ms"] for r in runs) for label, runs in results.items()}
    for label, mean in means.items():
        low, high = min(r["cpu_ms"] for r in results[label]), max(r["cpu_ms"] for r in results[label])
        print(
            f"{label:10s} mean {mean:.3f} ms CPU per request (min {low:.3f}, max {high:.3f}); "
            f"its PostgreSQL backends {backends[label]:.3f} ms"
        )
    medians = {label: statistics.median(r["cpu_ms"] for r in runs) for label, runs in results.items()}
    for other in ("baseline", "floor"):
        if other in means:
            # No backend CPU read (PostgreSQL not on this host, or in another pid namespace): n/a.
            of_backends = backends[other] and f"{backends['this tree'] / backends[other]:.2f}x"
            print(
                f"this tree / {other}: {means['this tree'] / means[other]:.2f}x the CPU "
                f"({medians['this tree'] / medians[other]:.2f}x the medians), "
                f"{of_backends or 'n/a'} its backends' CPU"
            )
    if args.profile:
        import pstats

        print(f"\none more round of this tree under cProfile, written to {args.profile}; by own time:")
        pstats.Stats(str(args.profile.resolve())).sort_stats("tottime").print_stats(25)


def _count(args: argparse.Namespace, trees: list[tuple[str, Path | None]]) -> None:
    """``--instructions``: each tree's instructions per request, and this tree's as a multiple."""
    from piivault.devbao import start_ephemeral

    counted: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as work, start_ephemeral(Path(work) / "bao") as bao:
        for label, src in trees:

            def env_for(run: str, label: str = label) -> dict[str, str]:
                own = Path(work) / f"{label.replace(' ', '-')}-{run}"
                own.mkdir()
                settings = {**_settings(bao, own), "PIIVAULT_AUTH_CACHE_SECONDS": str(args.auth_cache)}
                return {**os.environ, **settings}

            counted[label] = _instructions(src, args, env_for)
            print(f"  {label:10s} {counted[label] / 1e6:8.3f} M instructions per request", flush=True)
    for other in ("baseline", "floor"):
        if other in counted:
            print(f"this tree / {other}: {counted['this tree'] / counted[other]:.3f}x the instructions")


if __name__ == "__main__":
    main()
