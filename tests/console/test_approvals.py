"""Separation of duties in the console (issue 15): the approvals inbox and "my requests", the grant
on the subject page, break-glass with its banner and its review, each refusal performed."""

from __future__ import annotations

import re
import zoneinfo

import pytest
import sqlalchemy as sa

from access import model as m
from access import tables as access_tables
from tests.api.conftest import bearer
from tests.approved import create_client
from tests.consent.conftest import MOBILE, NAME, customer
from tests.console.conftest import Console, audit_payloads

SUBJECT = "cust-0001"
ASK = {
    "subject_id": SUBJECT,
    "purpose": "aml_kyc",
    "minutes": "30",
    "reason_code": "complaint",
    "reason_text": "checking a complaint about the name on file",
}
API_ASK = {
    "action": "reveal",
    "scope": {"subjects": [SUBJECT], "purpose": "aml_kyc", "minutes": 30},
    "reason_code": "complaint",
    "reason_text": "checking a complaint about the name on file",
}


@pytest.fixture
def subject(container) -> str:
    customer(container, SUBJECT)
    return SUBJECT


@pytest.fixture
def access(container, clock):
    """The access service on the console's movable clock."""
    svc = container.access
    svc.clock = clock
    return svc


def _ask(console: Console, **changes: str) -> str:
    """Ask through the form; the new request's id."""
    before = set(_requests(console.client.application, console.username))
    response = console.post("/console/approvals", {**ASK, **changes})
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    assert "ok=approval_requested" in response.headers["Location"]
    (new,) = set(_requests(console.client.application, console.username)) - before
    return new


def _requests(app, requester: str) -> list[str]:
    container = app.extensions["piivault"]
    with container.session_factory() as s:
        c = access_tables.approval_requests.c
        return list(s.scalars(sa.select(c.id).where(c.requester == requester).order_by(c.created_at.desc())))


def _state(container, approval_id: str) -> str:
    return container.access.get(approval_id).state


def _grants(container) -> list[m.Grant]:
    """Reveal grants (a fixture's DPO key brings an identity.approver grant of its own)."""
    return container.access.list_grants(action=m.REVEAL)


def test_the_requester_sees_their_request_without_buttons_and_cannot_approve_it(
    container, access, signed_in, subject
):
    dai = signed_in("dpo", "dai")
    don = signed_in("dpo", "don")
    approval_id = _ask(dai)

    own = dai.get("/console/approvals").get_data(as_text=True)
    assert f'data-approval="{approval_id}"' in own and "本人的申请，须由他人审批" in own
    assert f'id="approve-{approval_id}"' not in own and f'id="deny-{approval_id}"' not in own
    assert f'id="withdraw-{approval_id}"' in own  # in "my requests"
    assert 'id="approvals-waiting"' not in dai.get("/console/").get_data(as_text=True)
    board = don.get("/console/").get_data(as_text=True)
    assert 'id="approvals-waiting" data-count="1"' in board and "有 1 个申请等待您审批" in board
    theirs = don.get("/console/approvals").get_data(as_text=True)
    assert f'id="approve-{approval_id}"' in theirs and f'id="deny-{approval_id}"' in theirs
    assert "checking a complaint about the name on file" in theirs and "dai" in theirs

    # The server refuses anyway: the form posted by hand, approve and deny alike.
    for decision in ("approve", "deny"):
        refused = dai.post(f"/console/approvals/{approval_id}/{decision}")
        assert refused.status_code == 403
        assert "不能审批（或复核）自己的申请" in refused.get_data(as_text=True)
    assert _state(container, approval_id) == m.PENDING and _grants(container) == []
    denied = [e for e in audit_payloads(container) if e["action"] == "approval.approve"]
    assert denied and denied[0]["outcome"] == "denied" and denied[0]["reason"] == "self_approval"


def test_a_second_session_of_the_same_person_cannot_approve(app, container, access, signed_in, subject):
    dai = signed_in("dpo", "dai")
    approval_id = _ask(dai)
    again = Console(app.test_client(), "dai")  # another browser, another session, the same person
    assert again.token != dai.token
    refused = again.post(f"/console/approvals/{approval_id}/approve")
    assert refused.status_code == 403
    assert _state(container, approval_id) == m.PENDING and _grants(container) == []


