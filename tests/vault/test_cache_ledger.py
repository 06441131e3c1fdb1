"""The DEK cache bounds and the erasure ledger file."""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing

import pytest

from vault import DataKey, DekCache, ErasureLedger
from vault.ledger import LedgerCorrupt


def test_cache_is_bounded_lru_with_ttl():
    now = [0.0]
    cache = DekCache(maxsize=2, ttl=10, clock=lambda: now[0])
    a, b, c = (DataKey.generate(x) for x in "abc")
    cache.put(a)
    cache.put(b)
    assert cache.get("a") is a  # a is now most recent
    cache.put(c)  # evicts b
    assert cache.get("b") is None and cache.get("a") is a and cache.get("c") is c
    now[0] = 10.0
    assert cache.get("a") is None and len(cache) == 1
    cache.evict(["c"])
    assert cache.get("c") is None


def test_cache_can_be_disabled():
    cache = DekCache(maxsize=0, ttl=10)
    cache.put(DataKey.generate("a"))
    assert cache.get("a") is None


def _now():
    return dt.datetime(2026, 11, 23, tzinfo=dt.UTC)


def test_ledger_chain_detects_edits_and_removals(tmp_path):
    ledger = ErasureLedger(tmp_path / "ledger.jsonl")
    for i in range(4):
        ledger.append(f"s{i}", "dsr-erasure", None, _now())
    assert [e.subject_id for e in ledger.entries()] == ["s0", "s1", "s2", "s3"]
    lines = ledger.path.read_text().splitlines()

    edited = json.loads(lines[1])
    edited["subject_id"] = "someone-else"
    ledger.path.write_text("\n".join([lines[0], json.dumps(edited), *lines[2:]]) + "\n")
    with pytest.raises(LedgerCorrupt, match="line 2"):
        ledger.entries()

    ledger.path.write_text("\n".join([lines[0], *lines[2:]]) + "\n")
    with pytest.raises(LedgerCorrupt, match="line 2"):
        ledger.entries()

    ledger.path.write_text("not json\n")
    with pytest.raises(LedgerCorrupt):
        ledger.entries()


def _append_many(path: str, worker: int) -> None:
    ledger = ErasureLedger(path)
    for i in range(25):
        ledger.append(f"w{worker}-{i}", "dsr-erasure", None, _now())


def test_ledger_appends_from_many_processes_keep_one_chain(tmp_path):
    path = str(tmp_path / "ledger.jsonl")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_append_many, args=(path, w)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    entries = ErasureLedger(path).entries()
    assert len(entries) == 100
    assert [e.seq for e in entries] == list(range(100))


def test_ledger_path_must_be_usable(tmp_path):
    from piivault.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="directory"):
        ErasureLedger(tmp_path / "missing" / "ledger.jsonl")
    with pytest.raises(ConfigurationError, match="not a directory"):
        ErasureLedger(tmp_path)


def test_a_held_system_key_needs_no_database_and_a_stored_one_is_read(container):
    import sqlalchemy as sa

    from vault.keystore import system_owner

    name = "api-key-hmac"
    keyring = container.keyring
    with container.uow() as uow:
        assert keyring.stored_system_key(uow.session, name) is None  # never made: not made here
    with container.uow() as uow:
        stored = keyring.system_key(uow.session, name)
        uow.commit()
    assert keyring.held_system_key(name) is not None  # made here, so cached
    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args):
        statements.append(statement)

    sa.event.listen(container.engine, "before_cursor_execute", seen)
    try:
        cached = keyring.held_system_key(name)
        assert statements == []
        keyring.cache.evict([system_owner(name)])  # as the TTL would
        assert keyring.held_system_key(name) is None  # the cache only: no database
        assert statements == []
        with container.uow() as uow:
            read = keyring.stored_system_key(uow.session, name)
        assert statements  # read again, and unwrapped
    finally:
        sa.event.remove(container.engine, "before_cursor_execute", seen)
    assert cached is not None and read is not None
    assert cached.keyed_hash("x", b"m") == read.keyed_hash("x", b"m") == stored.keyed_hash("x", b"m")
