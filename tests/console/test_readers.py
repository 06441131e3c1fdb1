"""Issue 21, the console for the people who read it: everything a DPO reads in the page's
language, purposes and field types by name, actors by the client's or user's name."""

from __future__ import annotations

import json
import re

from api.console import i18n
from privacy.decision import Reason
from privacy.model import Actor
from tests.consent.conftest import Caller, customer
from tests.consent.conftest import keys as keys  # noqa: F401 - a fixture
from tests.console.conftest import Console, csrf_of, sign_in
from tokenization.model import TokenizeItem

SERVICE = Actor("client:crm", "service", frozenset({"account_service", "marketing"}))


def _as_client(container, name: str) -> Caller:
    """A tokenization caller that is a real registered client (so its name can be looked up)."""
    client, _ = container.clients.create(
        name=name, role="service", actor="test", purposes=["account_service", "risk_scoring"]
    )
    caller = Caller()
    caller.client_id = client.id
    return caller


def test_the_access_log_names_the_client_and_says_why_in_chinese(container, signed_in):
    tokens = customer(container, "cust-0001")
    crm = _as_client(container, "loan-approval")
    with container.uow() as uow:
        answers = container.tokenization.detokenize(uow, crm, "risk_scoring", [tokens["cn_resident_id"]])
    reason = answers[0]["reason"]
    assert reason == Reason.OUTSIDE_PURPOSE.value
    dpo = signed_in("dpo")
    html = dpo.get("/console/subjects/cust-0001").get_data(as_text=True)
    assert "loan-approval" in html
    assert f">client:{crm.client_id}<" not in html  # the id is on hover only
    assert i18n.ZH["reason.outside_purpose"] in html and reason not in html
    assert "信用与欺诈风险评估" in html  # the purpose by name, not risk_scoring alone


def test_purposes_page_shows_builtin_texts_and_field_types_in_the_pages_language(signed_in):
    dpo = signed_in("dpo")
    zh = dpo.get("/console/purposes").get_data(as_text=True)
    assert "业务关系终止后 5 年" in zh and "5 years after the relationship ends" not in zh
    assert "居民身份证号" in zh and ">cn_resident_id<" not in zh
    dpo.post("/console/lang", {"lang": "en", "next": "/console/purposes"})
    en = dpo.get("/console/purposes").get_data(as_text=True)
    assert "5 years after the relationship ends" in en and "Resident ID" in en and "业务关系终止后" not in en


def test_a_language_chosen_on_the_sign_in_page_becomes_the_preference(app, make_user):
    make_user("li.dpo", "dpo")  # stored preference: Chinese
    browser = app.test_client()
    login = browser.get("/console/login").get_data(as_text=True)
    browser.post("/console/lang", data={"csrf_token": csrf_of(login), "lang": "en", "next": "/console/login"})
    assert sign_in(browser, "li.dpo").status_code == 303
    assert '<html lang="en">' in browser.get("/console/").get_data(as_text=True)
    # Stored: another browser that never chose is in English too.
    assert '<html lang="en">' in Console(app.test_client(), "li.dpo").get("/console/").get_data(as_text=True)


def test_signing_in_without_choosing_keeps_the_stored_preference(app, make_user, console):
    make_user("zhao.dpo", "dpo")
    console.users.set_preferences("zhao.dpo", language="en")
    assert '<html lang="en">' in Console(app.test_client(), "zhao.dpo").get("/console/").get_data(
        as_text=True
    )


# -- the subject page and the DSR page (issue 21, step 2) -----------------------------------
def _erasure(dpo, subject_id: str, second_dpo) -> str:
    created = dpo.post("/console/dsr/new", {"subject_id": subject_id, "type": "erasure", "channel": "web"})
    dsr_id = re.search(r"/console/dsr/(dsr_[a-z0-9]+)", created.headers["Location"]).group(1)
    dpo.post(f"/console/dsr/{dsr_id}/verify", {"method": "app_login"})
    dpo.post(f"/console/dsr/{dsr_id}/approve", {})
    # Four eyes: the first DPO's confirmation asks; a second DPO's review approves and erases.
    assert dpo.post(f"/console/dsr/{dsr_id}/execute", {"confirm": "on"}).status_code == 403
    assert second_dpo.post(f"/console/dsr/{dsr_id}/execute", {"confirm": "on"}).status_code == 303
    return dsr_id