def test_a_console_session_and_an_api_key_of_the_same_person_are_one_person(
    app, container, access, signed_in, subject
):
    _, key = create_client(container, name="dai-laptop", role="dpo", person="dai")
    api = app.test_client()
    asked = api.post("/v1/approvals", json={**API_ASK}, headers=bearer(key))
    assert asked.status_code == 201, asked.json
    dai = signed_in("dpo", "dai")
    page = dai.get("/console/approvals").get_data(as_text=True)
    assert f'id="approve-{asked.json["id"]}"' not in page  # asked through the key: still dai's own
    assert dai.post(f"/console/approvals/{asked.json['id']}/approve").status_code == 403
    # And the other way round: asked in the console, approved with the key.
    approval_id = _ask(dai)
    refused = api.post(f"/v1/approvals/{approval_id}/approve", headers=bearer(key))
    assert refused.status_code == 403 and refused.json["type"].endswith("self_approval")
    assert _grants(container) == []


def test_deny_then_approve_round_trip_makes_the_grant_shown_on_the_subject_page(
    container, access, signed_in, subject, clock
):
    dai = signed_in("dpo", "dai")
    don = signed_in("dpo", "don")
    first = _ask(dai)
    assert don.post(f"/console/approvals/{first}/deny").headers["Location"].endswith("ok=approval_denied")
    assert _state(container, first) == m.DENIED and _grants(container) == []
    mine = dai.get("/console/approvals").get_data(as_text=True)
    assert f'data-testid="approval-state-{first}" data-state="denied"' in mine
    assert "没有待审批的申请" in don.get("/console/approvals").get_data(as_text=True)
    assert "此主体目前没有有效授权" in dai.get(f"/console/subjects/{SUBJECT}").get_data(as_text=True)

    second = _ask(dai, minutes="45")
    assert don.post(f"/console/approvals/{second}/approve").status_code == 303
    assert don.post(f"/console/approvals/{second}/approve").status_code == 409  # decided already
    (grant,) = _grants(container)
    assert grant.holder == "dai" and grant.approved_by == ("don",) and grant.request_id == second
    assert (grant.expires_at - grant.starts_at).total_seconds() == 45 * 60

    html = dai.get(f"/console/subjects/{SUBJECT}").get_data(as_text=True)
    row = re.search(rf'<tr data-grant="{grant.id}".*?</tr>', html, re.S)
    assert row, "the grant is not on the subject page"
    assert 'data-testid="grant-approved-by">don<' in row.group(0)
    until = grant.expires_at.astimezone(zoneinfo.ZoneInfo("Asia/Shanghai"))
    assert until.strftime("%Y-%m-%d %H:%M") in row.group(0)
    assert f'id="revoke-{grant.id}"' in row.group(0)  # the holder may revoke
    assert f'id="revoke-{grant.id}"' in don.get(f"/console/subjects/{SUBJECT}").get_data(as_text=True)

    # The grant lasts while it lasts: past its end it is gone from the page.
    clock.advance(minutes=46)
    assert f'data-grant="{grant.id}"' not in dai.get(f"/console/subjects/{SUBJECT}").get_data(as_text=True)


def test_revoke_from_the_subject_page_ends_the_grant(container, access, signed_in, subject):
    dai = signed_in("dpo", "dai")
    don = signed_in("dpo", "don")
    approval_id = _ask(dai)
    don.post(f"/console/approvals/{approval_id}/approve")
    (grant,) = _grants(container)
    back = f"/console/subjects/{SUBJECT}#grants"
    response = don.post(f"/console/grants/{grant.id}/revoke", {"next": back})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/console/subjects/{SUBJECT}?ok=grant_revoked#grants"
    assert _grants(container)[0].revoked_by == "don"
    assert f'data-grant="{grant.id}"' not in dai.get(f"/console/subjects/{SUBJECT}").get_data(as_text=True)
    # An outside redirect target is not followed; a second revoke is a conflict.
    again = dai.post(f"/console/grants/{grant.id}/revoke", {"next": "https://evil.example/"})
    assert again.status_code == 409 and "该授权已撤销或已到期" in again.get_data(as_text=True)


