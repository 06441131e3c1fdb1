"""The CLI beside the dev server: in the directory where ``piivault dev`` runs, every command
works with nothing exported, and production settings are never taken from there."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from piivault.devbao import free_port
from tests.api_tokens.test_dev_server import _processes_running
from tests.processes import started, status

pytestmark = pytest.mark.slow

PIIVAULT = str(Path(sys.executable).with_name("piivault"))
KEY = re.compile(r"pvk_[a-z0-9]{8}_[A-Za-z0-9]{43}")
NOTICE = "using the development settings in ./var/dev.env"


def _clean_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIIVAULT_")}
    return env | values


def _run(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PIIVAULT, *args], cwd=cwd, env=_clean_env(**env), capture_output=True, text=True, timeout=180
    )


@pytest.fixture(scope="module")
def dev_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """`piivault dev` started as `make dev` starts it: in the directory, with nothing exported."""
    cwd = tmp_path_factory.mktemp("devdir")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    bao_config = str(cwd / "var" / "bao" / "config.hcl")
    try:
        with started(
            [PIIVAULT, "dev", "--port", str(port)],
            env=_clean_env(),
            log=cwd / "dev.log",
            ready=lambda: (cwd / "var" / "dev.env").exists() and status(port, "/readyz") == 200,
            cwd=cwd,
        ):
            yield cwd, base
    finally:
        for pid in _processes_running(bao_config):  # never leave a server behind
            os.kill(pid, signal.SIGKILL)


def test_commands_work_with_nothing_exported(dev_dir):
    cwd, base = dev_dir
    created = _run(
        cwd,
        "clients",
        "create",
        "--name",
        "crm",
        "--role",
        "service",
        "--purposes",
        "aml_kyc",
        "--as",
        "dev-admin",
    )
    assert created.returncode == 0, created.stderr
    assert KEY.fullmatch(created.stdout.strip())
    assert created.stderr.count(NOTICE) == 1  # said once
    for args in (["clients", "list"], ["users", "list"], ["keys", "status"], ["audit", "verify"]):
        done = _run(cwd, *args)
        assert done.returncode == 0, (args, done.stderr)
        assert done.stderr.count(NOTICE) == 1
    listed = _run(cwd, "clients", "list")
    assert "crm" in listed.stdout and "dev-admin" in listed.stdout


def test_replay_erasures_in_dev_mode(dev_dir):
    cwd, _ = dev_dir
    done = _run(cwd, "keys", "replay-erasures")
    assert done.returncode == 0, done.stderr
    assert "ledger entries: 0" in done.stdout


def test_new_admin_key_while_the_server_runs(dev_dir):
    cwd, base = dev_dir
    done = _run(cwd, "dev", "--new-admin-key")
    assert done.returncode == 0, done.stderr
    key = done.stdout.strip()
    assert KEY.fullmatch(key), done.stdout
    assert requests.get(base + "/v1/clients", headers={"Authorization": f"Bearer {key}"}, timeout=10).ok
    # It names dev-admin, as the first key does: a client with data access it asks for over the
    # API waits for a DPO (before, it named nobody and the API refused to create one).
    created = requests.post(
        base + "/v1/clients",
        json={"name": "crm-api", "role": "service", "purposes": ["aml_kyc"]},
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    assert created.json()["needs_approval"] is True


def test_a_second_dev_server_in_the_same_directory_says_what_to_do(dev_dir):
    cwd, base = dev_dir
    done = _run(cwd, "dev", "--port", str(free_port()))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"piivault: piivault dev already runs in this directory ({base}): stop it first, "
        "or run `piivault dev --new-admin-key` for another admin key"
    ]


def test_demo_seed_defaults_to_the_dev_server(dev_dir):
    cwd, _ = dev_dir
    done = _run(cwd, "anonymize", "demo", "seed", "--customers", "5", "--notes", "3", "--out", "demo")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["customers"] == 5
    assert (cwd / "demo" / "customers.parquet").exists()
    listed = _run(cwd, "clients", "list").stdout
    seeder = [line for line in listed.splitlines() if "dev-demo-seed" in line]
    assert seeder and all("revoked" in line for line in seeder)  # its key ended with the run


def test_demo_seed_outside_a_dev_directory_asks_for_url_and_key(tmp_path):
    done = _run(tmp_path, "anonymize", "demo", "seed", "--customers", "5")
    assert done.returncode == 2
    assert "--url" in done.stderr and "piivault dev" in done.stderr


@pytest.mark.parametrize(
    "given",
    [{"PIIVAULT_ENV": "production"}, {"PIIVAULT_LOG_LEVEL": "info"}],
    ids=["production", "a-setting-given"],
)
def test_production_or_given_settings_never_take_the_dev_settings(dev_dir, given):
    cwd, _ = dev_dir
    done = _run(cwd, "clients", "list", **given)
    assert done.returncode == 2
    assert NOTICE not in done.stderr
    assert "set PIIVAULT_DATABASE_URL" in done.stderr


def test_what_dev_writes_is_private(dev_dir):
    """Issue 14 (low): the dev database was created readable by everyone."""
    cwd, _ = dev_dir
    var = cwd / "var"
    assert stat.S_IMODE(var.stat().st_mode) == 0o700
    for name in ("dev.env", "piivault.db", "erasure-ledger.jsonl"):
        assert stat.S_IMODE((var / name).stat().st_mode) == 0o600, name


def test_a_stopped_dev_server_whose_port_another_program_answers_is_not_running(dev_dir, tmp_path):
    """Found on a fresh clone: `make dev` failed on a taken port 8080 after writing ./var/dev.env,
    and every later `piivault dev` there said it already ran, because another program answered
    /healthz at that URL. Only a server that holds the directory's lock runs there."""
    from piivault import devenv
    from piivault.devmode import _running_settings, hold_lock

    _, base = dev_dir  # a server of another directory answers this URL
    var = tmp_path / "var"
    var.mkdir()
    devenv.write(var / devenv.FILE.name, {"PIIVAULT_ENV": "development", devenv.URL: base})
    assert _running_settings(var) is None
    lock = hold_lock(var)
    try:
        assert _running_settings(var) == {"PIIVAULT_ENV": "development", devenv.URL: base}
        assert hold_lock(var) is None  # a second one is refused while it is held
    finally:
        lock.close()


def test_a_taken_port_stops_dev_in_one_line_before_anything_is_created(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = _run(tmp_path, "dev", "--port", str(port))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"piivault: port {port} is in use by another program: choose another with "
        "`piivault dev --port N` (or leave --port out for a free one)"
    ]
    assert not (tmp_path / "var").exists()  # no dev.env naming another program's server


def test_without_a_port_dev_moves_off_a_taken_default(monkeypatch, capsys):
    from piivault import devmode

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        monkeypatch.setattr(devmode, "DEFAULT_PORT", taken.getsockname()[1])
        chosen = devmode.serving_port(None)
        assert chosen != devmode.DEFAULT_PORT
        assert devmode._can_listen(chosen)
    assert f"serving on {chosen} instead" in capsys.readouterr().err