def test_a_completed_erasure_links_its_certificate_and_the_api_returns_it(container, signed_in, keys, app):
    with container.uow() as uow:  # an email only: no retention rule keeps it, so it is shredded
        container.tokenization.tokenize(
            uow, Caller(), [TokenizeItem("email", "someone@example.com", "cust-0009")]
        )
    dpo = signed_in("dpo")
    dsr_id = _erasure(dpo, "cust-0009", signed_in("dpo", "dpo-two"))
    page = dpo.get(f"/console/dsr/{dsr_id}").get_data(as_text=True)
    assert 'id="dsr-certificate"' in page and "已删除（密钥销毁）" in page
    assert "None" not in page and "certificate_id</dt>" not in page
    download = dpo.get(f"/console/dsr/{dsr_id}/certificate")
    assert download.status_code == 200 and download.mimetype == "application/json"
    document = json.loads(download.get_data(as_text=True))
    assert document["receipt"]["piiPrincipalId"] == "cust-0009" and document["signature"]
    api = app.test_client().get(f"/v1/dsr/{dsr_id}", headers=keys["dpo"]).json
    assert api["certificate_id"] == document["receipt"]["certificateID"]
    assert api["certificate"] == document
    # Documented: the request's schema in /openapi.json names both fields.
    schemas = app.test_client().get("/openapi.json").json["components"]["schemas"]
    documented = [s["properties"] for s in schemas.values() if "steps" in s.get("properties", {})]
    assert documented and all({"certificate_id", "certificate"} <= set(p) for p in documented)
    assert "certificate" in documented[0]["certificate"]["description"]


def test_an_erasure_waiting_for_a_hold_offers_no_lift_and_shows_no_raw_keys(container, signed_in):
    customer(container, "cust-0001")
    dpo = signed_in("dpo")
    dpo.post("/console/subjects/cust-0001/holds", {"reason_code": "litigation", "ends_on": "2099-12-31"})
    dsr_id = _erasure(dpo, "cust-0001", signed_in("dpo", "dpo-two"))
    subject = dpo.get("/console/subjects/cust-0001").get_data(as_text=True)
    assert 'data-state="restricted"' in subject
    assert 'id="restriction-lift-form"' not in subject and 'id="lift-blocked"' in subject
    # ... and the service would indeed refuse it (409): the form is not hidden for nothing.
    refused = dpo.post("/console/subjects/cust-0001/lift-restriction", {"reason_code": "dpo_decision"})
    assert refused.status_code == 409
    detail = dpo.get(f"/console/dsr/{dsr_id}").get_data(as_text=True)
    outcome = re.search(r'id="dsr-outcome">(.*?)</dl>', detail, re.S).group(1)
    assert "shred_due_at" not in re.sub(r'title="[^"]*"', "", outcome) and "None" not in outcome
    assert "已限制处理（保全期满后删除）" in outcome and "预计销毁时间" in outcome


def _rejected(dpo, subject_id: str, kind: str) -> str:
    """A request of ``kind`` registered and rejected as a duplicate; its id."""
    created = dpo.post("/console/dsr/new", {"subject_id": subject_id, "type": kind, "channel": "web"})
    dsr_id = re.search(r"/console/dsr/(dsr_[a-z0-9]+)", created.headers["Location"]).group(1)
    dpo.post(f"/console/dsr/{dsr_id}/reject", {"reason_code": "duplicate"})
    return dsr_id


def test_a_rejected_request_shows_no_pending_steps(container, signed_in):
    customer(container, "cust-0001")
    dpo = signed_in("dpo")
    dsr_id = _rejected(dpo, "cust-0001", "erasure")
    page = dpo.get(f"/console/dsr/{dsr_id}").get_data(as_text=True)
    steps = re.search(r'<ol class="steps"[^>]*>(.*?)</ol>', page, re.S).group(1)
    items = re.findall(r"<li([^>]*)>", steps)
    assert len(items) == 2 and all("done" in i or "rejected" in i for i in items), items


