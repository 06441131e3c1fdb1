"""A server the tests start the way its operator does: its own process, its output in a log,
and a readiness check; stopped with SIGTERM (SIGKILL if that is not enough) whatever happens."""

from __future__ import annotations

import contextlib
import http.client
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from piivault.devbao import stop_process


@contextlib.contextmanager
def started(
    argv: list[str],
    *,
    env: dict[str, str],
    log: Path,
    ready: Callable[[], bool],
    cwd: Path | None = None,
    within: float = 120,
) -> Iterator[subprocess.Popen]:
    """``argv`` running, once ``ready()`` holds. Fails the test with the log's tail if the process
    exits first or ``within`` seconds pass."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + within
        while not ready():
            tail = log.read_text(errors="replace")[-2000:]
            assert proc.poll() is None, tail
            assert time.monotonic() < deadline, f"not ready in {within} s: {tail}"
            time.sleep(0.2)
        yield proc
    finally:
        stop_process(proc)


def status(port: int, path: str = "/") -> int | None:
    """The HTTP status of GET ``path`` on 127.0.0.1:``port``; None while nothing answers."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=3)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()
