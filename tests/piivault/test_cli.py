"""The CLI as an operator meets it: one clear line on misconfiguration, key management."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from piivault.devbao import free_port
from tests.processes import started, status

PIIVAULT = str(Path(sys.executable).with_name("piivault"))


def _env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIIVAULT_")}
    env.update(values)
    return env


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([PIIVAULT, *args], env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def good_env(bao, database_url, tmp_path):
    return _env(
        PIIVAULT_ENV="test",
        PIIVAULT_DATABASE_URL=database_url,
        PIIVAULT_VAULT_ADDR=bao.addr,
        PIIVAULT_VAULT_TOKEN=bao.token,
        PIIVAULT_TRANSIT_KEY="cli-" + secrets.token_hex(4),
        PIIVAULT_ERASURE_LEDGER=str(tmp_path / "ledger.jsonl"),
    )


def _one_line_error(result: subprocess.CompletedProcess, status: int, *needles: str) -> None:
    assert result.returncode == status, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("piivault: ")
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0]


def test_key_lifecycle_through_the_cli(good_env):
    assert _run(["db", "upgrade"], good_env).returncode == 0
    assert _run(["keys", "bootstrap"], good_env).returncode == 0
    assert _run(["check"], good_env).returncode == 0
    status = _run(["keys", "status"], good_env)
    assert "latest version:         1" in status.stdout
    assert "on v1: 2" in status.stdout  # the system keys (secrets, audit-events)
    assert "rotated to version 2" in _run(["keys", "rotate"], good_env).stdout
    rotated = _run(["keys", "status"], good_env).stdout
    assert "latest version:         2" in rotated and "rewrap pending" in rotated
    rewrap = _run(["keys", "rewrap", "--no-progress"], good_env)
    assert rewrap.returncode == 0 and "0 remaining" in rewrap.stdout
    assert "on v2: 2" in _run(["keys", "status"], good_env).stdout
    retire = _run(["keys", "retire"], good_env)
    assert retire.returncode == 0 and "below 2 retired" in retire.stdout
    replay = _run(["keys", "replay-erasures"], good_env)
    assert replay.returncode == 0 and "ledger entries: 0" in replay.stdout


def test_bad_database_url(good_env):
    env = {**good_env, "PIIVAULT_DATABASE_URL": "mysql+nothing://x"}
    _one_line_error(_run(["check"], env), 2, "PIIVAULT_DATABASE_URL")
    env = {**good_env, "PIIVAULT_DATABASE_URL": "not a url"}
    _one_line_error(_run(["check"], env), 2, "PIIVAULT_DATABASE_URL")


def test_unreachable_database(good_env):
    env = {**good_env, "PIIVAULT_DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/x"}
    _one_line_error(_run(["check"], env), 3, "database unreachable")


def test_schema_not_migrated(good_env):
    _one_line_error(_run(["check"], good_env), 2, "piivault db upgrade")


def test_vault_unreachable(good_env):
    assert _run(["db", "upgrade"], good_env).returncode == 0
    dead = f"http://127.0.0.1:{free_port()}"
    env = {**good_env, "PIIVAULT_VAULT_ADDR": dead, "PIIVAULT_VAULT_TIMEOUT": "1"}
    _one_line_error(_run(["check"], env), 3, "Vault unreachable")


def test_transit_key_missing(good_env):
    assert _run(["db", "upgrade"], good_env).returncode == 0
    _one_line_error(_run(["check"], good_env), 2, "not found", "keys bootstrap")


def test_bad_token(good_env):
    assert _run(["db", "upgrade"], good_env).returncode == 0
    env = {**good_env, "PIIVAULT_VAULT_TOKEN": "s.wrong"}
    _one_line_error(_run(["check"], env), 2, "PIIVAULT_VAULT_TOKEN")


def test_missing_required_settings_and_bad_values(good_env):
    env = {k: v for k, v in good_env.items() if k != "PIIVAULT_VAULT_TOKEN"}
    _one_line_error(_run(["check"], env), 2, "PIIVAULT_VAULT_TOKEN")
    _one_line_error(_run(["check"], {**good_env, "PIIVAULT_DEK_CACHE_TTL": "soon"}), 2, "DEK_CACHE_TTL")
    env = {k: v for k, v in good_env.items() if k != "PIIVAULT_DATABASE_URL"}
    _one_line_error(_run(["check"], env), 2, "PIIVAULT_DATABASE_URL")


def test_serve_refuses_to_start_when_misconfigured(good_env):
    _one_line_error(_run(["serve", "--port", str(free_port())], good_env), 2, "piivault db upgrade")


def test_serve_takes_its_threads_and_answers(good_env, tmp_path, monkeypatch):
    """`piivault serve` as the Dockerfile runs it, with the thread count docs/operations.md
    weighs: a count outside 1-30 is refused before anything starts, a count inside reaches
    gunicorn's configuration, and the server answers."""
    env = {**good_env, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")}  # serve empties it
    (tmp_path / "metrics").mkdir()
    for bad in ("0", "31"):
        refused = _run(["serve", "--threads", bad], env)
        assert refused.returncode == 2 and "--threads" in refused.stderr
    assert _run(["db", "upgrade"], env).returncode == 0
    assert _run(["keys", "bootstrap"], env).returncode == 0

    from click.testing import CliRunner
    from gunicorn.app.base import BaseApplication

    from piivault.cli import main

    configured: list[int] = []
    monkeypatch.setattr(BaseApplication, "run", lambda app: configured.append(app.cfg.threads))
    ran = CliRunner().invoke(main, ["serve", "--threads", "3"], env=env)
    assert ran.exit_code == 0, ran.output
    assert configured == [3]

    port = free_port()
    argv = [PIIVAULT, "serve", "--port", str(port), "--workers", "1", "--threads", "2"]
    with started(
        argv, env=env, log=tmp_path / "serve.log", ready=lambda: status(port, "/healthz") is not None
    ):
        assert status(port, "/healthz") == 200
