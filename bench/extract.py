"""Anonymized extracts: our Mondrian against anonypy's, on the same synthetic customers, in one run.

Synthetic risk-scoring tables (fixed seed): subject id, name and mobile
(direct identifiers), five quasi-identifiers — age, gender, region (from a
valid resident ID, province-weighted), monthly income (depends on age and the
province's tier), occupation (24, in 6 categories, depends on income) — a
sensitive credit grade and two plain attributes.

Prints:

1. ``run_extract`` end to end (dict rows in -> CSV, Parquet, report, manifest
   out) at 100,000 and 1,000,000 rows, k = 10, l = 2, 1% suppression budget:
   time, rows/s, peak memory (ru_maxrss of a fresh process per size) and the
   stage timings;
2. head to head on the same 100,000 rows, k = 10, no l, no suppression:
   anonypy 0.2.1's Mondrian (partition + its anonymize step) against ours,
   with the leaves anonypy sees (exact ages and incomes, city codes,
   occupations). NCP is computed by one function for both, from each tool's
   classes and the raw values: numeric (max - min) / (domain max - min),
   categorical distinct values / domain size (0 for one value), averaged over
   rows and columns. Ours is run with ``release: values`` (categorical
   classes release the set of values they hold, as anonypy does) and with the
   default ``release: children`` (the spanned hierarchy nodes, "浙江省/江苏省";
   its NCP counts every leaf those nodes stand for, so it is reported from our
   own report, not comparable one to one).

3. the read phase of an extract job on the vault itself
   (:func:`anonymize.extract.source.rows`: keys unwrapped through a real
   OpenBao's Transit, sealed attributes and values read from SQLite (or
   PostgreSQL, ``--read-database``) and opened) at 10,000 and 50,000
   subjects: subjects/s with a cold DEK cache (a fresh ``jobs run``) and a
   warm one. The subjects are written directly (keys through the keyring,
   six sealed identifiers and a sealed attribute document each, as ``demo
   seed`` stores them), not through the API: that would take minutes.

anonypy is slow; if it has not finished within ``--anonypy-timeout`` seconds
it is run again on ``--anonypy-fallback`` rows and its rate extrapolated, and
the output says so.

    .venv/bin/python bench/extract.py [--sizes 100000 1000000] [--anonypy-rows 100000]
                                      [--read-sizes 10000 50000] [--read-database sqlite]

Goals (issue 6): 1,000,000 rows in under 60 s; at least 10x anonypy's rows/s;
information loss no worse than anonypy's.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# bench/, the script's directory, is first on sys.path: its data module
from _extract_data import OCCUPATIONS, seed_vault, synthetic  # noqa: E402

from anonymize.extract import Population, parse_spec, run_extract  # noqa: E402

QUASI = ("age", "gender", "region", "income", "occupation")


def spec_document(*, k: int, l_value: int, suppression: float, release: str, full: bool) -> dict[str, Any]:
    """The bench's extract spec: exact ages and incomes (the leaves anonypy sees)."""
    columns: dict[str, Any] = {}
    if full:
        columns |= {
            "subject_id": {"role": "identifier", "action": "pseudonym"},
            "name": {"role": "identifier"},
            "mobile": {"role": "identifier"},
        }
    columns |= {
        "age": {"role": "quasi", "hierarchy": {"type": "age_bands", "width": 1}},
        "gender": {"role": "quasi", "hierarchy": {"type": "suppress"}},
        "resident_id": {"role": "quasi", "as": "region", "hierarchy": {"type": "region", "release": release}},
        "income": {"role": "quasi", "hierarchy": {"type": "intervals", "width": 1, "integer": True}},
        "occupation": {
            "role": "quasi",
            "hierarchy": {"type": "categories", "mapping": OCCUPATIONS, "release": release},
        },
        "credit_grade": {"role": "sensitive"},
    }
    if full:
        columns |= {
            "default_24m": {"role": "attribute"},
            "debt_ratio": {"role": "attribute", "coding": {"bottom": 1, "top": 99}},
        }
    else:
        columns["row_no"] = {"role": "attribute"}  # bench only: maps released rows back to raw ones
    return {
        "purpose": "risk_scoring",
        "columns": columns,
        "privacy": {"k": k, "l": l_value, "max_suppression": suppression},
    }


