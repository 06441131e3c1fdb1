"""The tokenization API end to end, against the app served by gunicorn on loopback.

    .venv/bin/python bench/api.py [--database sqlite|postgresql] [--workers 2xCPUs] [--threads 4]
                                  [--batches 40] [--batch-clients 4] [--clients 50] [--seconds 10]
                                  [--audit inline|worker]

Starts its own OpenBao (``bao server -dev``), migrates a fresh database
(SQLite in a temporary directory, or PostgreSQL at
``PIIVAULT_BENCH_DATABASE_URL``, default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``, in a schema dropped
afterwards), creates a ``service`` client, serves ``piivault.wsgi:app()`` with
gunicorn (gthread) on a loopback port, and prints in one run:

* batch tokenize throughput, values/s, in batches of 1,000: each batch onboards
  200 new customers with 5 values each (name, mobile, resident ID, bank card,
  email), so every batch also creates and wraps 200 data keys in Vault;
* single-value tokenize (a new mobile for an onboarded customer) and
  single-token detokenize (under ``aml_kyc``) with ``--clients`` concurrent
  clients (threads, one keep-alive connection each): requests/s and latency
  p50/p99, closed loop (each client sends its next request as soon as the
  last returns), then paced at 1/2 and 1/4 of that rate (``--clients``
  clients sharing an open-loop schedule, latency counted from the scheduled
  start): the latency callers see from a service that is not saturated;
* the naive design on the same OpenBao: one Transit encrypt per value (and one
  decrypt per detokenized value) through hvac, with as many concurrent callers,
  and the ratios.

Everything (OpenBao, the database, gunicorn and the load generator) shares
this machine's CPUs; ``nproc`` is printed with the figures.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import queue
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import hvac  # noqa: E402

from api.clients import clients_service  # noqa: E402
from piivault import migrate  # noqa: E402
from piivault.bootstrap import bootstrap  # noqa: E402
from piivault.container import build_container  # noqa: E402
from piivault.devbao import free_port, start_ephemeral  # noqa: E402
from piivault.settings import Settings  # noqa: E402
from tokenization.fieldtypes.checksums import GB11643, LUHN  # noqa: E402

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PER_SUBJECT = 5
BATCH = 1_000
SURNAMES = "王李张刘陈杨黄赵吴周"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰涛明超秀霞平刚"


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


# -- measurement helpers -------------------------------------------------------------
def percentile(sorted_ms: list[float], p: float) -> float:
    return sorted_ms[min(len(sorted_ms) - 1, int(len(sorted_ms) * p))]


def summary(latencies_ms: list[float], seconds: float) -> str:
    lat = sorted(latencies_ms)
    return (
        f"{len(lat) / seconds:8,.0f} req/s   p50 {statistics.median(lat):6.2f} ms   "
        f"p99 {percentile(lat, 0.99):6.2f} ms   ({len(lat):,} requests)"
    )


def closed_loop(
    clients: int, seconds: float, call: Callable[[requests.Session, int], None]
) -> tuple[list, float]:
    """``clients`` threads calling back to back for ``seconds``; latencies in ms."""
    stop = time.perf_counter() + seconds
    results: list[list[float]] = [[] for _ in range(clients)]

    def run(i: int) -> None:
        session = requests.Session()
        n = 0
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            call(session, i * 1_000_000 + n)
            results[i].append((time.perf_counter() - t0) * 1000)
            n += 1

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(run, range(clients)))
    return [x for r in results for x in r], time.perf_counter() - t0


def paced(
    clients: int, rate: float, seconds: float, call: Callable[[requests.Session, int], None]
) -> tuple[list, float]:
    """An open-loop schedule of ``rate`` requests/s served by ``clients`` threads.

    Latency counts from the scheduled start, so time spent waiting for a free
    client (queueing) is included, as a caller would see it.
    """
    total = int(rate * seconds)
    start = time.perf_counter() + 0.2
    slots: queue.Queue[float | None] = queue.Queue()
    for n in range(total):
        slots.put(start + n / rate)
    for _ in range(clients):
        slots.put(None)
    results: list[list[float]] = [[] for _ in range(clients)]

    def run(i: int) -> None:
        session = requests.Session()
        n = 0
        while (due := slots.get()) is not None:
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            call(session, i * 1_000_000 + n)
            results[i].append((time.perf_counter() - due) * 1000)
            n += 1

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(run, range(clients)))
    return [x for r in results for x in r], time.perf_counter() - start


# -- the server -------------------------------------------------------------------------
@contextlib.contextmanager
def database(kind: str, work: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{work / 'bench.db'}"
        return
    base = os.environ.get("PIIVAULT_BENCH_DATABASE_URL", PG_DEFAULT)
    schema = "bench_api_" + secrets.token_hex(4)
    admin = sa.create_engine(base)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=" + urllib.parse.quote(f"-csearch_path={schema}")
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextlib.contextmanager
def gunicorn(env: dict[str, str], port: int, workers: int, threads: int, log: Path) -> Iterator[str]:
    argv = [
        str(Path(sys.executable).with_name("gunicorn")),
        "piivault.wsgi:app()",
        f"--bind=127.0.0.1:{port}",
        f"--workers={workers}",
        "--worker-class=gthread",
        f"--threads={threads}",
        "--backlog=2048",
        "--log-level=warning",
    ]
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{log.read_text()[-3000:]}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(url + "/readyz", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not become ready")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def audit_worker(env: dict[str, str], log: Path, wanted: bool) -> Iterator[None]:
    """``piivault audit sequence --loop`` in the background, when audit events are not sequenced inline."""
    if not wanted:
        yield
        return
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("piivault")),
                "audit",
                "sequence",
                "--loop",
                "--interval",
                "0.05",
            ],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--database", choices=("sqlite", "postgresql"), default="postgresql")
    ap.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1))
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--batches", type=int, default=40, help="batches of 1,000 values")
    ap.add_argument("--batch-clients", type=int, default=4, help="concurrent batch senders")
    ap.add_argument("--clients", type=int, default=50, help="concurrent single-value clients")
    ap.add_argument("--seconds", type=float, default=10.0, help="duration of each single-value run")
    ap.add_argument("--naive", type=int, default=2_000, help="values for the naive Transit runs")
    ap.add_argument(
        "--audit",
        choices=("inline", "worker"),
        default="inline",
        help="inline: sequence audit events after each commit (the default setting); worker: "
        "PIIVAULT_AUDIT_SEQUENCE_INLINE=false and `piivault audit sequence --loop` alongside",
    )
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="pv-bench-api-"))
    bao = start_ephemeral(work / "bao")
    try:
        with database(args.database, work) as url:
            env = {
                **os.environ,
                "PIIVAULT_ENV": "production",
                "PIIVAULT_DATABASE_URL": url,
                "PIIVAULT_VAULT_ADDR": bao.addr,
                "PIIVAULT_VAULT_TOKEN": bao.token,
                "PIIVAULT_ERASURE_LEDGER": str(work / "erasure-ledger.jsonl"),
                "PIIVAULT_LOG_LEVEL": "warning",
                "PIIVAULT_AUDIT_SEQUENCE_INLINE": "true" if args.audit == "inline" else "false",
            }
            settings = Settings.from_env(env)
            container = build_container(settings)
            migrate.upgrade(container.engine)
            bootstrap(container)
            _, key = clients_service(container).create(
                name="bench-crm", role="service", purposes=["aml_kyc", "account_service"], actor="bench"
            )
            container.close()
            with audit_worker(env, work / "sequencer.log", args.audit == "worker"):
                run(args, env, key, bao, work)
    finally:
        bao.stop()


def run(args: argparse.Namespace, env: dict[str, str], key: str, bao, work: Path) -> None:
    auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    port = free_port()
    print(
        f"piivault API bench: {args.database}, gunicorn {args.workers} workers x {args.threads} threads, "
        f"audit sequencing {args.audit}, OpenBao dev server, {os.cpu_count()} CPUs shared by all of it"
    )
    with gunicorn(env, port, args.workers, args.threads, work / "gunicorn.log") as url:

        def post(session: requests.Session, path: str, body: bytes, headers: dict | None = None) -> dict:
            r = session.post(url + path, data=body, headers={**auth, **(headers or {})}, timeout=60)
            if r.status_code != 200:
                raise RuntimeError(f"{path}: {r.status_code} {r.text[:300]}")
            return r.json()

        # Warm up every worker (system keys, caches, connection pools).
        warm = requests.Session()
        for _ in range(4 * args.workers):
            post(warm, "/v1/tokenize", json.dumps({"items": onboarding_batch()[:50]}).encode())

        # 1. Batch tokenize: 1,000 values per request, new customers in every batch.
        batches = [onboarding_batch() for _ in range(args.batches)]
        bodies = [json.dumps({"items": batch}).encode() for batch in batches]
        tokens: list[str] = []
        lock = threading.Lock()
        work_q: queue.Queue[bytes] = queue.Queue()
        for b in bodies:
            work_q.put(b)

        def sender(_: int) -> None:
            session = requests.Session()
            while True:
                try:
                    body = work_q.get_nowait()
                except queue.Empty:
                    return
                out = post(session, "/v1/tokenize", body, {"Idempotency-Key": secrets.token_hex(16)})
                if any("token" not in i for i in out["items"]):
                    raise RuntimeError("a bench item was rejected")
                got = [i["token"] for i in out["items"]]
                with lock:
                    tokens.extend(got)

        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.batch_clients) as pool:
            list(pool.map(sender, range(args.batch_clients)))
        t_batch = time.perf_counter() - t0
        batch_rate = len(tokens) / t_batch
        print()
        print(
            f"batch tokenize (1,000/request, {args.batch_clients} senders): "
            f"{batch_rate:10,.0f} values/s   ({len(tokens):,} values in {t_batch:.2f} s)"
        )

        # 2. Single-value tokenize and detokenize, concurrent clients.
        # A new mobile for a customer onboarded above (a standalone token would cost one more
        # Vault wrap: every standalone token gets a data key of its own, to be erasable alone).
        customers = sorted({item["subject_id"] for batch in batches for item in batch})
        one_items = [
            json.dumps({"items": [{"field_type": "cn_mobile", "value": _mobile(), "subject_id": c}]}).encode()
            for c in customers
        ]

        def tokenize_one(session: requests.Session, n: int) -> None:
            post(session, "/v1/tokenize", one_items[n % len(one_items)])

        pool_tokens = tokens[: 20 * BATCH]
        detok_bodies = [
            json.dumps({"purpose": "aml_kyc", "tokens": [t]}).encode()
            for t in pool_tokens[:: max(1, len(pool_tokens) // 5000)]
        ]

        def detokenize_one(session: requests.Session, n: int) -> None:
            out = post(session, "/v1/detokenize", detok_bodies[n % len(detok_bodies)])
            if "error" in out["items"][0] and out["items"][0]["error"] != "denied":
                raise RuntimeError(out["items"][0])

        results = {}
        for name, call in (("tokenize", tokenize_one), ("detokenize", detokenize_one)):
            lat, secs = closed_loop(args.clients, args.seconds, call)
            closed_rate = len(lat) / secs
            print(f"single {name:10s} {args.clients} clients, closed loop : {summary(lat, secs)}")
            paced_runs = []
            for share in (2, 4):
                lat_p, secs_p = paced(args.clients, closed_rate / share, args.seconds, call)
                print(
                    f"single {name:10s} {args.clients} clients, paced at 1/{share}: {summary(lat_p, secs_p)}"
                )
                paced_runs.append(sorted(lat_p))
            results[name] = (closed_rate, sorted(lat), paced_runs)

    # 3. The naive design: one Transit call per value, as many concurrent callers.
    client = hvac.Client(url=bao.addr, token=bao.token)
    client.secrets.transit.create_key("naive-bench", mount_point="transit")
    sample = [item["value"] for item in onboarding_batch()] * (args.naive // BATCH + 1)
    sample = sample[: args.naive]
    ciphertexts: list[str] = []

    def naive(op: str, values: list[str]) -> float:
        chunks = [values[i :: args.batch_clients] for i in range(args.batch_clients)]

        def one(chunk: list[str]) -> None:
            c = hvac.Client(url=bao.addr, token=bao.token)
            for v in chunk:
                if op == "encrypt":
                    r = c.secrets.transit.encrypt_data(
                        "naive-bench", plaintext=base64.b64encode(v.encode()).decode()
                    )
                    ciphertexts.append(r["data"]["ciphertext"])
                else:
                    c.secrets.transit.decrypt_data("naive-bench", ciphertext=v)

        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.batch_clients) as pool:
            list(pool.map(one, chunks))
        return len(values) / (time.perf_counter() - t0)

    naive_encrypt = naive("encrypt", sample)
    naive_decrypt = naive("decrypt", list(ciphertexts))
    print()
    callers = f"({args.batch_clients} callers)"
    print(f"naive: one Transit encrypt per value {callers} : {naive_encrypt:10,.0f} values/s")
    print(f"naive: one Transit decrypt per value {callers} : {naive_decrypt:10,.0f} values/s")
    print()
    detok_rate, detok_closed, (detok_half, detok_quarter) = results["detokenize"]
    print(f"batch tokenize            : {batch_rate:10,.0f} values/s   (goal >= 20,000)")
    print(f"  vs naive Transit encrypt: {batch_rate / naive_encrypt:10.1f}x          (goal >= 20x)")
    print(
        f"single detokenize p99     : {percentile(detok_closed, 0.99):10.2f} ms closed loop "
        f"({detok_rate:,.0f} req/s), "
        f"{percentile(detok_half, 0.99):.2f} ms at 1/2, {percentile(detok_quarter, 0.99):.2f} ms at 1/4 "
        f"(goal < 20 ms at {args.clients} clients)"
    )
    print(f"  vs naive Transit decrypt: {detok_rate / naive_decrypt:10.1f}x requests/s")


if __name__ == "__main__":
    main()
