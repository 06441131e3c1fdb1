"""The tokenization API end to end, against the app served by gunicorn (or granian) on loopback.

    .venv/bin/python bench/api.py [--database postgresql|sqlite] [--workers 3] [--threads 4]
                                  [--server gunicorn|granian] [--baseline-server gunicorn|granian]
                                  [--rounds 1]
                                  [--batches 40] [--batch-clients 4] [--clients 50] [--seconds 8]
                                  [--client-procs 2] [--audit worker|inline] [--auth-cache 2]
                                  [--hot-subjects 1000]
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
  and load generator, closed loop and paced, just before each column; and on
  PostgreSQL with ``--auth-cache 0`` the floor with the guarantees
  (``bench/_floor_app.py``): single tokenize and detokenize on Flask and psycopg
  with the least work piivault's promises need (the key's row, the rows read,
  the audit row committed first), closed loop, beside the hot-keys phases; and its
  tokenize again with the key cold (read wrapped, one Transit decrypt each), beside the
  closed-loop tokenize, whose keys are nearly all cold;
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
* single detokenize again, closed loop, of ``--hot-subjects`` customers (one token
  each) whose data keys every worker has cached: the cold phase above draws ~5,000
  customers over all the workers, so nearly every request unwraps its key in Transit;
  here every worker's cache is warmed first, and no request needs Vault
  (``_api_hot.py``, which also says how the default size follows from the cache's);
* batch detokenize, 1,000 tokens per request (the tokens of one onboarding
  batch: 200 known customers, so 200 audit events per request): values/s;
* the naive design on the same OpenBao: one Transit encrypt per value (and one
  decrypt per detokenized value) through hvac, and the ratios;
* the CPU each part used per request (gunicorn, the app's PostgreSQL
  backends, OpenBao, the audit worker with ``--audit worker`` and, apart, its
  PostgreSQL backends: together the "server CPU"; and this load generator) and the workers' peak memory. On a
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

This script keeps the command line and the run; its parts live beside it:
``_api_customers.py`` (the synthetic customers), ``_api_load.py`` (the load
generator, a phase and the CPU it cost), ``_api_servers.py`` (the database, the
WSGI server, the audit worker), ``_api_measure.py`` (one column's phases, the
floor, the naive design), ``_api_hot.py`` (the hot set), ``_api_trace.py``
(``--trace``) and ``_api_report.py`` (the summary and its goals).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# bench/, the script's directory, is first on sys.path: the bench's parts live beside it
from _api_customers import BATCH, CUSTOMER_VALUES, onboarding_batch  # noqa: E402
from _api_hot import HOT_SUBJECTS  # noqa: E402
from _api_measure import Tree, measure_bare, measure_floor, measure_tree, naive_rates  # noqa: E402
from _api_report import summary  # noqa: E402

from piivault.devbao import start_ephemeral  # noqa: E402


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


def _hot_subjects(text: str) -> int:
    n = int(text)
    if n < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more customers, got {n}")
    return n


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
    ap.add_argument(
        "--hot-subjects",
        type=_hot_subjects,
        default=HOT_SUBJECTS,
        metavar="N",
        help="single detokenize again, of N customers whose data keys every worker has cached (one "
        "token each; every worker's cache is warmed first): the cache-hit case beside the cold one "
        f"(default {HOT_SUBJECTS:,}: see bench/_api_hot.py; 0: skip)",
    )
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
    onboarded = args.batches * BATCH // CUSTOMER_VALUES
    if args.hot_subjects > onboarded:
        ap.error(
            f"--hot-subjects {args.hot_subjects}: --batches {args.batches} onboard {onboarded:,} customers"
        )
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
            if args.auth_cache == 0:  # like with like: the floor reads its key on every request
                bare |= measure_floor(tree.server, tree.label, args, bao, work)
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
