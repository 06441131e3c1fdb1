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

import shutil
from pathlib import Path

from click.testing import CliRunner

from piivault.cli import main
from piivault.container import build_container, startup_check
from tests.api.conftest import settings_env
from tests.conftest import make_container, make_settings
from tests.consent.conftest import MOBILE, customer, detokenize
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
    container.services["audit"].checkpoint_now()
    container.close()  # the last connection checkpoints the WAL into the file
    _copy_db(db_file, tmp_path / "backup.db")  # the backup: every key on KEK v1

    assert _run(env, "keys", "rotate")[0] == 0
    code, out = _run(env, "keys", "rewrap")
    assert code == 0 and out.endswith("0 remaining\n"), out
    assert _run(env, "keys", "retire")[0] == 0
    container = make_container(settings)
    assert container.provider.key_info().min_decryption_version == 2
    with container.uow() as uow:
        container.services["tokenization"].erase_subject(uow, "test", ERASED, "dsr-erasure")
    after_erasure = container.services["audit"].checkpoint_now()
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
        assert served.services["audit"].verify().ok
        code, out = _run(env, "audit", "verify", "--checkpoint", saved)
        assert code == 1 and "[saved_checkpoint]" in out, out
    finally:
        served.close()