def ncp_of_classes(raw: pd.DataFrame, classes: np.ndarray) -> tuple[float, dict[str, float]]:
    """NCP of a table released as the given classes, computed the same way for every tool.

    Numeric columns release [min, max] of the class; categorical columns the
    set of values the class holds. ``classes`` gives each row's class.
    """
    by_column = {}
    order = np.argsort(classes, kind="stable")
    sorted_classes = classes[order]
    starts = np.flatnonzero(np.r_[True, sorted_classes[1:] != sorted_classes[:-1]])
    sizes = np.diff(np.r_[starts, classes.size])
    for name in QUASI:
        column = raw[name].to_numpy()[order]
        if name in ("age", "income"):
            values = column.astype(np.float64)
            span = np.maximum.reduceat(values, starts) - np.minimum.reduceat(values, starts)
            penalty = span / (values.max() - values.min())
        else:
            codes, uniques = pd.factorize(column)
            keys = np.unique(np.repeat(np.arange(starts.size), sizes) * len(uniques) + codes)
            distinct = np.bincount(keys // len(uniques), minlength=starts.size)
            penalty = np.where(distinct > 1, distinct / len(uniques), 0.0)
        by_column[name] = float((penalty * sizes).sum() / classes.size)
    return float(np.mean(list(by_column.values()))), by_column


def _anonypy_frame(raw: pd.DataFrame) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "age": raw["age"],
            "gender": raw["gender"].astype("category"),
            "region": raw["resident_id"].str.slice(0, 4).astype("category"),
            "income": raw["income"],
            "occupation": raw["occupation"].astype("category"),
            "credit_grade": raw["credit_grade"],
        }
    )
    return frame


# -- workers: each measurement runs in a fresh process, so ru_maxrss is its own peak ---------------


