"""Verification catches every kind of tampering, and the CLI reports it with its exit status."""

from __future__ import annotations

import datetime as dt
import json
import random

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from audit import tables as at
from audit.chain import chain_hash
from audit.checkpoints import CHECKPOINT_KEY
from audit.merkle import InMemoryTree, decompose, fold, leaf_hash
from audit.note import Checkpoint, sign_checkpoint, verifier_key_string
from audit.store import encode_frontier
from audit.verify import verify_log
from piivault.cli import main
from tests.audit.conftest import append, settings_env, tampering
from vault import Signer

SIZE = 20


@pytest.fixture
def log(container, audit_log):
    """A log of 20 events with checkpoints at 1, 6, 11, 16 and 20."""
    audit_log.sequencer.checkpoints.every = 5
    append(container, SIZE)
    audit_log.checkpoint_now()
    return audit_log


def _problems(report) -> set[str]:
    return {p.kind for p in report.problems}


def _row(container, seq):
    with container.engine.connect() as conn:
        return conn.execute(sa.select(at.events).where(at.events.c.seq == seq)).one()


def _verify_paged(container, log, bits, workers):
    return verify_log(
        container.engine,
        origin=log.origin,
        public_key=log.public_key_bytes(),
        merge_delay=60,
        now=dt.datetime.now(dt.UTC),
        page_bits=bits,
        workers=workers,
    )


def test_an_untouched_log_verifies(log):
    report = log.verify()
    assert report.ok, report.summary()
    assert (report.events, report.head_size, report.checkpoints) == (SIZE, SIZE, 5)
    assert report.first_bad_index is None
    assert report.summary()[0].startswith("OK: 20 events")


@pytest.mark.parametrize("bits", [1, 2, 3])
def test_pages_and_worker_processes_give_the_same_answer(container, log, bits):
    for workers in (1, 2) if bits == 2 else (1,):
        report = _verify_paged(container, log, bits, workers)
        assert report.ok, report.summary()
        assert report.events == SIZE


def test_a_root_is_the_fold_of_the_frontier_before_a_page_and_the_page_subtrees():
    # The identity the parallel verifier relies on, for many page sizes and cut points.
    rng = random.Random(7)
    tree = InMemoryTree.from_entries(b"entry %d" % i for i in range(300))
    for bits in range(1, 7):
        page = 1 << bits
        for size in rng.sample(range(1, 301), 60):
            start = ((size - 1) >> bits) << bits
            before = [tree.get_nodes([key])[key] for key in decompose(0, start)] if start else []
            inside = [tree.get_nodes([key])[key] for key in decompose(start, size)]
            assert size - start <= page
            assert fold(before + inside) == tree.root(size)


def test_an_edited_entry_is_caught(container, log):
    with tampering(container) as conn:
        conn.exec_driver_sql(
            'UPDATE audit_events SET payload = replace(payload, \'"actor":"crm"\', \'"actor":"nobody"\') '
            "WHERE seq = 7"
        )
    report = log.verify()
    assert not report.ok
    assert report.first_bad_index == 7
    assert {"leaf_hash", "columns", "checkpoint_root"} <= _problems(report)


def test_an_edited_search_column_is_caught(container, log):
    with tampering(container) as conn:
        conn.exec_driver_sql("UPDATE audit_events SET actor = 'nobody' WHERE seq = 7")
    report = log.verify()
    assert report.first_bad_index == 7
    assert _problems(report) == {"columns"}
    assert "actor" in report.problems[0].message


def test_a_deleted_event_is_caught(container, log):
    with tampering(container) as conn:
        conn.exec_driver_sql("DELETE FROM audit_events WHERE seq = 7")
    report = log.verify()
    assert report.first_bad_index == 7
    assert "sequence" in _problems(report)


def test_a_deleted_event_is_caught_with_pages_and_workers(container, log):
    with tampering(container) as conn:
        conn.exec_driver_sql("DELETE FROM audit_events WHERE seq = 9")
    report = _verify_paged(container, log, bits=2, workers=2)
    assert report.first_bad_index == 9
    assert {"sequence", "tree"} <= _problems(report)


def test_pages_read_through_a_server_side_cursor_with_an_older_libpq(container, log, monkeypatch):
    if container.engine.dialect.name != "postgresql":
        pytest.skip("SQLite reads a page at once")
    import psycopg

    with tampering(container) as conn:
        conn.exec_driver_sql("UPDATE audit_events SET actor = 'nobody' WHERE seq = 13")
    # libpq before 17 has no chunked streaming: the page is read from a named cursor.
    monkeypatch.setattr(psycopg.pq, "version", lambda: 160000)
    opened = []
    cursor = psycopg.Connection.cursor

    def spy(self, *args, **kwargs):
        if kwargs.get("name"):
            opened.append(kwargs["name"])
        return cursor(self, *args, **kwargs)

    monkeypatch.setattr(psycopg.Connection, "cursor", spy)
    report = _verify_paged(container, log, bits=2, workers=1)
    assert report.events == SIZE
    assert report.first_bad_index == 13
    assert _problems(report) == {"columns"}
    assert len(opened) == SIZE // 4  # one cursor per page of four


