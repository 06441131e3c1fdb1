"""The subject page: finding a subject without echoing what was typed, masks only, consent,
holds, and an erasure under a hold that restricts instead of shredding."""

from __future__ import annotations

import re

import sqlalchemy as sa

from consent import tables as consent_tables
from privacy import tables as pt
from tests.consent.conftest import CARD, ID_NUMBER, MOBILE, NAME, customer
from tests.console.conftest import audit_payloads

PII = (MOBILE, ID_NUMBER, CARD, NAME)


def _consent_state(html: str, purpose: str) -> str:
    found = re.search(rf'data-testid="consent-state-{purpose}"[^>]*>\s*<span[^>]*data-state="(\w+)"', html)
    assert found, f"no consent state for {purpose} on the page"
    return found.group(1)


def _location(response) -> str:
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    return response.headers["Location"]


def test_find_by_value_through_the_blind_index_without_showing_it(container, signed_in):
    customer(container, "cust-0001")
    dpo = signed_in("dpo")
    response = dpo.post("/console/subjects", {"by": "value", "field_type": "cn_mobile", "q": MOBILE})
    assert _location(response) == "/console/subjects/cust-0001"
    page = dpo.get("/console/subjects/cust-0001").get_data(as_text=True)
    for value in PII:
        assert value not in page
    lookups = [e for e in audit_payloads(container) if e["action"] == "lookup"]
    assert [(e["actor"], e["field_types"]) for e in lookups] == [("user:dpo", ["cn_mobile"])]
    assert MOBILE not in str(audit_payloads(container))


def test_two_subjects_with_the_same_value_are_listed(container, signed_in):
    customer(container, "cust-0001")
    customer(container, "cust-0002")
    dpo = signed_in("dpo")
    response = dpo.post("/console/subjects", {"by": "value", "field_type": "cn_mobile", "q": MOBILE})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "cust-0001" in html and "cust-0002" in html and MOBILE not in html
    assert 'name="q" type="text" value=""' in html


def test_find_by_token_and_by_id(container, signed_in):
    tokens = customer(container, "cust-0001")
    dpo = signed_in("dpo")
    by_token = dpo.post("/console/subjects", {"by": "token", "q": tokens["cn_mobile"]})
    assert _location(by_token) == "/console/subjects/cust-0001"
    assert [e["actor"] for e in audit_payloads(container) if e["action"] == "subject.find"] == ["user:dpo"]
    by_id = dpo.post("/console/subjects", {"by": "subject_id", "q": "cust-0001"})
    assert _location(by_id) == "/console/subjects/cust-0001"
    assert dpo.get("/console/subjects/cust-9999").status_code == 404


def test_masked_values_need_a_purpose_and_never_show_the_value(container, signed_in):
    customer(container, "cust-0001")
    dpo = signed_in("dpo")
    page = dpo.post("/console/subjects/cust-0001/reveal", {"purpose": "account_service"}).get_data(
        as_text=True
    )
    masks = re.findall(r'class="mask">([^<]*)<', page)
    assert len(masks) == 4
    assert MOBILE[:3] + "****" + MOBILE[-4:] in masks
    for value in PII:
        assert value not in page
    [event] = [e for e in audit_payloads(container) if e["action"] == "detokenize"]
    assert event["actor"] == "user:dpo" and event["purpose"] == "account_service"
    assert event["reason"] == "masked on request"
    # A consent purpose without consent shows nothing, and says why.
    denied = dpo.post("/console/subjects/cust-0001/reveal", {"purpose": "marketing"}).get_data(as_text=True)
    assert not re.findall(r'class="mask">', denied)
    # ... in the page's language (the log keeps the policy's English reason).
    assert "没有同意" in denied or "该字段类型不在此目的的范围内" in denied


def test_grant_and_withdraw_a_consent(container, signed_in):
    customer(container, "cust-0001")
    dpo = signed_in("dpo")
    granted = dpo.post(
        "/console/subjects/cust-0001/consents/grant", {"purpose": "marketing", "channel": "branch"}
    )
    assert _location(granted).startswith("/console/subjects/cust-0001?ok=consent_granted")
    page = dpo.get("/console/subjects/cust-0001").get_data(as_text=True)
    assert _consent_state(page, "marketing") == "granted"
    withdrawn = dpo.post(
        "/console/subjects/cust-0001/consents/withdraw", {"purpose": "marketing", "channel": "app"}
    )
    assert _location(withdrawn).startswith("/console/subjects/cust-0001?ok=consent_withdrawn")
    page = dpo.get("/console/subjects/cust-0001?ok=consent_withdrawn").get_data(as_text=True)
    assert _consent_state(page, "marketing") == "withdrawn" and "已记录撤回同意" in page
    with container.session_factory() as s:
        rows = s.execute(
            sa.select(pt.records.c.action, pt.records.c.recorded_by).order_by(pt.records.c.id)
        ).all()
    assert [tuple(r) for r in rows] == [("grant", "user:dpo"), ("withdraw", "user:dpo")]
    actions = [
        (e["action"], e["actor"]) for e in audit_payloads(container) if e["action"].startswith("consent.")
    ]
    assert ("consent.grant", "user:dpo") in actions and ("consent.withdraw", "user:dpo") in actions


