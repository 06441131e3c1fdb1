"""The data-subject request workflow through the console, as the DPO works it."""

from __future__ import annotations

import json
import re

import sqlalchemy as sa

from access.model import Acting
from consent import tables as consent_tables
from tests.consent.conftest import MOBILE, customer
from tests.console.conftest import Console, audit_payloads


def _file(dpo, subject: str, kind: str) -> str:
    response = dpo.post("/console/dsr/new", {"subject_id": subject, "type": kind, "channel": "branch"})
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    return re.search(r"/console/dsr/(dsr_[a-z0-9]+)", response.headers["Location"]).group(1)


def _state(container, dsr_id: str) -> str:
    with container.session_factory() as s:
        return s.scalar(
            sa.select(consent_tables.dsr_requests.c.state).where(
                consent_tables.dsr_requests.c.dsr_id == dsr_id
            )
        )


def test_access_request_end_to_end_with_an_audited_package(container, signed_in, monkeypatch):
    customer(container, "cust-0001")
    dpo = signed_in("dpo")
    dsr_id = _file(dpo, "cust-0001", "access")
    page = dpo.get(f"/console/dsr/{dsr_id}").get_data(as_text=True)
    assert 'data-state="received"' in page and 'id="dsr-verify-form"' in page
    assert (
        dpo.post(
            f"/console/dsr/{dsr_id}/verify", {"method": "in_person", "note": "passport seen"}
        ).status_code
        == 303
    )
    assert 'id="dsr-approve"' in dpo.get(f"/console/dsr/{dsr_id}").get_data(as_text=True)
    assert dpo.post(f"/console/dsr/{dsr_id}/approve", {}).status_code == 303
    assert _state(container, dsr_id) == "approved"
    # Four eyes: the download link (a GET) says to ask and files nothing; the button (a POST)
    # asks; the link then names the request; another DPO (another person) approves it.
    refused = dpo.get(f"/console/dsr/{dsr_id}/package?format=json")
    text = refused.get_data(as_text=True)
    assert refused.status_code == 403 and MOBILE not in text
    assert "apr_" not in text and 'id="dsr-package-ask"' in text
    assert not [e for e in audit_payloads(container) if e["action"] == "approval.request"]
    asked = dpo.post(f"/console/dsr/{dsr_id}/package/approval", {})
    assert asked.status_code == 303 and "ok=dsr_package_asked" in asked.headers["Location"]
    again = dpo.get(f"/console/dsr/{dsr_id}/package?format=json")
    assert again.status_code == 403
    approval_id = re.search(r"apr_[a-z0-9]+", again.get_data(as_text=True)).group(0)
    container.access.approve(Acting("dpo-two", "dpo", "user:dpo-two"), approval_id)
    package = dpo.get(f"/console/dsr/{dsr_id}/package?format=json")
    assert package.status_code == 200
    assert package.headers["Content-Disposition"] == f'attachment; filename="{dsr_id}.json"'
    assert package.headers["Cache-Control"] == "no-store"
    body = json.loads(package.get_data(as_text=True))
    assert MOBILE in json.dumps(body, ensure_ascii=False)  # the subject's own data, for the subject
    # Issue 21: the customer's copy, linked from the request's page, in the console's language,
    # masked; the same grant lets it download.
    page = dpo.get(f"/console/dsr/{dsr_id}").get_data(as_text=True)
    assert 'id="dsr-copy-pdf"' in page and 'id="dsr-copy-html"' in page
    copy = dpo.get(f"/console/dsr/{dsr_id}/package?format=customer")
    assert copy.status_code == 200 and copy.headers["Cache-Control"] == "no-store"
    assert copy.headers["Content-Disposition"] == f'attachment; filename="{dsr_id}-copy-zh-CN.html"'
    text = copy.get_data(as_text=True)
    assert '<html lang="zh-CN">' in text and "138****5678" in text and MOBILE not in text
    # Without Chromium the PDF is refused on the request's page (503), which still offers the HTML.
    given = len([e for e in audit_payloads(container) if e["action"] == "dsr.access_package"])
    monkeypatch.setenv("PIIVAULT_CHROMIUM", "/nonexistent/chromium")
    pdf = dpo.get(f"/console/dsr/{dsr_id}/package?format=pdf")
    text = pdf.get_data(as_text=True)
    assert pdf.status_code == 503 and "未安装 Chromium" in text and 'id="dsr-copy-html"' in text
    assert len([e for e in audit_payloads(container) if e["action"] == "dsr.access_package"]) == given
    monkeypatch.delenv("PIIVAULT_CHROMIUM")
    review = dpo.get(f"/console/dsr/{dsr_id}/execute").get_data(as_text=True)
    assert 'id="access-outcome"' in review
    assert dpo.post(f"/console/dsr/{dsr_id}/execute", {}).status_code == 303
    assert _state(container, dsr_id) == "completed"
    events = [(e["action"], e["actor"]) for e in audit_payloads(container) if e["action"].startswith("dsr.")]
    for action in (
        "dsr.received",
        "dsr.identity_verified",
        "dsr.approved",
        "dsr.access_package",
        "dsr.completed",
    ):
        assert (action, "user:dpo") in events


