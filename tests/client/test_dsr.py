"""Data-subject requests through the client: file, advance, download the package, the erasure certificate."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from piivault_client import Conflict, Forbidden, NotFound
from tests.client.conftest import new_customer, with_second_dpo


def test_an_access_request_is_worked_through_and_its_package_downloaded(service, dpo, other_dpo):
    sid = new_customer(service, "cust-dsr-0001")
    filed = service.dsr.create(sid, "access", "app", note="asked in the app")
    assert filed["state"] == "received" and filed["due_at"]
    with pytest.raises(Forbidden):
        service.dsr.get(filed["dsr_id"])
    dsr_id = filed["dsr_id"]
    dpo.dsr.advance(dsr_id, "identity_verified", method="app_login")
    assert dpo.dsr.advance(dsr_id, "approved")["state"] == "approved"
    # Four eyes: a download without a grant files nothing and says so; the DPO asks, another approves.
    with pytest.raises(Forbidden) as refused:
        dpo.dsr.package(dsr_id)
    assert refused.value.code == "approval_required" and "approval_id" not in refused.value.problem
    asked = dpo.dsr.ask_package(dsr_id)
    assert asked["action"] == "dsr.package" and asked["state"] == "pending"
    assert dpo.dsr.ask_package(dsr_id)["id"] == asked["id"]  # asking again: the same request
    package = with_second_dpo(other_dpo, lambda: dpo.dsr.package(dsr_id))
    assert isinstance(package, dict) and sid in json.dumps(package)
    assert "<html" in dpo.dsr.package(dsr_id, format="html").lower()
    # Issue 21: the customer's copy, in English, masked by default.
    copy = dpo.dsr.package(dsr_id, format="customer", lang="en")
    assert copy.startswith('<!DOCTYPE html>\n<html lang="en">')
    assert "A copy of your personal information" in copy
    done = dpo.dsr.complete(dsr_id)
    assert done["state"] == "completed"
    assert [s["to_state"] for s in dpo.dsr.get(dsr_id)["steps"]] == [
        "received",
        "identity_verified",
        "approved",
        "completed",
    ]
    assert [r["dsr_id"] for r in dpo.dsr.list(subject_id=sid)] == [dsr_id]
    assert dpo.dsr.list(overdue=True) == []
    with pytest.raises(Conflict):
        dpo.dsr.approve(dsr_id)
    with pytest.raises(ValueError, match="not a completed erasure"):
        dpo.dsr.certificate(dsr_id)


def test_an_erasure_gives_a_signed_certificate(service, dpo, other_dpo):
    sid = "cust-dsr-0002"  # an email only: no retention hold keeps it
    service.tokenize([{"field_type": "email", "value": "li.lei@example.com", "subject_id": sid}], strict=True)
    dsr_id = dpo.dsr.create(sid, "erasure", "branch")["dsr_id"]
    dpo.dsr.verify_identity(dsr_id, "in_person")
    dpo.dsr.approve(dsr_id)
    completed = with_second_dpo(other_dpo, lambda: dpo.dsr.complete(dsr_id))
    assert completed["outcome"]["action"] == "erased"
    certificate = dpo.dsr.certificate(dsr_id)
    assert certificate == completed["receipts"][0]
    assert certificate["receipt"]["certificateID"] == completed["outcome"]["certificate_id"]
    assert certificate["signature"] and dpo.subjects.get(sid)["state"] == "erased"


def test_an_erasure_under_a_hold_has_no_certificate_yet(service, dpo, other_dpo):
    sid = new_customer(service, "cust-dsr-0004")
    dpo.holds.place(sid, "litigation", dt.datetime.now(dt.UTC) + dt.timedelta(days=90))
    dsr_id = dpo.dsr.create(sid, "erasure", "app")["dsr_id"]
    dpo.dsr.verify_identity(dsr_id, "app_login")
    dpo.dsr.approve(dsr_id)
    assert with_second_dpo(other_dpo, lambda: dpo.dsr.complete(dsr_id))["outcome"]["action"] == "restricted"
    assert dpo.dsr.certificate(dsr_id) is None


def test_a_request_is_rejected_with_a_reason(service, dpo):
    sid = new_customer(service, "cust-dsr-0003")
    dsr_id = dpo.dsr.create(sid, "correction", "phone")["dsr_id"]
    rejected = dpo.dsr.reject(dsr_id, "identity_not_verified", note="caller could not answer")
    assert rejected["state"] == "rejected" and rejected["reject_reason"] == "identity_not_verified"
    assert dpo.dsr.list(state="rejected")[0]["dsr_id"] == dsr_id
    with pytest.raises(NotFound):
        dpo.dsr.get("dsr_nosuchrequest")
