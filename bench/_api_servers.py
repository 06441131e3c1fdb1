"""The API bench's processes under test: a fresh database, the WSGI server, the audit worker.

``database`` gives a fresh SQLite file or PostgreSQL schema (dropped afterwards);
``server`` starts gunicorn or granian serving an app on a loopback port and waits
until it answers ``/readyz``; ``audit_worker`` runs ``piivault audit sequence --loop``
alongside when events are not sequenced inline. Each stops its process when the block ends.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from _support import pg_schema

from piivault.devbao import stop_process

ROOT = Path(__file__).resolve().parents[1]


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
        stop_process(proc)


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
        stop_process(proc)