def test_the_access_log_shows_who_used_the_data_and_reading_it_is_audited(container, signed_in):
    customer(container, "cust-0001")
    dpo = signed_in("dpo")
    dpo.post("/console/subjects/cust-0001/reveal", {"purpose": "account_service"})
    page = dpo.get("/console/subjects/cust-0001").get_data(as_text=True)
    log = page.split('id="access-log"')[1]
    assert "client:c-service" in log and "tokenize" in log  # who stored the data
    assert "user:dpo" in log and "detokenize" in log and "account_service" in log
    reads = [e for e in audit_payloads(container) if e["action"] == "audit.read"]
    assert reads and all(e["actor"] == "user:dpo" and e["subject_id"] == "cust-0001" for e in reads)


def _confirmed_by_two(dpo, signed_in, dsr_id: str):
    """Four eyes: the first DPO's confirmation is refused (it asks); a second DPO's review approves
    and carries the erasure out. The second DPO's answer."""
    assert dpo.post(f"/console/dsr/{dsr_id}/execute", {"confirm": "on"}).status_code == 403
    return signed_in("dpo", "dpo-two").post(f"/console/dsr/{dsr_id}/execute", {"confirm": "on"})


def test_an_erasure_under_a_legal_hold_restricts_and_says_so_first(container, signed_in):
    customer(container, "cust-0001")
    dpo = signed_in("dpo")
    placed = dpo.post(
        "/console/subjects/cust-0001/holds",
        {"reason_code": "litigation", "ends_on": "2099-12-31", "note": "case 42"},
    )
    assert _location(placed).endswith("#holds")
    created = dpo.post(
        "/console/dsr/new", {"subject_id": "cust-0001", "type": "erasure", "channel": "branch"}
    )
    dsr_id = re.search(r"/console/dsr/(dsr_[a-z0-9]+)", _location(created)).group(1)
    _location(dpo.post(f"/console/dsr/{dsr_id}/verify", {"method": "id_document"}))
    _location(dpo.post(f"/console/dsr/{dsr_id}/approve", {}))
    review = dpo.get(f"/console/dsr/{dsr_id}/execute").get_data(as_text=True)
    assert 'data-outcome="restrict"' in review and "存在适用的保全" in review
    assert "法律保全" in review and "2099-12-31" in review
    # The preview wrote nothing.
    with container.session_factory() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(consent_tables.jobs)) == 0
        assert (
            s.scalar(sa.select(pt.subjects.c.state).where(pt.subjects.c.subject_id == "cust-0001"))
            == "active"
        )
    done = _confirmed_by_two(dpo, signed_in, dsr_id)
    assert "ok=dsr_completed" in _location(done)
    page = dpo.get("/console/subjects/cust-0001").get_data(as_text=True)
    assert 'id="restriction-notice"' in page and 'data-state="restricted"' in page
    with container.session_factory() as s:
        assert s.scalar(sa.select(pt.subjects.c.state).where(pt.subjects.c.subject_id == "cust-0001")) == (
            "restricted"
        )
        assert s.scalar(sa.select(consent_tables.jobs.c.state)) == "pending"
    assert ("subject.restrict", "user:dpo-two") in [
        (e["action"], e["actor"]) for e in audit_payloads(container)
    ]


def test_an_erasure_without_holds_is_shown_as_a_shred(container, signed_in):
    from tokenization.model import TokenizeItem

    with container.uow() as uow:  # an email only: no retention rule covers it
        container.tokenization.tokenize(
            uow, _Service(), [TokenizeItem("email", "someone@example.com", "cust-0009")]
        )
    dpo = signed_in("dpo")
    created = dpo.post("/console/dsr/new", {"subject_id": "cust-0009", "type": "erasure", "channel": "web"})
    dsr_id = re.search(r"/console/dsr/(dsr_[a-z0-9]+)", _location(created)).group(1)
    dpo.post(f"/console/dsr/{dsr_id}/verify", {"method": "app_login"})
    dpo.post(f"/console/dsr/{dsr_id}/approve", {})
    review = dpo.get(f"/console/dsr/{dsr_id}/execute").get_data(as_text=True)
    assert 'data-outcome="shred"' in review
    _location(_confirmed_by_two(dpo, signed_in, dsr_id))
    page = dpo.get("/console/subjects/cust-0009").get_data(as_text=True)
    assert 'data-state="erased"' in page and 'id="consent-grant-form"' not in page


