"""Vault goes away mid-test: cached keys keep working until they expire; nothing half-written."""

from __future__ import annotations

import secrets

import pytest
import sqlalchemy as sa

from tests.conftest import make_container, make_settings
from vault import Binding, VaultUnavailable
from vault import tables as t


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def outage(database_url, private_bao, tmp_path):
    settings = make_settings(database_url, private_bao, tmp_path, vault_timeout=1.0, dek_cache_ttl=60.0)
    container = make_container(settings)
    clock = Clock()
    container.keyring.cache._clock = clock
    yield container, private_bao, clock
    container.close()


def test_cached_keys_open_until_expiry_then_typed_errors(outage):
    container, bao, clock = outage
    hot, cold = secrets.token_hex(8), secrets.token_hex(8)
    with container.session_factory() as s:
        container.keyring.create_subject_keys(s, [hot, cold])
        sealed_hot = container.keyring.seal(s, Binding(hot, "email", "r"), b"hot-value")
        sealed_cold = container.keyring.seal(s, Binding(cold, "email", "r"), b"cold-value")
        s.commit()
    container.keyring.cache.evict(["subject:" + cold])
    clock.now += 10
    with container.session_factory() as s:
        container.keyring.open(s, Binding(hot, "email", "r"), sealed_hot)  # refresh recency

    bao.stop()

    with container.session_factory() as s:
        assert container.keyring.open(s, Binding(hot, "email", "r"), sealed_hot) == b"hot-value"
        with pytest.raises(VaultUnavailable):
            container.keyring.open(s, Binding(cold, "email", "r"), sealed_cold)
    clock.now += 61
    with container.session_factory() as s, pytest.raises(VaultUnavailable):
        container.keyring.open(s, Binding(hot, "email", "r"), sealed_hot)


def test_creating_keys_during_outage_writes_nothing(outage):
    container, bao, _ = outage
    with container.session_factory() as s:
        before = s.scalar(sa.select(sa.func.count()).select_from(t.data_keys))
    bao.stop()
    uow = container.uow()
    with uow, pytest.raises(VaultUnavailable):
        container.keyring.create_subject_keys(uow.session, [secrets.token_hex(8) for _ in range(3)])
        uow.commit()
    with container.session_factory() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(t.data_keys)) == before


def test_readyz_reports_vault_down(outage):
    from api.app import create_app

    container, bao, _ = outage
    client = create_app(container).test_client()
    assert client.get("/readyz").status_code == 200
    bao.stop()
    resp = client.get("/readyz")
    assert resp.status_code == 503
    assert resp.headers["Retry-After"]
    assert resp.json["checks"] == {"database": "ok", "vault": "vault_unavailable"}
    assert client.get("/healthz").status_code == 200
