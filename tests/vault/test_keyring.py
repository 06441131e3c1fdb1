"""Data keys, caching, crypto-shredding and rotation, on SQLite and PostgreSQL."""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Sequence

import pytest
import sqlalchemy as sa

from tests.conftest import make_container, make_settings
from vault import Binding, InvalidSealedValue, KeyVersionRetired, SubjectShredded, subject_owner
from vault import tables as t
from vault.providers.base import KeyProvider
from vault.providers.transit import TransitKeyProvider


class CountingProvider(TransitKeyProvider):
    """The real Transit provider, counting calls that reach Vault."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.unwrap_calls = 0
        self.wrap_calls = 0

    def unwrap(self, wrapped: Sequence[str]) -> list[bytes]:
        self.unwrap_calls += 1
        return super().unwrap(wrapped)

    def wrap(self, keys: Sequence[bytes]) -> list[bytes]:
        self.wrap_calls += 1
        return super().wrap(keys)


def _counting(container) -> CountingProvider:
    p = container.provider
    counting = CountingProvider(p.addr, token=p._token, key_name=p.key_name, mount=p.mount)
    container.keyring.provider = counting
    return counting


def _subjects(n: int) -> list[str]:
    return [secrets.token_hex(8) for _ in range(n)]


def _seal_values(container, subjects):
    sealed = {}
    with container.session_factory() as s:
        container.keyring.create_subject_keys(s, subjects)
        for sid in subjects:
            b = Binding(sid, "cn_mobile", "r1")
            sealed[sid] = container.keyring.seal(s, b, f"value-{sid}".encode())
        s.commit()
    return sealed


def test_deks_are_stored_only_wrapped(container):
    subjects = _subjects(3)
    _seal_values(container, subjects)
    with container.session_factory() as s:
        rows = s.execute(sa.select(t.data_keys)).mappings().all()
    subject_rows = [r for r in rows if r["owner"].startswith("subject:")]
    assert len(subject_rows) == 3
    for r in subject_rows:
        assert r["wrapped_dek"].startswith("vault:v1:")
        assert r["kek_version"] == 1


def test_seal_open_round_trip_and_batch_unwrap_is_one_call(container):
    subjects = _subjects(600)  # more than one Transit chunk
    sealed = _seal_values(container, subjects)
    container.keyring.cache.clear()
    counting = _counting(container)
    with container.session_factory() as s:
        keys = container.keyring.data_keys(s, [subject_owner(x) for x in subjects])
        assert counting.unwrap_calls == 1
        for sid in subjects:
            b = Binding(sid, "cn_mobile", "r1")
            assert keys[subject_owner(sid)].open(sealed[sid], b) == f"value-{sid}".encode()
        # second time: served from the cache, no Vault call
        container.keyring.data_keys(s, [subject_owner(x) for x in subjects])
        assert counting.unwrap_calls == 1


def test_cache_entry_is_not_trusted_after_the_row_changes(container):
    (sid,) = _subjects(1)
    _seal_values(container, [sid])
    with container.session_factory() as s:
        container.keyring.shred(s, sid, "test")
        s.commit()
    # a new key for the same subject: the stale cache entry must not be used
    with container.session_factory() as s:
        container.keyring.create_subject_keys(s, [sid])
        s.commit()
    container.keyring.cache.clear()
    with container.session_factory() as s:
        fresh = container.keyring.subject_key(s, sid)
        assert fresh.open(fresh.seal(b"x", Binding(sid, "f", "r")), Binding(sid, "f", "r")) == b"x"


def test_shred_makes_every_value_unopenable_and_is_ledgered(container):
    a, b = _subjects(2)
    sealed = _seal_values(container, [a, b])
    with container.session_factory() as s:
        entry = container.keyring.shred(s, a, "dsr-erasure", request_id="req-1")
        s.commit()
    assert entry.subject_id == a
    with container.session_factory() as s:
        with pytest.raises(SubjectShredded):
            container.keyring.open(s, Binding(a, "cn_mobile", "r1"), sealed[a])
        # the other subject is untouched
        assert container.keyring.open(s, Binding(b, "cn_mobile", "r1"), sealed[b]) == f"value-{b}".encode()
        rows = s.execute(sa.select(t.erasures)).mappings().all()
    assert [(r["subject_id"], r["reason"], r["request_id"]) for r in rows] == [(a, "dsr-erasure", "req-1")]
    ledger = container.keyring.ledger.entries()
    assert [e.subject_id for e in ledger] == [a]
    # nothing in the database still wraps the erased subject's key
    with container.session_factory() as s:
        assert (
            s.scalar(
                sa.select(sa.func.count())
                .select_from(t.data_keys)
                .where(t.data_keys.c.owner == subject_owner(a))
            )
            == 0
        )


def test_restore_from_backup_then_replay_shreds_again(bao, tmp_path):
    # A file-level backup and restore: the SQLite scenario the issue names.
    settings = make_settings(f"sqlite:///{tmp_path / 'piivault.db'}", bao, tmp_path)
    container = make_container(settings)
    db_file = settings.database_url.removeprefix("sqlite:///")
    subjects = _subjects(5)
    sealed = _seal_values(container, subjects)
    erased = subjects[:3]
    container.engine.dispose()
    shutil.copyfile(db_file, tmp_path / "backup.db")  # backup taken before the erasure

    with container.session_factory() as s:
        for sid in erased:
            container.keyring.shred(s, sid, "dsr-erasure")
        s.commit()
    container.close()

    shutil.copyfile(tmp_path / "backup.db", db_file)  # restore
    for suffix in ("-wal", "-shm"):
        (tmp_path / ("piivault.db" + suffix)).unlink(missing_ok=True)
    restored = make_container(settings)
    with restored.session_factory() as s:
        # the restored database can open erased values again: the danger replay removes
        assert restored.keyring.pending_erasures(s) == erased
        assert restored.keyring.open(s, Binding(erased[0], "cn_mobile", "r1"), sealed[erased[0]])
    from piivault.container import startup_check
    from piivault.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="replay-erasures"):
        startup_check(restored)

    with restored.session_factory() as s:
        report = restored.keyring.replay_erasures(s)
        s.commit()
    assert report.shredded == 3 and report.recorded == 3
    restored.keyring.cache.clear()
    with restored.session_factory() as s:
        for sid in erased:
            with pytest.raises(SubjectShredded):
                restored.keyring.open(s, Binding(sid, "cn_mobile", "r1"), sealed[sid])
        for sid in subjects[3:]:
            assert restored.keyring.open(s, Binding(sid, "cn_mobile", "r1"), sealed[sid])
        assert restored.keyring.pending_erasures(s) == []
    startup_check(restored)
    restored.close()


def test_rotate_rewrap_resumable_then_retire(container):
    subjects = _subjects(25)
    sealed = _seal_values(container, subjects)
    with container.session_factory() as s:
        sealed_before = {r.owner: r.wrapped_dek for r in s.execute(sa.select(t.data_keys))}
    container.provider.rotate()
    with container.session_factory() as s:
        assert container.keyring.status(s).outdated == 27  # 25 subjects + the system keys
    # interrupted after two batches...
    first = container.keyring.rewrap(container.session_factory, batch_size=10, max_batches=2)
    assert (first.rewrapped, first.remaining) == (20, 7)
    # ...and resumed
    second = container.keyring.rewrap(container.session_factory, batch_size=10)
    assert (second.rewrapped, second.remaining) == (7, 0)
    with container.session_factory() as s:
        st = container.keyring.status(s)
        assert st.deks_by_version == {2: 27}
        after = {r.owner: r.wrapped_dek for r in s.execute(sa.select(t.data_keys))}
    assert all(after[o] != sealed_before[o] for o in after)
    with container.session_factory() as s:
        container.keyring.retire_old_versions(s)
    assert container.provider.key_info().min_decryption_version == 2
    container.keyring.cache.clear()
    with container.session_factory() as s:
        for sid in subjects:
            assert container.keyring.open(s, Binding(sid, "cn_mobile", "r1"), sealed[sid])


def test_retire_refuses_while_old_keys_remain(container):
    _seal_values(container, _subjects(2))
    container.provider.rotate()
    from piivault.errors import ValidationFailed

    with container.session_factory() as s, pytest.raises(ValidationFailed, match="rewrap"):
        container.keyring.retire_old_versions(s)


def test_forcing_retirement_without_rewrap_fails_typed(container):
    (sid,) = _subjects(1)
    sealed = _seal_values(container, [sid])
    container.provider.rotate()
    container.provider.set_min_decryption_version(2)
    container.keyring.cache.clear()
    with container.session_factory() as s, pytest.raises(KeyVersionRetired):
        container.keyring.open(s, Binding(sid, "cn_mobile", "r1"), sealed[sid])


def test_sealed_value_copied_to_another_row_does_not_open(container):
    a, b = _subjects(2)
    sealed = _seal_values(container, [a, b])
    with container.session_factory() as s:
        with pytest.raises(InvalidSealedValue):
            container.keyring.open(s, Binding(a, "cn_mobile", "r2"), sealed[a])
        with pytest.raises(InvalidSealedValue):
            container.keyring.open(s, Binding(b, "cn_mobile", "r1"), sealed[a])


def test_signer_is_stored_sealed_and_stable(container):
    with container.session_factory() as s:
        signer = container.keyring.signer(s, "audit-signing")
        s.commit()
    with container.session_factory() as s:
        again = container.keyring.signer(s, "audit-signing")
        raw = s.scalar(sa.select(t.sealed_secrets.c.sealed).where(t.sealed_secrets.c.name == "audit-signing"))
    assert again.public_key == signer.public_key
    assert signer.export_seed() not in bytes(raw)


def test_provider_interface_is_abstract():
    with pytest.raises(TypeError):
        KeyProvider()  # type: ignore[abstract]
