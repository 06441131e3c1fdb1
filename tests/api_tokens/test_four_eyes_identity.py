"""Issue 15, the identity hole: an admin cannot mint an approver to approve their own requests.

Four eyes count persons, and a person is whoever a credential names. The
attack: an admin creates a ``dpo`` key (or console user) naming an invented
person and approves their own service client with it. A credential or console
user in an approving role is itself an ``identity.approver`` request that an
existing DPO - neither the admin nor the person it names - approves; until
then the key is refused (403 ``client_pending_approval``) and the user cannot
sign in. Only the command line, with no approving identity yet, makes one
without approval (bootstrap).
"""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from access import model as m
from access.errors import SelfApproval
from access.identity import user_target
from api.app import create_app
from api.console.services import console_service
from piivault.cli import main
from tests.api.conftest import settings_env
from tests.api_tokens.conftest import bearer
from tests.api_tokens.test_four_eyes_keys import PENDING, detokenize, mint
from tests.approved import cli_decide
from tests.consent.conftest import audit_payloads
from tests.console.conftest import PASSWORD, Console, sign_in


def mint_dpo(client, admin: str, person: str) -> dict:
    body = {"name": f"{person}-dpo", "role": "dpo", "person": person}
    resp = client.post("/v1/clients", json=body, headers=bearer(admin))
    assert resp.status_code == 201, resp.json
    return resp.json


def test_an_admin_minting_a_dpo_key_for_an_invented_person_cannot_approve_their_own_client(
    client, container, make_key, service_key
):
    admin = make_key("admin", name="ann-admin", person="ann")
    service = mint(client, admin)
    dpo = mint_dpo(client, admin, "zed")  # nobody called zed works here
    assert dpo["needs_approval"] and dpo["approval_state"] == "pending"
    # The attack: the invented DPO approves the admin's own client. Its key does not even work.
    refused = client.post(f"/v1/approvals/{service['approval_id']}/approve", headers=bearer(dpo["api_key"]))
    assert refused.status_code == 403 and refused.json["type"].endswith(PENDING)
    token = client.post(
        "/v1/tokenize",
        json={"items": [{"field_type": "name", "value": "张伟", "subject_id": "cust-0001"}]},
        headers=bearer(service_key),
    ).json["items"][0]["token"]
    assert detokenize(client, service["api_key"], token).json["type"].endswith(PENDING)
    # Nor may the admin approve the identity (self-approval), nor can the request be filed by hand.
    own = client.post(f"/v1/approvals/{dpo['approval_id']}/approve", headers=bearer(admin))
    assert own.status_code == 403 and own.json["type"].endswith("/self_approval")
    request = client.get(f"/v1/approvals/{dpo['approval_id']}", headers=bearer(admin)).json
    assert request["action"] == m.IDENTITY_APPROVER and request["scope"]["person"] == "zed"
    by_hand = client.post(
        "/v1/approvals",
        json={
            "action": m.IDENTITY_APPROVER,
            "scope": {"target": dpo["id"]},
            "reason_code": "identity_change",
            "reason_text": "let it through",
        },
        headers=bearer(admin),
    )
    assert by_hand.status_code == 422 and by_hand.json["type"].endswith("/invalid_scope")
    assert client.get("/v1/approvals", headers=bearer(dpo["api_key"])).json["type"].endswith(PENDING)


def test_nobody_approves_their_own_approving_power_and_a_real_dpo_makes_it_work(client, make_key):
    admin = make_key("admin", name="ann-admin", person="ann")
    dpo = mint_dpo(client, admin, "zed")
    # A DPO key naming the same person (zed) may not approve zed's new key.
    zed_elsewhere = make_key("dpo", name="zed-old", person="zed")
    refused = client.post(f"/v1/approvals/{dpo['approval_id']}/approve", headers=bearer(zed_elsewhere))
    assert refused.status_code == 403 and refused.json["type"].endswith("/self_approval")
    dora = make_key("dpo", name="dora-dpo", person="dora")
    approved = client.post(f"/v1/approvals/{dpo['approval_id']}/approve", headers=bearer(dora))
    assert approved.status_code == 200 and approved.json["state"] == "approved"
    assert client.get("/v1/approvals?inbox=true", headers=bearer(dpo["api_key"])).status_code == 200
    # Revoking the identity grant stops the key on the next request.
    assert client.delete(f"/v1/grants/{approved.json['grant_id']}", headers=bearer(dora)).status_code == 200
    again = client.get("/v1/approvals?inbox=true", headers=bearer(dpo["api_key"]))
    assert again.status_code == 403 and again.json["type"].endswith(PENDING)


def _console_admin(app, console, username: str = "root") -> Console:
    console.users.create(username=username, role="admin", password=PASSWORD, actor="test")
    return Console(app.test_client(), username)


def _approval_for(container, username: str) -> m.ApprovalRequest:
    found = container.access.list_requests(target=user_target(username))
    assert found, "no approval request for the user"
    return found[0]