def test_subject_page_folds_actions_and_pages_the_access_log(container, signed_in):
    tokens = customer(container, "cust-0001")
    dpo = signed_in("dpo")
    for _ in range(12):  # 12 detokenize events: more than one page of the access log
        with container.uow() as uow:
            container.tokenization.detokenize(uow, Caller(), "account_service", [tokens["name"]])
    with container.uow() as uow:  # a consent to withdraw: the withdraw form is offered
        container.consent.grant(uow, SERVICE, "cust-0001", "marketing", channel="app")
    page = dpo.get("/console/subjects/cust-0001").get_data(as_text=True)
    for action in ("grant", "withdraw", "place-hold", "reveal", "close"):
        assert re.search(rf'<details class="action[^"]*" id="{action}"\s*>', page), action  # closed
    rows = re.search(r'id="access-log-table">.*?<tbody>(.*?)</tbody>', page, re.S).group(1)
    assert rows.count("<tr>") == 10 and 'id="access-log-next"' in page
    second = dpo.get("/console/subjects/cust-0001?log=2").get_data(as_text=True)
    rows2 = re.search(r'id="access-log-table">.*?<tbody>(.*?)</tbody>', second, re.S).group(1)
    assert 1 <= rows2.count("<tr>") <= 10 and 'rel="prev"' in second
    # Date fields are typed as YYYY-MM-DD, never a native date picker in the browser's locale.
    assert 'type="date"' not in page and 'placeholder="YYYY-MM-DD"' in page


def test_no_withdraw_form_without_a_consent_to_withdraw(container, signed_in):
    customer(container, "cust-0001")
    page = signed_in("dpo").get("/console/subjects/cust-0001").get_data(as_text=True)
    assert 'id="grant"' in page and 'id="withdraw"' not in page


def test_audit_search_is_newest_first(container, signed_in):
    tokens = customer(container, "cust-0001")
    for _ in range(3):
        with container.uow() as uow:
            container.tokenization.detokenize(uow, Caller(), "account_service", [tokens["name"]])
    dpo = signed_in("dpo")
    html = dpo.get("/console/audit?subject=cust-0001").get_data(as_text=True)
    seqs = [int(s) for s in re.findall(r'<tr data-seq="(\d+)"', html)]
    assert len(seqs) >= 2 and seqs == sorted(seqs, reverse=True)


# -- what each logged event did, in words (issue 21) -----------------------------------------
def test_the_access_log_and_audit_search_say_what_happened_in_words(container, signed_in):
    with container.uow() as uow:  # an email only: shredded by the erasure, no hold keeps it
        container.tokenization.tokenize(
            uow, Caller(), [TokenizeItem("email", "someone@example.com", "cust-0009")]
        )
    dpo = signed_in("dpo")
    _erasure(dpo, "cust-0009", signed_in("dpo", "dpo-two"))
    subject = dpo.get("/console/subjects/cust-0009").get_data(as_text=True)
    log = re.search(r'id="access-log-table">(.*?)</table>', subject, re.S).group(1)
    # Names, with the code on hover only; the erasure's reason in words.
    assert '<span class="event-name" title="subject.erase">删除（密钥销毁）</span>' in log
    assert ">subject.erase<" not in log and ">dsr.completed<" not in log
    assert "dsr-erasure" not in log and "主体请求删除" in log
    audit = dpo.get("/console/audit?subject=cust-0009").get_data(as_text=True)
    results = re.search(r'id="audit-results">(.*?)</table>', audit, re.S).group(1)
    assert "执行请求" in results and "dsr-erasure" not in results
    dpo.post("/console/lang", {"lang": "en", "next": "/console/audit"})
    english = dpo.get("/console/audit?subject=cust-0009").get_data(as_text=True)
    assert "request completed" in english and "erasure requested by the subject" in english