def worker_ours(
    rows: int, k: int, l_value: int, suppression: float, release: str, full: bool
) -> dict[str, Any]:
    raw = synthetic(rows)
    spec = parse_spec(
        spec_document(k=k, l_value=l_value, suppression=suppression, release=release, full=full)
    )
    eligible = raw["subject_id"].tolist()
    columns = list(raw.columns)
    arrays = [raw[c].tolist() for c in columns]

    def rows_provider(ids: frozenset[str]):  # dicts, as the vault-decrypting provider will yield
        for values in zip(*arrays, strict=True):
            yield dict(zip(columns, values, strict=True))

    stages: dict[str, float] = {}
    last = [time.perf_counter(), "start"]

    def progress(stage: str, fraction: float) -> None:
        if stage != last[1]:
            now = time.perf_counter()
            stages[last[1]] = stages.get(last[1], 0.0) + now - last[0]
            last[:] = [now, stage]

    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with tempfile.TemporaryDirectory() as out:
        start, cpu_start = time.perf_counter(), time.process_time()
        result = run_extract(spec, rows_provider, lambda purpose: Population.of(eligible), out, progress)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        progress("end", 1.0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    measures = result.report["measures"]
    out_table = result.table
    quasi_out = ["age", "gender", "region", "income", "occupation"]
    classes = out_table.groupby(quasi_out, observed=True, sort=False).ngroup().to_numpy()
    # Our NCP from our classes over the raw values of the same rows, by the shared function.
    same = None
    if not full:
        kept_raw = raw.iloc[out_table["row_no"].to_numpy()].reset_index(drop=True)
        kept_raw["region"] = kept_raw["resident_id"].str.slice(0, 4)
        same = ncp_of_classes(kept_raw, classes)[0]
    return {
        "rows": rows,
        "seconds": elapsed,
        "cpu_seconds": cpu,
        "rows_per_s": rows / elapsed,
        "peak_rss_mb": peak / 1024,
        "rss_before_mb": base_rss / 1024,
        "stages": {k: round(v, 2) for k, v in stages.items() if k != "start"},
        "k": measures["k"],
        "l": measures["l"],
        "classes": measures["classes"],
        "suppressed": measures["rows_suppressed"],
        "ncp_report": measures["ncp"],
        "ncp_by_column": measures["ncp_by_column"],
        "ncp_shared": same,
    }


def worker_anonypy(rows: int, k: int) -> dict[str, Any]:
    from anonypy import anonypy as anonypy_module
    from anonypy import mondrian

    raw = synthetic(rows)
    frame = _anonypy_frame(raw)
    start = time.perf_counter()
    model = mondrian.Mondrian(frame, ["age", "gender", "region", "income", "occupation"], "credit_grade")
    partitions = model.partition(k)
    partitioned = time.perf_counter() - start
    anonypy_module.anonymize(frame, partitions, model.feature_columns, model.sensitive_column)
    elapsed = time.perf_counter() - start
    classes = np.empty(rows, dtype=np.int64)
    for i, members in enumerate(partitions):
        classes[np.asarray(members)] = i
    ncp, by_column = ncp_of_classes(frame, classes)
    sizes = np.bincount(classes)
    return {
        "rows": rows,
        "seconds": elapsed,
        "partition_seconds": partitioned,
        "rows_per_s": rows / elapsed,
        "k": int(sizes.min()),
        "classes": len(partitions),
        "ncp_shared": ncp,
        "ncp_by_column": by_column,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


READ_SPEC: dict[str, Any] = {
    "purpose": "risk_scoring",
    "columns": {
        "subject_id": {"role": "identifier", "action": "pseudonym"},
        "cn_mobile": {"role": "identifier", "action": "pseudonym"},
        "name": {"role": "identifier"},
        "region_code": {"role": "quasi", "hierarchy": {"type": "region", "source": "admin_code"}},
        "age": {"role": "quasi", "hierarchy": {"type": "age_bands", "width": 10}},
        "gender": {"role": "quasi", "hierarchy": {"type": "suppress"}},
        "monthly_income": {"role": "quasi", "hierarchy": {"type": "income_bands"}},
        "credit_grade": {"role": "sensitive"},
        "default": {"role": "attribute"},
        "debt_ratio": {"role": "attribute"},
    },
    "privacy": {"k": 10, "l": 2},
}


def worker_read(sizes: list[int], database: str) -> dict[str, Any]:
    """The read phase at each size, on a fresh database and one OpenBao dev server."""
    import contextlib

    from _support import bench_env, fresh_container, pg_schema  # bench/, the script's directory

    from anonymize.extract import source, submission
    from piivault.devbao import start_ephemeral

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        bao = start_ephemeral(Path(tmp) / "bao")
        try:
            for subjects in sizes:
                env = bench_env(bao, Path(tmp)) | {"PIIVAULT_DEK_CACHE_SIZE": str(max(subjects, 50_000))}
                with contextlib.ExitStack() as stack:
                    if database == "postgresql":
                        url = stack.enter_context(pg_schema())
                    else:
                        url = f"sqlite:///{tmp}/read-{subjects}.db"
                    container = fresh_container(env | {"PIIVAULT_DATABASE_URL": url})
                    stack.callback(container.close)
                    started = time.perf_counter()
                    ids = seed_vault(container, subjects)
                    seeded = time.perf_counter() - started
                    if database == "postgresql":  # statistics, as autovacuum keeps them in a live database
                        with container.engine.begin() as conn:
                            conn.exec_driver_sql("ANALYZE")
                    container.consent.catalogue.ensure_seeded()
                    with container.session_factory() as session:
                        plan = submission.plan(container.extracts.deps, session, parse_spec(READ_SPEC))
                    provider = source.rows(container.session_factory, container.keyring, plan)
                    timed: dict[str, float] = {}
                    for label in ("cold", "warm"):
                        if label == "cold":
                            container.keyring.cache.clear()
                        start, cpu = time.perf_counter(), time.process_time()
                        rows = sum(len(frame) for frame in provider(frozenset(ids)))
                        assert rows == subjects
                        timed[label] = time.perf_counter() - start
                        timed[label + "_cpu"] = time.process_time() - cpu
                    results[str(subjects)] = {"seed_seconds": seeded, **timed}
        finally:
            bao.stop()
    return results


def _spawn(args: list[str], timeout: float | None = None) -> dict[str, Any] | None:
    """Run one worker in a fresh interpreter; None if it timed out."""
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", *args]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return None
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"worker {' '.join(args)} failed")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _fmt_rate(value: float) -> str:
    return f"{value:,.0f}"


def _ours(rows: int, k: int, l_value: int, suppression: float, release: str, full: bool) -> dict[str, Any]:
    args = [
        "ours",
        "--rows",
        str(rows),
        "--k",
        str(k),
        "--l",
        str(l_value),
        "--suppression",
        str(suppression),
    ]
    result = _spawn([*args, "--release", release, *(["--full"] if full else [])])
    assert result is not None
    return result


def _read_phase(sizes: list[int], database: str) -> None:
    read = [str(n) for n in sizes]
    result = _spawn(["read", "--read-sizes", *read, "--read-database", database])
    assert result is not None
    print(
        f"\n3. read phase of an extract job (anonymize.extract.source.rows) on {database} and OpenBao:"
        " keys unwrapped, 7 attributes and 1 identifier opened per subject"
    )
    figures = []
    for n in sizes:
        r = result[str(n)]
        figures.append(
            f"{n:,} subjects: cold cache {_fmt_rate(n / r['cold'])}/s ({r['cold']:.1f} s,"
            f" {r['cold_cpu']:.1f} s CPU), warm {_fmt_rate(n / r['warm'])}/s ({r['warm']:.1f} s)"
        )
    print("   " + "; ".join(figures))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--anonypy-rows", type=int, default=100_000)
    parser.add_argument("--anonypy-timeout", type=float, default=600.0)
    parser.add_argument("--anonypy-fallback", type=int, default=20_000)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--read-sizes", type=int, nargs="*", default=[10_000, 50_000])
    parser.add_argument("--read-database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--worker", choices=["ours", "anonypy", "read"], help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--l", type=int, default=2, dest="l_value", help=argparse.SUPPRESS)
    parser.add_argument("--suppression", type=float, default=0.01, help=argparse.SUPPRESS)
    parser.add_argument("--release", default="children", help=argparse.SUPPRESS)
    parser.add_argument("--full", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker == "ours":
        result = worker_ours(args.rows, args.k, args.l_value, args.suppression, args.release, args.full)
        print(json.dumps(result))
        return
    if args.worker == "anonypy":
        print(json.dumps(worker_anonypy(args.rows, args.k)))
        return
    if args.worker == "read":
        print(json.dumps(worker_read(args.read_sizes, args.read_database)))
        return

    k = args.k
    print(
        f"1. run_extract end to end (dict rows in; CSV, Parquet, report, manifest out), k={k}, l=2, 1% budget"
    )
    print(
        "   peak RSS: the worker's ru_maxrss; 'before' is the bench's own synthetic data, held before the run"
    )
    header = (
        f"{'rows':>10} {'wall s':>7} {'cpu s':>6} {'rows/s':>8} {'peak RSS (before)':>18} {'k':>3} {'l':>2}"
    )
    print(header + f" {'classes':>8} {'suppr.':>6} {'NCP':>6}  wall s by stage")
    timed: dict[int, dict[str, Any]] = {}
    for rows in args.sizes:
        r = timed[rows] = _ours(rows, k, 2, 0.01, "children", True)
        print(
            f"{rows:>10,} {r['seconds']:>7.1f} {r['cpu_seconds']:>6.1f} {_fmt_rate(r['rows_per_s']):>8}"
            f" {r['peak_rss_mb']:>8.0f}MB ({r['rss_before_mb']:>4.0f}MB) {r['k']:>3} {r['l']:>2}"
            f" {r['classes']:>8,} {r['suppressed']:>6,}"
            f" {r['ncp_report']:.4f}  {r['stages']}"
        )

    n = args.anonypy_rows
    print(
        f"\n2. head to head on the same {n:,} rows: k={k}, no l, no suppression; NCP(shared) by one function"
    )
    values = _ours(n, k, 1, 0.0, "values", False)
    children = _ours(n, k, 1, 0.0, "children", False)
    theirs = _spawn(["anonypy", "--rows", str(n), "--k", str(k)], timeout=args.anonypy_timeout)
    note = ""
    if theirs is None:
        sample = args.anonypy_fallback
        theirs = _spawn(["anonypy", "--rows", str(sample), "--k", str(k)])
        assert theirs is not None
        estimate = theirs["seconds"] * (n / sample) * (np.log2(n) / np.log2(sample))
        note = (
            f"anonypy did not finish {n:,} rows in {args.anonypy_timeout:.0f} s: it ran on {sample:,} rows;"
            f" its {n:,}-row time is extrapolated as n log n ({estimate:,.0f} s) and its NCP is the sample's"
        )
        theirs["rows_per_s"], theirs["seconds"] = n / estimate, estimate
    print(f"{'':36} {'wall s':>7} {'rows/s':>8} {'k':>3} {'classes':>8} {'NCP(shared)':>12} {'NCP(own)':>9}"
          "  NCP by column (own)")  # fmt: skip
    for label, r in (
        ("anonypy 0.2.1 Mondrian", theirs),
        ("ours, release: values", values),
        ("ours, release: children (default)", children),
    ):
        by_column = " ".join(f"{c}={v:.3f}" for c, v in r["ncp_by_column"].items())
        print(
            f"{label:36} {r['seconds']:>7.1f} {_fmt_rate(r['rows_per_s']):>8} {r['k']:>3} {r['classes']:>8,}"
            f" {r['ncp_shared']:>12.4f} {r.get('ncp_report', r['ncp_shared']):>9.4f}  {by_column}"
        )
    print("   NCP(shared): numeric (max-min)/range, categorical distinct values held/domain size, per class")
    print(
        "   NCP(own): our report's; equal to shared for release: values; for children it counts every leaf"
        " the released nodes stand for"
    )
    if note:
        print("   note:", note)

    if args.read_sizes:
        _read_phase(args.read_sizes, args.read_database)

    print("\ngoals:")
    if 1_000_000 in timed:
        r = timed[1_000_000]
        verdict = "met" if r["seconds"] < 60 else "NOT met"
        print(
            f"   1,000,000 rows < 60 s: {verdict} ({r['seconds']:.1f} s wall, {r['cpu_seconds']:.1f} s CPU)"
        )
    fastest = min(values["rows_per_s"], children["rows_per_s"]) / theirs["rows_per_s"]
    print(f"   >= 10x anonypy rows/s: {'met' if fastest >= 10 else 'NOT met'} ({fastest:,.0f}x or more)")
    verdict = "met" if values["ncp_shared"] <= theirs["ncp_shared"] else "NOT met"
    print(
        f"   NCP no worse than anonypy, same release semantics: {verdict}"
        f" ({values['ncp_shared']:.4f} vs {theirs['ncp_shared']:.4f});"
        f" with the readable default: {children['ncp_report']:.4f}"
    )


if __name__ == "__main__":
    main()
