"""Every POST needs the session's CSRF token; every page and action checks the role."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from consent import tables as consent_tables
from privacy import tables as privacy_tables
from tests.consent.conftest import customer
from tests.console.conftest import audit_payloads, count_rows


@pytest.fixture
def subject(container) -> str:
    customer(container, "cust-0001")
    return "cust-0001"


GRANT = {"purpose": "marketing", "channel": "app"}


@pytest.mark.parametrize("token", [None, "", "forged-token-of-the-right-length-000000000000", "WRONG"])
def test_a_post_without_the_right_token_is_refused_and_changes_nothing(container, signed_in, subject, token):
    dpo = signed_in("dpo")
    data = dict(GRANT)
    if token is not None:
        data["csrf_token"] = token
    response = dpo.post(f"/console/subjects/{subject}/consents/grant", data, csrf=False)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'id="error-page"' in html and "表单已失效" in html
    assert count_rows(container, privacy_tables.records) == 0
    assert not [e for e in audit_payloads(container) if e["action"] == "consent.grant"]


def test_another_sessions_token_does_not_work(app, container, signed_in, subject):
    first = signed_in("dpo")
    second = signed_in("dpo", "dpo2")
    assert first.token != second.token
    response = second.post(
        f"/console/subjects/{subject}/consents/grant", {**GRANT, "csrf_token": first.token}
    )
    assert response.status_code == 400
    assert count_rows(container, privacy_tables.records) == 0


def test_sign_out_needs_the_token_too(signed_in):
    dpo = signed_in("dpo")
    assert dpo.post("/console/logout", csrf=False).status_code == 400
    assert dpo.get("/console/").status_code == 200  # still signed in


def test_the_right_token_works(container, signed_in, subject):
    dpo = signed_in("dpo")
    response = dpo.post(f"/console/subjects/{subject}/consents/grant", GRANT)
    assert response.status_code == 303
    assert count_rows(container, privacy_tables.records) == 1


def _dsr_at_identity_verified(container, subject: str) -> str:
    from privacy.model import Actor

    svc, dpo = container.consent, Actor("client:dpo", "dpo")
    with container.uow() as uow:
        dsr_id = svc.create_request(uow, dpo, subject, "erasure", channel="branch")["dsr_id"]
    with container.uow() as uow:
        svc.advance_request(uow, dpo, dsr_id, "identity_verified", method="in_person")
    return dsr_id


def test_an_auditor_cannot_approve_a_request(container, signed_in, subject):
    dsr_id = _dsr_at_identity_verified(container, subject)
    auditor = signed_in("auditor")
    response = auditor.post(f"/console/dsr/{dsr_id}/approve", {})
    assert response.status_code == 403
    assert "无权操作" in response.get_data(as_text=True)
    with container.session_factory() as s:
        state = s.scalar(sa.select(consent_tables.dsr_requests.c.state))
    assert state == "identity_verified"
    assert auditor.get(f"/console/dsr/{dsr_id}").status_code == 403
    assert auditor.post(f"/console/dsr/{dsr_id}/execute", {"confirm": "on"}).status_code == 403
    assert not [e for e in audit_payloads(container) if e["action"] == "dsr.approved"]


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/console/subjects/cust-0001/consents/grant", GRANT),
        ("/console/subjects/cust-0001/consents/withdraw", {"purpose": "marketing", "channel": "app"}),
        ("/console/subjects/cust-0001/holds", {"reason_code": "litigation", "ends_on": "2099-01-01"}),
        ("/console/subjects/cust-0001/close", {"confirm": "on"}),
        ("/console/dsr/new", {"subject_id": "cust-0001", "type": "access", "channel": "app"}),
        ("/console/users", {"username": "eve", "role": "admin", "password": "x" * 12, "confirm": "x" * 12}),
    ],
)
def test_an_auditor_changes_nothing(container, signed_in, subject, path, data):
    auditor = signed_in("auditor")
    before = [e["action"] for e in audit_payloads(container)]
    response = auditor.post(path, data)
    assert response.status_code == 403
    assert 'id="error-page"' in response.get_data(as_text=True)
    assert count_rows(container, privacy_tables.records) == 0
    assert count_rows(container, privacy_tables.holds) == 0
    assert count_rows(container, consent_tables.dsr_requests) == 0
    after = [e["action"] for e in audit_payloads(container)]
    assert after == before


def test_an_auditor_cannot_change_a_purpose(container, signed_in):
    auditor = signed_in("auditor")
    page = auditor.get("/console/purposes/marketing").get_data(as_text=True)
    assert 'id="purpose-save"' not in page and "<fieldset disabled" in page
    response = auditor.post("/console/purposes/marketing", {"name_zh": "x", "name_en": "x"})
    assert response.status_code == 403
    with container.session_factory() as s:
        version = s.scalar(
            sa.select(privacy_tables.purposes.c.version).where(privacy_tables.purposes.c.code == "marketing")
        )
    assert version == 1


def test_an_auditor_reads_the_audit_log_and_the_dashboard(signed_in):
    auditor = signed_in("auditor")
    assert auditor.get("/console/").status_code == 200
    assert auditor.get("/console/audit").status_code == 200
    assert auditor.post("/console/audit/verify").status_code == 200
    assert auditor.get("/console/subjects").status_code == 403
    assert auditor.get("/console/users").status_code == 403
    nav = auditor.get("/console/").get_data(as_text=True)
    assert 'id="nav-dsr"' not in nav and 'id="nav-subjects"' not in nav and 'id="nav-audit"' in nav


def test_admins_may_not_search_the_audit_log_in_the_console_as_in_the_api(signed_in, container):
    """Issue 14 (low): the console let an admin search the audit log that /v1/audit refuses them."""
    from api.app import create_app

    admin = signed_in("admin")
    assert admin.get("/console/audit").status_code == 403
    assert admin.get("/console/audit", query_string={"subject_id": "cust-0001"}).status_code == 403
    assert admin.post("/console/audit/verify").status_code == 403
    nav = admin.get("/console/").get_data(as_text=True)
    assert 'id="nav-audit"' not in nav and 'href="/console/audit"' not in nav
    _, key = container.clients.create(name="ops", role="admin", actor="test")
    api = create_app(container).test_client()
    assert api.get("/v1/audit/events", headers={"Authorization": f"Bearer {key}"}).status_code == 403


def test_only_admins_manage_users(signed_in):
    assert signed_in("dpo").get("/console/users").status_code == 403
    admin = signed_in("admin")
    assert admin.get("/console/users").status_code == 200
    assert admin.get("/console/subjects").status_code == 403