def test_an_inserted_event_is_caught(container, log):
    # A careful forger: the new event at 6 has a correct leaf hash, chain link and
    # columns; the events after it are renumbered and the head moved on.
    before, original = _row(container, 5), _row(container, 6)
    body = json.loads(original.payload)
    body.update(subject_id="forged", request_id="forged")
    entry = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    leaf = leaf_hash(entry)
    with tampering(container) as conn:
        conn.exec_driver_sql("UPDATE audit_events SET seq = -seq - 1000 WHERE seq >= 6")
        conn.exec_driver_sql("UPDATE audit_events SET seq = -seq - 999 WHERE seq < 0")
        conn.execute(
            at.events.insert().values(
                seq=6,
                time=original.time,
                actor=body["actor"],
                action=body["action"],
                subject_id="forged",
                purpose=body["purpose"],
                outcome=body["outcome"],
                request_id="forged",
                payload=entry.decode(),
                leaf_hash=leaf,
                chain_hash=chain_hash(before.chain_hash, leaf),
            )
        )
        conn.exec_driver_sql("UPDATE audit_state SET size = size + 1")
    report = log.verify()
    assert not report.ok
    # The forged event itself fails its MAC; the chain stops fitting at the displaced event.
    assert report.first_bad_index == 6
    assert {"event_mac_invalid", "columns", "chain", "checkpoint_root"} <= _problems(report)
    assert min(p.index for p in report.problems if p.kind == "chain") == 7


def test_two_swapped_events_are_caught(container, log):
    a, b = _row(container, 3), _row(container, 9)
    with tampering(container) as conn:
        for row, other in ((a, b), (b, a)):
            conn.execute(
                sa.update(at.events)
                .where(at.events.c.seq == row.seq)
                .values(
                    **{
                        k: getattr(other, k)
                        for k in ("time", "subject_id", "request_id", "payload", "leaf_hash", "chain_hash")
                    }
                )
            )
    report = log.verify()
    assert report.first_bad_index == 3
    assert {"columns", "chain"} <= _problems(report)


def test_a_rewritten_history_is_caught_by_the_signed_checkpoints(container, log):
    # The strongest forger: edits event 12 and recomputes every hash, node and the head.
    # Only the signatures, which it cannot make, give it away.
    with container.engine.connect() as conn:
        rows = conn.execute(sa.select(at.events).order_by(at.events.c.seq)).all()
    tree, chain, new_rows = InMemoryTree(), bytes(32), []
    for row in rows:
        payload = row.payload
        if row.seq == 12:
            payload = payload.replace('"purpose":"aml_kyc"', '"purpose":"marketing"')
        leaf = leaf_hash(payload.encode())
        chain = chain_hash(chain, leaf)
        tree.append(payload.encode())
        new_rows.append(
            {
                **row._asdict(),
                "payload": payload,
                "purpose": json.loads(payload)["purpose"],
                "leaf_hash": leaf,
                "chain_hash": chain,
            }
        )
    with tampering(container) as conn:
        conn.exec_driver_sql("DELETE FROM audit_events")
        conn.exec_driver_sql("DELETE FROM audit_nodes")
        conn.execute(at.events.insert(), new_rows)
        conn.execute(
            at.nodes.insert(),
            [{"level": lv, "idx": i, "hash": h} for (lv, i), h in tree._nodes.items() if lv > 0],
        )
        conn.execute(sa.update(at.state).values(chain_head=chain, frontier=encode_frontier(tree._frontier)))
    # An outsider, with the published key only, sees the signatures fail.
    outsider = log.verify(public_key=log.public_key_bytes())
    assert _problems(outsider) == {"checkpoint_root"} and outsider.authenticity is None
    assert "at or after event 11" in outsider.problems[0].message
    # The operator, who can reach the MAC key, also sees which event was rewritten.
    report = log.verify()
    assert _problems(report) == {"checkpoint_root", "event_mac_invalid"}
    assert [p.index for p in report.problems if p.kind == "event_mac_invalid"] == [12]