def test_release_a_hold_and_lift_the_restriction(container, signed_in):
    customer(container, "cust-0001")
    dpo = signed_in("dpo")
    _location(
        dpo.post("/console/subjects/cust-0001/holds", {"reason_code": "audit", "ends_on": "2099-01-01"})
    )
    with container.session_factory() as s:
        hold_id = s.scalar(sa.select(pt.holds.c.hold_id))
    released = dpo.post(f"/console/subjects/cust-0001/holds/{hold_id}/release", {"reason_code": "ended"})
    assert "ok=hold_released" in _location(released)
    actions = [(e["action"], e["actor"]) for e in audit_payloads(container)]
    assert ("hold.place", "user:dpo") in actions and ("hold.release", "user:dpo") in actions


class _Service:
    client_id = "svc"
    role = "service"
    purposes = frozenset({"account_service"})
    field_types = None


def test_value_search_is_limited_per_user(container, signed_in, monkeypatch):
    """Issue 14, item 4c: a mobile was found from its mask (138****5678) in about 10^4 posts."""
    import datetime as dt

    from throttle import AnswerBudget

    customer(container, "cust-0001")
    budget = AnswerBudget(container.session_factory, limit=5, window=dt.timedelta(minutes=10))
    monkeypatch.setattr(container.tokenization, "answer_budget", budget)
    dpo = signed_in("dpo")
    masked_middle = (f"138{n:04d}5678" for n in range(1000, 2000))
    statuses = [
        dpo.post("/console/subjects", {"by": "value", "field_type": "cn_mobile", "q": next(masked_middle)})
        for _ in range(5)
    ]
    assert [r.status_code for r in statuses] == [404] * 5  # no match: within the budget
    refused = dpo.post(
        "/console/subjects", {"by": "value", "field_type": "cn_mobile", "q": next(masked_middle)}
    )
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    # Locked: the right guess is refused too, so the refusal says nothing about it.
    right = dpo.post("/console/subjects", {"by": "value", "field_type": "cn_mobile", "q": MOBILE})
    assert right.status_code == 429
    by_token = dpo.post("/console/subjects", {"by": "token", "q": "tok_mob_nosuchtoken"})
    assert by_token.status_code == 429
    # Per user: another DPO still searches.
    other = signed_in("dpo", username="dpo2")
    found = other.post("/console/subjects", {"by": "value", "field_type": "cn_mobile", "q": MOBILE})
    assert _location(found) == "/console/subjects/cust-0001"
    # Audited with the subject found, so the search is in cust-0001's access log.
    finds = [e for e in audit_payloads(container) if e["action"] == "subject.find"]
    assert [(e["actor"], e["subject_id"], e["details"]["by"]) for e in finds] == [
        ("user:dpo2", "cust-0001", "value")
    ]
    tripped = [e for e in audit_payloads(container) if e["action"] == "throttle.answer_budget"]
    assert [(e["actor"], e["outcome"]) for e in tripped] == [("user:dpo", "denied")]
    assert MOBILE not in str(audit_payloads(container))


def test_token_search_misses_count_towards_the_budget(container, signed_in, monkeypatch):
    import datetime as dt

    from throttle import AnswerBudget

    tokens = customer(container, "cust-0001")
    budget = AnswerBudget(container.session_factory, limit=2, window=dt.timedelta(minutes=10))
    monkeypatch.setattr(container.tokenization, "answer_budget", budget)
    dpo = signed_in("dpo")
    for n in range(2):
        assert dpo.post("/console/subjects", {"by": "token", "q": f"tok_mob_guess{n}"}).status_code == 404
    assert dpo.post("/console/subjects", {"by": "token", "q": "tok_mob_guess9"}).status_code == 429
    assert dpo.post("/console/subjects", {"by": "token", "q": tokens["cn_mobile"]}).status_code == 429


def test_an_open_ended_retention_hold_says_what_ends_it_in_the_preview_and_on_the_subject_page(
    container, signed_in
):
    from tests.consent.conftest import SERVICE, call

    customer(container, "cust-0001")
    call(container, "open_relationship", SERVICE, "cust-0001")  # a customer, not a lead
    dpo = signed_in("dpo")
    created = dpo.post(
        "/console/dsr/new", {"subject_id": "cust-0001", "type": "erasure", "channel": "branch"}
    )
    dsr_id = re.search(r"/console/dsr/(dsr_[a-z0-9]+)", _location(created)).group(1)
    dpo.post(f"/console/dsr/{dsr_id}/verify", {"method": "id_document"})
    dpo.post(f"/console/dsr/{dsr_id}/approve", {})
    review = dpo.get(f"/console/dsr/{dsr_id}/execute").get_data(as_text=True)
    # The preview is erasure's own decision: the AML retention hold it would create, and what ends it.
    assert 'data-outcome="restrict"' in review and "业务关系终止后 5 年" in review
    _location(_confirmed_by_two(dpo, signed_in, dsr_id))
    page = dpo.get("/console/subjects/cust-0001").get_data(as_text=True)
    assert 'data-testid="hold-ends-when"' in page and "业务关系终止后 5 年" in page
