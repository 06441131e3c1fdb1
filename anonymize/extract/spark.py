"""The Spark runner of the extract's Mondrian core: first cuts on the driver, fragments on executors.

One algorithm, two runners. The local runner calls
:func:`anonymize.extract.mondrian.partition` on every row; this one

1. draws a sample of the rows' leaf codes on the driver and cuts it with
   Mondrian's own cut rule (:func:`~anonymize.extract.mondrian.first_cuts`)
   until every part would hold at most ``spark.fragment_rows`` rows;
2. sends every row down those cuts, and undoes a cut whose halves do not hold
   ``k`` rows and ``l`` distinct sensitive values on the whole table (the
   sample only estimates them);
3. partitions each fragment to completion on an executor with the same
   :func:`~anonymize.extract.mondrian.partition`
   (``groupBy("fragment").applyInPandas``).

Fragments are disjoint boxes in quasi-identifier space (strict cuts), so the
classes of different fragments never release the same values and k-anonymity
and l-diversity of every fragment give them for the whole table (Mondrian on
Spark, unibg-seclab, IEEE Transactions on Big Data 2022). Suppression,
release, metrics and the report stay the runner's, shared with the local
engine; :func:`verify` then checks k and l again on the released table, with
Spark (class sizes and distinct sensitive values per class).

What executors see: the quasi-identifiers' leaf *codes* (integers of the
fitted hierarchies), the sensitive columns' codes and a row number. Never a
pseudonym, a decrypted value or a key: decryption happens on the driver, in
the vault's streamed batches, before any of this. With a bank's risk table
(:func:`join_table`), executors also read that table and receive the
eligible rows' join keys (what the bank's table already holds: subject ids,
or deterministic tokens without the subject they belong to) with row
numbers.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from anonymize.extract.domain import Domain
from anonymize.extract.errors import InvalidRows
from anonymize.extract.mondrian import Distinct, FragmentTree, first_cuts, partition
from anonymize.extract.spec import Engine
from anonymize.extract.table import PREFIX, RiskTable

_PART_SCHEMA = "row long, part long, fragment long, seconds double"


def spark_session(master: str) -> Any:
    """The process's Spark session for ``master`` (an existing session is reused as it is).

    No UI, Arrow on, and never a package fetched at run time (no ``spark.jars.packages``).
    In local mode the Python workers run this interpreter, whose packages the job needs.
    """
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.master(master)
        .appName("piivault-extract")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.execution.arrow.pyspark.fallback.enabled", "false")
    )
    if master.startswith("local"):
        # Workers are forked from this machine: the interpreter running the vault, with its packages.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    return builder.getOrCreate()


def partition_on_spark(
    session: Any,
    codes: np.ndarray,
    domains: Sequence[Domain],
    sensitive: Sequence[np.ndarray],
    k: int,
    l: int,  # noqa: E741 - the model's own name
    engine: Engine,
    progress: Callable[[float], None] | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """The final partition of every row, as :func:`partition` returns it, and what the run did."""
    n = codes.shape[1]
    tree = _sample_cuts(codes, domains, sensitive, k, l, engine)
    leaf = _repair(tree, codes, sensitive, k, l)
    fragment, fragments = pd.factorize(leaf)
    if progress is not None:
        progress(0.1)
    # 32-bit integers where they hold every value: half the bytes shipped from the driver to the JVM.
    narrow = np.int32 if n < 2**31 else np.int64
    frame = pd.DataFrame({"row": np.arange(n, dtype=narrow), "fragment": fragment.astype(narrow)})
    for j in range(codes.shape[0]):
        frame[f"q{j}"] = codes[j].astype(np.int32 if domains[j].n_leaves < 2**31 else np.int64)
    for j, values in enumerate(sensitive):
        frame[f"s{j}"] = values.astype(narrow)
    q, s = codes.shape[0], len(sensitive)

    def anonymize_fragment(rows: pd.DataFrame) -> pd.DataFrame:
        started = time.perf_counter()
        block = np.vstack([rows[f"q{j}"].to_numpy(np.int64) for j in range(q)])
        values = [rows[f"s{j}"].to_numpy(np.int64) for j in range(s)]
        part = partition(block, domains, values, k, l)
        return pd.DataFrame(
            {
                "row": rows["row"].to_numpy(),
                "part": part,
                "fragment": rows["fragment"].to_numpy(),
                "seconds": time.perf_counter() - started,
            }
            | {f"s{j}": values[j] for j in range(s)}
        )

    data = session.createDataFrame(frame).repartition(len(fragments), "fragment")
    del frame
    schema = _PART_SCHEMA + "".join(f", s{j} long" for j in range(s))
    # Kept on the executors (memory, then disk) for verify_release: the rows' classes and sensitive
    # codes are counted where they already are, not shipped from the driver a second time.
    placed = data.groupBy("fragment").applyInPandas(anonymize_fragment, schema=schema).persist()
    result = placed.select("row", "part", "fragment", "seconds").toPandas()
    if progress is not None:
        progress(1.0)
    result = result.sort_values("row", kind="stable")
    if len(result) != n or not np.array_equal(result["row"].to_numpy(), np.arange(n)):
        placed.unpersist()
        raise RuntimeError("the Spark job did not return every row exactly once")
    combined = result["fragment"].to_numpy(np.int64) * (n + 1) + result["part"].to_numpy(np.int64)
    part, parts = pd.factorize(combined)
    part = part.astype(np.int64)
    per_fragment = result.groupby("fragment").agg(rows=("row", "size"), seconds=("seconds", "first"))
    return part, {
        "placed": Placed(placed, np.asarray(parts, dtype=np.int64), n + 1, len(sensitive)),
        "name": "spark",
        "master": engine.master,
        "fragment_rows": engine.fragment_rows,
        "sample_rows": engine.sample_rows,
        "fragments": len(fragments),
        "fragment_sizes": {"min": int(per_fragment["rows"].min()), "max": int(per_fragment["rows"].max())},
        "fragment_seconds": {
            "max": round(float(per_fragment["seconds"].max()), 3),
            "sum": round(float(per_fragment["seconds"].sum()), 3),
        },
    }


def join_table(session: Any, table: RiskTable, keys: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """The risk table's ``columns`` for the eligible rows: ``row`` and ``table.<column>``.

    ``keys`` holds the join keys of the driver's rows (``row``, its position;
    ``key``: a subject id or a deterministic token; a row may have several
    keys). Spark joins the table to them (an inner join: only the rows of
    eligible subjects survive it, on the executors) and only the joined rows
    come back to the driver. Executors see the keys and row positions, never
    which subject a token belongs to. Table columns travel under neutral
    aliases (``c0``, ...), so no name from the spec reaches Spark's SQL parser.
    Raises :class:`~anonymize.extract.errors.InvalidRows` naming a missing
    column, or a subject matched by more than one row of the table.
    """
    from pyspark.errors import AnalysisException

    # The files the vault checked, not the glob nor a directory: Spark lists nothing of its own.
    # basePath, the checked directory: the key=value directory names under it are columns again.
    reader = session.read.format(table.format)
    if table.base:
        reader = reader.option("basePath", table.base)
    source = reader.load(list(table.read) or table.path)
    missing = [name for name in [table.key, *columns] if name not in source.columns]
    if missing:
        raise InvalidRows(f"the risk table has no column {missing[0]}")
    picked = source.select(
        source[f"`{table.key}`"].cast("string").alias("k"),
        *[source[f"`{name}`"].alias(f"c{j}") for j, name in enumerate(columns)],
    )
    wanted = session.createDataFrame(
        pd.DataFrame({"r": keys["row"].to_numpy(np.int64), "k": keys["key"].astype(str).to_numpy()})
    )
    try:
        joined = picked.join(wanted, on="k", how="inner").drop("k")
        # Arrow to pandas with repeated strings as categories: tens of millions of rows stay compact.
        frame = joined.toArrow().to_pandas(strings_to_categorical=True)
    except AnalysisException as e:  # a type Spark cannot read or join; its text may name data
        raise InvalidRows("the risk table cannot be joined: " + type(e).__name__) from None
    if frame["r"].duplicated().any():
        raise InvalidRows("a subject matches more than one row of the risk table")
    return frame.rename(columns={"r": "row"} | {f"c{j}": PREFIX + n for j, n in enumerate(columns)})


def _sample_cuts(
    codes: np.ndarray,
    domains: Sequence[Domain],
    sensitive: Sequence[np.ndarray],
    k: int,
    l: int,  # noqa: E741
    engine: Engine,
) -> FragmentTree:
    """The first cuts, made on a uniform sample of at most ``engine.sample_rows`` rows."""
    n = codes.shape[1]
    if n <= engine.fragment_rows:
        return FragmentTree()  # one fragment: nothing to cut
    if n > engine.sample_rows:
        sample = np.sort(np.random.default_rng().choice(n, size=engine.sample_rows, replace=False))
    else:
        sample = np.arange(n)
    share = sample.size / n
    # k scaled to the sample, so that a cut the sample allows is one the whole table likely allows;
    # _repair undoes those it does not.
    return first_cuts(
        codes[:, sample],
        domains,
        [values[sample] for values in sensitive],
        max(1, math.ceil(k * share)),
        l,
        max(1, math.floor(engine.fragment_rows * share)),
    )


def _repair(
    tree: FragmentTree,
    codes: np.ndarray,
    sensitive: Sequence[np.ndarray],
    k: int,
    l: int,  # noqa: E741
) -> np.ndarray:
    """Every row's fragment (a leaf node), after undoing cuts that leave a fragment below k or l."""
    diversity = [Distinct(values) for values in sensitive] if l > 1 else []
    while True:
        leaf = tree.leaves(codes)
        n_nodes = len(tree.dim)
        ok = np.bincount(leaf, minlength=n_nodes) >= k
        for distinct in diversity:
            ok &= distinct.counts(leaf, n_nodes) >= l
        bad = [node for node in np.unique(leaf) if not ok[node]]
        if not bad:
            return leaf
        parent = tree.parent()
        for node in bad:
            tree.undo(int(parent[node]))