def test_a_rejection_and_a_release_give_their_reasons_in_words(container, signed_in):
    customer(container, "cust-0001")
    dpo = signed_in("dpo")
    _rejected(dpo, "cust-0001", "access")
    dpo.post("/console/subjects/cust-0001/holds", {"reason_code": "litigation", "ends_on": "2099-12-31"})
    hold_id = re.search(r'data-hold="([^"]+)"', dpo.get("/console/subjects/cust-0001").get_data(as_text=True))
    dpo.post(f"/console/subjects/cust-0001/holds/{hold_id.group(1)}/release", {"reason_code": "court_order"})
    results = dpo.get("/console/audit?subject=cust-0001").get_data(as_text=True)
    assert i18n.ZH["dsr.reject.duplicate"] in results and i18n.ZH["hold.release.court_order"] in results
    assert ">duplicate<" not in results and ">court_order<" not in results


def test_the_audit_search_finds_an_actor_by_the_name_it_shows(container, signed_in):
    tokens = customer(container, "cust-0001")
    crm = _as_client(container, "loan-approval")
    with container.uow() as uow:
        container.tokenization.detokenize(uow, crm, "risk_scoring", [tokens["name"]])
    dpo = signed_in("dpo")
    html = dpo.get("/console/audit?actor=loan-approval").get_data(as_text=True)
    seqs = re.findall(r'<tr data-seq="(\d+)"', html)
    assert len(seqs) == 1 and 'title="detokenize"' in html
    by_id = dpo.get(f"/console/audit?actor=client:{crm.client_id}").get_data(as_text=True)
    assert re.findall(r'<tr data-seq="(\d+)"', by_id) == seqs
    # A console user by name, as shown in the log.
    dpo.get("/console/subjects/cust-0001")
    mine = dpo.get("/console/audit?actor=dpo&action=subject.read").get_data(as_text=True)
    assert len(re.findall(r'<tr data-seq="(\d+)"', mine)) == 1


def test_a_built_in_purposes_first_notice_is_in_chinese_and_english(signed_in):
    dpo = signed_in("dpo")
    page = dpo.get("/console/purposes/marketing").get_data(as_text=True)
    first = re.search(r'<details class="notice"[^>]*data-version="1">(.*?)<p class="mono', page, re.S)
    assert first is not None
    assert '<div class="notice-text" lang="zh-CN">推荐本机构自己的产品</div>' in first.group(1)
    assert "offers of the institution&#39;s own products" in first.group(1)  # the English one folded


def test_a_built_in_purposes_form_says_how_its_english_texts_are_shown_in_chinese(signed_in):
    dpo = signed_in("dpo")
    page = dpo.get("/console/purposes/marketing").get_data(as_text=True)
    assert "中文页面显示为：推荐本机构自己的产品" in page and "中文页面显示为：直至撤回同意" in page
    dpo.post("/console/lang", {"lang": "en", "next": "/console/purposes/marketing"})
    assert "shown on Chinese pages" not in dpo.get("/console/purposes/marketing").get_data(as_text=True)


def test_a_closed_request_puts_its_history_beside_its_details(container, signed_in):
    customer(container, "cust-0001")
    dpo = signed_in("dpo")
    dsr_id = _rejected(dpo, "cust-0001", "access")
    page = dpo.get(f"/console/dsr/{dsr_id}").get_data(as_text=True)
    assert 'id="dsr-actions"' not in page  # nothing left to do: no empty "next step" card
    # The history is the grid's second column: its section closes the grid, and the page.
    assert re.search(r'<div class="grid-2">.*id="dsr-steps".*?</section>\s*</div>\s*</main>', page, re.S)
    assert 'id="dsr-closed"' in page
    assert page.count('id="dsr-steps"') == 1


def test_a_refusal_by_the_service_is_said_in_the_pages_language(container, signed_in):
    with container.uow() as uow:
        container.tokenization.tokenize(
            uow, Caller(), [TokenizeItem("email", "someone@example.com", "cust-0009")]
        )
    dpo = signed_in("dpo")
    _erasure(dpo, "cust-0009", signed_in("dpo", "dpo-two"))
    refused = dpo.post("/console/dsr/new", {"subject_id": "cust-0009", "type": "access", "channel": "web"})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 409 and "该主体已删除" in page and "the subject was erased" not in page
