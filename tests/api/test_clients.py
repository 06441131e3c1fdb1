"""Admin endpoints for clients; keys shown once, stored as keyed hashes, audited, never logged."""

from __future__ import annotations

import logging
import re
import threading

import pytest
import sqlalchemy as sa

from audit import tables as at
from identity.clients import keys
from identity.clients import tables as ct
from identity.clients.errors import LastAdmin
from identity.clients.store import HMAC_KEY_NAME, HMAC_LABEL
from tests.api.conftest import bearer

KEY_FORMAT = re.compile(r"pvk_[a-z0-9]{8}_[A-Za-z0-9]{43}")


def test_create_list_show_revoke(client, admin_key, make_key):
    resp = client.post(
        "/v1/clients",
        json={
            "name": "crm",
            "role": "service",
            "purposes": ["aml_kyc", "risk_scoring"],
            "field_types": ["cn_mobile", "cn_resident_id"],
            "expires_in_days": 90,
        },
        headers=bearer(admin_key),
    )
    assert resp.status_code == 201
    created = resp.json
    assert KEY_FORMAT.fullmatch(created["api_key"])
    assert created["api_key"].startswith(f"pvk_{created['id']}_")
    assert created["purposes"] == ["aml_kyc", "risk_scoring"]
    assert created["field_types"] == ["cn_mobile", "cn_resident_id"]
    assert created["state"] == "active" and created["expires_at"]
    # A client with data access: its key waits for a DPO's approval (four eyes).
    assert created["needs_approval"] is True and created["approval_state"] == "pending"
    assert created["created_by"] == f"client:{keys.parse(admin_key).public_id}"
    assert resp.headers["Cache-Control"] == "no-store"

    listed = client.get("/v1/clients", headers=bearer(admin_key))
    assert listed.status_code == 200
    by_id = {c["id"]: c for c in listed.json}
    assert by_id[created["id"]]["name"] == "crm"
    # The key is shown once: no other response carries it.
    assert created["api_key"] not in listed.get_data(as_text=True)
    assert all("api_key" not in c for c in listed.json)

    shown = client.get(f"/v1/clients/{created['id']}", headers=bearer(admin_key))
    assert shown.status_code == 200 and "api_key" not in shown.json
    pending = client.get("/v1/clients", headers=bearer(created["api_key"]))
    assert pending.status_code == 403 and pending.json["type"].endswith("/client_pending_approval")
    dpo = make_key("dpo", name="t-dpo", person="dora")
    approved = client.post(f"/v1/approvals/{created['approval_id']}/approve", headers=bearer(dpo))
    assert approved.status_code == 200 and approved.json["state"] == "approved"
    # The new key works (a service key: authenticated, but not allowed here).
    assert client.get("/v1/clients", headers=bearer(created["api_key"])).status_code == 403
    assert client.get("/v1/clients", headers=bearer(created["api_key"])).json["type"].endswith("/forbidden")

    revoked = client.delete(f"/v1/clients/{created['id']}", headers=bearer(admin_key))
    assert revoked.status_code == 200
    assert revoked.json["state"] == "revoked" and revoked.json["revoked_at"]
    assert client.get("/v1/clients", headers=bearer(created["api_key"])).status_code == 401


def test_field_types_default_to_no_limit(client, admin_key):
    resp = client.post(
        "/v1/clients",
        json={"name": "risk", "role": "analyst", "purposes": ["risk_scoring"]},
        headers=bearer(admin_key),
    )
    assert resp.status_code == 201 and resp.json["field_types"] is None and resp.json["expires_at"] is None


def test_only_a_keyed_hash_is_stored(container, make_key):
    key = make_key("service", name="hashed", purposes=["aml_kyc"])
    parsed = keys.parse(key)
    with container.session_factory() as s:
        row = s.execute(sa.select(ct.clients).where(ct.clients.c.id == parsed.public_id)).one()
        hmac_key = container.keyring.system_key(s, HMAC_KEY_NAME)
    assert row.key_hash == hmac_key.keyed_hash(HMAC_LABEL, key.encode())
    stored = " ".join(str(v) for v in row)
    assert parsed.secret not in stored and key not in stored
    assert "secret=***" in repr(parsed) and parsed.secret not in repr(parsed)


def _audit_payloads(container) -> list[str]:
    """Audit entries in order, whether still queued or already sequenced into the log."""
    with container.session_factory() as s:
        logged = s.scalars(sa.select(at.events.c.payload).order_by(at.events.c.seq)).all()
        queued = s.scalars(sa.select(at.queue.c.payload).order_by(at.queue.c.id)).all()
    return [*logged, *queued]


