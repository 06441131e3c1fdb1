"""A database restore must not bring an expired extract's pseudonym key back.

Expiry destroys the key and ledgers it in the erasure ledger file (kept
outside database backups); after a restore the start-up check refuses to
serve until ``piivault keys replay-erasures`` has destroyed it again, and
re-identification answers 410 Gone.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from anonymize.extract import tables as t
from anonymize.extract.service import key_name
from piivault.cli import main
from piivault.container import startup_check
from piivault.errors import ConfigurationError
from tests.api.conftest import settings_env
from tests.api_extracts.conftest import SPEC, second_dpo_grants, seed_customers, wait_for
from vault import system_owner
from vault import tables as vt
from vault.ledger import ErasureLedger

REASON = "model score above 0.95: manual review of the application"
# What a PostgreSQL "backup" holds here: the rows of the tables the expiry changes.
RESTORED_TABLES = (vt.data_keys, t.extracts, t.extract_pseudonyms)


def _backup(container: Any, backend: str, to: Path) -> Any:
    if backend == "sqlite":
        container.engine.dispose()  # the last connection closed checkpoints the WAL into the file
        shutil.copyfile(_sqlite_file(container), to)
        return to
    with container.session_factory() as s:
        return {table: [dict(r._mapping) for r in s.execute(sa.select(table))] for table in RESTORED_TABLES}


def _restore(container: Any, backend: str, backup: Any) -> None:
    if backend == "sqlite":
        container.engine.dispose()
        db_file = _sqlite_file(container)
        shutil.copyfile(backup, db_file)
        for suffix in ("-wal", "-shm"):
            Path(str(db_file) + suffix).unlink(missing_ok=True)
        return
    with container.session_factory() as s:
        for table in reversed(RESTORED_TABLES):
            s.execute(table.delete())
        for table in RESTORED_TABLES:
            if backup[table]:
                s.execute(table.insert(), backup[table])
        s.commit()


def _sqlite_file(container: Any) -> Path:
    return Path(container.settings.database_url.removeprefix("sqlite:///"))


def _pseudonym_rows(container: Any, extract_id: str) -> int:
    p = t.extract_pseudonyms.c
    count = sa.select(sa.func.count()).select_from(t.extract_pseudonyms).where(p.extract_id == extract_id)
    with container.session_factory() as s:
        return s.scalar(count)


def test_a_restore_does_not_bring_an_expired_extracts_key_back(
    client, keys, base_url, tmp_path, container, backend
) -> None:
    seed_customers(base_url, keys, 40, tmp_path / "demo")
    resp = client.post(
        "/v1/extracts", data=json.dumps(SPEC), content_type="application/json", headers=keys["analyst"]
    )
    assert resp.status_code == 202, resp.json
    job = wait_for(client, keys["analyst"], resp.json["extract_id"])
    assert job["state"] == "succeeded", job["error"]
    extract_id, url = job["extract_id"], f"/v1/extracts/{job['extract_id']}"
    csv = client.get(url + "/files/extract.csv", headers=keys["analyst"]).data
    body = {"column": "subject_id", "pseudonym": pd.read_csv(io.BytesIO(csv), dtype=str)["subject_id"][0]}
    body["reason"] = REASON
    second_dpo_grants(client, keys, extract_id)
    assert client.post(url + "/reidentify", json=body, headers=keys["dpo"]).status_code == 200
    container.extracts.close()  # no worker thread touches the database from here on
    owner = system_owner(key_name(extract_id))

    backup = _backup(container, backend, tmp_path / "backup.db")  # taken while the key is alive

    with container.session_factory() as s:  # the extract is due
        s.execute(t.extracts.update().values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
        s.commit()
    env = settings_env(container) | {"PIIVAULT_EXTRACT_DIR": str(container.settings.extract_dir)}
    runner = CliRunner()
    ran = runner.invoke(main, ["jobs", "run"], env=env)
    assert ran.exit_code == 0, ran.output
    assert json.loads(ran.stdout.strip().splitlines()[-1])["extracts"]["expired"] == 1
    (entry,) = [e for e in ErasureLedger(container.settings.erasure_ledger).entries() if e.system_key]
    assert entry.system_key == key_name(extract_id) and entry.subject_id is None
    assert entry.reason == "extract-expired"
    startup_check(container)  # nothing pending: the key is gone and the ledger says so

    _restore(container, backend, backup)
    with container.session_factory() as s:  # the danger: the restored database has the key again
        assert owner in container.keyring.data_keys(s, [owner])
        assert container.keyring.pending_system_keys(s) == [key_name(extract_id)]
    assert _pseudonym_rows(container, extract_id) > 0
    with pytest.raises(ConfigurationError, match="replay-erasures"):
        startup_check(container)
    refused = runner.invoke(main, ["check"], env=env)
    assert refused.exit_code != 0 and "replay-erasures" in refused.output

    replayed = runner.invoke(main, ["keys", "replay-erasures"], env=env)
    assert replayed.exit_code == 0, replayed.output
    assert "extract keys destroyed: 1" in replayed.stdout
    startup_check(container)
    with container.session_factory() as s:
        assert container.keyring.data_keys(s, [owner]) == {}
        assert container.keyring.pending_system_keys(s) == []
    assert _pseudonym_rows(container, extract_id) == 0  # the mapping sealed under it went too

    gone = client.post(url + "/reidentify", json=body, headers=keys["dpo"])
    assert gone.status_code == 410 and gone.json["type"].endswith("extract_expired"), gone.json
    again = runner.invoke(main, ["keys", "replay-erasures"], env=env)  # idempotent
    assert again.exit_code == 0 and "extract keys destroyed: 0" in again.stdout
