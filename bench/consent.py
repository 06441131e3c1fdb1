"""Consent benchmark: the consent check's cost on the detokenize path, and bulk-import rows/s.

    .venv/bin/python bench/consent.py [--subjects 100000] [--requests 2000] [--backends sqlite,postgresql]

Starts its own OpenBao (``bao server -dev``) and uses PostgreSQL at
``PIIVAULT_BENCH_DATABASE_URL`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``) in a fresh schema that
is dropped afterwards, and SQLite in a temporary directory. For each database:

1. bulk-imports consents for ``--subjects`` subjects, 3 records each
   (grants for marketing and risk_scoring for everyone, a withdrawal of
   marketing for one in three, a separate third-party consent for one in
   three), in calls of at most 100,000 rows through the import use case, and
   prints rows/s (parse, check every row, insert, audit, commit);
2. tokenizes a mobile number for ``--tokenized`` of those subjects;
3. times ``--requests`` single-token detokenize requests for purpose
   ``marketing`` (consent required) through the service - a unit of work,
   the policy decision, the audit event and its commit - in turn three ways:
   as served (the consent lookup inside the query that loads the token), with
   the check as a query of its own (how it was served before), and with a
   stub that answers "granted" at once; prints p50/p99 of each, and of the
   time each request spent reading its token and its consent (timed inside
   the request, free of the noise of ~5-30 ms requests). What the check adds
   is that time as served minus that time with the stub.

Goal (issue 5): the check adds under 1 ms at p99; import at least 10,000 rows/s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _support import bench_env, fresh_container, pg_schema  # noqa: E402

from piivault.container import Container  # noqa: E402
from piivault.devbao import start_ephemeral  # noqa: E402
from privacy.consent_check import GRANTED  # noqa: E402
from privacy.model import Actor  # noqa: E402
from tokenization import detokenize as detokenize_module  # noqa: E402
from tokenization.model import TokenizeItem  # noqa: E402

IMPORT_CHUNK = 100_000
ADMIN = Actor("bench:admin", "admin")


class Caller:
    client_id = "bench"
    role = "service"
    purposes = frozenset({"marketing", "risk_scoring", "third_party_sharing", "aml_kyc"})
    field_types = None


def subject(i: int) -> str:
    return f"bench-{i:08d}"


def consent_rows(subjects: int) -> list[dict[str, str]]:
    """3 records per subject: two grants, then a withdrawal, a separate consent or a re-grant."""
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    rows = []
    for i in range(subjects):
        sid = subject(i)
        when = (start + dt.timedelta(minutes=i)).isoformat()
        later = (start + dt.timedelta(days=200, minutes=i)).isoformat()
        rows.append({"subject_id": sid, "purpose": "marketing", "channel": "app", "effective_at": when})
        rows.append({"subject_id": sid, "purpose": "risk_scoring", "channel": "web", "effective_at": when})
        if i % 3 == 0:
            third = {"purpose": "marketing", "action": "withdraw", "channel": "app", "effective_at": later}
        elif i % 3 == 1:
            third = {
                "purpose": "third_party_sharing",
                "channel": "branch",
                "effective_at": when,
                "separate": "true",
            }
        else:
            third = {"purpose": "marketing", "channel": "phone", "effective_at": later}
        rows.append({"subject_id": sid, **third})
    return rows


def to_csv(rows: list[dict[str, str]]) -> bytes:
    import csv

    out = io.StringIO()
    writer = csv.DictWriter(
        out, fieldnames=["subject_id", "purpose", "action", "channel", "effective_at", "separate"]
    )
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def bulk_import(container: Container, rows: list[dict[str, str]]) -> tuple[int, float]:
    svc = container.consent
    total, seconds = 0, 0.0
    for start in range(0, len(rows), IMPORT_CHUNK):
        content = to_csv(rows[start : start + IMPORT_CHUNK])
        began = time.perf_counter()
        with container.uow() as uow:
            summary = svc.import_consents(uow, ADMIN, content, "csv")
        seconds += time.perf_counter() - began
        total += summary["rows"]
        print(f"  imported {summary['rows']:,} rows in {time.perf_counter() - began:.2f}s", flush=True)
    return total, seconds


def tokenize(container: Container, count: int, stride: int) -> dict[str, str]:
    """subject -> token of a mobile number, for subjects that kept their marketing consent."""
    svc = container.tokenization
    chosen = [subject(i) for i in range(1, count * stride, stride) if i % 3 != 0][:count]
    tokens: dict[str, str] = {}
    for start in range(0, len(chosen), 500):
        batch = chosen[start : start + 500]
        items = [TokenizeItem("cn_mobile", f"139{n:08d}", sid) for n, sid in enumerate(batch, start)]
        with container.uow() as uow:
            result = svc.tokenize(uow, Caller(), items)
        tokens.update({sid: r["token"] for sid, r in zip(batch, result.items, strict=True)})
    return tokens


MODES = {
    "joined": "consent looked up inside the token query (as served)",
    "separate": "consent checked by a query of its own",
    "none": "no consent check (a stub answers granted)",
}
ORDER = list(MODES)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def detokenize_latency(container: Container, tokens: dict[str, str], requests: int) -> dict[str, float]:
    """Detokenize p50/p99 three ways, and the time each request spent reading tokens and consent.

    ``joined``: as served, the consent lookup inside the token query;
    ``separate``: the token query, then the check as a query of its own;
    ``none``: the token query and a stub that answers "granted" at once.
    """
    svc = container.tokenization
    real_check, real_join = svc.consent_check, svc.consent_join
    load = detokenize_module._load
    pool = list(tokens.values())
    total: dict[str, list[float]] = {mode: [] for mode in MODES}
    reads: dict[str, list[float]] = {mode: [] for mode in MODES}
    current: list[float] = [0.0]

    def stub(session, subject_id, purpose, field_type):  # noqa: ANN001, ANN202
        return GRANTED

    def timed(fn):  # noqa: ANN001, ANN202
        def wrapper(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            began = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                current[0] += time.perf_counter() - began

        return wrapper

    def use(mode: str) -> None:
        svc.consent_join = real_join if mode == "joined" else None
        svc.consent_check = timed(real_check if mode == "separate" else stub)

    def one(token: str) -> float:
        began = time.perf_counter()
        with container.uow(read_only=True) as uow:
            out = svc.detokenize(uow, Caller(), "marketing", [token])
        elapsed = time.perf_counter() - began
        assert "value" in out[0], out
        return elapsed

    detokenize_module._load = timed(load)
    try:
        use("joined")
        for token in pool[:200]:  # warm the data-key cache and the connection pool
            one(token)
        rng = random.Random(5)
        for n in range(requests):
            token = rng.choice(pool)
            # Rotate so that drift (log growth, cache, checkpoints) hits every mode alike.
            for k in range(len(MODES)):
                mode = ORDER[(n + k) % len(ORDER)]
                use(mode)
                current[0] = 0.0
                total[mode].append(one(token))
                reads[mode].append(current[0])
    finally:
        detokenize_module._load = load
        svc.consent_check, svc.consent_join = real_check, real_join
    ms = 1000
    out: dict[str, float] = {}
    for mode in MODES:
        out[f"{mode}_p50_ms"] = statistics.median(total[mode]) * ms
        out[f"{mode}_p99_ms"] = percentile(total[mode], 0.99) * ms
        out[f"{mode}_reads_p50_ms"] = statistics.median(reads[mode]) * ms
        out[f"{mode}_reads_p99_ms"] = percentile(reads[mode], 0.99) * ms
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=100_000)
    parser.add_argument("--tokenized", type=int, default=2_000, help="subjects with a token to detokenize")
    parser.add_argument("--requests", type=int, default=2_000, help="detokenize requests per side")
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()

    rows = consent_rows(args.subjects)
    results: dict[str, object] = {
        "cpus": os.cpu_count(),
        "subjects": args.subjects,
        "consent_rows": len(rows),
    }
    print(f"{args.subjects:,} subjects, {len(rows):,} consent records ({len(rows) / args.subjects:.2f} each)")
    with tempfile.TemporaryDirectory(prefix="piivault-bench-") as tmp:
        bao = start_ephemeral(Path(tmp) / "bao")
        try:
            base = bench_env(bao, Path(tmp))
            with pg_schema() as pg_url:
                urls = {"postgresql": pg_url, "sqlite": f"sqlite:///{Path(tmp) / 'bench.db'}"}
                for name in args.backends.split(","):
                    container = fresh_container({**base, "PIIVAULT_DATABASE_URL": urls[name]})
                    try:
                        print(f"{name}: importing", flush=True)
                        imported, seconds = bulk_import(container, rows)
                        rate = imported / seconds
                        print(f"{name}: bulk import {imported:,} rows in {seconds:.2f}s: {rate:,.0f} rows/s")
                        with container.engine.begin() as conn:
                            if name == "postgresql":
                                conn.execute(sa.text("ANALYZE"))
                            else:
                                conn.exec_driver_sql("ANALYZE")
                        tokens = tokenize(container, args.tokenized, max(1, args.subjects // args.tokenized))
                        latency = detokenize_latency(container, tokens, args.requests)
                        for mode, label in MODES.items():
                            print(
                                f"{name}: detokenize (1 token, marketing), {label}: p50/p99 "
                                f"{latency[f'{mode}_p50_ms']:.2f}/{latency[f'{mode}_p99_ms']:.2f} ms; "
                                "reading token and consent "
                                f"{latency[f'{mode}_reads_p50_ms']:.3f}/"
                                f"{latency[f'{mode}_reads_p99_ms']:.3f} ms",
                                flush=True,
                            )
                        for q in ("p50", "p99"):
                            added = latency[f"joined_reads_{q}_ms"] - latency[f"none_reads_{q}_ms"]
                            before = latency[f"separate_reads_{q}_ms"] - latency[f"none_reads_{q}_ms"]
                            print(
                                f"{name}: the consent check adds {added:.3f} ms at {q} "
                                f"(as a query of its own: {before:.3f} ms)",
                                flush=True,
                            )
                        results[name] = {
                            "import_rows_per_s": round(rate),
                            **{k: round(v, 3) for k, v in latency.items()},
                        }
                    finally:
                        container.close()
        finally:
            bao.stop()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
