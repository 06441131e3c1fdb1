"""``piivault approvals|grants|break-glass``: the command line acts for the person named with --as."""

from __future__ import annotations

from click.testing import CliRunner

from access import model as m
from piivault.cli import main
from tests.access.conftest import DPO_DAI, REVEAL
from tests.api.conftest import settings_env


def test_list_approve_and_the_requester_refused(container):
    access = container.access
    asked = access.request(DPO_DAI, m.REVEAL, REVEAL, "complaint", "checking a complaint")
    env = settings_env(container)
    runner = CliRunner()

    listed = runner.invoke(main, ["approvals", "list", "--state", "pending"], env=env)
    assert listed.exit_code == 0, listed.output
    assert asked.id in listed.output and "0/1" in listed.output

    own = runner.invoke(main, ["approvals", "approve", asked.id, "--as", "dai", "--role", "dpo"], env=env)
    assert own.exit_code == 2 and "requester" in own.output

    approved = runner.invoke(
        main, ["approvals", "approve", asked.id, "--as", "don", "--role", "dpo"], env=env
    )
    assert approved.exit_code == 0, approved.output
    assert "approved (1/1 approvals, grant grt_" in approved.output

    grants = runner.invoke(main, ["grants", "list"], env=env)
    assert "dai" in grants.output and "don" in grants.output
    grant_id = access.get(asked.id).grant_id
    revoked = runner.invoke(main, ["grants", "revoke", grant_id, "--as", "dai", "--role", "dpo"], env=env)
    assert revoked.exit_code == 0 and access.get_grant(grant_id).revoked_by == "dai"


def test_deny_and_break_glass_review(container):
    access = container.access
    env = settings_env(container)
    runner = CliRunner()
    asked = access.request(DPO_DAI, m.REVEAL, REVEAL, "complaint", "checking a complaint")
    denied = runner.invoke(main, ["approvals", "deny", asked.id, "--as", "don", "--role", "dpo"], env=env)
    assert denied.exit_code == 0 and access.get(asked.id).state == m.DENIED

    taken = access.break_glass(DPO_DAI, m.REVEAL, REVEAL, "incident", "fraud call in progress")
    unreviewed = runner.invoke(main, ["break-glass", "list", "--unreviewed"], env=env)
    assert taken.id in unreviewed.output and "UNREVIEWED" in unreviewed.output
    reviewed = runner.invoke(
        main,
        ["break-glass", "review", taken.id, "--note", "justified", "--as", "don", "--role", "dpo"],
        env=env,
    )
    assert reviewed.exit_code == 0, reviewed.output
    assert taken.id not in runner.invoke(main, ["break-glass", "list", "--unreviewed"], env=env).output