def test_a_truncated_tail_is_caught_by_a_saved_checkpoint(container, log, tmp_path):
    saved = log.latest_checkpoint().note  # kept outside the database by an auditor
    # Drop the last 5 events with their nodes and checkpoints, and rebuild a consistent head.
    with container.engine.connect() as conn:
        payloads = conn.execute(
            sa.select(at.events.c.payload, at.events.c.chain_hash).where(at.events.c.seq < 15).order_by("seq")
        ).all()
    tree = InMemoryTree.from_entries(p.encode() for p, _ in payloads)
    with tampering(container) as conn:
        conn.exec_driver_sql("DELETE FROM audit_events WHERE seq >= 15")
        conn.exec_driver_sql("DELETE FROM audit_checkpoints WHERE size > 15")
        conn.exec_driver_sql("DELETE FROM audit_nodes WHERE ((idx + 1) << level) > 15")
        conn.execute(
            sa.update(at.state).values(
                size=15, chain_head=payloads[-1].chain_hash, frontier=encode_frontier(tree._frontier)
            )
        )
    assert log.verify().ok  # indistinguishable from a log that never grew past 15 ...
    report = log.verify(saved_checkpoints=[saved])
    assert not report.ok  # ... except to someone who kept a checkpoint
    assert report.first_bad_index == 15
    assert _problems(report) == {"truncated"}

    note = tmp_path / "checkpoint.txt"
    note.write_text(saved)
    result = _cli(container, ["audit", "verify", "--checkpoint", str(note)])
    assert result.exit_code == 1
    assert "first bad index: 15" in result.output


def test_an_altered_checkpoint_signature_is_caught(container, log):
    with container.engine.connect() as conn:
        size, note = conn.execute(sa.select(at.checkpoints.c.size, at.checkpoints.c.note).limit(1)).one()
    body, signature = note.rstrip("\n").rsplit(" ", 1)
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    with tampering(container) as conn:
        conn.execute(
            sa.update(at.checkpoints).where(at.checkpoints.c.size == size).values(note=f"{body} {flipped}\n")
        )
    report = log.verify()
    assert _problems(report) == {"checkpoint_signature"}


def test_a_checkpoint_row_that_disagrees_with_its_note_is_caught(container, log):
    with tampering(container) as conn:
        conn.exec_driver_sql(
            "UPDATE audit_checkpoints SET root_hash = (SELECT leaf_hash FROM audit_events WHERE seq = 0)"
        )
    assert "checkpoint" in _problems(log.verify())


def test_tampered_missing_and_extra_nodes_are_caught(container, log):
    with tampering(container) as conn:
        conn.exec_driver_sql(
            "UPDATE audit_nodes SET hash = (SELECT leaf_hash FROM audit_events WHERE seq = 0) "
            "WHERE level = 1 AND idx = 2"
        )
        conn.exec_driver_sql("DELETE FROM audit_nodes WHERE level = 2 AND idx = 0")
        conn.execute(at.nodes.insert().values(level=1, idx=50, hash=bytes(32)))
        conn.execute(at.nodes.insert().values(level=0, idx=0, hash=bytes(32)))
    report = log.verify()
    assert {"node", "node_missing", "node_extra"} <= _problems(report)


def test_a_tampered_head_is_caught(container, log):
    with tampering(container) as conn:
        conn.execute(sa.update(at.state).values(chain_head=bytes(32)))
    assert _problems(log.verify()) == {"head"}


def test_events_waiting_past_the_merge_delay_are_flagged(container, log):
    old = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=log.merge_delay + 5)
    with container.engine.begin() as conn:
        conn.execute(at.queue.insert().values(enqueued_at=old, payload="{}"))
        conn.execute(at.queue.insert().values(enqueued_at=dt.datetime.now(dt.UTC), payload="{}"))
    report = log.verify()
    assert _problems(report) == {"queue_stale"} and report.queued == 2
    assert "1 queued event(s)" in report.problems[0].message


def test_a_checkpoint_from_another_key_is_rejected(log):
    forged = sign_checkpoint(Checkpoint(log.origin, 20, bytes(32), 0), log.origin, Signer.generate())
    report = log.verify(saved_checkpoints=[forged])
    assert _problems(report) == {"saved_checkpoint"}


def test_a_saved_checkpoint_with_another_root_is_caught(container, log):
    with container.session_factory() as session:
        signer = container.keyring.signer(session, CHECKPOINT_KEY, create=False)
    forged = sign_checkpoint(Checkpoint(log.origin, 10, bytes(32), 0), log.origin, signer)
    assert _problems(log.verify(saved_checkpoints=[forged])) == {"saved_checkpoint"}


def test_an_empty_log_verifies(audit_log):
    report = audit_log.verify()
    assert report.ok and report.events == 0


# -- the command line ---------------------------------------------------------------------


def _cli(container, args):
    return CliRunner().invoke(main, args, env=settings_env(container.settings), catch_exceptions=False)


