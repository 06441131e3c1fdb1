"""Extracts on one process against extracts on Spark: the same synthetic customers, in one run.

The customers, spec and quasi-identifiers of ``bench/extract.py`` (five
quasi-identifiers, a sensitive credit grade, k = 10, l = 2, 1% suppression
budget), handed to ``run_extract`` in DataFrame batches of 100,000 rows (as
the vault's streamed, decrypted batches come). Each run is a fresh process.

Prints, per run: seconds, rows/s, the driver's peak memory (ru_maxrss of the
Python driver process; not the JVM's or the Python workers', which are children),
k, l, NCP, classes; for Spark also the fragment count, the fragments' summed
and longest partitioning time, k and l as Spark verified them, and the report's
single-machine comparison: the local engine's NCP, k, l and suppressed rows on
the same rows, NCP's ratio and the seconds it took the driver (run up to
``run_extract``'s default bound, 1M rows; above it, why not).

``--table-sizes`` runs (default 20M rows) put the customers' features in a
bank's risk table instead: Parquet written in chunks of 1M rows before the
clock starts, joined by Spark to the vault's population (subject ids only, as
the vault's rows) with ``table.*`` sources; the same columns and hierarchies
(the region from the resident ID's administrative code). That is how a table
too large for the driver's Python memory as decrypted vault rows reaches the
extract: the driver holds only the joined columns, strings as categories.

Then an estimate for ``--estimate-rows`` (default 100M) rows on N executors
from the largest Spark run: driver-side time scales with rows (it stays on one
machine in this version), fragment time divides by N:

    t(R, N) = R * driver_s_per_row + R * fragment_s_per_row / N

    .venv/bin/python bench/extract_spark.py [--sizes 1000000] [--spark-sizes 1000000]
                                             [--table-sizes 20000000] [--master local[2]]
                                             [--fragment-rows 250000] [--driver-memory 6g]
                                             [--table-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402

from anonymize.extract import Population, parse_spec, run_extract  # noqa: E402
from bench.extract import spec_document, synthetic  # noqa: E402

BATCH = 100_000


def _risk_table(rows: int, path: Path) -> None:
    """The synthetic customers' features as a bank's Parquet table, written 1M rows at a time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.mkdir(parents=True, exist_ok=True)
    for index, start in enumerate(range(0, rows, 1_000_000)):
        part = path / f"part-{index:05d}.parquet"
        if part.exists():  # --table-dir: a table of an earlier run, seeded the same
            continue
        chunk = synthetic(min(1_000_000, rows - start), seed=index + 1)
        chunk["customer_id"] = [f"sub_{i:09d}" for i in range(start, start + len(chunk))]
        chunk["admin_code"] = chunk["resident_id"].str[:6]
        keep = ["customer_id", "admin_code", "age", "gender", "income", "occupation", "credit_grade"]
        keep += ["default_24m", "debt_ratio"]
        pq.write_table(
            pa.Table.from_pandas(chunk[keep], preserve_index=False), path / f"part-{index:05d}.parquet"
        )


def _table_spec(document: dict[str, Any], path: Path) -> dict[str, Any]:
    """The bench's spec with every feature read from the risk table (the subject id from the vault)."""
    columns = {"subject_id": document["columns"]["subject_id"]}
    for name, column in document["columns"].items():
        if column["role"] == "identifier":
            continue
        column = dict(column) | {"source": f"table.{name}"}
        if name == "resident_id":
            column |= {
                "source": "table.admin_code",
                "hierarchy": column["hierarchy"] | {"source": "admin_code"},
            }
        columns[name] = column
    table = {"path": str(path), "key": "customer_id", "matches": "subject_id"}
    return document | {"columns": columns, "table": table}


def _progress() -> Any:
    """Each stage and every 5 % to stderr with the seconds since the start: how far a long run got."""
    started, last = time.perf_counter(), ["", -1.0]

    def report(stage: str, fraction: float) -> None:
        if stage != last[0] or fraction >= last[1] + 0.05:
            last[:] = [stage, fraction]
            print(
                f"  {time.perf_counter() - started:8.1f} s  {stage} {fraction:.0%}",
                file=sys.stderr,
                flush=True,
            )

    return report


def worker(
    engine: str, rows: int, master: str, fragment_rows: int, mode: str = "vault", table_dir: str = ""
) -> dict[str, Any]:
    document = spec_document(k=10, l_value=2, suppression=0.01, release="children", full=True)
    if engine == "spark":
        document |= {"engine": "spark", "spark": {"master": master, "fragment_rows": fragment_rows}}
    scratch = tempfile.TemporaryDirectory()
    if mode == "table":
        where = Path(table_dir) if table_dir else Path(scratch.name) / "risk"
        _risk_table(rows, where)
        document = _table_spec(document, where)
        raw = None
        eligible = [f"sub_{i:09d}" for i in range(rows)]
    else:
        raw = synthetic(rows)
        eligible = raw["subject_id"].tolist()
    spec = parse_spec(document)

    def rows_provider(ids: frozenset[str]):
        for start in range(0, rows, BATCH):
            if raw is None:  # the vault's rows are the subject ids; the features are the table's
                yield pd.DataFrame({"subject_id": eligible[start : start + BATCH]})
            else:
                yield raw.iloc[start : start + BATCH]

    if engine == "spark":  # the JVM's start is not the extract's time
        from anonymize.extract.spark import spark_session

        spark_session(master).range(1).count()
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        result = run_extract(spec, rows_provider, lambda purpose: Population.of(eligible), out, _progress())
        elapsed = time.perf_counter() - start
    scratch.cleanup()
    measures = result.report["measures"]
    return {
        "engine": engine if mode == "vault" else f"{engine}+table",
        "rows": rows,
        "seconds": round(elapsed, 2),
        "rows_per_s": rows / elapsed,
        "driver_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "k": measures["k"],
        "l": measures["l"],
        "ncp": measures["ncp"],
        "classes": measures["classes"],
        "suppressed": measures["rows_suppressed"],
        "spark": result.report.get("engine"),
    }


