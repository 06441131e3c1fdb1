"""``piivault approvals|grants|break-glass``: the deciding commands act as a console user who
proves it with their password (the same lock-out and audit as the console's sign-in)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from access import model as m
from piivault.cli import main
from tests.access.conftest import DPO_DAI, REVEAL
from tests.api.conftest import settings_env
from tests.approved import cli_decide, console_user
from tests.consent.conftest import audit_payloads

REFUSED = "authentication failed"


@pytest.fixture
def env(container) -> dict[str, str]:
    return settings_env(container)


def sign_ins(container, actor: str) -> list[tuple[str, str | None, str | None]]:
    return [
        (e["outcome"], e["reason"], e["details"].get("via"))
        for e in audit_payloads(container)
        if e["action"] == "console.sign_in" and e["actor"] == actor
    ]


def test_list_approve_and_the_requester_refused(container, env):
    access = container.access
    asked = access.request(DPO_DAI, m.REVEAL, REVEAL, "complaint", "checking a complaint")
    console_user(container, "dai")
    console_user(container, "don")
    runner = CliRunner()

    listed = runner.invoke(main, ["approvals", "list", "--state", "pending"], env=env)
    assert listed.exit_code == 0, listed.output
    assert asked.id in listed.output and "0/1" in listed.output

    own = cli_decide(runner, env, "approvals", "approve", asked.id, user="dai")
    assert own.exit_code == 2 and "requester" in own.output

    approved = cli_decide(runner, env, "approvals", "approve", asked.id, "--role", "dpo", user="don")
    assert approved.exit_code == 0, approved.output
    assert "approved (1/1 approvals, grant grt_" in approved.output
    # The decision is the console user's, as in their session.
    approve = [e for e in audit_payloads(container) if e["action"] == "approval.approve"]
    assert [(e["actor"], e["outcome"]) for e in approve] == [("user:dai", "denied"), ("user:don", "success")]
    assert sign_ins(container, "user:don")[-1][0] == "success"
    assert sign_ins(container, "user:don")[-1][2].startswith("cli:")

    grants = runner.invoke(main, ["grants", "list"], env=env)
    assert "dai" in grants.output and "don" in grants.output
    grant_id = access.get(asked.id).grant_id
    revoked = cli_decide(runner, env, "grants", "revoke", grant_id, user="dai")
    assert revoked.exit_code == 0 and access.get_grant(grant_id).revoked_by == "dai"


def test_deny_and_break_glass_review(container, env):
    access = container.access
    console_user(container, "don")
    runner = CliRunner()
    asked = access.request(DPO_DAI, m.REVEAL, REVEAL, "complaint", "checking a complaint")
    denied = cli_decide(runner, env, "approvals", "deny", asked.id, user="don")
    assert denied.exit_code == 0 and access.get(asked.id).state == m.DENIED

    taken = access.break_glass(DPO_DAI, m.REVEAL, REVEAL, "incident", "fraud call in progress")
    unreviewed = runner.invoke(main, ["break-glass", "list", "--unreviewed"], env=env)
    assert taken.id in unreviewed.output and "UNREVIEWED" in unreviewed.output
    reviewed = cli_decide(runner, env, "break-glass", "review", taken.id, "--note", "justified", user="don")
    assert reviewed.exit_code == 0, reviewed.output
    assert taken.id not in runner.invoke(main, ["break-glass", "list", "--unreviewed"], env=env).output


@pytest.mark.parametrize(
    "command",
    [
        ("approvals", "approve", "{approval}"),
        ("approvals", "deny", "{approval}"),
        ("grants", "revoke", "{grant}"),
        ("break-glass", "review", "{grant}", "--note", "justified"),
    ],
    ids=lambda c: "-".join(c[:2]),
)
def test_an_invented_person_decides_nothing(container, env, command):
    """The side door: any well-formed name was taken on trust. Now it must be a console user
    whose password the command checks; an invented one is refused and audited."""
    access = container.access
    asked = access.request(DPO_DAI, m.REVEAL, REVEAL, "complaint", "checking a complaint")
    taken = access.break_glass(DPO_DAI, m.REVEAL, REVEAL, "incident", "fraud call in progress")
    args = [a.format(approval=asked.id, grant=taken.id) for a in command]
    refused = cli_decide(CliRunner(), env, *args, "--role", "dpo", user="dora")
    assert refused.exit_code == 2 and REFUSED in refused.output
    assert refused.output.count("\n") == 1  # one line
    assert access.get(asked.id).state == m.PENDING
    found = access.get_grant(taken.id)
    assert found.revoked_at is None and found.reviewed_at is None
    assert sign_ins(container, "console:unknown") == [("denied", "unknown_user", refused_via(container))]


def refused_via(container) -> str:
    return next(e for e in audit_payloads(container) if e["action"] == "console.sign_in")["details"]["via"]


def test_a_wrong_password_a_wrong_role_and_a_disabled_user_are_refused_and_audited(container, env):
    access = container.access
    asked = access.request(DPO_DAI, m.REVEAL, REVEAL, "complaint", "checking a complaint")
    console_user(container, "don")
    console_user(container, "al", role="auditor")
    console_user(container, "ada", role="admin")
    runner = CliRunner()
    wrong = cli_decide(runner, env, "approvals", "approve", asked.id, user="don", password="not the password")
    assert wrong.exit_code == 2 and REFUSED in wrong.output
    role = cli_decide(runner, env, "approvals", "approve", asked.id, "--role", "dpo", user="al")
    assert role.exit_code == 2 and "not a console user in the role dpo" in role.output
    # An admin is a console user too, but approves nothing: the domain refuses (audited).
    admin = cli_decide(runner, env, "approvals", "approve", asked.id, user="ada")
    assert admin.exit_code == 2 and "approved by the role dpo" in admin.output
    container.users.set_disabled("don", True, actor="test")
    disabled = cli_decide(runner, env, "approvals", "approve", asked.id, user="don")
    assert disabled.exit_code == 2 and REFUSED in disabled.output
    assert access.get(asked.id).state == m.PENDING
    assert [r for _, r, _ in sign_ins(container, "user:don")] == ["wrong_password", "disabled"]
    assert [r for _, r, _ in sign_ins(container, "user:al")] == ["wrong_role"]


def test_repeated_wrong_passwords_lock_the_user_out_as_in_the_console(container, env, settings):
    asked = container.access.request(DPO_DAI, m.REVEAL, REVEAL, "complaint", "a complaint")
    console_user(container, "don")
    runner = CliRunner()
    for _ in range(settings.console_lockout_failures):
        wrong = cli_decide(runner, env, "approvals", "approve", asked.id, user="don", password="guess guess")
        assert wrong.exit_code == 2
    right = cli_decide(runner, env, "approvals", "approve", asked.id, user="don")
    assert right.exit_code == 2 and REFUSED in right.output
    assert sign_ins(container, "user:don")[-1] == ("denied", "locked", refused_via(container))
    assert container.access.get(asked.id).state == m.PENDING


def test_a_dpo_whose_identity_awaits_approval_cannot_decide(container, env):
    """An admin at the command line makes a DPO console user (``users create --as``) and knows
    its password: it decides nothing until another DPO approves that identity."""
    access = container.access
    console_user(container, "don")  # an approved DPO exists: no bootstrap
    asked = access.request(DPO_DAI, m.REVEAL, REVEAL, "complaint", "checking a complaint")
    runner = CliRunner()
    from tests.console.conftest import PASSWORD

    made = runner.invoke(
        main,
        ["users", "create", "--username", "dora", "--role", "dpo", "--password-stdin", "--as", "ann"],
        env=env,
        input=PASSWORD + "\n",
    )
    assert made.exit_code == 0, made.output
    refused = cli_decide(runner, env, "approvals", "approve", asked.id, user="dora")
    assert refused.exit_code == 2 and "awaits another DPO's approval" in refused.output
    assert access.get(asked.id).state == m.PENDING
    assert [r for _, r, _ in sign_ins(container, "user:dora")] == ["pending_approval"]


def test_the_password_is_asked_for_hidden_without_password_stdin(container, env):
    asked = container.access.request(DPO_DAI, m.REVEAL, REVEAL, "complaint", "a complaint")
    console_user(container, "don")
    from tests.console.conftest import PASSWORD

    done = CliRunner().invoke(
        main, ["approvals", "approve", asked.id, "--as", "don"], env=env, input=PASSWORD + "\n"
    )
    assert done.exit_code == 0, done.output
    assert "Console password of don" in done.output and PASSWORD not in done.output


def test_the_terminal_that_asked_cannot_approve_as_another_user(container, env):
    """carol files a re-identification under alice's name at her terminal, then approves it as
    herself with her own password at the same terminal: one credential, refused."""
    asked = container.access.request(
        m.Acting("alice", "dpo", "cli:carol"), m.REVEAL, REVEAL, "complaint", "checking a complaint"
    )
    console_user(container, "carol")
    runner = CliRunner()
    same = cli_decide(runner, env, "approvals", "approve", asked.id, user="carol", terminal="carol")
    assert same.exit_code == 2 and "credential that asked" in same.output
    assert "console (/console)" in same.output  # and where to decide instead, on the same line
    assert len(same.output.strip().splitlines()) == 1
    assert container.access.get(asked.id).state == m.PENDING
    elsewhere = cli_decide(runner, env, "approvals", "approve", asked.id, user="carol", terminal="carol-2")
    assert elsewhere.exit_code == 0, elsewhere.output
