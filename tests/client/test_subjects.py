"""Subjects, holds, closing, lifting a restriction and risk attributes through the client."""

from __future__ import annotations

import datetime as dt

import pytest

from piivault_client import Conflict, Forbidden, NotFound, ValidationFailed
from tests.client.conftest import new_customer


def test_create_and_read_a_subject(service, dpo):
    created = service.subjects.create()
    assert created["subject_id"].startswith("sub_") and created["state"] == "active"
    sid = new_customer(service)
    seen = dpo.subjects.get(sid)
    assert seen["field_types"] == {"cn_mobile": 1} and seen["closed_at"] is None
    with pytest.raises(NotFound):
        dpo.subjects.get("cust-nobody-02")


def test_close_starts_retention_holds(service):
    sid = new_customer(service, "cust-close-0001")
    assert service.subjects.open(sid)["opened_at"]
    closed = service.subjects.close(sid)
    assert closed["subject_id"] == sid and closed["closed_at"]
    assert service.subjects.get(sid)["closed_at"] == closed["closed_at"]
    with pytest.raises(Conflict):
        service.subjects.close(sid)


def test_holds_are_placed_listed_and_released(service, dpo):
    sid = new_customer(service, "cust-hold-0001")
    ends = dt.datetime.now(dt.UTC) + dt.timedelta(days=365)
    hold = dpo.holds.place(sid, "litigation", ends, note="case 2026-17", roles=["dpo"])
    assert hold["kind"] == "legal" and hold["reason_code"] == "litigation" and hold["roles"] == ["dpo"]
    assert [h["hold_id"] for h in dpo.holds.list(sid)] == [hold["hold_id"]]
    released = dpo.holds.release(sid, hold["hold_id"], "ended")
    assert released["released_at"] and released["release_reason"] == "ended"
    with pytest.raises(ValidationFailed) as e:
        dpo.holds.place(sid, "because", ends)
    assert "reason_code" in e.value.errors["json"]
    with pytest.raises(Forbidden):
        service.holds.list(sid)


def test_a_restriction_is_lifted_with_a_reason(service, dpo):
    sid = new_customer(service, "cust-restrict-01")
    request = dpo.dsr.create(sid, "restriction", "branch")
    for step in (
        lambda: dpo.dsr.verify_identity(request["dsr_id"], "in_person"),
        lambda: dpo.dsr.approve(request["dsr_id"]),
        lambda: dpo.dsr.complete(request["dsr_id"]),
    ):
        step()
    assert dpo.subjects.get(sid)["state"] == "restricted"
    assert dpo.subjects.lift_restriction(sid, "request_resolved", note="resolved by phone") == {
        "subject_id": sid,
        "state": "active",
    }
    with pytest.raises(Conflict):
        dpo.subjects.lift_restriction(sid, "request_resolved")


def test_risk_attributes_are_stored_in_batches(service):
    items = [{"subject_id": f"cust-attr-{i:05d}", "attributes": {"age": 30 + i % 40}} for i in range(1_200)]
    service.tokenize([{"field_type": "name", "value": "张三", "subject_id": i["subject_id"]} for i in items])
    assert service.attributes.put(iter(items)) == 1_200
    with pytest.raises(ValidationFailed) as e:
        service.attributes.put([{"subject_id": "cust-attr-00000", "attributes": {"cn_mobile": "x"}}])
    assert e.value.title == "invalid attributes" and "items[0].attributes.cn_mobile" in e.value.detail
