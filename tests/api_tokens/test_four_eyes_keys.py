"""Issue 15, item 1: an admin alone never obtains a key that reads data.

A service client with purposes is created with an approval request; its key
is refused (403 ``client_pending_approval``) until a DPO - another person -
approves, and again once the grant is revoked. The attacks: the admin
self-minting a service key and detokenizing; the same person approving through
a second key (a DPO key naming themselves); an admin key naming nobody.
"""

from __future__ import annotations

import logging
import re

import pytest
from click.testing import CliRunner

from api.app import create_app
from piivault.cli import main
from tests.api.conftest import settings_env
from tests.api_tokens.conftest import ID_NUMBER, PII, bearer, customer_items
from tests.approved import cli_decide, console_user
from tests.consent.conftest import audit_payloads
from tests.console.conftest import PASSWORD, Console

PENDING = "/client_pending_approval"


@pytest.fixture
def token(client, service_key) -> str:
    resp = client.post("/v1/tokenize", json={"items": customer_items()[:1]}, headers=bearer(service_key))
    return resp.json["items"][0]["token"]


def detokenize(client, key: str, token: str):
    body = {"purpose": "aml_kyc", "tokens": [token], "reveal": "plain"}
    return client.post("/v1/detokenize", json=body, headers=bearer(key))


def mint(client, admin: str, **fields) -> dict:
    body = {"name": "self-minted", "role": "service", "purposes": ["aml_kyc"], **fields}
    resp = client.post("/v1/clients", json=body, headers=bearer(admin))
    assert resp.status_code == 201, resp.json
    return resp.json


def test_an_admin_self_minting_a_service_key_cannot_detokenize(client, container, make_key, token):
    admin = make_key("admin", name="ann-admin", person="ann")
    minted = mint(client, admin)
    assert minted["needs_approval"] and minted["approval_state"] == "pending"
    refused = detokenize(client, minted["api_key"], token)
    assert refused.status_code == 403 and refused.json["type"].endswith(PENDING)
    assert ID_NUMBER not in refused.get_data(as_text=True)
    # Not even tokenize: the key does nothing until approved.
    write = client.post("/v1/tokenize", json={"items": customer_items()}, headers=bearer(minted["api_key"]))
    assert write.status_code == 403 and write.json["type"].endswith(PENDING)
    # The admin's own key may not approve (an admin is not an approver of client.data_access).
    own = client.post(f"/v1/approvals/{minted['approval_id']}/approve", headers=bearer(admin))
    assert own.status_code == 403 and own.json["type"].endswith("/self_approval")
    assert detokenize(client, minted["api_key"], token).status_code == 403


def test_the_same_person_approving_through_a_second_key_is_refused(client, container, make_key, token):
    admin = make_key("admin", name="ann-admin", person="ann")
    minted = mint(client, admin)
    # Ann also holds a (working) DPO key of her own and approves with it. (An admin minting a
    # DPO key is itself refused until approved: tests/api_tokens/test_four_eyes_identity.py.)
    second = make_key("dpo", name="ann-dpo", person="ann")
    refused = client.post(f"/v1/approvals/{minted['approval_id']}/approve", headers=bearer(second))
    assert refused.status_code == 403 and refused.json["type"].endswith("/self_approval")
    assert detokenize(client, minted["api_key"], token).json["type"].endswith(PENDING)
    denied = [
        e
        for e in audit_payloads(container)
        if e["action"] == "approval.approve" and e["details"]["approval_id"] == minted["approval_id"]
    ]
    assert [(e["outcome"], e["reason"]) for e in denied] == [("denied", "self_approval")]
    # Another person, a DPO, approves: the key reads data from the next request on.
    dora = make_key("dpo", name="dora-dpo", person="dora")
    approved = client.post(f"/v1/approvals/{minted['approval_id']}/approve", headers=bearer(dora))
    assert approved.status_code == 200 and approved.json["grant_id"]
    assert detokenize(client, minted["api_key"], token).json["items"][0]["value"] == ID_NUMBER


def test_revoking_the_grant_stops_the_key_on_the_next_request(client, make_key, token):
    minted = mint(client, make_key("admin", name="ann-admin", person="ann"))
    dora = make_key("dpo", name="dora-dpo", person="dora")
    grant = client.post(f"/v1/approvals/{minted['approval_id']}/approve", headers=bearer(dora)).json[
        "grant_id"
    ]
    assert detokenize(client, minted["api_key"], token).status_code == 200
    assert client.delete(f"/v1/grants/{grant}", headers=bearer(dora)).status_code == 200
    assert detokenize(client, minted["api_key"], token).json["type"].endswith(PENDING)


