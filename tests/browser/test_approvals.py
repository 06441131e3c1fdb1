"""Separation of duties in Chromium (issue 15): one DPO asks to see a subject's plain values, another
approves in their own browser, the grant shows on the subject page; break-glass puts a banner on
every page and waits on the dashboard for another person's review; the pages fit a 390 px phone."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from piivault.container import Container
from tests.browser.conftest import LiveServer, PageErrors
from tests.browser.test_console import MOBILE, Shoot, _seed_subject, _sign_in, _user

pytestmark = pytest.mark.browser

SUBJECT = "cust-7001"


def _context(browser: Browser, server: LiveServer, **kw: object) -> BrowserContext:
    ctx = browser.new_context(
        base_url=server.url,
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
        **({"viewport": {"width": 1280, "height": 860}} | kw),  # type: ignore[arg-type]
    )
    ctx.set_default_timeout(15_000)
    return ctx


@pytest.fixture
def second(browser: Browser, live_server: LiveServer) -> Iterator[BrowserContext]:
    """Another browser (another person's)."""
    ctx = _context(browser, live_server)
    yield ctx
    ctx.close()


@pytest.fixture
def phone(browser: Browser, live_server: LiveServer) -> Iterator[BrowserContext]:
    ctx = _context(
        browser,
        live_server,
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    yield ctx
    ctx.close()


def _watched(ctx: BrowserContext, errors: PageErrors) -> Page:
    p = ctx.new_page()
    p.on("console", errors.on_console)
    p.on("pageerror", errors.on_pageerror)
    return p


def _no_horizontal_overflow(page: Page) -> None:
    width, inner = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
    assert width <= inner, f"{page.url}: the page is {width} px wide in a {inner} px window"


def _fill_ask(page: Page, prefix: str, minutes: str, reason: str) -> None:
    expect(page.locator(f"#{prefix}subject_id")).to_have_value(SUBJECT)  # carried from the subject page
    page.select_option(f"#{prefix}purpose", "aml_kyc")
    page.fill(f"#{prefix}minutes", minutes)
    page.select_option(f"#{prefix}reason_code", "complaint")
    page.fill(f"#{prefix}reason_text", reason)


def test_a_dpo_asks_another_approves_and_the_grant_shows_on_the_subject_page(
    page: Page,
    second: BrowserContext,
    container: Container,
    live_server: LiveServer,
    page_errors: PageErrors,
    screenshot: Shoot,
) -> None:
    _seed_subject(container, live_server, SUBJECT)
    _user(container, "dai.dpo", "dpo")
    _user(container, "don.dpo", "dpo")
    _sign_in(page, "dai.dpo")
    page.goto(f"/console/subjects/{SUBJECT}")
    expect(page.locator("#grants")).to_contain_text("此主体目前没有有效授权")
    page.click("#grant-ask")
    _fill_ask(page, "ask-", "30", "checking a complaint about the name")
    page.click("#approval-submit")
    expect(page.locator("#flash")).to_contain_text("等待他人审批")
    mine = page.locator("#my-requests-table tbody tr").first
    expect(mine.locator("[data-state]")).to_have_attribute("data-state", "pending")
    own = page.locator("#inbox-table tbody tr").first
    expect(own.locator("[data-testid=own-request]")).to_be_visible()
    expect(own.locator("button")).to_have_count(0)  # no approve or deny on one's own request
    approval_id = own.get_attribute("data-approval")
    screenshot(page, "approvals-own")

    other = _watched(second, page_errors)
    _sign_in(other, "don.dpo")
    other.click("#nav-approvals")
    row = other.locator(f"#inbox-table tr[data-approval='{approval_id}']")
    expect(row).to_contain_text("dai.dpo")
    expect(row).to_contain_text("checking a complaint about the name")
    screenshot(other, "approvals-inbox")
    row.locator(f"#approve-{approval_id} button").click()
    expect(other.locator("#flash")).to_contain_text("已批准")

    page.reload()
    expect(page.locator(f"[data-testid=approval-state-{approval_id}]")).to_have_attribute(
        "data-state", "approved"
    )
    page.goto(f"/console/subjects/{SUBJECT}")
    grant = page.locator("#grant-table tbody tr")
    expect(grant).to_have_count(1)
    expect(grant.locator("[data-testid=grant-approved-by]")).to_have_text("don.dpo")
    page.click("#reveal summary")
    page.select_option("#reveal-purpose", "aml_kyc")
    page.click("#reveal-submit")
    expect(page.locator("[data-testid=plain-value]")).to_have_count(2)  # the grant's plain values
    expect(page.locator("#field-types")).to_contain_text(MOBILE)
    screenshot(page, "subject-grant")
    grant.locator("button").click()  # the holder revokes it
    expect(page.locator("#flash")).to_contain_text("授权已撤销")
    expect(page.locator("#grants")).to_contain_text("此主体目前没有有效授权")


def test_break_glass_banner_everywhere_and_review_by_another_person_on_a_phone(
    page: Page,
    phone: BrowserContext,
    container: Container,
    live_server: LiveServer,
    page_errors: PageErrors,
    screenshot: Shoot,
) -> None:
    _seed_subject(container, live_server, SUBJECT)
    _user(container, "dai.dpo", "dpo")
    _user(container, "don.dpo", "dpo")
    _sign_in(page, "dai.dpo")
    page.goto(f"/console/subjects/{SUBJECT}")
    expect(page.locator("#break-glass-banner")).to_have_count(0)
    page.click("#grant-break-glass")
    _fill_ask(page, "bg-", "15", "fraud incident at the branch, customer on the line")
    page.click("#break-glass-submit")
    expect(page.locator("#flash")).to_contain_text("紧急授权已生效")
    for link in ("#nav-dashboard", "#nav-subjects", "#nav-purposes", "#nav-approvals"):
        page.click(link)
        expect(page.locator("#break-glass-banner")).to_contain_text("dai.dpo")
    page.click("#nav-dashboard")
    unreviewed = page.locator("#break-glass-unreviewed")
    expect(unreviewed).to_have_attribute("data-count", "1")
    expect(unreviewed.locator("form")).to_have_count(0)  # the holder does not review their own

    other = _watched(phone, page_errors)  # the reviewer, on a phone
    _sign_in(other, "don.dpo")
    expect(other.locator("#break-glass-banner")).to_contain_text("dai.dpo")
    _no_horizontal_overflow(other)
    screenshot(other, "dashboard-break-glass-phone")
    for path in ("/console/approvals", "/console/break-glass", f"/console/subjects/{SUBJECT}"):
        other.goto(path)
        other.eval_on_selector_all("details", "ds => ds.forEach(d => d.open = true)")
        _no_horizontal_overflow(other)
    other.goto("/console/")
    form = other.locator("#break-glass-unreviewed form")
    expect(form).to_have_count(1)
    form.locator("input[name=note]").fill("ticket checked with the branch")
    form.locator("button").click()
    expect(other.locator("#flash")).to_contain_text("已复核")
    expect(other.locator("#break-glass-unreviewed")).to_have_attribute("data-count", "0")
    _no_horizontal_overflow(other)

    page.click("#nav-approvals")
    page.click("#break-glass-link")
    used = page.locator("#break-glass-uses tr[data-reviewed]")
    expect(used).to_have_attribute("data-reviewed", "true")
    expect(used).to_contain_text("don.dpo")


def test_the_approvals_page_in_english_fits_a_phone(
    phone: BrowserContext,
    container: Container,
    live_server: LiveServer,
    page_errors: PageErrors,
) -> None:
    _seed_subject(container, live_server, SUBJECT)
    _user(container, "eve.dpo", "dpo")
    p = _watched(phone, page_errors)
    _sign_in(p, "eve.dpo")
    p.click("#lang-en")
    p.goto(f"/console/approvals?subject={SUBJECT}")
    expect(p.locator("h1")).to_have_text("Approvals and grants")
    _fill_ask(p, "ask-", "20", "a complaint about a statement")
    p.click("#approval-submit")
    expect(p.locator("#flash")).to_have_text("Request sent: it waits for another person's approval.")
    expect(p.locator("#inbox-table [data-testid=own-request]")).to_have_text(
        "Your own request: someone else decides"
    )
    _no_horizontal_overflow(p)
    assert page_errors.messages == [], page_errors.messages
