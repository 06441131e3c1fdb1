"""API clients through the client (role admin): create, list, read, revoke."""

from __future__ import annotations

import pytest

from piivault_client import Conflict, Forbidden, PiivaultClient, Unauthorized


def test_an_admin_creates_lists_and_revokes_a_client(connect, base_url):
    admin = connect("admin", person="ann")
    created = admin.clients.create(
        "core-banking", "service", purposes=["aml_kyc"], permissions=["write_attributes"], expires_in_days=90
    )
    assert created["api_key"].startswith("pvk_") and created["state"] == "active"
    assert created["permissions"] == ["write_attributes"]
    assert created["purposes"] == ["aml_kyc"] and created["expires_at"]
    new = PiivaultClient(base_url, created["api_key"])
    with pytest.raises(Forbidden) as pending:  # four eyes: a DPO approves first
        new.subjects.create()
    assert pending.value.code == "client_pending_approval"
    connect("dpo", person="dora").approvals.approve(created["approval_id"])
    assert new.subjects.create()["subject_id"]
    listed = {c["id"]: c for c in admin.clients.list()}
    assert listed[created["id"]]["name"] == "core-banking" and "api_key" not in listed[created["id"]]
    assert admin.clients.get(created["id"])["role"] == "service"
    assert admin.clients.revoke(created["id"])["state"] == "revoked"
    with pytest.raises(Unauthorized):
        new.subjects.create()
    with pytest.raises(Conflict):
        admin.clients.revoke(created["id"])
    with pytest.raises(Forbidden):
        connect("dpo").clients.list()
