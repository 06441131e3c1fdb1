"""The API bench's measurements: one column of the summary, its floor, and the naive design.

``measure_tree`` sets up one source tree (a fresh database, migrated and bootstrapped,
a ``service`` client asked for by an admin and approved by a DPO) under its server and
runs the phases: batch tokenize, single tokenize and detokenize (closed loop, then paced
at 1/2 and 1/4 of its rate), single detokenize of a hot set (``_api_hot.py``), batch
detokenize; and the workers' peak memory.
``measure_bare`` runs the single-value phases against a bare Flask route
(``bench/_bare_app.py``) under the same server; ``measure_floor`` single tokenize and
detokenize against the least a request keeping piivault's guarantees does, on Flask and
psycopg (``bench/_floor_app.py``), on PostgreSQL. ``naive_rates`` is one Transit encrypt
(and decrypt) per value through hvac, on the same OpenBao.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from _api_customers import BATCH, new_values_for, onboarding_batch, single_bodies
from _api_hot import cache_size, measure_hot
from _api_load import Phase, Processes, descendants, peak_rss_mb, run_phase
from _api_servers import audit_worker, database, server
from _api_trace import WaitSampler, explain_tail
from _floor_app import setup as floor_setup
from _support import bench_env, production_settings

from piivault.devbao import BaoServer, free_port

ROOT = Path(__file__).resolve().parents[1]
BATCH_PHASE = "batch tokenize (1,000 values/req)"
BATCH_DETOKENIZE = "batch detokenize (1,000 tokens/req)"
FLOOR_PHASES = {"tokenize": "floor tokenize closed loop", "detokenize": "floor detokenize closed loop"}
COLD_FLOOR = "floor tokenize, cold key, closed loop"  # a Transit unwrap each, as the cold phase

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


# -- one tree's measurements --------------------------------------------------------------
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
            "PIIVAULT_DATABASE_URL": url,
            **production_settings(tree_work),
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
        # The audit worker's connections named apart, so its backends' CPU is not the app's.
        sequencer_app = f"{app_name}_seq"
        sequencer_env = {**env, "PIIVAULT_DATABASE_URL": url.replace(app_name, sequencer_app)}
        with (
            audit_worker(sequencer_env, tree_work / "sequencer.log", args.audit == "worker") as sequencer,
            server(
                tree.server, env, port, args, tree_work / "server.log", worker_class=tree.worker_class
            ) as master,
        ):
            app_conns = app_name if args.database == "postgresql" else None
            sequencer_conns = sequencer_app if args.database == "postgresql" else None
            procs = Processes(master, bao.process.pid, url, app_conns, sequencer, sequencer_conns)
            trace = tree_work / "trace" if args.trace else None
            return _measure(label, procs, port, key, args, master, trace, dek_cache=cache_size(env))


def _measure(
    label: str,
    procs: Processes,
    port: int,
    key: str,
    args: argparse.Namespace,
    master: int,
    trace: Path | None = None,
    *,
    dek_cache: int,  # the workers' data-key cache size
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
        BATCH_PHASE,
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
    singles = single_bodies(new_values_for(customers, args.seconds), tokens[:: max(1, len(tokens) // 5000)])
    for op, op_bodies in singles.items():
        closed_rate = 0.0
        for share in (1, 2, 4):  # closed loop, then paced at 1/2 and 1/4 of its rate
            if op == "tokenize" and share > 1:  # new values again: a phase starts at the first body
                op_bodies = single_bodies(new_values_for(customers, args.seconds), [])[op]
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
    # 3. Single detokenize again, of --hot-subjects customers whose data keys every worker
    # holds (_api_hot.py); after the cold phases, which it would otherwise warm.
    if args.hot_subjects:
        subject_ids = [item["subject_id"] for b in batches for item in b]
        for phase in measure_hot(tokens, subject_ids, args, dek_cache, common):
            report(phase)
    # 4. Batch detokenize: 1,000 tokens per request, the tokens of one onboarding batch each
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
    workers = descendants(master)
    peaks = [peak_rss_mb(p) for p in workers]
    return TreeResult(label, phases, max(peaks, default=0.0), sum(peaks) + peak_rss_mb(master))


# -- the floor: a bare Flask route under the same server ------------------------------------------
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


# -- the floor with the guarantees: Flask and psycopg, three statements ---------------------------
def measure_floor(
    kind: str, label: str, args: argparse.Namespace, bao: BaoServer, work: Path
) -> dict[str, Phase]:
    """Single tokenize and detokenize requests, closed loop, to ``bench/_floor_app.py`` under the
    same server and load generator, against its own tables in a fresh PostgreSQL schema (none on
    SQLite); then single tokenize again with the key cold (``COLD_FLOOR``), new values each."""
    if args.database != "postgresql":
        return {}
    floor_work = work / f"floor-{label.replace(' ', '-')}"
    floor_work.mkdir()
    app_name = "pvfloor_" + secrets.token_hex(4)
    phases: dict[str, Phase] = {}
    with database(args.database, floor_work, app_name) as url:
        dsn = url.replace("postgresql+psycopg://", "postgresql://", 1)
        values = [item for _ in range(5) for item in onboarding_batch()]  # 1,000 customers, 5,000 values
        key, tokens = floor_setup(dsn, values, (bao.addr, bao.token))
        customers = sorted({v["subject_id"] for v in values})
        bodies = single_bodies(new_values_for(customers, args.seconds), tokens)
        cold = single_bodies(new_values_for(customers, args.seconds), [])["tokenize"]  # new values again
        env = {
            **os.environ,
            "PYTHONPATH": f"{ROOT / 'bench'}{os.pathsep}{ROOT}",
            "BENCH_FLOOR_DSN": dsn,
            "BENCH_FLOOR_VAULT_ADDR": bao.addr,
            "BENCH_FLOOR_VAULT_TOKEN": bao.token,
        }
        port = free_port()
        print(f"\n[floor with the guarantees, {kind}, before {label}]", flush=True)
        with server(kind, env, port, args, floor_work / "server.log", app="_floor_app:app") as master:
            procs = Processes(master, bao.process.pid, url, app_name, None)
            runs = [(name, f"/v1/{op}", bodies[op]) for op, name in FLOOR_PHASES.items()]
            for name, path, phase_bodies in [*runs, (COLD_FLOOR, "/cold/v1/tokenize", cold)]:
                phase, _ = run_phase(
                    name,
                    procs,
                    port,
                    key,
                    path,
                    phase_bodies,
                    clients=args.clients,
                    client_procs=args.client_procs,
                    seconds=args.seconds,
                )
                print(f"  {phase.line()}", flush=True)
                if phase.errors:
                    raise RuntimeError(f"{name}: {phase.errors} failed requests: {phase.first_error}")
                phases[name] = phase
    return phases


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
