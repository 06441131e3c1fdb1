"""The Spark engine against a Spark standalone cluster, not local mode: a master, a worker and
its executor, each a JVM of its own, started here from PySpark's own ``spark-class``.

In ``local[N]`` the executors are threads of the driver's JVM, so nothing a task needs has to
travel: a closure that cannot be pickled, a module the executor's Python cannot import, or a
result that assumes the driver's memory would all pass. Here the driver (this test's child
process, as ``piivault extract worker`` would be) connects to ``spark://`` in client deploy
mode, the worker starts an executor JVM and that starts its own Python workers, as on a
cluster. What it cannot show is a second machine: the executor shares this file system.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pyspark = pytest.importorskip("pyspark")

# The child: the same 3000 customers through the local engine and through the cluster.
CHILD = r"""
import copy, json, sys
from pathlib import Path
import pandas as pd
from pycanon import anonymity
from anonymize.extract import parse_spec, run_extract
from tests.anonymize.extract.conftest import SPEC, everyone, make_rows, provider

master, out = sys.argv[1], Path(sys.argv[2])
rows = make_rows(3000)
population = everyone(rows[:-40])
local = run_extract(parse_spec(SPEC), provider(rows), population, out / "local")
document = copy.deepcopy(SPEC)
document["engine"] = "spark"
document["spark"] = {"master": master, "fragment_rows": 1000, "sample_rows": 1500, "part_rows": 1000}
cluster = run_extract(parse_spec(document), provider(rows), population, out / "cluster")
quasi = ["region", "age", "gender", "income", "occupation"]
parts = [p for name, p in cluster.files.items() if name.startswith("extract-")]
table = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True).astype(str)
print(json.dumps({
    "engine": cluster.report["engine"],
    "measures": cluster.report["measures"],
    "local_measures": local.report["measures"],
    "rows": len(table),
    "pycanon_k": int(anonymity.k_anonymity(table, quasi)),
    "pycanon_l": int(anonymity.l_diversity(table, quasi, ["credit_grade"])),
}))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    spark_class = Path(pyspark.__file__).parent / "bin" / "spark-class"
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(spark_class), *args], stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )


def _wait_for(log: Path, text: str, proc: subprocess.Popen[bytes], seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            break
        time.sleep(0.5)
    raise AssertionError(f"{log.name}: no {text!r}; its tail:\n{log.read_text(errors='replace')[-2000:]}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A standalone master and one worker (1 core, 1 GB) on loopback: the master's URL and the
    worker's directory, where each application it ran an executor for gets a folder."""
    root = tmp_path_factory.mktemp("standalone")
    work = root / "work"
    env = os.environ | {
        "SPARK_LOG_DIR": str(root),
        "SPARK_WORKER_DIR": str(work),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
    }
    port = _free_port()
    url = f"spark://127.0.0.1:{port}"
    master = _start(
        [
            "org.apache.spark.deploy.master.Master",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--webui-port",
            str(_free_port()),
        ],
        root / "master.log",
        env,
    )
    worker = None
    try:
        _wait_for(root / "master.log", "New state: ALIVE", master)
        worker = _start(
            [
                "org.apache.spark.deploy.worker.Worker",
                url,
                "--host",
                "127.0.0.1",
                "--cores",
                "1",
                "--memory",
                "1g",
                "--webui-port",
                str(_free_port()),
            ],
            root / "worker.log",
            env,
        )
        _wait_for(root / "worker.log", "Successfully registered with master", worker)
        yield url, work
    finally:
        if worker is not None:
            _stop(worker)
        _stop(master)


def test_an_extract_on_a_standalone_cluster_matches_the_local_engine(cluster, tmp_path) -> None:
    url, work = cluster
    repo = Path(__file__).resolve().parents[3]
    env = os.environ | {
        "PYTHONPATH": str(repo),
        "PYSPARK_PYTHON": sys.executable,
        "SPARK_LOCAL_IP": "127.0.0.1",
    }
    done = subprocess.run(
        [sys.executable, "-c", CHILD, url, str(tmp_path)],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    # The job ran on the cluster: the report names its master, and the worker made an executor for it.
    assert result["engine"]["master"] == url
    assert [p.name for p in work.iterdir() if p.name.startswith("app-")], "no executor ran on the worker"
    assert result["engine"]["fragments"] >= 2
    # Its guarantees, as Spark verified them and as pycanon finds them in the files.
    measures = result["measures"]
    assert result["engine"]["verified"]["k"] == measures["k"] == result["pycanon_k"] >= 5
    assert result["engine"]["verified"]["l"] == measures["l"] == result["pycanon_l"] >= 2
    # The same population as the local engine: the same rows in, and what is suppressed aside,
    # every row in the files.
    assert measures["rows_in"] == result["local_measures"]["rows_in"] == 2960
    assert result["rows"] == measures["rows_in"] - measures["rows_suppressed"]
