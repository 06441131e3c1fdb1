"""``piivault serve --server granian``: the app served end to end, as production would run it.

Two workers behind one port: a value tokenized through one is detokenized (the audit
event recorded by the time the value comes back), ``/metrics`` adds up every worker's
requests (Prometheus multiprocess mode), an oversized body is refused before it is read,
and SIGTERM stops the server.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from piivault.container import Container
from piivault.devbao import BaoServer, free_port
from piivault.settings import Settings
from tests.api_tokens.conftest import MOBILE
from tests.approved import create_client
from tests.conftest import make_container, settings_env

pytestmark = pytest.mark.slow


@pytest.fixture
def served(database_url: str, bao: BaoServer, tmp_path: Path) -> Iterator[tuple[int, Container, str, str]]:
    """(port, container, service key, metrics token) of ``piivault serve --server granian``."""
    metrics_token = secrets.token_urlsafe(24)
    (tmp_path / "metrics-token").write_text(metrics_token)
    env_vars = settings_env(database_url, bao, tmp_path)
    env_vars["PIIVAULT_METRICS_TOKEN_FILE"] = str(tmp_path / "metrics-token")
    container = make_container(Settings.from_env(env_vars))
    _, key = create_client(container, name="crm", role="service", purposes=["aml_kyc", "account_service"])
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIIVAULT_")}
    (tmp_path / "prometheus").mkdir()  # as deploy/ gives it: an empty, writable directory
    env.update(env_vars, PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prometheus"))
    port = free_port()
    argv = [str(Path(sys.executable).with_name("piivault")), "serve", "--server", "granian"]
    argv += ["--port", str(port), "--workers", "2"]
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while _status(port, "GET", "/readyz") != 200:
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "piivault serve --server granian did not come up"
            time.sleep(0.3)
        yield port, container, key, metrics_token
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=45) == 0, log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        container.close()


def _status(port: int, method: str, path: str) -> int | None:
    try:
        return _call(port, method, path)[0]
    except OSError:
        return None


def _call(
    port: int, method: str, path: str, body: dict | None = None, token: str | None = None
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        conn.request(method, path, json.dumps(body).encode() if body is not None else None, headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _audit_events(container: Container) -> int:
    with container.engine.connect() as conn:
        return conn.scalar(sa.text("SELECT count(*) FROM audit_events"))


def test_serve_under_granian_tokenizes_and_detokenizes(served):
    port, container, key, metrics_token = served
    item = {"field_type": "cn_mobile", "value": MOBILE, "subject_id": "cust-granian-01"}
    status, body = _call(port, "POST", "/v1/tokenize", {"purpose": "aml_kyc", "items": [item]}, key)
    assert status == 200, body
    token = json.loads(body)["items"][0]["token"]
    before = _audit_events(container)
    for _ in range(6):  # both workers, most likely
        status, body = _call(
            port, "POST", "/v1/detokenize", {"purpose": "account_service", "tokens": [token]}, key
        )
        assert status == 200, body
        assert json.loads(body)["items"] == [{"value": MOBILE}]
    assert _audit_events(container) >= before + 6  # recorded by the time each value came back

    status, text = _call(port, "GET", "/metrics", token=metrics_token)
    assert status == 200
    served_ok = sum(
        sample.value
        for family in text_string_to_metric_families(text.decode())
        if family.name == "piivault_http_requests"
        for sample in family.samples
        if sample.name.endswith("_total") and sample.labels.get("route") == "/v1/detokenize"
    )
    assert served_ok == 6  # whichever worker answered the scrape counts every worker's requests


def test_granian_refuses_an_oversized_body_before_reading_it(served):
    port, _, key, _ = served
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        head = (
            f"POST /v1/detokenize HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
            "Content-Type: application/json\r\nContent-Length: 100000000\r\n\r\n"
        )
        sock.sendall(head.encode() + b"{")  # 100 MB announced, one byte sent
        assert sock.recv(64).startswith(b"HTTP/1.1 413")
