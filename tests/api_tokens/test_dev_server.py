"""End to end against the real server that ``make dev`` starts (``piivault dev``), through the client."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from piivault.devbao import free_port
from piivault_client import PiivaultClient
from tests.api_tokens.conftest import CARD, MOBILE, customer_items
from tests.ops.test_observability import FAMILIES

pytestmark = pytest.mark.slow


def test_tokenize_and_detokenize_against_piivault_dev(tmp_path: Path):
    port = free_port()
    log = tmp_path / "dev.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIIVAULT_")}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("piivault")),
                "dev",
                "--port",
                str(port),
                "--var",
                str(tmp_path / "var"),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    bao_config = str(tmp_path / "var" / "bao" / "config.hcl")
    try:
        deadline = time.monotonic() + 90
        admin_key = None
        while admin_key is None or requests.get(base + "/readyz", timeout=2).status_code != 200:
            assert proc.poll() is None, log.read_text()[-2000:]
            assert time.monotonic() < deadline, "piivault dev did not come up"
            found = re.search(r"admin key: (pvk_\S+)", log.read_text(errors="replace"))
            admin_key = found.group(1) if found else None
            time.sleep(0.3)
        created = requests.post(
            base + "/v1/clients",
            json={"name": "crm", "role": "service", "purposes": ["aml_kyc"]},
            headers={"Authorization": f"Bearer {admin_key}"},
            timeout=10,
        )
        assert created.status_code == 201, created.text
        # Four eyes: another person, a DPO, approves the new client's data access. The first DPO
        # comes from the command line (bootstrap, out of band): one an admin key made would wait
        # for a DPO's approval itself (identity.approver).
        made = subprocess.run(
            [
                str(Path(sys.executable).with_name("piivault")),
                *("clients", "create", "--name", "dpo", "--role", "dpo", "--person", "dev-dpo"),
            ],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert made.returncode == 0, made.stderr[-2000:]
        dpo = PiivaultClient(base, made.stdout.strip())
        dpo.approvals.approve(created.json()["approval_id"])
        pv = PiivaultClient(base, created.json()["api_key"])
        tokens = [t["token"] for t in pv.tokenize(customer_items("cust-dev-0001"))]
        values = pv.detokenize("aml_kyc", tokens)
        assert values[1] == {"value": CARD} and values[2] == {"value": MOBILE}
        assert pv.subjects.get("cust-dev-0001")["token_count"] == 5
        assert _processes_running(bao_config), "piivault dev should run its own OpenBao"
        # /metrics needs the scraper token the dev server wrote, never nothing or an API key.
        token = (tmp_path / "var" / "metrics-token").read_text().strip()
        assert (tmp_path / "var" / "metrics-token").stat().st_mode & 0o077 == 0
        for refused in ({}, {"Authorization": f"Bearer {admin_key}"}):
            assert requests.get(base + "/metrics", headers=refused, timeout=10).status_code == 401
        scraped = requests.get(base + "/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert scraped.status_code == 200
        missing = [f for f in FAMILIES if f"# TYPE {f}" not in scraped.text]
        assert missing == [], f"the dev server's /metrics lacks {missing}"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            exit_code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
        finally:
            for pid in _processes_running(bao_config):  # never leave a server behind, even on failure
                os.kill(pid, signal.SIGKILL)
    # SIGTERM stops the app and the OpenBao server it started, cleanly.
    assert exit_code == 0, log.read_text(errors="replace")[-2000:]
    assert _processes_running(bao_config) == []
    assert MOBILE not in log.read_text(errors="replace") and CARD not in log.read_text(errors="replace")


def _processes_running(argument: str) -> list[int]:
    """Pids of live processes with ``argument`` in their command line (the dev OpenBao's config)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and any(argument in part.decode(errors="replace") for part in cmdline):
            found.append(int(entry.name))
    return found