def test_creation_and_revocation_are_audited_without_secrets(container, client, admin_key):
    created = client.post(
        "/v1/clients",
        json={"name": "crm", "role": "service", "purposes": ["aml_kyc"]},
        headers=bearer(admin_key),
    ).json
    client.delete(f"/v1/clients/{created['id']}", headers=bearer(admin_key))
    payloads = _audit_payloads(container)
    events = [p for p in payloads if p.startswith('{"action":"client.')]
    assert len(events) == 3  # the fixture's admin, crm created, crm revoked
    # Its data access was asked for in the same transaction: an approval request naming the client.
    asked = [p for p in payloads if p.startswith('{"action":"approval.request"')]
    assert len(asked) == 1 and created["id"] in asked[0] and created["approval_id"] in asked[0]
    assert '"action":"client.create"' in events[1] and created["id"] in events[1]
    assert f'"actor":"client:{keys.parse(admin_key).public_id}"' in events[1]
    assert '"action":"client.revoke"' in events[2]
    for secret in (keys.parse(created["api_key"]).secret, keys.parse(admin_key).secret):
        assert all(secret not in p for p in payloads)


def test_a_failed_audit_write_creates_no_client(container):
    def broken_sink(session, events):
        raise RuntimeError("audit storage refused the write")

    container.audit_sink = broken_sink
    store = container.clients
    with pytest.raises(RuntimeError, match="audit storage"):
        store.create(name="ghost", role="admin", actor="test")
    assert store.find_by_name("ghost") == []


def test_keys_never_reach_the_logs(container, client, admin_key, caplog):
    caplog.set_level(logging.DEBUG)
    created = client.post(
        "/v1/clients",
        json={"name": "crm", "role": "service", "purposes": ["aml_kyc"]},
        headers=bearer(admin_key),
    ).json
    new_key = created["api_key"]
    client.get("/v1/clients", headers=bearer(new_key))
    client.get("/v1/clients", headers=bearer(new_key[:-1] + ("a" if new_key[-1] != "a" else "b")))
    client.delete(f"/v1/clients/{created['id']}", headers=bearer(admin_key))
    client.get("/v1/clients", headers=bearer(new_key))
    assert caplog.records, "expected some log lines to scan"
    for key in (new_key, admin_key):
        secret = keys.parse(key).secret
        assert secret not in caplog.text
        for record in caplog.records:
            assert secret not in str(record.args)


def test_purposes_and_field_types_come_from_the_catalogues(client, admin_key):
    resp = client.post(
        "/v1/clients",
        json={"name": "crm", "role": "service", "purposes": ["aml_kyc", "astrology"]},
        headers=bearer(admin_key),
    )
    assert resp.status_code == 422 and resp.json["detail"] == "unknown purposes: astrology"
    resp = client.post(
        "/v1/clients",
        json={"name": "crm", "role": "service", "purposes": ["aml_kyc"], "field_types": ["shoe_size"]},
        headers=bearer(admin_key),
    )
    assert resp.status_code == 422 and resp.json["detail"] == "unknown field types: shoe_size"


def test_a_key_cannot_revoke_itself(client, admin_key):
    """Issue 14, item 7: the fuzzer revoked its own admin key and locked itself out."""
    own_id = keys.parse(admin_key).public_id
    resp = client.delete(f"/v1/clients/{own_id}", headers=bearer(admin_key))
    assert resp.status_code == 409
    assert resp.mimetype == "application/problem+json"
    assert resp.json["type"].endswith("/self_revocation")
    assert "another admin key" in resp.json["detail"]
    # Nothing changed: the key still works and the client is active.
    shown = client.get(f"/v1/clients/{own_id}", headers=bearer(admin_key))
    assert shown.status_code == 200 and shown.json["state"] == "active"


def test_another_admin_may_revoke_an_admin(client, admin_key, make_key):
    second = make_key("admin", name="second-admin")
    second_id = keys.parse(second).public_id
    assert client.delete(f"/v1/clients/{second_id}", headers=bearer(admin_key)).status_code == 200
    assert client.get("/v1/clients", headers=bearer(second)).status_code == 401
    assert client.get("/v1/clients", headers=bearer(admin_key)).status_code == 200


def test_the_last_active_admin_cannot_be_revoked(container, make_key):
    store = container.clients
    only = keys.parse(make_key("admin", name="only-admin")).public_id
    # An expired or revoked admin is no admin: it does not count as "another one".
    make_key("admin", name="expiring-admin")
    expired = store.find_by_name("expiring-admin")[0].id
    with container.session_factory.begin() as s:
        s.execute(ct.clients.update().where(ct.clients.c.id == expired).values(expires_at=store.clock()))
    with pytest.raises(LastAdmin):
        store.revoke(only, actor="test")
    assert store.get(only).state == "active"
    # Other roles' clients may go whatever the admins are.
    service = keys.parse(make_key("service", name="svc")).public_id
    assert store.revoke(service, actor="test").state == "revoked"


def test_two_admins_revoking_each_other_at_once_leave_one(container, make_key):
    store = container.clients
    a, b = (keys.parse(make_key("admin", name=n)).public_id for n in ("admin-a", "admin-b"))
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def revoke(target: str, caller: str) -> None:
        barrier.wait()
        try:
            store.revoke(target, actor=f"client:{caller}", caller_id=caller)
            outcomes[target] = "revoked"
        except LastAdmin:
            outcomes[target] = "refused"

    threads = [threading.Thread(target=revoke, args=args) for args in ((a, b), (b, a))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes.values()) == ["refused", "revoked"]
    assert sorted(store.get(c).state for c in (a, b)) == ["active", "revoked"]