def test_a_console_admin_creating_a_dpo_user_waits_for_another_dpo(container):
    app = create_app(container)
    console = console_service(container)
    admin = _console_admin(app, console)
    made = admin.post(
        "/console/users",
        {"username": "mallory2", "role": "dpo", "password": PASSWORD, "confirm": PASSWORD, "language": "en"},
    )
    assert made.status_code == 303 and "user_created_pending" in made.headers["Location"]
    assert 'data-testid="user-awaiting-mallory2"' in admin.get("/console/users").get_data(as_text=True)
    # The invented DPO cannot sign in, so cannot approve anything.
    assert sign_in(app.test_client(), "mallory2").status_code != 303
    denied = [
        e for e in audit_payloads(container) if e["action"] == "console.sign_in" and e["outcome"] == "denied"
    ]
    assert denied and denied[-1]["reason"] == "pending_approval"
    request = _approval_for(container, "mallory2")
    assert request.requester == "root" and request.state == m.PENDING
    access = container.access
    # The admin may not approve it; a DPO, another person, does.
    with pytest.raises(SelfApproval):
        access.approve(m.Acting("root", "dpo", "client:rootdpo1"), request.id)
    access.approve(m.Acting("dora", "dpo", "user:dora"), request.id)
    assert 'data-testid="user-awaiting-mallory2"' not in admin.get("/console/users").get_data(as_text=True)
    session = Console(app.test_client(), "mallory2")
    assert session.get("/console/").status_code == 200
    # Its grant revoked: the open session ends on the next request.
    access.revoke(m.Acting("dora", "dpo", "user:dora"), access.get(request.id).grant_id)
    assert session.get("/console/").status_code in (302, 303)


def test_a_console_admin_resetting_a_dpo_password_needs_approval(container):
    app = create_app(container)
    console = console_service(container)
    console.users.create(username="dora", role="dpo", password=PASSWORD, actor="test")
    admin = _console_admin(app, console)
    new_password = "another horse battery staple"
    reset = admin.post("/console/users/dora/password", {"password": new_password, "confirm": new_password})
    assert reset.status_code == 303 and "password_reset_pending" in reset.headers["Location"]
    # The admin knows dora's new password, but it opens nothing until another DPO approves.
    taken = sign_in(app.test_client(), "dora", new_password)
    assert taken.status_code != 303
    request = _approval_for(container, "dora")
    assert request.scope.person == "dora"
    access = container.access
    with pytest.raises(SelfApproval):  # nobody approves their own approving power
        access.approve(m.Acting("dora", "dpo", "user:dora"), request.id)
    access.approve(m.Acting("dee", "dpo", "user:dee"), request.id)
    assert sign_in(app.test_client(), "dora", new_password).status_code == 303
    # A second reset revokes that grant (audited) and waits again.
    again = admin.post("/console/users/dora/password", {"password": PASSWORD, "confirm": PASSWORD})
    assert "password_reset_pending" in again.headers["Location"]
    revoked = [e for e in audit_payloads(container) if e["action"] == "grant.revoke"]
    assert [e["details"]["grant_id"] for e in revoked] == [access.get(request.id).grant_id]
    assert sign_in(app.test_client(), "dora").status_code != 303


def test_the_command_line_bootstraps_the_first_dpo_only(container):
    env = settings_env(container)
    runner = CliRunner()
    first = runner.invoke(
        main, ["clients", "create", "--name", "first-dpo", "--role", "dpo", "--person", "dora"], env=env
    )
    assert first.exit_code == 0, first.output
    assert "bootstrap" in first.stderr
    app = create_app(container)
    assert app.test_client().get("/v1/approvals", headers=bearer(first.stdout.strip())).status_code == 200
    # A second one without --as is refused: an approver exists now.
    second = runner.invoke(
        main, ["clients", "create", "--name", "other-dpo", "--role", "dpo", "--person", "zed"], env=env
    )
    assert second.exit_code != 0 and "--as ADMIN" in second.output
    user = runner.invoke(
        main,
        ["users", "create", "--username", "zed", "--role", "dpo", "--password-stdin"],
        env=env,
        input=PASSWORD + "\n",
    )
    assert user.exit_code != 0 and "--as ADMIN" in user.output
    asked = runner.invoke(
        main,
        ["users", "create", "--username", "zed", "--role", "dpo", "--password-stdin", "--as", "ann"],
        env=env,
        input=PASSWORD + "\n",
    )
    assert asked.exit_code == 0, asked.output
    approval_id = re.search(r"apr_[a-z2-7]{24}", asked.stderr).group(0)
    assert sign_in(app.test_client(), "zed").status_code != 303
    zed = cli_decide(runner, env, "approvals", "approve", approval_id, user="zed")
    assert zed.exit_code != 0  # his identity is what waits, and he may not approve it himself
    # Dora, the first DPO (a key), approves.
    done = app.test_client().post(
        f"/v1/approvals/{approval_id}/approve", headers=bearer(first.stdout.strip())
    )
    assert done.status_code == 200, done.json
    assert sign_in(app.test_client(), "zed").status_code == 303
