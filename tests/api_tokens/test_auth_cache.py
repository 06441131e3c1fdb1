"""Verified API keys are reused for a few seconds without the database; revocation stays bounded."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from access.identity import client_approved
from access.tables import grants
from api.app import create_app
from identity.clients import ClientStore
from identity.clients.errors import ApiKeyRevoked, ClientPendingApproval, InvalidApiKey
from piivault.db import utcnow
from tests.api_tokens.conftest import bearer
from tests.approved import create_client
from tests.conftest import make_container
from tests.wire import traced


class Ticks:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _store(container, seconds: float, ticks: Ticks | None = None) -> ClientStore:
    return ClientStore(
        container.uow,
        container.session_factory,
        container.keyring,
        verified_cache_seconds=seconds,
        monotonic=ticks or Ticks(),
        data_access=client_approved,  # four eyes, as the app's store
    )


@pytest.fixture
def statements(container):
    """SQL statements run through the container's engine, as they happen."""
    seen: list[str] = []

    def record(conn, cursor, statement, *args):
        seen.append(statement)

    event.listen(container.engine, "before_cursor_execute", record)
    yield seen
    event.remove(container.engine, "before_cursor_execute", record)


def test_a_verified_key_is_reused_without_a_database_round_trip(container, statements):
    store = _store(container, 5.0)
    _, key = create_client(container, store=store, name="crm", role="service", purposes=["aml_kyc"])
    first = store.authenticate(key)
    statements.clear()
    assert store.authenticate(key) == first
    assert statements == []


def test_without_the_cache_every_request_checks_the_database(container, statements):
    store = _store(container, 0)
    _, key = create_client(container, store=store, name="crm", role="service", purposes=["aml_kyc"])
    store.authenticate(key)
    statements.clear()
    store.authenticate(key)
    assert any("api_clients" in s for s in statements)


def test_only_the_presented_key_is_cached_never_its_client_id(container):
    store = _store(container, 5.0)
    _, key = create_client(container, store=store, name="crm", role="service", purposes=["aml_kyc"])
    store.authenticate(key)
    public_id = key.split("_")[1]
    forged = f"pvk_{public_id}_{'A' * 43}"
    with pytest.raises(InvalidApiKey):
        store.authenticate(forged)


def test_a_key_revoked_by_another_process_fails_within_the_bound(container):
    ticks = Ticks()
    worker = _store(container, 2.0, ticks)  # one gunicorn worker
    other = _store(container, 2.0)  # another worker, or the CLI
    client, key = create_client(container, store=worker, name="crm", role="service", purposes=["aml_kyc"])
    worker.authenticate(key)
    other.revoke(client.id, actor="test")
    ticks.now += 1.9
    assert worker.authenticate(key).client_id == client.id  # the documented bound: up to 2 s
    ticks.now += 0.2
    with pytest.raises(ApiKeyRevoked):
        worker.authenticate(key)


def test_off_by_default_so_revocation_elsewhere_is_immediate(container):
    app_store = container.clients
    assert app_store.verified_cache_seconds == container.settings.auth_cache_seconds == 0
    client, key = create_client(container, store=app_store, name="crm", role="service", purposes=["aml_kyc"])
    app_store.authenticate(key)
    _store(container, 0).revoke(client.id, actor="test")  # the CLI, another process
    with pytest.raises(ApiKeyRevoked):
        app_store.authenticate(key)


def test_the_app_takes_the_setting_and_revocation_through_it_is_immediate(settings):
    container = make_container(settings.replace(auth_cache_seconds=2.0))
    try:
        store = container.clients
        assert store.verified_cache_seconds == 2.0
        created, key = create_client(container, store=store, name="crm", role="service", purposes=["aml_kyc"])
        client = create_app(container).test_client()
        assert client.get("/v1/subjects/cust-00000001", headers=bearer(key)).status_code == 404
        store.revoke(created.id, actor="test")
        resp = client.get("/v1/subjects/cust-00000001", headers=bearer(key))
        assert resp.status_code == 401 and resp.json["type"].endswith("/api_key_revoked")
    finally:
        container.close()


def test_an_uncached_check_is_one_statement_outside_any_transaction(container, backend):
    """Issue 22: the client's row, its stored hash and its approval grant come in one statement, on
    PostgreSQL through the read-only autocommit pool (no BEGIN, no COMMIT), on the driver's own
    connection (piivault.direct); nothing reaches the read-write pool once last_used_at is fresh.
    What each pool's connections send is read from libpq's trace: SQLAlchemy's events never see
    a statement run on the driver."""
    if backend != "postgresql":
        pytest.skip("the read-only autocommit pool is PostgreSQL's (group commit)")
    store = container.clients
    client, key = create_client(container, store=store, name="crm", role="service", purposes=["aml_kyc"])
    assert client.needs_approval  # so the approval is read too
    store.authenticate(key)  # writes last_used_at, and caches the HMAC key
    with traced(container.engine) as read_write, traced(container.read_only_engine) as read_only:
        assert store.authenticate(key).client_id == client.id
    assert read_write.executions() == 0 and read_write.autocommit == []
    assert read_only.autocommit == [True]
    assert read_only.executions() == 1
    assert read_only.queries() == []  # no BEGIN, no COMMIT
    assert read_only.transaction_states() == {"I"}
    # The one statement reads the approval: with the grant revoked, the same key is refused.
    with container.engine.begin() as conn:
        conn.execute(
            grants.update().where(grants.c.target == client.id).values(revoked_at=utcnow(), revoked_by="test")
        )
    with pytest.raises(ClientPendingApproval):
        store.authenticate(key)
