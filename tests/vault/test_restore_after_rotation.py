"""Restoring a backup taken before `keys rotate`, `rewrap` and `retire` (issue 16), on a real OpenBao.

The campaign's failure: the restored database's data keys are wrapped with a
KEK version below min_decryption_version, so `keys replay-erasures` stopped
("a data key is wrapped with a retired KEK version") and the service could
neither replay nor serve. The procedure (docs/operations.md): restore, then
`piivault keys replay-erasures --rewrap-retired` with the operator's token,
which destroys the erased subjects' keys first, lowers min_decryption_version
for the time of a rewrap and sets it back, then finishes the replay.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import sqlalchemy as sa
from click.testing import CliRunner

from piivault.cli import KEK_LOWERED, KEK_RESTORED, main
from piivault.container import build_container, startup_check
from tests.api.conftest import settings_env
from tests.conftest import make_container, make_settings
from tests.consent.conftest import MOBILE, customer, detokenize
from tests.erasing import erase_subject
from vault import subject_owner

SUBJECTS = ("cust-r001", "cust-r002", "cust-r003")
ERASED = "cust-r002"


def _run(env, *args):
    result = CliRunner().invoke(main, list(args), env=env)
    return result.exit_code, result.output


def _copy_db(src: Path, dst: Path) -> None:
    shutil.copyfile(src, dst)
    for suffix in ("-wal", "-shm"):
        Path(str(dst) + suffix).unlink(missing_ok=True)


def test_an_old_backup_restores_after_rotate_rewrap_retire_and_erase(bao, tmp_path):
    settings = make_settings(f"sqlite:///{tmp_path / 'piivault.db'}", bao, tmp_path)
    db_file = Path(settings.database_url.removeprefix("sqlite:///"))
    container = make_container(settings)
    env = settings_env(container)
    tokens = {s: customer(container, s)["cn_mobile"] for s in SUBJECTS}
    container.audit.checkpoint_now()
    container.close()  # the last connection checkpoints the WAL into the file
    _copy_db(db_file, tmp_path / "backup.db")  # the backup: every key on KEK v1

    assert _run(env, "keys", "rotate")[0] == 0
    code, out = _run(env, "keys", "rewrap")
    assert code == 0 and out.endswith("0 remaining\n"), out
    assert _run(env, "keys", "retire")[0] == 0
    container = make_container(settings)
    assert container.provider.key_info().min_decryption_version == 2
    erase_subject(container, ERASED, actor="test")
    after_erasure = container.audit.checkpoint_now()
    (tmp_path / "checkpoint.txt").write_text(after_erasure.note)  # saved by an auditor
    container.close()

    _copy_db(tmp_path / "backup.db", db_file)  # the restore

    code, out = _run(env, "check")
    assert code == 2 and "replay-erasures" in out
    code, out = _run(env, "keys", "replay-erasures")  # without the operator's go-ahead: nothing done
    assert code == 2 and "--rewrap-retired" in out
    restored = build_container(settings)  # no bootstrap: it would unwrap a key of the backup
    with restored.session_factory() as s:
        assert restored.keyring.pending_erasures(s) == [ERASED]
        assert restored.keyring.retired_count(s) > 0
    restored.close()

    code, out = _run(env, "keys", "replay-erasures", "--rewrap-retired")
    assert code == 0, out
    assert "lowered to 1 for it and is 2 again" in out and "data keys destroyed: 1" in out
    code, out = _run(env, "check")
    assert code == 0, out
    # The audit log is the backup's: its tail after the backup is gone, which a checkpoint saved
    # outside the database shows (docs/operations.md; the tiles work will restore the tail).
    saved = str(tmp_path / "checkpoint.txt")
    code, out = _run(env, "audit", "verify", "--checkpoint", saved)
    assert code == 1 and "[truncated]" in out, out
    # Lowering min_decryption_version and setting it back are both in the audit log.
    audited = build_container(settings)
    try:
        audited.audit.sequencer.drain()  # they were queued only (restore-tail comes first)
        kek = audited.audit.search_events(action=KEK_LOWERED).events
        kek += audited.audit.search_events(action=KEK_RESTORED).events
        details = [json.loads(e.entry)["details"] for e in kek]
        assert [e.action for e in kek] == [KEK_LOWERED, KEK_RESTORED] and kek[0].seq < kek[1].seq
        assert details[0] == {"min_decryption_version": 1, "was": 2}
        assert details[1]["min_decryption_version"] == 2 and details[1]["rewrapped"] >= 3
        assert all(e.actor.startswith("cli") for e in kek)
    finally:
        audited.close()

    served = make_container(settings)
    try:
        info = served.provider.key_info()
        assert (info.min_decryption_version, info.latest_version) == (2, 2)  # retired again
        startup_check(served)
        with served.session_factory() as s:
            assert served.keyring.retired_count(s) == 0 and served.keyring.outdated_count(s) == 0
            assert subject_owner(ERASED) not in served.keyring.stored_keys(s, [subject_owner(ERASED)])
        for subject, token in tokens.items():
            (result,) = detokenize(served, "aml_kyc", [token])
            assert result == (
                {"error": "erased", "reason": "erased"} if subject == ERASED else {"value": MOBILE}
            )
        # Once the restored log records new events, it has forked from the saved checkpoint.
        assert served.audit.verify().ok
        code, out = _run(env, "audit", "verify", "--checkpoint", saved)
        assert code == 1 and "[saved_checkpoint]" in out, out
    finally:
        served.close()


def test_the_whole_restore_procedure_with_the_tiles_loses_no_audit_event(bao, tmp_path):
    """docs/operations.md, end to end: restore an old backup, replay the erasures with a rewrap,
    restore the audit log's tail from its tiles, serve; the log then holds every event and
    still has the checkpoint an auditor saved after the backup."""
    from tests.audit.conftest import settings_env as full_env

    tiles = tmp_path / "audit-tiles"  # outside the database backups
    settings = make_settings(
        f"sqlite:///{tmp_path / 'piivault.db'}", bao, tmp_path, audit_tiles_dir=str(tiles)
    )
    db_file = Path(settings.database_url.removeprefix("sqlite:///"))
    container = make_container(settings)
    env = full_env(settings)
    tokens = {s: customer(container, s)["cn_mobile"] for s in SUBJECTS}
    container.audit.checkpoint_now()
    container.close()
    _copy_db(db_file, tmp_path / "backup.db")

    assert _run(env, "keys", "rotate")[0] == 0 and _run(env, "keys", "rewrap")[0] == 0
    assert _run(env, "keys", "retire")[0] == 0
    container = make_container(settings)
    erase_subject(container, ERASED, actor="test")
    saved = container.audit.checkpoint_now()  # published to the tiles, and saved by an auditor
    (tmp_path / "checkpoint.txt").write_text(saved.note)
    container.close()
    assert (tiles / "checkpoint").read_text("utf-8") == saved.note

    _copy_db(tmp_path / "backup.db", db_file)  # the restore
    code, out = _run(env, "keys", "replay-erasures", "--rewrap-retired")
    assert code == 0, out
    code, out = _run(env, "check")  # the tiles are ahead of the restored log: not yet
    assert code == 2 and "restore-tail" in out, out
    code, out = _run(env, "audit", "restore-tail", "--from", str(tiles))
    assert code == 0 and f"to {saved.size} event(s)" in out, out
    assert _run(env, "check")[0] == 0
    code, out = _run(env, "audit", "verify", "--checkpoint", str(tmp_path / "checkpoint.txt"))
    assert code == 0 and f"saved checkpoint at size {saved.size} checked" in out, out

    served = make_container(settings)
    try:
        served.audit.checkpoint_now()  # the queued KEK events come after the tail
        erased = served.audit.search_events(subject=ERASED).events
        assert any(e.action.startswith("subject.erase") or "erase" in e.action for e in erased)
        actions = [e.action for e in served.audit.search_events(limit=1000).events]
        assert actions[-2:] == [KEK_LOWERED, KEK_RESTORED]
        assert served.audit.verify(saved_checkpoints=[saved.note]).ok
        (result,) = detokenize(served, "aml_kyc", [tokens[ERASED]])
        assert result == {"error": "erased", "reason": "erased"}
    finally:
        served.close()


class _Backup:
    """Every table's rows, put back as a restore would (SQLite or PostgreSQL alike).

    The append-only triggers and foreign keys are off while the rows go back, as they
    are for a restore tool (on PostgreSQL ``session_replication_role = replica``).
    """

    def __init__(self, engine) -> None:
        from piivault import tables_registry

        self.tables = tables_registry.load().sorted_tables
        with engine.connect() as conn:
            self.rows = {t.name: [r._asdict() for r in conn.execute(sa.select(t))] for t in self.tables}

    def restore(self, engine) -> None:
        from tests.audit.conftest import tampering

        with tampering(SimpleNamespace(engine=engine)) as conn:  # it needs only .engine
            if engine.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA defer_foreign_keys = ON")
            for table in reversed(self.tables):
                conn.execute(table.delete())
            for table in self.tables:
                if self.rows[table.name]:
                    conn.execute(table.insert(), self.rows[table.name])


def test_the_restore_procedure_on_each_database(settings, tmp_path):
    """The same procedure on the test databases (PostgreSQL too when configured), the restore
    being a row-level copy of every table: rotate, rewrap, retire, erase after the backup."""
    from tests.audit.conftest import settings_env as full_env

    tiles = tmp_path / "tiles"
    settings = settings.replace(audit_tiles_dir=str(tiles))
    env = full_env(settings)
    container = make_container(settings)
    tokens = {s: customer(container, s)["cn_mobile"] for s in SUBJECTS}
    container.audit.checkpoint_now()
    backup = _Backup(container.engine)
    container.close()

    assert _run(env, "keys", "rotate")[0] == 0 and _run(env, "keys", "rewrap")[0] == 0
    assert _run(env, "keys", "retire")[0] == 0
    container = make_container(settings)
    erase_subject(container, ERASED, actor="test")
    saved = container.audit.checkpoint_now()
    backup.restore(container.engine)
    container.close()

    assert _run(env, "check")[0] == 2  # erasures wait for replay
    code, out = _run(env, "keys", "replay-erasures", "--rewrap-retired")
    assert code == 0 and "data keys destroyed: 1" in out, out
    code, out = _run(env, "audit", "restore-tail", "--from", str(tiles))
    assert code == 0 and f"to {saved.size} event(s)" in out, out
    assert _run(env, "check")[0] == 0
    (tmp_path / "saved.txt").write_text(saved.note)
    code, out = _run(env, "audit", "verify", "--checkpoint", str(tmp_path / "saved.txt"))
    assert code == 0, out

    served = build_container(settings)
    try:
        startup_check(served)
        for subject, token in tokens.items():
            (result,) = detokenize(served, "aml_kyc", [token])
            assert result == (
                {"error": "erased", "reason": "erased"} if subject == ERASED else {"value": MOBILE}
            )
        assert served.audit.verify(saved_checkpoints=[saved.note]).ok
    finally:
        served.close()
