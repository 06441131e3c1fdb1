"""Issue 22 moved a key's approval check into the statement that reads its client: the grant is
matched in SQL on the client's id, on the action its role needs, and on the time. Each test
makes a key that must be refused and checks that it is, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import logging
import secrets

import pytest
import sqlalchemy as sa

from access import model as m
from access import tables as at
from access.onboarding import create_client as onboard
from identity.clients.errors import ClientPendingApproval, InvalidApiKey
from tests.approved import TEST_ADMIN, create_client
from vault import tables as vt
from vault.keystore import system_owner

HOUR = dt.timedelta(hours=1)


def _pending(container, **fields):
    """A client an admin asked for and nobody approved: its client and key."""
    made = onboard(container.clients, container.access, m.Acting(TEST_ADMIN, "admin", "test:admin"), **fields)
    assert made.approval is not None and made.approval.state == m.PENDING
    return made.client, made.key


def _grant(container, action: str, target: str, *, expires: dt.datetime | None = None) -> None:
    """A grant row as an approval leaves it (the check reads rows; how they were made is tested
    in tests/access)."""
    now = container.clients.clock()
    with container.session_factory.begin() as session:
        session.execute(
            at.grants.insert().values(
                id="grant-" + secrets.token_hex(6),
                kind="approval",
                action=action,
                holder="test-dpo",
                holder_role="dpo",
                scope={"target": target},
                target=target,
                approved_by=["test-dpo2"],
                starts_at=now - HOUR,
                expires_at=expires,
            )
        )


def test_one_clients_grant_does_not_open_another_clients_key(container):
    approved, approved_key = create_client(container, name="crm", role="service", purposes=["aml_kyc"])
    waiting, key = _pending(container, name="crm-2", role="service", purposes=["aml_kyc"])
    assert container.clients.authenticate(approved_key).client_id == approved.id  # its grant is there
    with pytest.raises(ClientPendingApproval):
        container.clients.authenticate(key)


@pytest.mark.parametrize(
    ("fields", "other", "needed"),
    [
        ({"role": "service", "purposes": ["aml_kyc"]}, m.IDENTITY_APPROVER, m.CLIENT_DATA_ACCESS),
        ({"role": "dpo", "person": "dora"}, m.CLIENT_DATA_ACCESS, m.IDENTITY_APPROVER),
    ],
    ids=["service-needs-data-access", "dpo-needs-identity"],
)
def test_a_key_needs_the_grant_its_role_asks_for_not_another(container, fields, other, needed):
    client, key = _pending(container, name="the-key", **fields)
    _grant(container, other, client.id)
    with pytest.raises(ClientPendingApproval):
        container.clients.authenticate(key)
    _grant(container, needed, client.id)
    assert container.clients.authenticate(key).client_id == client.id


def test_a_grant_stops_opening_the_key_when_it_expires(container):
    store = container.clients
    now = store.clock()
    client, key = _pending(container, name="crm", role="service", purposes=["aml_kyc"])
    _grant(container, m.CLIENT_DATA_ACCESS, client.id, expires=now + HOUR)
    store.clock = lambda: now + HOUR - dt.timedelta(seconds=1)
    assert store.authenticate(key).client_id == client.id
    store.clock = lambda: now + HOUR  # the grant ends at its expiry
    with pytest.raises(ClientPendingApproval):
        store.authenticate(key)


def test_a_missing_hmac_key_refuses_every_key_and_makes_no_new_one(container, caplog):
    """Authentication only reads the API keys' HMAC key (on PostgreSQL through a read-only pool):
    a client row without it is refused as an unknown key, and no key is made in its place."""
    _, key = create_client(container, name="crm", role="service", purposes=["aml_kyc"])
    owner = system_owner("api-key-hmac")
    with container.session_factory.begin() as session:
        session.execute(vt.data_keys.delete().where(vt.data_keys.c.owner == owner))
    container.keyring.cache.evict([owner])
    with caplog.at_level(logging.ERROR, logger="identity.clients.store"), pytest.raises(InvalidApiKey):
        container.clients.authenticate(key)
    assert "HMAC key does not" in caplog.text and key not in caplog.text  # said, without the key
    with container.session_factory() as session:
        assert session.scalar(sa.select(sa.func.count()).where(vt.data_keys.c.owner == owner)) == 0