def _spawn(args: list[str]) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", *args]
    # The worker's stderr (its progress, Spark's log) goes to ours as it comes.
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"worker {' '.join(args)} failed")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _line(run: dict[str, Any]) -> str:
    text = (
        f"{run['engine']:>11} {run['rows']:>11,} rows  {run['seconds']:>8.1f} s  "
        f"{run['rows_per_s']:>9,.0f} rows/s  driver peak {run['driver_peak_rss_mb']:>6,.0f} MB  "
        f"k={run['k']} l={run['l']} NCP={run['ncp']:.4f} classes={run['classes']:,}"
    )
    spark = run["spark"]
    if spark:
        text += (
            f"\n      {spark['fragments']} fragments ({spark['fragment_sizes']['min']:,}-"
            f"{spark['fragment_sizes']['max']:,} rows), partitioning "
            f"{spark['fragment_seconds']['sum']:.1f} s summed, "
            f"{spark['fragment_seconds']['max']:.1f} s longest; "
            f"Spark verified k={spark['verified']['k']} l={spark['verified']['l']}"
        )
        text += "\n      " + _single_machine(spark["single_machine"])
    return text


def _single_machine(compared: dict[str, Any]) -> str:
    """The report's comparison with the local engine on the same rows, in one line."""
    if not compared["run"]:
        return f"single machine: not run ({compared['rows']:,} rows over the bound of {compared['bound']:,})"
    local, ratio = compared["local"], compared["ncp_ratio"]
    return (
        f"single machine: NCP={local['ncp']:.4f} k={local['k']} l={local['l']} "
        f"suppressed={local['rows_suppressed']:,} classes={local['classes']:,}; "
        f"Spark/single NCP ratio {'-' if ratio is None else f'{ratio:.3f}'}, "
        f"{compared['seconds']:.1f} s on the driver"
    )


def _estimate(run: dict[str, Any], rows: int, executors: list[int]) -> None:
    fragment_total = run["spark"]["fragment_seconds"]["sum"]
    # The single-machine comparison is the report's, not the extract's: left out of the driver's time.
    compared = run["spark"]["single_machine"].get("seconds", 0.0)
    driver = max(run["seconds"] - compared - run["spark"]["fragment_seconds"]["max"], 0.0)
    per_row_driver, per_row_fragment = driver / run["rows"], fragment_total / run["rows"]
    print(f"\nestimate for {rows:,} rows from the {run['rows']:,}-row Spark run (t = R*d + R*f/N):")
    print(f"  driver-side {per_row_driver * 1e6:.2f} us/row, fragments {per_row_fragment * 1e6:.2f} us/row")
    for n in executors:
        total = rows * per_row_driver + rows * per_row_fragment / n
        print(f"  N={n:>3} executors: {total / 60:,.1f} min")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", nargs=argparse.REMAINDER)
    parser.add_argument("--sizes", type=int, nargs="*", default=[1_000_000])
    parser.add_argument("--spark-sizes", type=int, nargs="*", default=[1_000_000])
    parser.add_argument("--table-sizes", type=int, nargs="*", default=[20_000_000])
    parser.add_argument("--driver-memory", default="6g", help="the Spark driver JVM's heap (local mode)")
    parser.add_argument(
        "--table-dir", default="", help="keep the risk table here and reuse it (default: a temp dir)"
    )
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--fragment-rows", type=int, default=250_000)
    parser.add_argument("--estimate-rows", type=int, default=100_000_000)
    args = parser.parse_args()
    if args.worker:
        engine, rows, master, fragment_rows, mode, memory, *table_dir = args.worker
        # Local mode: the driver JVM is the executor too; its heap is set before it starts. The
        # joined columns and the partition come back to the driver whole: no cap on results.
        os.environ["PYSPARK_SUBMIT_ARGS"] = (
            f"--driver-memory {memory} --conf spark.driver.maxResultSize=0 pyspark-shell"
        )
        print(json.dumps(worker(engine, int(rows), master, int(fragment_rows), mode, *table_dir)))
        return
    runs = []
    plan = [
        ("local", "vault", args.sizes),
        ("spark", "vault", args.spark_sizes),
        ("spark", "table", args.table_sizes),
    ]
    for engine, mode, sizes in plan:
        for rows in sizes:
            extra = [args.table_dir] if mode == "table" and args.table_dir else []
            run = _spawn(
                [engine, str(rows), args.master, str(args.fragment_rows), mode, args.driver_memory, *extra]
            )
            print(_line(run), flush=True)
            runs.append(run)
    spark_runs = [r for r in runs if r["spark"]]
    if spark_runs:
        _estimate(max(spark_runs, key=lambda r: r["rows"]), args.estimate_rows, [1, 4, 16, 64])


if __name__ == "__main__":
    main()