def test_an_admin_key_naming_nobody_creates_no_data_client(client, container, make_key):
    anonymous = make_key("admin", name="anon-admin")
    resp = client.post(
        "/v1/clients",
        json={"name": "ghost", "role": "service", "purposes": ["aml_kyc"]},
        headers=bearer(anonymous),
    )
    assert resp.status_code == 403 and resp.json["type"].endswith("/no_person")
    assert container.clients.find_by_name("ghost") == []
    # A client without data access (no purposes) needs nobody: it writes tokens, reads nothing.
    plain = client.post("/v1/clients", json={"name": "intake", "role": "service"}, headers=bearer(anonymous))
    assert plain.status_code == 201 and plain.json["needs_approval"] is False


def test_the_cli_is_no_side_door(container, token, client):
    """An operator at the command line (database and Vault credentials) asks for a data client
    as an admin and cannot approve it: not as themselves, not as an invented DPO, not as a DPO
    console user they make and know the password of; a real DPO, with her password, can."""
    env = settings_env(container)
    runner = CliRunner()
    args = ["clients", "create", "--name", "cli-crm", "--role", "service", "--purposes", "aml_kyc"]
    nobody = runner.invoke(main, args, env=env)
    assert nobody.exit_code == 2 and "--as ADMIN" in nobody.output
    assert container.clients.find_by_name("cli-crm") == []
    dora = console_user(container, "dora")  # a DPO of the firm, with her own password
    asked = runner.invoke(main, [*args, "--as", "ann"], env=env)
    assert asked.exit_code == 0, asked.output
    key = asked.stdout.strip()
    assert detokenize(client, key, token).json["type"].endswith(PENDING)
    approval_id = re.search(r"apr_[a-z2-7]{24}", asked.stderr).group(0)
    approve = ("approvals", "approve", approval_id, "--role", "dpo")
    # The admin as themselves (no console user), as an invented DPO, as a DPO they just made.
    own = cli_decide(runner, env, *approve, user="ann")
    invented = cli_decide(runner, env, *approve, user="dai")
    made = runner.invoke(
        main,
        ["users", "create", "--username", "dee", "--role", "dpo", "--password-stdin", "--as", "ann"],
        env=env,
        input=PASSWORD + "\n",
    )
    assert made.exit_code == 0, made.output
    own_dpo = cli_decide(runner, env, *approve, user="dee")
    # Dora's name without her password.
    guessed = cli_decide(runner, env, *approve, user=dora, password="a guess at her password")
    for refused in (own, invented, own_dpo, guessed):
        assert refused.exit_code == 2, refused.output
        assert detokenize(client, key, token).json["type"].endswith(PENDING)
    events = audit_payloads(container)
    reasons = [e["reason"] for e in events if e["action"] == "console.sign_in" and e["outcome"] == "denied"]
    assert reasons == ["unknown_user", "unknown_user", "pending_approval", "wrong_password"]
    done = cli_decide(runner, env, *approve, user=dora)
    assert done.exit_code == 0, done.output
    assert detokenize(client, key, token).json["items"][0]["value"] == ID_NUMBER


def test_four_eyes_off_for_client_access_is_said_at_start_up_and_on_the_dashboard(settings, caplog):
    from access.rules import log_four_eyes
    from api.console.services import console_service
    from tests.conftest import make_container

    single = make_container(settings.replace(approvals="client.data_access=0"))
    try:
        with caplog.at_level(logging.WARNING, logger="access.rules"):
            log_four_eyes(single.access.rules)
        assert "four-eyes is OFF for: client.data_access" in caplog.text
        app = create_app(single)
        admin = single.clients.create(name="a", role="admin", actor="t", person="ann")[1]
        minted = mint(app.test_client(), admin)
        assert minted["approval_state"] == "approved"  # asked and approved at once, audited
        resp = app.test_client().post(
            "/v1/tokenize", json={"items": customer_items()[:1]}, headers=bearer(minted["api_key"])
        )
        assert resp.status_code == 200
        console_service(single).users.create(username="dora", role="dpo", password=PASSWORD, actor="t")
        page = Console(app.test_client(), "dora").get("/console/").get_data(as_text=True)
        assert 'data-testid="four-eyes-off"' in page and "client.data_access" in page
    finally:
        single.close()
    assert not any(v in caplog.text for v in PII)
