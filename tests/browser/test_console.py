"""The DPO console in headless Chromium: the flows a DPO and an auditor go through.

Data is put in the way other systems would (API keys over HTTP to the live
server); everything after that is done by clicking in the browser. Each main
page is photographed (see ``conftest.screenshot``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from api.console.services import console_service
from piivault.container import Container
from piivault_client import PiivaultClient
from privacy import tables as pt
from tests.browser.conftest import LiveServer, PageErrors

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"
# Synthetic values: a valid GB 11643 check digit and a valid mobile, belonging to nobody.
RESIDENT_ID = "11010519491231002X"
MOBILE = "13912345678"

Shoot = Callable[[Page, str], Path]


def _user(container: Container, username: str, role: str) -> str:
    console_service(container).users.create(username=username, role=role, password=PASSWORD, actor="test")
    return username


def _seed_subject(container: Container, server: LiveServer, subject_id: str) -> None:
    """A CRM stores two values for one customer through the public API."""
    _, key = container.clients.create(name="crm", role="service", actor="test")
    crm = PiivaultClient(server.url, key)
    items = crm.tokenize(
        [
            {"field_type": "cn_resident_id", "value": RESIDENT_ID, "subject_id": subject_id},
            {"field_type": "cn_mobile", "value": MOBILE, "subject_id": subject_id},
        ]
    )
    assert all("token" in item for item in items), items


def _sign_in(page: Page, username: str, password: str = PASSWORD) -> None:
    page.goto("/console/login")
    page.fill("#login-form input[name=username]", username)
    page.fill("#login-form input[name=password]", password)
    page.click("#login-submit")
    expect(page.locator("[data-testid=current-user]")).to_contain_text(username)


def _open_subject(page: Page, subject_id: str) -> None:
    page.click("#nav-subjects")
    page.check("#by-subject_id")
    page.fill("#subject-search input[name=q]", subject_id)
    page.click("#subject-search-submit")
    expect(page.locator("#subject")).to_have_attribute("data-subject", subject_id)


def test_dpo_signs_in_finds_a_subject_and_grants_then_withdraws_consent(
    page: Page, container: Container, live_server: LiveServer, screenshot: Shoot
) -> None:
    _seed_subject(container, live_server, "cust-1001")
    _user(container, "wang.dpo", "dpo")

    page.goto("/console/login")
    screenshot(page, "login")
    _sign_in(page, "wang.dpo")
    expect(page.locator("#dashboard")).to_be_visible()

    _open_subject(page, "cust-1001")
    # Values are masked on the page; the full values never reach the browser.
    html = page.content()
    assert RESIDENT_ID not in html and MOBILE not in html
    expect(page.locator("#field-types")).to_contain_text("cn_mobile")

    page.click("#grant > summary")  # actions are folded away until asked for
    page.select_option("#consent-grant-form select[name=purpose]", "marketing")
    page.select_option("#consent-grant-form select[name=channel]", "branch")
    page.click("#consent-grant")
    expect(page.locator("#flash")).to_be_visible()
    expect(page.locator("[data-testid=consent-state-marketing]")).to_have_attribute("data-state", "granted")
    screenshot(page, "subject")

    page.click("#withdraw > summary")
    page.select_option("#consent-withdraw-form select[name=purpose]", "marketing")
    page.select_option("#consent-withdraw-form select[name=channel]", "app")
    page.click("#consent-withdraw")
    expect(page.locator("[data-testid=consent-state-marketing]")).to_have_attribute("data-state", "withdrawn")
    expect(page.locator("#consent-history")).to_contain_text("marketing")

    page.click("#nav-dashboard")
    expect(page.locator("#consent-chart")).to_be_visible()
    screenshot(page, "dashboard")


def test_erasure_under_a_legal_hold_restricts_the_subject_instead_of_shredding(
    page: Page, container: Container, live_server: LiveServer, screenshot: Shoot, page_errors: PageErrors
) -> None:
    _seed_subject(container, live_server, "cust-2002")
    _user(container, "li.dpo", "dpo")
    _sign_in(page, "li.dpo")

    # A legal hold, placed from the subject page.
    _open_subject(page, "cust-2002")
    page.click("#place-hold > summary")
    page.select_option("#hold-form select[name=reason_code]", index=1)
    page.fill("#hold-form input[name=ends_on]", "2031-12-31")
    page.click("#hold-submit")
    expect(page.locator("#hold-table")).to_contain_text("2031-12-31")

    # The erasure request, worked through its states.
    page.click("#nav-dsr")
    page.click("#dsr-new")
    page.fill("#dsr-create-form input[name=subject_id]", "cust-2002")
    page.select_option("#dsr-create-form select[name=type]", "erasure")
    page.select_option("#dsr-create-form select[name=channel]", "web")
    page.click("#dsr-create")
    expect(page.locator("#dsr-detail")).to_have_attribute("data-state", "received")
    page.select_option("#dsr-verify-form select[name=method]", index=1)
    page.click("#dsr-verify")
    expect(page.locator("#dsr-detail")).to_have_attribute("data-state", "identity_verified")
    page.click("#dsr-approve")
    expect(page.locator("#dsr-detail")).to_have_attribute("data-state", "approved")
    screenshot(page, "dsr")

    # Before confirming, the DPO is told the hold applies and what will happen.
    page.click("#dsr-execute")
    expect(page.locator("#erasure-outcome")).to_have_attribute("data-outcome", "restrict")
    expect(page.locator("#erasure-holds")).to_contain_text("2031-12-31")
    screenshot(page, "dsr-erasure-review")
    page.check("#dsr-execute-form input[name=confirm]")
    page.click("#dsr-execute-confirm")
    # Four eyes: li.dpo's confirmation asks; another DPO's review approves and carries it out.
    expect(page.locator("#form-error")).to_contain_text("apr_")
    review_url = page.url
    # The refusal is a 403 page: the one console error expected, and only it.
    assert len(page_errors.messages) == 1 and "403" in page_errors.messages[0]
    page_errors.messages.clear()
    page.click("#signout")
    _user(container, "wang.dpo", "dpo")
    _sign_in(page, "wang.dpo")
    page.goto(review_url)
    expect(page.locator("#erasure-outcome")).to_have_attribute("data-outcome", "restrict")
    page.check("#dsr-execute-form input[name=confirm]")
    page.click("#dsr-execute-confirm")
    expect(page.locator("#dsr-detail")).to_have_attribute("data-state", "completed")

    _open_subject(page, "cust-2002")
    expect(page.locator("#restriction-notice")).to_be_visible()
    expect(page.locator("#subject-heading")).to_have_attribute("data-state", "restricted")


def test_auditor_verifies_the_log_and_cannot_approve_a_request(
    page: Page,
    container: Container,
    live_server: LiveServer,
    screenshot: Shoot,
    page_errors: PageErrors,
) -> None:
    _seed_subject(container, live_server, "cust-3003")
    _user(container, "zhao.dpo", "dpo")
    _user(container, "qian.auditor", "auditor")

    # A DPO opens a request and verifies identity; then the auditor looks at it.
    _sign_in(page, "zhao.dpo")
    page.goto("/console/dsr/new")
    page.fill("#dsr-create-form input[name=subject_id]", "cust-3003")
    page.select_option("#dsr-create-form select[name=type]", "access")
    page.select_option("#dsr-create-form select[name=channel]", "branch")
    page.click("#dsr-create")
    page.select_option("#dsr-verify-form select[name=method]", index=1)
    page.click("#dsr-verify")
    expect(page.locator("#dsr-detail")).to_have_attribute("data-state", "identity_verified")
    dsr_url = page.url
    page.click("#signout")
    expect(page.locator("#login-form")).to_be_visible()

    _sign_in(page, "qian.auditor")
    page.click("#nav-audit")
    page.click("#audit-verify")
    expect(page.locator("#audit-verify-result")).to_have_attribute("data-ok", "true")
    expect(page.locator("#checkpoint-note")).to_be_visible()
    page.fill("#audit-search-form input[name=subject]", "cust-3003")
    page.click("#audit-search-submit")
    # Each event in words with its code beneath, the client by its name.
    expect(page.locator("#audit-results .event-name[title='dsr.identity_verified']")).to_have_text("核验身份")
    expect(page.locator("#audit-results")).to_contain_text("crm")
    screenshot(page, "audit")

    # Requests are not the auditor's business: no menu entry, the page is refused, and an
    # approval forged with a valid session and CSRF token is refused too.
    expect(page.locator("#nav-dsr")).to_have_count(0)
    page.goto(dsr_url)
    expect(page.locator("#error-page")).to_be_visible()
    page.goto("/console/audit")
    status = page.evaluate(
        """async (url) => {
            const token = document.querySelector('input[name=csrf_token]').value;
            const r = await fetch(url + '/approve', {method: 'POST',
                headers: {'Content-Type': 'application/x-www-form-urlencoded'},
                body: 'csrf_token=' + encodeURIComponent(token)});
            return r.status;
        }""",
        dsr_url.split("?")[0],
    )
    assert status == 403
    page_errors.messages.clear()  # Chromium logs both refusals, as it should
    page.click("#signout")

    _sign_in(page, "zhao.dpo")
    page.goto(dsr_url)
    expect(page.locator("#dsr-detail")).to_have_attribute("data-state", "identity_verified")


def test_a_form_posted_without_the_csrf_token_is_refused_and_changes_nothing(
    page: Page, container: Container, live_server: LiveServer, page_errors: PageErrors
) -> None:
    _seed_subject(container, live_server, "cust-4004")
    _user(container, "sun.dpo", "dpo")
    _sign_in(page, "sun.dpo")
    _open_subject(page, "cust-4004")

    page.click("#grant > summary")
    page.select_option("#consent-grant-form select[name=purpose]", "marketing")
    page.select_option("#consent-grant-form select[name=channel]", "app")
    page.eval_on_selector("#consent-grant-form input[name=csrf_token]", "e => e.value = 'forged'")
    page.click("#consent-grant")
    expect(page.locator("#error-page")).to_be_visible()
    page_errors.messages.clear()  # Chromium logs the 400 document load

    _open_subject(page, "cust-4004")
    expect(page.locator("[data-testid=consent-state-marketing][data-state=granted]")).to_have_count(0)
    with container.session_factory() as session:
        recorded = session.scalar(
            sa.select(sa.func.count())
            .select_from(pt.records)
            .where(pt.records.c.subject_id == "cust-4004")
        )
    assert recorded == 0


def test_sign_out_ends_the_session_and_language_switches(
    page: Page, container: Container, live_server: LiveServer, screenshot: Shoot
) -> None:
    _user(container, "zhou.dpo", "dpo")
    _sign_in(page, "zhou.dpo")
    assert page.locator("html").get_attribute("lang", timeout=5_000).startswith("zh")
    page.click("#lang-en")
    assert page.locator("html").get_attribute("lang") == "en"
    expect(page.locator("#nav-dashboard")).to_contain_text("Dashboard")
    page.click("#nav-purposes")
    expect(page.locator("#purposes")).to_contain_text("aml_kyc")
    screenshot(page, "purposes-en")

    page.click("#signout")
    expect(page.locator("#login-form")).to_be_visible()
    page.goto("/console/")
    expect(page.locator("#login-form")).to_be_visible()

    # Chinese chosen on the sign-in page wins over the stored English preference.
    page.click("#lang-zh")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    _sign_in(page, "zhou.dpo")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("#nav-dashboard")).to_have_text("总览")