def test_reject_with_a_reason(container, signed_in):
    customer(container, "cust-0001")
    dpo = signed_in("dpo")
    dsr_id = _file(dpo, "cust-0001", "erasure")
    response = dpo.post(
        f"/console/dsr/{dsr_id}/reject", {"reason_code": "duplicate", "note": "see the other one"}
    )
    assert response.status_code == 303
    page = dpo.get(response.headers["Location"]).get_data(as_text=True)
    assert "请求已拒绝" in page and "重复请求" in page and 'id="dsr-reject-form"' not in page
    assert _state(container, dsr_id) == "rejected"


def test_a_correction_replaces_the_value_and_never_shows_it(container, signed_in):
    tokens = customer(container, "cust-0001")
    dpo = signed_in("dpo")
    dsr_id = _file(dpo, "cust-0001", "correction")
    dpo.post(f"/console/dsr/{dsr_id}/verify", {"method": "app_login"})
    dpo.post(f"/console/dsr/{dsr_id}/approve", {})
    new_mobile = "13987654321"
    response = dpo.post(
        f"/console/dsr/{dsr_id}/execute", {"token_0": tokens["cn_mobile"], "value_0": new_mobile}
    )
    assert response.status_code == 303
    assert _state(container, dsr_id) == "completed"
    page = dpo.get(f"/console/dsr/{dsr_id}").get_data(as_text=True)
    assert new_mobile not in page
    assert new_mobile not in str(audit_payloads(container))
    masked = dpo.post("/console/subjects/cust-0001/reveal", {"purpose": "account_service"}).get_data(
        as_text=True
    )
    assert "139****4321" in masked


def test_the_list_filters_open_and_overdue(container, signed_in, clock):
    from privacy.model import Actor

    customer(container, "cust-0001")
    with container.uow() as uow:
        old = container.consent.create_request(
            uow, Actor("client:crm", "service"), "cust-0001", "access", channel="app"
        )["dsr_id"]
    clock.advance(days=16)
    dpo = signed_in("dpo")
    recent = _file(dpo, "cust-0001", "restriction")
    overdue = dpo.get("/console/dsr?show=overdue").get_data(as_text=True)
    assert old in overdue and recent not in overdue
    listing = dpo.get("/console/dsr").get_data(as_text=True)
    assert old in listing and recent in listing
    dashboard = dpo.get("/console/").get_data(as_text=True)
    assert re.search(r'data-testid="overdue-count">1<', dashboard)
    assert re.search(r'data-testid="open-count">2<', dashboard)
    assert dpo.get("/console/dsr?show=everything&type=nonsense").status_code == 200  # falls back to open


def test_a_request_for_an_unknown_subject_is_refused_and_nothing_is_filed(container, signed_in):
    dpo = signed_in("dpo")
    form = {"subject_id": "cust-9999", "type": "access", "channel": "branch"}
    response = dpo.post("/console/dsr/new", form)
    assert response.status_code == 404, response.status_code
    assert "dsr-new" in response.get_data(as_text=True) or "<form" in response.get_data(as_text=True)
    with container.session_factory() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(consent_tables.dsr_requests)) == 0


def _erasure_approved(dpo, subject: str) -> str:
    dsr_id = _file(dpo, subject, "erasure")
    assert dpo.post(f"/console/dsr/{dsr_id}/verify", {"method": "in_person"}).status_code == 303
    assert dpo.post(f"/console/dsr/{dsr_id}/approve", {}).status_code == 303
    return dsr_id


def test_one_dpo_cannot_erase_alone_in_the_console_even_in_a_second_session(container, signed_in, app):
    customer(container, "cust-0001")
    dpo = signed_in("dpo")
    dsr_id = _erasure_approved(dpo, "cust-0001")
    first = dpo.post(f"/console/dsr/{dsr_id}/execute", {"confirm": "on"})
    assert first.status_code == 403
    page = first.get_data(as_text=True)
    approval_id = re.search(r"apr_[a-z0-9]+", page).group(0)
    assert "需要另一位数据保护官先批准" in page
    # The same person in a second console session is still one person: refused again.
    again = Console(app.test_client(), "dpo")
    second = again.post(f"/console/dsr/{dsr_id}/execute", {"confirm": "on"})
    assert second.status_code == 403 and approval_id in second.get_data(as_text=True)
    assert _state(container, dsr_id) == "approved"
    asked = container.access.get(approval_id)
    assert asked.state == "pending" and asked.requester == "dpo" and asked.action == "dsr.erasure"


def test_a_second_dpos_erasure_review_is_the_approval(container, signed_in):
    customer(container, "cust-0001")
    dpo = signed_in("dpo")
    dsr_id = _erasure_approved(dpo, "cust-0001")
    assert dpo.post(f"/console/dsr/{dsr_id}/execute", {"confirm": "on"}).status_code == 403
    reviewer = signed_in("dpo", "dpo-two")
    assert reviewer.post(f"/console/dsr/{dsr_id}/execute", {"confirm": "on"}).status_code == 303
    assert _state(container, dsr_id) == "completed"
    (completed,) = [e for e in audit_payloads(container) if e["action"] == "dsr.completed"]
    assert completed["actor"] == "user:dpo-two"
    assert completed["details"]["holder"] == "dpo" and completed["details"]["approved_by"] == ["dpo-two"]
