"""Purposes and their notices through the client: every role reads, dpo and admin change."""

from __future__ import annotations

import pytest

from piivault_client import Conflict, Forbidden, NotFound

DEFINITION = {
    "name_zh": "跨境汇款",
    "name_en": "Cross-border payments",
    "legal_basis": "contract",
    "field_types": ["name", "bank_card"],
    "retention": "5 years after the payment",
}


def test_define_change_publish_and_read_back(dpo, connect):
    analyst = connect("analyst")
    created = dpo.purposes.create(
        "cross_border", notice={"text_zh": "我们会将您的姓名提供给代理行。"}, **DEFINITION
    )
    assert created["version"] == 1 and created["notice_version"] == 1
    with pytest.raises(Conflict):
        dpo.purposes.create("cross_border", notice={"text_zh": "再来一次"}, **DEFINITION)
    with pytest.raises(Forbidden):
        analyst.purposes.create("mine", notice={"text_zh": "x"}, **DEFINITION)
    assert dpo.purposes.update("cross_border", field_types=["name"])["version"] == 2
    notice = dpo.purposes.publish_notice("cross_border", "新版告知", material=True, text_en="New notice")
    assert notice["version"] == 2 and notice["text_hash"].startswith("sha256:")
    assert analyst.purposes.get("cross_border")["field_types"] == ["name"]
    assert [v["change"] for v in analyst.purposes.history("cross_border")] == ["created", "updated", "notice"]
    assert [n["version"] for n in analyst.purposes.notices("cross_border")] == [1, 2]
    assert analyst.purposes.notice("cross_border", 2)["text_en"] == "New notice"
    with pytest.raises(NotFound):
        analyst.purposes.notice("cross_border", 3)
    dpo.purposes.update("cross_border", retired=True)
    assert "cross_border" not in [p["code"] for p in analyst.purposes.list()]
    assert "cross_border" in [p["code"] for p in analyst.purposes.list(include_retired=True)]


def test_a_widening_change_waits_for_another_dpo(connect):
    dai = connect("dpo", person="dai")
    don = connect("dpo", person="don")
    before = dai.purposes.get("marketing")
    asked = dai.purposes.update("marketing", field_types=[*before["field_types"], "bank_card"])
    assert asked["approval_state"] == "pending" and asked["widens"] == ["field_types"]
    assert "bank_card" not in dai.purposes.get("marketing")["field_types"]
    with pytest.raises(Forbidden):
        dai.approvals.approve(asked["approval_id"])  # self-approval
    assert don.approvals.approve(asked["approval_id"])["state"] == "approved"
    assert "bank_card" in dai.purposes.get("marketing")["field_types"]
