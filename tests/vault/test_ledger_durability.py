"""The erasure ledger under disk faults (issue 16): a line is written whole and synced, or not at all.

Faults are real where the kernel can give them to root: ``/dev/full`` (ENOSPC),
a sysfs path (no file can be created there, EACCES even for root), a directory
where the file should be (EISDIR), a vanished directory (ENOENT), and a file
size limit (``RLIMIT_FSIZE``: the kernel writes part of the line, then EFBIG).
Only the short write that *succeeds* on its second call is simulated.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from vault import ErasureLedger, LedgerUnavailable
from vault import ledger as ledger_module
from vault.ledger import LedgerCorrupt, LedgerTorn

WHEN = dt.datetime(2026, 12, 5, tzinfo=dt.UTC)
SUBJECT = "cust-durable-0001"
# sysfs refuses to create files, whoever asks: a location no write reaches, even as root.
UNWRITABLE = "/sys/piivault-erasure-ledger.jsonl"


def _filled(tmp_path, count: int = 3) -> ErasureLedger:
    ledger = ErasureLedger(tmp_path / "ledger.jsonl")
    for i in range(count):
        ledger.append(f"cust-{i:04d}", "dsr-erasure", None, WHEN)
    return ledger


def _refused(caplog, path: str, errno_name: str) -> None:
    logged = [r.getMessage() for r in caplog.records if r.name == "vault.ledger"]
    assert any(path in m and errno_name in m for m in logged), logged
    assert not any(SUBJECT in m for m in logged)


@pytest.mark.parametrize(
    ("path", "errno_name"),
    [("/dev/full", "ENOSPC"), (UNWRITABLE, "EACCES")],
    ids=["full-disk", "read-only"],
)
def test_a_failed_append_is_unavailable_and_logged_with_the_path_not_the_subject(path, errno_name, caplog):
    caplog.set_level(logging.ERROR, "vault.ledger")
    ledger = ErasureLedger(path)
    with pytest.raises(LedgerUnavailable) as raised:
        ledger.append(SUBJECT, "dsr-erasure", "dsr_1", WHEN)
    assert raised.value.http_status == 503 and raised.value.retry_after > 0
    assert SUBJECT not in raised.value.message and errno_name in raised.value.message
    _refused(caplog, path, errno_name)
    assert ledger.entries() == []  # /dev/full reads as empty (never as endless zero bytes)


def test_a_directory_where_the_file_was_and_a_vanished_directory_are_unavailable(tmp_path, caplog):
    caplog.set_level(logging.ERROR, "vault.ledger")
    volume = tmp_path / "volume"
    volume.mkdir()
    ledger = _filled(volume, 1)
    ledger.path.unlink()
    ledger.path.mkdir()  # e.g. a volume mounted over the file's path
    with pytest.raises(LedgerUnavailable):
        ledger.append(SUBJECT, "dsr-erasure", None, WHEN)
    _refused(caplog, str(ledger.path), "EISDIR")
    shutil.rmtree(ledger.path.parent)  # the volume went away
    for call in (lambda: ledger.append(SUBJECT, "dsr-erasure", None, WHEN), ledger.entries):
        with pytest.raises(LedgerUnavailable):
            call()
    _refused(caplog, str(ledger.path), "ENOENT")


def test_a_short_write_is_continued_to_the_end_of_the_line(tmp_path, monkeypatch):
    ledger = _filled(tmp_path, 2)
    real_write = ledger_module.os.write
    calls = []

    def half_then_the_rest(fd, data):
        calls.append(len(data))
        return real_write(fd, bytes(data[: max(1, len(data) // 2)]))

    monkeypatch.setattr(ledger_module.os, "write", half_then_the_rest)
    entry = ledger.append(SUBJECT, "dsr-erasure", "dsr_1", WHEN)
    monkeypatch.undo()
    assert len(calls) > 2  # it really was written in pieces
    assert ledger.entries()[-1] == entry and entry.seq == 2
    assert ledger.path.read_bytes().endswith(b"\n") and ledger.check().ok


_AT_THE_SIZE_LIMIT = textwrap.dedent(
    """
    import datetime as dt, json, os, resource, sys
    from vault import ErasureLedger, LedgerUnavailable
    ledger = ErasureLedger(sys.argv[1])
    size = os.path.getsize(sys.argv[1])
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size + 40, hard))  # room for 40 bytes of the line
    try:
        ledger.append(sys.argv[2], "dsr-erasure", None, dt.datetime.now(dt.UTC))
        print(json.dumps("appended"))
    except LedgerUnavailable as e:
        print(json.dumps(e.message))
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    """
)


def test_a_line_cut_short_by_the_kernel_is_cut_back_and_nothing_is_appended(tmp_path):
    ledger = _filled(tmp_path, 3)
    before = ledger.path.read_bytes()
    # Python ignores SIGXFSZ, so past the limit write() returns what fitted, then fails with EFBIG.
    ran = subprocess.run(
        [sys.executable, "-c", _AT_THE_SIZE_LIMIT, str(ledger.path), SUBJECT],
        capture_output=True,
        text=True,
        check=True,
    )
    message = json.loads(ran.stdout.strip().splitlines()[-1])
    assert "EFBIG" in message and "nothing was erased" in message
    assert str(ledger.path) in ran.stderr and SUBJECT not in ran.stderr
    assert ledger.path.read_bytes() == before  # the 40 bytes that made it were cut off again
    assert [e.seq for e in ledger.entries()] == [0, 1, 2]
    assert ledger.append(SUBJECT, "dsr-erasure", None, WHEN).seq == 3


def _tear(ledger: ErasureLedger, keep: float) -> bytes:
    """Append one entry, then leave only the first ``keep`` of its line: a crash before fsync."""
    whole = ledger.path.read_bytes()
    ledger.append(SUBJECT, "dsr-erasure", None, WHEN)
    line = ledger.path.read_bytes()[len(whole) :]
    torn = whole + line[: int(len(line) * keep)]
    ledger.path.write_bytes(torn)
    return torn


def test_a_torn_last_line_is_reported_refused_and_repaired_only_on_request(tmp_path):
    ledger = _filled(tmp_path, 3)
    good = ledger.path.read_bytes()
    torn = _tear(ledger, 0.5)
    report = ledger.check()
    assert not report.ok and report.problem is None
    assert (report.entries, report.last_seq, report.torn_at) == (3, 2, len(good))
    assert report.torn_bytes == len(torn) - len(good) and not report.tail_is_entry
    with pytest.raises(LedgerTorn, match="ledger repair"):
        ledger.entries()
    with pytest.raises(LedgerTorn):  # never appended after, never silently mended
        ledger.append("cust-next", "dsr-erasure", None, WHEN)
    assert ledger.path.read_bytes() == torn

    repaired = ledger.repair(WHEN)
    assert repaired.removed_bytes == len(torn) - len(good) and not repaired.completed_entry
    assert ledger.path.read_bytes() == good
    assert Path(repaired.copy).read_bytes() == torn  # the torn file is kept as it was
    assert ledger.check().ok and ledger.append("cust-next", "dsr-erasure", None, WHEN).seq == 3
    assert ledger.repair(WHEN).copy is None  # nothing torn: nothing done


def test_a_whole_entry_missing_only_its_line_end_is_completed_not_dropped(tmp_path):
    ledger = _filled(tmp_path, 2)
    torn = _tear(ledger, 1.0)[:-1]  # everything but the newline
    ledger.path.write_bytes(torn)
    assert ledger.check().tail_is_entry
    repaired = ledger.repair(WHEN)
    assert repaired.completed_entry and repaired.removed_bytes == 0
    assert [e.subject_id for e in ledger.entries()][-1] == SUBJECT


def test_a_break_in_the_middle_is_not_a_torn_line_and_is_not_repaired(tmp_path):
    ledger = _filled(tmp_path, 3)
    lines = ledger.path.read_text().splitlines()
    ledger.path.write_text("\n".join([lines[0], "{torn", *lines[1:]]) + "\n")
    before = ledger.path.read_bytes()
    report = ledger.check()
    assert report.torn_at is None and "line 2" in report.problem
    with pytest.raises(LedgerCorrupt, match="replica"):
        ledger.repair(WHEN)
    assert ledger.path.read_bytes() == before and not list(tmp_path.glob("*.torn-*"))


def test_the_cli_reports_a_torn_line_and_repairs_it_only_when_asked(container):
    from click.testing import CliRunner

    from piivault.cli import main
    from tests.api.conftest import settings_env

    ledger = container.keyring.ledger
    for i in range(2):
        ledger.append(f"cust-{i:04d}", "dsr-erasure", None, WHEN)
    torn = _tear(ledger, 0.3)
    env = settings_env(container)
    runner = CliRunner()

    refused = runner.invoke(main, ["check"], env=env)  # as `piivault serve` would: no start on a torn ledger
    assert refused.exit_code == 2 and "piivault keys ledger repair" in refused.output
    checked = runner.invoke(main, ["keys", "ledger", "check"], env=env)
    assert checked.exit_code == 1 and "TORN" in checked.output and "entries:        2" in checked.output
    assert ledger.path.read_bytes() == torn  # checking changed nothing

    repaired = runner.invoke(main, ["keys", "ledger", "repair"], env=env)
    assert repaired.exit_code == 0 and "copy kept at" in repaired.output
    assert [p.read_bytes() for p in ledger.path.parent.glob("*.torn-*")] == [torn]
    assert runner.invoke(main, ["keys", "ledger", "check"], env=env).output.endswith("ok\n")
    assert runner.invoke(main, ["check"], env=env).exit_code == 0
