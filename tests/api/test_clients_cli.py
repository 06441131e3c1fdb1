"""``piivault clients create/list/revoke`` and the development admin key."""

from __future__ import annotations

import re

from click.testing import CliRunner

from api.app import create_app
from piivault.cli import main
from piivault.devmode import dev_admin_key
from tests.api.conftest import bearer, settings_env
from tests.approved import cli_decide, console_user

KEY = re.compile(r"pvk_[a-z0-9]{8}_[A-Za-z0-9]{43}")
APPROVAL = re.compile(r"apr_[a-z2-7]{24}")


def approve(runner: CliRunner, env: dict[str, str], created) -> None:
    """A DPO console user, another person than the admin who asked, approves the printed
    request with her password."""
    approval_id = APPROVAL.search(created.stderr).group(0)
    done = cli_decide(runner, env, "approvals", "approve", approval_id, user="dora")
    assert done.exit_code == 0, done.output


def test_allow_attributes_gives_the_explicit_permission(container):
    env = settings_env(container)
    runner = CliRunner()
    console_user(container, "dora")
    args = ["clients", "create", "--role", "service", "--purposes", "risk_scoring", "--as", "ops-ann"]
    writer = runner.invoke(main, [*args, "--name", "scorer", "--allow-attributes"], env=env)
    plain = runner.invoke(main, [*args, "--name", "reader"], env=env)
    assert writer.exit_code == 0 and plain.exit_code == 0, writer.output + plain.output
    approve(runner, env, writer)
    approve(runner, env, plain)
    listed = runner.invoke(main, ["clients", "list"], env=env).output
    assert "write_attributes" in next(line for line in listed.splitlines() if " scorer " in line)
    assert "write_attributes" not in next(line for line in listed.splitlines() if " reader " in line)
    client = create_app(container).test_client()
    body = {"items": [{"subject_id": "cust-0001", "attributes": {"grade": "A"}}]}
    refused = client.post("/v1/attributes", json=body, headers=bearer(KEY.search(plain.stdout).group(0)))
    assert refused.status_code == 403
    # The permitted key passes the permission check (the subject does not exist: 422, not 403).
    allowed = client.post("/v1/attributes", json=body, headers=bearer(KEY.search(writer.stdout).group(0)))
    assert allowed.status_code == 422 and "no such subject" in allowed.json["detail"]
    auditor = runner.invoke(
        main, ["clients", "create", "--name", "aud", "--role", "auditor", "--allow-attributes"], env=env
    )
    assert auditor.exit_code != 0 and "service" in auditor.output


def test_create_list_revoke(container):
    env = settings_env(container)
    runner = CliRunner()
    console_user(container, "dora")
    created = runner.invoke(
        main,
        [
            "clients",
            "create",
            "--name",
            "crm",
            "--role",
            "service",
            "--purposes",
            "aml_kyc,risk_scoring",
            "--field-types",
            "cn_mobile",
            "--expires-in",
            "30",
            "--as",
            "ops-ann",
        ],
        env=env,
    )
    assert created.exit_code == 0, created.output
    keys_shown = KEY.findall(created.output)
    assert len(keys_shown) == 1  # printed once
    key = keys_shown[0]
    assert created.stdout.strip() == key  # stdout is the key alone: easy to capture in a script
    assert "shown once" in created.stderr
    assert "piivault approvals approve apr_" in created.stderr

    client = create_app(container).test_client()
    pending = client.get("/v1/clients", headers=bearer(key))
    assert pending.status_code == 403 and pending.json["type"].endswith("/client_pending_approval")
    approve(runner, env, created)
    assert client.get("/v1/clients", headers=bearer(key)).status_code == 403  # valid, not admin

    listed = runner.invoke(main, ["clients", "list"], env=env)
    assert listed.exit_code == 0, listed.output
    client_id = key.split("_")[1]
    line = next(line for line in listed.output.splitlines() if line.startswith(client_id))
    assert "crm" in line and "service" in line and "active" in line and "aml_kyc,risk_scoring" in line
    assert key not in listed.output and key.split("_")[2] not in listed.output

    revoked = runner.invoke(main, ["clients", "revoke", client_id], env=env)
    assert revoked.exit_code == 0, revoked.output
    assert f"revoked client {client_id}" in revoked.output
    assert client.get("/v1/clients", headers=bearer(key)).status_code == 401
    listed = runner.invoke(main, ["clients", "list"], env=env)
    assert "revoked" in next(line for line in listed.output.splitlines() if line.startswith(client_id))


def test_cli_admin_key_works_over_http(container):
    result = CliRunner().invoke(
        main, ["clients", "create", "--name", "ops", "--role", "admin"], env=settings_env(container)
    )
    assert result.exit_code == 0, result.output
    key = KEY.findall(result.output)[0]
    assert create_app(container).test_client().get("/v1/clients", headers=bearer(key)).status_code == 200


def test_cli_errors_are_one_line(container):
    env = settings_env(container)
    runner = CliRunner()
    bad = runner.invoke(
        main, ["clients", "create", "--name", "x", "--role", "auditor", "--purposes", "aml_kyc"], env=env
    )
    assert bad.exit_code == 2
    assert bad.output.strip().startswith("piivault: purposes and field types apply to")
    missing = runner.invoke(main, ["clients", "revoke", "zzzzzzzz"], env=env)
    assert missing.exit_code == 2 and missing.output.strip() == "piivault: no such client"
    twice = runner.invoke(main, ["clients", "create", "--name", "t", "--role", "dpo"], env=env)
    client_id = KEY.findall(twice.output)[0].split("_")[1]
    assert runner.invoke(main, ["clients", "revoke", client_id], env=env).exit_code == 0
    again = runner.invoke(main, ["clients", "revoke", client_id], env=env)
    assert again.exit_code == 2 and "already revoked" in again.output


def test_dev_mode_prints_an_admin_key_once(container):
    first = dev_admin_key(container)
    key = KEY.search(first).group(0)
    client = create_app(container).test_client()
    assert client.get("/v1/clients", headers=bearer(key)).status_code == 200
    second = dev_admin_key(container)
    assert not KEY.search(second) and "piivault dev --new-admin-key" in second
    third = dev_admin_key(container, new=True)
    assert KEY.search(third).group(0) != key


def test_cli_refuses_to_revoke_the_last_active_admin(container):
    """Issue 14, item 7: revoking every admin would leave no one to manage clients over the API."""
    env = settings_env(container)
    runner = CliRunner()
    first = runner.invoke(main, ["clients", "create", "--name", "ops", "--role", "admin"], env=env)
    second = runner.invoke(main, ["clients", "create", "--name", "ops2", "--role", "admin"], env=env)
    first_id, second_id = (KEY.findall(r.output)[0].split("_")[1] for r in (first, second))
    assert runner.invoke(main, ["clients", "revoke", first_id], env=env).exit_code == 0
    last = runner.invoke(main, ["clients", "revoke", second_id], env=env)
    assert last.exit_code == 2
    assert last.output.strip() == (
        "piivault: The last active admin key cannot be revoked: create another admin client first."
    )
    key = KEY.findall(second.output)[0]
    assert create_app(container).test_client().get("/v1/clients", headers=bearer(key)).status_code == 200
