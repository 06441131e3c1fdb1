"""piivault's gunicorn worker: idle connections do not hold the threads that serve requests.

The attack: open as many connections as the worker has threads and send nothing. Under
stock gthread each one holds a thread for up to five seconds (then another five, as the
client keeps it open), and a request arriving meanwhile waits; under
:class:`piivault.serving.ThreadWorker` it is answered at once. The socket timeout below
only keeps a failing run from hanging: it is shorter than gthread's five-second wait,
which is what a failure looks like.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from piivault.devbao import free_port
from piivault.serving import WORKER_CLASS
from tests.processes import started, status

ROOT = Path(__file__).resolve().parents[2]


def app(environ: dict, start_response) -> list[bytes]:  # noqa: ANN001 - a WSGI app
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[int]:
    port = free_port()
    argv = [
        str(Path(sys.executable).with_name("gunicorn")),
        "tests.ops.test_serving:app",
        f"--bind=127.0.0.1:{port}",
        "--workers=1",
        f"--worker-class={WORKER_CLASS}",
        "--threads=2",
        "--keep-alive=30",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with started(argv, env=env, log=tmp_path / "gunicorn.log", ready=lambda: status(port) == 200, cwd=ROOT):
        yield port


def test_idle_connections_do_not_hold_the_threads(server: int):
    assert status(server) == 200  # the worker is up (it has served a request)
    idle = [socket.create_connection(("127.0.0.1", server)) for _ in range(6)]  # 3x its threads
    try:
        for _ in range(3):
            assert status(server) == 200
        # An idle connection that finally sends is answered too.
        idle[0].sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        idle[0].settimeout(3)
        assert idle[0].recv(64).startswith(b"HTTP/1.1 200")
    finally:
        for sock in idle:
            sock.close()


def test_serve_runs_this_worker():
    from piivault.wsgi import gunicorn_options

    assert gunicorn_options("127.0.0.1", 8080, 2)["worker_class"] == WORKER_CLASS
    assert gunicorn_options("127.0.0.1", 8080, 2)["threads"] == 8
    assert gunicorn_options("127.0.0.1", 8080, 2, 3)["threads"] == 3
