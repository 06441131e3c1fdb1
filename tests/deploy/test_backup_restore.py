"""deploy/backup: the operator's backup and restore scripts, end to end on PostgreSQL (issue 19).

A database of its own (pg_dump and pg_restore work on whole databases), a real
OpenBao, the scripts run as an operator would, with `piivault` on the PATH:
back up, erase a subject, restore the backup (the erasure is undone in the
database), then the script replays the ledger, restores the audit tail from
the tiles and verifies the log against the checkpoint an auditor saved after
the backup; the service then serves. A damaged archive is refused with the
database untouched. PostgreSQL only: SQLite's backup is a file copy.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from api.app import create_app
from tests.audit.conftest import settings_env
from tests.conftest import PG_URL, make_container, make_settings
from tests.consent.conftest import MOBILE, customer, detokenize
from tests.erasing import erase_subject

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not PG_URL, reason="set PIIVAULT_TEST_DATABASE_URL"),
]

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "deploy" / "backup"
SUBJECTS = ("cust-b001", "cust-b002", "cust-b003")
ERASED = "cust-b002"


@pytest.fixture
def database():
    name = "pvt_backup_" + secrets.token_hex(4)
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield sa.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.dispose()


def _script(name: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    # This checkout's code (not an installed copy) behind the `piivault` on the PATH.
    path = f"{Path(sys.executable).parent}:{os.environ['PATH']}"
    env = {**env, "PATH": path, "PYTHONPATH": str(ROOT), "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run(["sh", str(SCRIPTS / name), *args], env=env, capture_output=True, text=True)


def test_backup_erase_restore_replay_verify_serve(bao, database, tmp_path):
    tiles = tmp_path / "audit-tiles"  # like the ledger, outside the database's backups
    settings = make_settings(database, bao, tmp_path, audit_tiles_dir=str(tiles))
    env = settings_env(settings)
    container = make_container(settings)
    tokens = {s: customer(container, s)["cn_mobile"] for s in SUBJECTS}
    container.audit.checkpoint_now()
    container.close()

    dump = tmp_path / "piivault.dump"
    done = _script("backup.sh", env, str(dump))
    assert done.returncode == 0 and "backup written" in done.stdout, done.stderr
    assert not list(tmp_path.glob("*.partial.*"))

    container = make_container(settings)
    erase_subject(container, ERASED, actor="test")
    saved = container.audit.checkpoint_now()
    (tmp_path / "checkpoint.txt").write_text(saved.note)  # kept by an auditor
    container.close()

    # A damaged archive: refused before anything is touched, the erasure still in force.
    broken = tmp_path / "broken.dump"
    broken.write_bytes(dump.read_bytes()[: dump.stat().st_size // 2])
    done = _script("restore.sh", env, str(broken))
    assert done.returncode != 0 and "2/5" not in done.stdout
    served = make_container(settings)
    assert detokenize(served, "aml_kyc", [tokens[ERASED]]) == [{"error": "erased", "reason": "erased"}]
    served.close()

    done = _script("restore.sh", env, str(dump), "--checkpoint", str(tmp_path / "checkpoint.txt"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "data keys destroyed: 1" in done.stdout
    assert f"to {saved.size} event(s)" in done.stdout  # the tail after the backup is back
    assert f"saved checkpoint at size {saved.size} checked" in done.stdout
    assert done.stdout.rstrip().endswith("restore done: start the service")

    served = make_container(settings)
    try:
        for subject, token in tokens.items():
            (result,) = detokenize(served, "aml_kyc", [token])
            assert result == (
                {"error": "erased", "reason": "erased"} if subject == ERASED else {"value": MOBILE}
            )
        assert create_app(served).test_client().get("/readyz").status_code == 200
        assert served.audit.verify(saved_checkpoints=[saved.note]).ok
    finally:
        served.close()


def test_restore_refuses_a_database_url_that_is_not_postgresql(tmp_path):
    done = _script("restore.sh", {"PIIVAULT_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}, "x.dump")
    assert done.returncode == 2 and "PostgreSQL" in done.stderr