def test_cli_verify_exit_status(container, log, tmp_path):
    result = _cli(container, ["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("OK: 20 events")

    vkey = _cli(container, ["audit", "public-key"]).output.strip()
    assert vkey == log.public_key()
    out = tmp_path / "cp.txt"
    assert _cli(container, ["audit", "checkpoint", "--out", str(out)]).exit_code == 0
    result = _cli(container, ["audit", "verify", "--key", vkey, "--checkpoint", str(out), "--json"])
    assert result.exit_code == 0 and json.loads(result.output)["saved_checkpoint_size"] == SIZE

    other = Signer.generate()
    result = _cli(container, ["audit", "verify", "--key", verifier_key_string(log.origin, other.public_key)])
    assert result.exit_code == 1 and "checkpoint_signature" in result.output
    assert _cli(container, ["audit", "verify", "--key", "nonsense"]).exit_code == 2

    with tampering(container) as conn:
        conn.exec_driver_sql("DELETE FROM audit_events WHERE seq = 4")
    result = _cli(container, ["audit", "verify"])
    assert result.exit_code == 1
    assert "FAILED" in result.output and "first bad index: 4" in result.output


def test_cli_read_commands(container, log, tmp_path):
    proof = json.loads(_cli(container, ["audit", "proof", "--seq", "3"]).output)
    assert proof["size"] == SIZE and proof["checkpoint"].startswith(log.origin)
    consistency = json.loads(_cli(container, ["audit", "consistency", "--size1", "5"]).output)
    assert consistency["size2"] == SIZE and consistency["proof"]
    search = json.loads(_cli(container, ["audit", "search", "--subject", "sub-1", "--limit", "2"]).output)
    assert [e["seq"] for e in search["events"]] == [1, 6] and search["next_cursor"] == "6"
    exposure = json.loads(
        _cli(
            container,
            [
                "audit",
                "exposure",
                "--actor",
                "crm",
                "--since",
                "2000-01-01",
                "--until",
                "2100-01-01T00:00:00+08:00",
            ],
        ).output
    )
    assert [s["subject_id"] for s in exposure["subjects"]] == [f"sub-{i}" for i in range(5)]
    out = tmp_path / "export.json"
    result = _cli(container, ["audit", "export", "--subject", "sub-2", "--out", str(out)])
    assert result.exit_code == 0
    assert len(json.loads(out.read_text())["events"]) == 4
    missing = _cli(container, ["audit", "proof", "--seq", "999"])
    assert missing.exit_code == 2 and "no audit event 999" in missing.output
    bad_time = _cli(
        container, ["audit", "exposure", "--actor", "crm", "--since", "yesterday", "--until", "x"]
    )
    assert bad_time.exit_code == 2


def test_cli_sequence_integrates_the_queue(container):
    container.settings = container.settings.replace(audit_sequence_inline=False)
    append(container, 3)
    result = _cli(container, ["audit", "sequence"])
    assert result.exit_code == 0 and "integrated 3 event(s); log size 3" in result.output


@pytest.mark.parametrize("payload", ["{not json", '{"seq": "seven"}', "[]"])
def test_an_entry_that_is_not_an_event_is_caught(container, log, payload):
    # The database's own JSON functions reject these; verification must still report them.
    with tampering(container) as conn:
        conn.execute(sa.update(at.events).where(at.events.c.seq == 7).values(payload=payload))
    report = log.verify()
    assert report.first_bad_index == 7
    assert {"leaf_hash", "entry"} <= _problems(report) or {"leaf_hash", "columns"} <= _problems(report)


def test_every_saved_checkpoint_given_is_checked(container, log, tmp_path):
    # Issue 16: `--checkpoint` given twice used only the last one; a bad first one went unseen.
    with container.engine.connect() as conn:
        notes = dict(conn.execute(sa.select(at.checkpoints.c.size, at.checkpoints.c.note)).all())
    with container.session_factory() as session:
        signer = container.keyring.signer(session, CHECKPOINT_KEY, create=False)
    files = {
        "at11": notes[11],
        "at20": notes[20],
        "other-root": sign_checkpoint(Checkpoint(log.origin, 10, bytes(32), 0), log.origin, signer),
    }
    for name, note in files.items():
        (tmp_path / name).write_text(note)

    def verify(*names):
        args = ["audit", "verify", "--json"]
        for name in names:
            args += ["--checkpoint", str(tmp_path / name)]
        return _cli(container, args)

    both = verify("at11", "at20")
    assert both.exit_code == 0, both.output
    assert json.loads(both.output)["saved_checkpoint_sizes"] == [11, 20]
    bad_first = verify("other-root", "at20")
    assert bad_first.exit_code == 1
    report = json.loads(bad_first.output)
    assert report["saved_checkpoint_sizes"] == [10, 20]
    assert [p["message"] for p in report["problems"]] == [
        "the log's first 10 events do not have saved checkpoint 1's root"
    ]
    assert verify("at20", "other-root").exit_code == 1
