"""``piivault audit restore-tail``: after a database restore, the tiles give the lost tail back.

The restore here is real for the audit log: on SQLite the database file is
copied with SQLite's backup API and copied back; on PostgreSQL the audit
tables' rows are saved and put back (a schema-level restore of what matters).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from audit import tables as at
from audit.note import Checkpoint, parse_checkpoint, sign_checkpoint
from audit.restore import TailRestoreRefused
from audit.tiles import split_bundle
from piivault.cli import main
from piivault.errors import ConfigurationError
from tests.audit.conftest import append, settings_env, tampering
from tests.audit.test_tiles import spec_verify
from vault import Signer

AUDIT_TABLES = (at.state, at.events, at.nodes, at.checkpoints, at.queue)


class Snapshot:
    """A backup of the database as far as the audit log goes, and its restore."""

    def __init__(self, container, tmp_path: Path) -> None:
        self.container = container
        if container.engine.dialect.name == "sqlite":
            self.file = tmp_path / "backup.db"
            _sqlite_copy(container.engine.url.database, str(self.file))
        else:
            with container.engine.connect() as conn:
                self.rows = {
                    table.name: [r._asdict() for r in conn.execute(sa.select(table))]
                    for table in AUDIT_TABLES
                }

    def restore(self) -> None:
        container = self.container
        if container.engine.dialect.name == "sqlite":
            container.audit.sequencer.close()
            container.engine.dispose()
            _sqlite_copy(str(self.file), container.engine.url.database)
            return
        with tampering(container) as conn:
            for table in reversed(AUDIT_TABLES):
                conn.execute(table.delete())
            for table in AUDIT_TABLES:
                if self.rows[table.name]:
                    conn.execute(table.insert(), self.rows[table.name])


def _sqlite_copy(source: str, target: str) -> None:
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


def _request_ids(container) -> list[str]:
    with container.engine.connect() as conn:
        payloads = conn.execute(sa.select(at.events.c.payload).order_by(at.events.c.seq)).scalars()
        return [json.loads(p)["request_id"] for p in payloads]


@pytest.fixture
def restored(container, audit_log, tmp_path):
    """30 events backed up, 25 more recorded and published, then the backup restored."""
    tiles = tmp_path / "tiles"
    audit_log.sequencer.checkpoints.tiles_dir = tiles
    append(container, 30)
    audit_log.checkpoint_now()
    backup = Snapshot(container, tmp_path)
    append(container, 25, start=30)
    audit_log.checkpoint_now()
    assert (tiles / "checkpoint").read_text("utf-8").split("\n")[1] == "55"
    backup.restore()
    assert audit_log.size() == 30
    return tiles


def test_restore_tail_loses_no_event_and_the_log_verifies(container, audit_log, restored):
    # Until the tail is back, the service refuses to start (it would record events in its place).
    with pytest.raises(ConfigurationError, match="restore-tail"):
        audit_log.check()
    result = CliRunner().invoke(
        main, ["audit", "restore-tail", "--from", str(restored)], env=settings_env(container.settings)
    )
    assert result.exit_code == 0, result.output
    assert "from 30 to 55 event(s) (25 re-imported" in result.output
    assert _request_ids(container) == [f"req-{i}" for i in range(55)]
    report = audit_log.verify()
    assert report.ok, report.summary()
    assert report.authenticity["valid"] == 55 and report.checkpoints >= 3
    audit_log.check()
    # The log goes on from there, and publishing follows without diverging.
    append(container, 3, start=55)
    audit_log.checkpoint_now()
    assert spec_verify(restored, audit_log.origin, audit_log.public_key_bytes())[-1].count(b'"req-57"') == 1
    assert audit_log.verify().ok
    # Running it again has nothing more to import.
    assert audit_log.restore_tail(restored).imported == 0


def _refused(audit_log, tiles: Path, match: str) -> None:
    with pytest.raises(TailRestoreRefused, match=match):
        audit_log.restore_tail(tiles)
    assert audit_log.size() == 30  # nothing imported


def test_a_checkpoint_signed_by_another_key_is_refused(container, audit_log, restored):
    note = (restored / "checkpoint").read_text("utf-8")
    body = parse_checkpoint(note.split("\n\n")[0].encode() + b"\n")
    forged = Checkpoint(body.origin, body.size, body.root_hash, body.timestamp)
    (restored / "checkpoint").write_text(
        sign_checkpoint(forged, audit_log.origin, Signer.generate()), "utf-8"
    )
    _refused(audit_log, restored, "does not verify with the pinned key")


def test_an_edited_entry_is_refused(container, audit_log, restored):
    bundle = restored / "tile/entries/000.p/55"
    data = bundle.read_bytes()
    bundle.write_bytes(data.replace(b'"req-40"', b'"req-4X"'))
    _refused(audit_log, restored, "entry 40 does not hash")


def test_an_entry_edited_with_its_tile_is_refused_by_the_signed_root(container, audit_log, restored):
    bundle, tile = restored / "tile/entries/000.p/55", restored / "tile/0/000.p/55"
    data = bundle.read_bytes().replace(b'"req-40"', b'"req-4X"')
    bundle.write_bytes(data)
    hashes = bytearray(tile.read_bytes())
    entry = split_bundle(data)[40]
    hashes[40 * 32 : 41 * 32] = hashlib.sha256(b"\x00" + entry).digest()
    tile.write_bytes(bytes(hashes))
    _refused(audit_log, restored, "do not make the root")


def test_a_restored_log_that_recorded_events_first_is_refused(container, audit_log, restored):
    append(container, 1, start=900, request_id="after-restore")
    size = audit_log.size()
    with pytest.raises(TailRestoreRefused, match="differs from the tiles at event 30"):
        audit_log.restore_tail(restored)
    assert audit_log.size() == size


def test_a_missing_tile_is_refused(container, audit_log, restored):
    (restored / "tile/entries/000.p/55").unlink()
    _refused(audit_log, restored, "missing from the tiles directory")