@dataclass(frozen=True)
class Placed:
    """The partitioned rows as the executors hold them after :func:`partition_on_spark`.

    ``rows``: a persisted Spark DataFrame of ``row``, ``fragment``, ``part`` (within the
    fragment) and the sensitive codes ``s0``, ...; ``parts[p]`` is the driver's partition
    ``p`` as ``fragment * radix + part``.
    """

    rows: Any
    parts: np.ndarray
    radix: int
    sensitive: int

    def release(self) -> None:
        """Free the executors' copy."""
        self.rows.unpersist()


def verify_release(session: Any, placed: Placed, outliers: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """k (the smallest class), l (fewest distinct values of a sensitive column in a class), the
    classes and the rows released, counted by Spark on the rows its executors partitioned.

    ``outliers`` are the row numbers suppressed after partitioning; ``labels[p]`` holds, for the
    driver's partition ``p``, the code of each quasi-identifier's released value (-1 for a
    partition that released nothing). A class is a group of rows with the same released values,
    as :func:`anonymize.extract.metrics.measure` counts them on the released table: two
    partitions releasing the same values are one class. The driver sends Spark only one row per
    partition and the suppressed row numbers; what comes back is one row of aggregates.
    """
    from pyspark.sql import functions as F

    kept = np.flatnonzero(labels[:, 0] >= 0) if labels.size else np.zeros(0, dtype=np.int64)
    quasi = labels.shape[1]
    per_part = pd.DataFrame({"c": placed.parts[kept]} | {f"q{j}": labels[kept, j] for j in range(quasi)})
    dropped = session.createDataFrame(pd.DataFrame({"row": outliers.astype(np.int64)}), schema="row long")
    rows = (
        placed.rows.withColumn("c", F.col("fragment") * placed.radix + F.col("part"))
        .join(dropped, on="row", how="left_anti")
        .join(session.createDataFrame(per_part), on="c", how="inner")
    )
    aggregates = [F.count(F.lit(1)).alias("n")]
    aggregates += [F.countDistinct(f"s{j}").alias(f"d{j}") for j in range(placed.sensitive)]
    classes = rows.groupBy(*[f"q{j}" for j in range(quasi)]).agg(*aggregates)
    low = classes.agg(
        F.min("n").alias("k"),
        F.count(F.lit(1)).alias("classes"),
        F.sum("n").alias("rows"),
        *[F.min(f"d{j}") for j in range(placed.sensitive)],
    ).first()
    l_value = min(int(low[3 + j]) for j in range(placed.sensitive)) if placed.sensitive else None
    return {"k": int(low["k"]), "l": l_value, "classes": int(low["classes"]), "rows": int(low["rows"])}
