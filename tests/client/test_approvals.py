"""Approvals, grants and break-glass through the client (issue 15): the same rules as over HTTP."""

from __future__ import annotations

import pytest

from piivault_client import Conflict, Forbidden
from piivault_client.resources.approvals import scope

SUBJECT = "cust-00000001"


def test_a_reveal_is_asked_approved_by_another_person_and_revoked(connect):
    auditor = connect("auditor", person="al")
    dpo = connect("dpo", person="dora")
    asked = auditor.approvals.request(
        "reveal", scope(subjects=[SUBJECT], purpose="aml_kyc", minutes=30), "complaint", "fee complaint"
    )
    assert asked["state"] == "pending" and asked["requester"] == "al"
    assert [r["id"] for r in dpo.approvals.list(inbox=True)] == [asked["id"]]
    assert [r["id"] for r in auditor.approvals.list(mine=True)] == [asked["id"]]
    assert auditor.approvals.list(inbox=True) == []  # never one's own
    with pytest.raises(Forbidden) as own:
        connect("dpo", person="al").approvals.approve(asked["id"])  # al through a second key
    assert own.value.code == "self_approval"
    done = dpo.approvals.approve(asked["id"])
    assert done["state"] == "approved" and dpo.approvals.get(asked["id"])["grant_id"] == done["grant_id"]
    grant = auditor.grants.get(done["grant_id"])
    assert grant["holder"] == "al" and grant["approved_by"] == ["dora"] and grant["state"] == "active"
    assert [g["id"] for g in dpo.grants.list(holder="al", active=True)] == [done["grant_id"]]
    assert dpo.grants.revoke(done["grant_id"])["state"] == "revoked"
    assert dpo.grants.list(holder="al", active=True) == []
    with pytest.raises(Conflict):
        dpo.grants.revoke(done["grant_id"])


def test_deny_and_withdraw(connect):
    auditor = connect("auditor", person="al")
    dpo = connect("dpo", person="dora")
    reveal = scope(subjects=[SUBJECT], purpose="aml_kyc")
    first = auditor.approvals.request("reveal", reveal, "complaint", "fee complaint")
    assert dpo.approvals.deny(first["id"])["state"] == "denied"
    second = auditor.approvals.request("reveal", reveal, "complaint", "fee complaint")
    with pytest.raises(Forbidden):
        dpo.approvals.withdraw(second["id"])  # only the requester withdraws
    assert auditor.approvals.withdraw(second["id"])["state"] == "withdrawn"
    assert {r["state"] for r in dpo.approvals.list(requester="al")} == {"denied", "withdrawn"}


def test_break_glass_is_taken_and_reviewed_by_another_person(connect):
    dpo = connect("dpo", person="dora")
    other = connect("dpo", person="dee")
    used = dpo.break_glass.take(
        "reveal", scope(subjects=[SUBJECT], purpose="aml_kyc", minutes=15), "incident", "fraud call"
    )
    assert used["kind"] == "break_glass" and used["state"] == "active"
    assert [g["id"] for g in other.break_glass.list(unreviewed=True)] == [used["id"]]
    with pytest.raises(Forbidden) as own:
        dpo.break_glass.review(used["id"], "fine")
    assert own.value.code == "self_approval"
    reviewed = other.break_glass.review(used["id"], "justified by the incident")
    assert reviewed["reviewed_by"] == "dee" and other.break_glass.list(unreviewed=True) == []
    assert [g["id"] for g in other.break_glass.list()] == [used["id"]]
