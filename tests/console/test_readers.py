"""Issue 21, the console for the people who read it: everything a DPO reads in the page's
language, purposes and field types by name, actors by the client's or user's name."""

from __future__ import annotations

from api.clients import clients_service
from api.console import i18n
from tests.consent.conftest import Caller, customer
from tests.console.conftest import Console, csrf_of, sign_in
from tokenization.policy.decision import Reason


def _as_client(container, name: str) -> Caller:
    """A tokenization caller that is a real registered client (so its name can be looked up)."""
    client, _ = clients_service(container).create(
        name=name, role="service", actor="test", purposes=["account_service", "risk_scoring"]
    )
    caller = Caller()
    caller.client_id = client.id
    return caller


def test_the_access_log_names_the_client_and_says_why_in_chinese(container, signed_in):
    tokens = customer(container, "cust-0001")
    crm = _as_client(container, "loan-approval")
    with container.uow() as uow:
        answers = container.services["tokenization"].detokenize(
            uow, crm, "risk_scoring", [tokens["cn_resident_id"]]
        )
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