def test_withdraw_is_the_requesters_only(container, access, signed_in, subject):
    dai = signed_in("dpo", "dai")
    don = signed_in("dpo", "don")
    approval_id = _ask(dai)
    refused = don.post(f"/console/approvals/{approval_id}/withdraw")
    assert refused.status_code == 403 and "只有申请人本人可以撤回申请" in refused.get_data(as_text=True)
    assert dai.post(f"/console/approvals/{approval_id}/withdraw").status_code == 303
    assert _state(container, approval_id) == m.WITHDRAWN
    assert don.post(f"/console/approvals/{approval_id}/approve").status_code == 409


def test_a_reason_holding_an_identifier_is_refused_and_nothing_is_asked(
    container, access, signed_in, subject
):
    dai = signed_in("dpo", "dai")
    response = dai.post("/console/approvals", {**ASK, "reason_text": "customer on 13912345678 called"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "申请未被接受" in html and "13912345678" not in html
    assert _requests(dai.client.application, "dai") == []


def test_form_errors_are_shown_and_unknown_fields_refused(container, access, signed_in, subject):
    dai = signed_in("dpo", "dai")
    response = dai.post("/console/approvals", {**ASK, "minutes": "100000", "purpose": "nope"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="minutes-error"' in html and 'id="purpose-error"' in html
    assert dai.post("/console/approvals", {**ASK, "holder": "don"}).status_code == 400
    assert _requests(dai.client.application, "dai") == []


def test_approvals_need_the_csrf_token(container, access, signed_in, subject):
    dai = signed_in("dpo", "dai")
    don = signed_in("dpo", "don")
    approval_id = _ask(dai)
    assert don.post(f"/console/approvals/{approval_id}/approve", csrf=False).status_code == 400
    assert dai.post("/console/approvals", ASK, csrf=False).status_code == 400
    assert dai.post("/console/break-glass", ASK, csrf=False).status_code == 400
    assert _state(container, approval_id) == m.PENDING and _grants(container) == []
    assert len(_requests(dai.client.application, "dai")) == 1


def test_roles_an_admin_cannot_approve_a_reveal_and_an_auditor_may_ask(container, access, signed_in, subject):
    dai = signed_in("dpo", "dai")
    admin = signed_in("admin", "ann")
    approval_id = _ask(dai)
    page = admin.get("/console/approvals").get_data(as_text=True)
    assert f'id="approve-{approval_id}"' not in page and "您的角色不能审批此项" in page
    assert 'id="approval-form"' not in page  # an admin does not ask for plain values
    refused = admin.post(f"/console/approvals/{approval_id}/approve")
    assert refused.status_code == 403 and _state(container, approval_id) == m.PENDING
    assert admin.post("/console/approvals", ASK).status_code == 403
    al = signed_in("auditor", "al")
    assert 'id="approval-form"' in al.get("/console/approvals").get_data(as_text=True)
    _ask(al)


def test_break_glass_banner_on_every_page_and_the_review_by_another_person(
    container, access, signed_in, subject, clock
):
    dai = signed_in("dpo", "dai")
    don = signed_in("dpo", "don")
    assert 'id="break-glass-banner"' not in dai.get("/console/").get_data(as_text=True)
    response = dai.post("/console/break-glass", {**ASK, "minutes": "20", "reason_code": "incident"})
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    (grant,) = _grants(container)
    assert grant.kind == m.BREAK_GLASS and grant.holder == "dai"
    for who in (dai, don):
        for path in ("/console/", "/console/purposes", "/console/approvals", f"/console/subjects/{SUBJECT}"):
            html = who.get(path).get_data(as_text=True)
            assert 'id="break-glass-banner"' in html and f'data-grant="{grant.id}"' in html, (who, path)

    board = dai.get("/console/").get_data(as_text=True)
    panel = board[board.index('id="break-glass-unreviewed"') :]
    assert 'data-count="1"' in board and f'data-grant="{grant.id}"' in panel
    assert f'id="review-{grant.id}"' not in board and "须由他人复核" in panel
    assert f'id="review-{grant.id}"' in don.get("/console/").get_data(as_text=True)

    refused = dai.post(f"/console/break-glass/{grant.id}/review", {"note": "all fine, I checked myself"})
    assert refused.status_code == 403 and "不能审批（或复核）自己的申请" in refused.get_data(as_text=True)
    assert access.get_grant(grant.id).reviewed_at is None
    reviewed = don.post(f"/console/break-glass/{grant.id}/review", {"note": "incident ticket checked"})
    assert reviewed.status_code == 303 and "ok=break_glass_reviewed" in reviewed.headers["Location"]
    assert access.get_grant(grant.id).reviewed_by == "don"
    board = don.get("/console/").get_data(as_text=True)
    assert 'data-count="0"' in board and "所有紧急授权均已复核" in board
    assert 'id="break-glass-banner"' in board  # still in force, reviewed or not

    clock.advance(minutes=21)
    assert 'id="break-glass-banner"' not in dai.get("/console/").get_data(as_text=True)


def test_break_glass_minutes_are_capped_and_a_reason_is_mandatory(container, access, signed_in, subject):
    dai = signed_in("dpo", "dai")
    too_long = access.limits.break_glass_max_minutes + 1
    assert dai.post("/console/break-glass", {**ASK, "minutes": str(too_long)}).status_code == 422
    assert dai.post("/console/break-glass", {**ASK, "reason_text": ""}).status_code == 422
    assert _grants(container) == []


def test_the_pages_in_english(app, container, access, signed_in, subject, make_user):
    make_user("eve", "dpo", language="en")
    eve = Console(app.test_client(), "eve")
    dai = signed_in("dpo", "dai")
    _ask(dai)
    dai.post("/console/break-glass", ASK)
    for path in ("/console/approvals", "/console/break-glass", "/console/", f"/console/subjects/{SUBJECT}"):
        html = eve.get(path).get_data(as_text=True)
        assert "审批" not in html and "紧急授权" not in html, path
    approvals = eve.get("/console/approvals").get_data(as_text=True)
    assert "Waiting for approval" in approvals and "My requests" in approvals and "Complaint" in approvals
    assert "Break-glass in force:" in approvals


def test_the_subject_page_shows_plain_values_only_to_the_holder_while_the_grant_lasts(
    container, access, signed_in, subject
):
    dai = signed_in("dpo", "dai")
    don = signed_in("dpo", "don")

    def values_seen(console: Console, purpose: str = "aml_kyc") -> str:
        response = console.post(f"/console/subjects/{SUBJECT}/reveal", {"purpose": purpose})
        assert response.status_code == 200
        return response.get_data(as_text=True)

    assert NAME not in values_seen(dai) and MOBILE not in values_seen(dai)  # masks only
    approval_id = _ask(dai)
    assert NAME not in values_seen(dai)  # asked is not approved
    don.post(f"/console/approvals/{approval_id}/approve")
    html = values_seen(dai)
    assert NAME in html and MOBILE in html and 'data-testid="plain-value"' in html
    assert NAME not in values_seen(dai, "account_service")  # another purpose: masks
    assert NAME not in values_seen(don)  # the approver holds nothing
    plain = [
        e
        for e in audit_payloads(container)
        if e["action"] == "detokenize" and e.get("details", {}).get("grant")
    ]
    assert plain and plain[-1]["details"]["approved_by"] == ["don"]

    log = "".join(dai.get(f"/console/subjects/{SUBJECT}?log={n}").get_data(as_text=True) for n in (1, 2, 3))
    assert (
        "投诉处理" in log and ">complaint<" not in log
    )  # the grant's reason code in the access log, in words

    (grant,) = _grants(container)
    don.post(f"/console/grants/{grant.id}/revoke", {"next": f"/console/subjects/{SUBJECT}"})
    assert NAME not in values_seen(dai)  # revoked: masks again on the next request
