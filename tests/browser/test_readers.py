"""Issue 21 in Chromium: the subject page at 1366x768 and at 390 px (a phone), date fields in the
Chinese UI, and the README's subject screenshot.

What is measured is what a person sees: the page's scroll width against the window's, the
header's height, the language buttons on one line each, the subject's summary above the fold.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from access.model import DSR_ERASURE
from piivault.container import Container
from privacy.model import Actor
from tests.approved import four_eyes
from tests.browser.conftest import LiveServer, PageErrors
from tests.browser.test_console import Shoot, _open_subject, _seed_subject, _sign_in, _user
from tests.consent.conftest import Caller
from tokenization.model import TokenizeItem

pytestmark = pytest.mark.browser

DPO = Actor("user:seed.dpo", "dpo", person="seed.dpo")


def _restricted_subject(container: Container, server: LiveServer, subject_id: str) -> None:
    """A customer with a legal hold and an erasure request waiting for it: the subject is restricted."""
    _seed_subject(container, server, subject_id)
    svc = container.consent
    with container.uow() as uow:
        svc.place_hold(
            uow,
            DPO,
            subject_id,
            reason_code="litigation",
            ends_at=dt.datetime(2031, 1, 1, tzinfo=dt.UTC),
            note="case 2026-117",
        )
    with container.uow() as uow:
        dsr_id = svc.create_request(uow, DPO, subject_id, "erasure", channel="branch")["dsr_id"]
    for to_state, kw in (("identity_verified", {"method": "in_person"}), ("approved", {}), ("completed", {})):
        if to_state == "completed":  # an erasure: a second DPO approved it (four eyes)
            four_eyes(container, DSR_ERASURE, dsr_id, holder="seed.dpo")
        with container.uow() as uow:
            svc.advance_request(uow, DPO, dsr_id, to_state, **kw)


@pytest.fixture
def phone(browser: Browser, live_server: LiveServer) -> Iterator[BrowserContext]:
    ctx = browser.new_context(
        base_url=live_server.url,
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
        viewport={"width": PHONE_WIDTH, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    ctx.set_default_timeout(15_000)
    yield ctx
    ctx.close()


PHONE_WIDTH = 390


def _no_horizontal_overflow(page: Page) -> None:
    # Against the phone's width, not window.innerWidth: a mobile browser widens its layout
    # viewport to fit content that overflows, and innerWidth grows with it.
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE_WIDTH, f"{page.url} is {width} px wide on a {PHONE_WIDTH} px phone"


def test_restricted_subject_page_fits_a_phone(
    phone: BrowserContext,
    container: Container,
    live_server: LiveServer,
    page_errors: PageErrors,
    screenshot: Shoot,
) -> None:
    _restricted_subject(container, live_server, "cust-5005")
    _user(container, "zhou.dpo", "dpo")
    page = phone.new_page()
    page.on("console", page_errors.on_console)
    page.on("pageerror", page_errors.on_pageerror)
    _sign_in(page, "zhou.dpo")
    _no_horizontal_overflow(page)
    page.goto("/console/subjects/cust-5005")
    expect(page.locator("#subject-heading")).to_have_attribute("data-state", "restricted")
    _no_horizontal_overflow(page)
    header = page.locator("header.topbar").bounding_box()
    assert header is not None and header["height"] <= 110, header  # was 390 of 844 px
    for button in ("#lang-zh", "#lang-en"):  # one line each: no "中/文", no "Englis"
        box = page.locator(button).bounding_box()
        assert box is not None and box["height"] <= 30, (button, box)
        assert page.eval_on_selector(button, "b => b.scrollWidth <= b.clientWidth"), button
    # Wide tables scroll inside their box and say so; the page itself does not move sideways.
    expect(page.locator("#hold-table")).to_be_attached()
    wrap = page.locator(".table-wrap:has(#hold-table)")
    expect(wrap).to_have_class("table-wrap scrolls")
    expect(page.locator(".table-wrap:has(#hold-table) + .scroll-cue")).to_be_visible()
    # A row of the access log (folded under its summary) stays one line (times and names do not
    # wrap a word a line).
    page.click("#access-log-fold > summary")
    row = page.locator("#access-log-table tbody tr").first.bounding_box()
    assert row is not None and row["height"] <= 48, row
    # Open every folded action: still no sideways scrolling.
    page.eval_on_selector_all("details", "ds => ds.forEach(d => d.open = true)")
    _no_horizontal_overflow(page)
    screenshot(page, "subject-phone")
    dsr_url = page.locator("#subject-requests a.mono").first.get_attribute("href")
    for path in (  # the main pages, each with its folded parts opened
        "/console/",
        "/console/subjects",
        dsr_url,
        "/console/dsr",
        "/console/dsr/new",
        "/console/purposes",
        "/console/purposes/aml_kyc",
        "/console/audit?subject=cust-5005",
        "/console/approvals",
        "/console/me",
    ):
        page.goto(path)
        page.eval_on_selector_all("details", "ds => ds.forEach(d => d.open = true)")
        _no_horizontal_overflow(page)
    # The menu scrolls sideways; its edge fades while there is more, and the page's own item shows.
    expect(page.locator("#nav")).to_have_class("mainnav more")
    page.goto("/console/approvals")
    expect(page.locator("#nav")).to_have_class("mainnav back")  # scrolled to its last item
    nav_box, item_box = page.locator("#nav").bounding_box(), page.locator("#nav-approvals").bounding_box()
    assert nav_box is not None and item_box is not None
    assert item_box["x"] + item_box["width"] <= nav_box["x"] + nav_box["width"] + 1, (nav_box, item_box)
    page.goto("/console/")
    page.click("#lang-en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    _no_horizontal_overflow(page)
    assert page_errors.messages == []


def test_subject_page_summary_fits_one_laptop_screen(
    page: Page, container: Container, live_server: LiveServer, screenshot: Shoot
) -> None:
    _restricted_subject(container, live_server, "cust-6006")
    _user(container, "qian.dpo", "dpo")
    page.set_viewport_size({"width": 1366, "height": 768})
    _sign_in(page, "qian.dpo")
    page.goto("/console/subjects/cust-6006")
    # The summary (state, data held, processing status) and every action are above the fold.
    for part in ("#subject-heading", "#subject-actions", "#field-types", "#processing-summary"):
        box = page.locator(part).bounding_box()
        assert box is not None and box["y"] + box["height"] <= 768, (part, box)
    height = page.evaluate("document.scrollingElement.scrollHeight")
    # A hold, a request and the access log folded under its summary: under two screens (was
    # 4,200-4,800 px, then 1,835 with the log open).
    assert height <= 1_600, f"the subject page is {height} px tall"
    # An action's link opens its folded form and brings it into view.
    expect(page.locator("#hold-form")).to_be_hidden()
    page.click("#subject-actions a[href='#place-hold']")
    expect(page.locator("#hold-form")).to_be_visible()
    expect(page.locator("#hold-form")).to_be_in_viewport()
    expect(page.locator("#access-log-table")).to_be_hidden()
    page.click("#access-log-fold > summary")
    expect(page.locator("#access-log-table")).to_be_visible()
    expect(page.locator("#access-log")).not_to_contain_text("erasure under hold")  # in words, in Chinese
    expect(page.locator("#access-log-table")).not_to_contain_text("subject.restrict")  # the code on hover
    expect(page.locator("#access-log-table .event-name[title='subject.restrict']")).to_have_text("限制处理")
    # No lift form where the service would refuse (an erasure waits for the hold).
    expect(page.locator("#restriction-lift-form")).to_have_count(0)
    expect(page.locator("#lift-blocked")).to_be_visible()
    screenshot(page, "subject-restricted")


def test_date_fields_in_the_chinese_ui_are_typed_as_iso_dates(
    page: Page, container: Container, live_server: LiveServer
) -> None:
    _seed_subject(container, live_server, "cust-7007")
    _user(container, "sun.dpo", "dpo")
    _sign_in(page, "sun.dpo")
    _open_subject(page, "cust-7007")
    page.click("#place-hold > summary")
    field = page.locator("#hold-ends_on")
    assert field.get_attribute("type") == "text"
    expect(field).to_have_attribute("placeholder", "YYYY-MM-DD")
    # What Chromium shows in the empty field is the placeholder, not mm/dd/yyyy.
    assert field.evaluate("e => e.validity.valid === false && e.value === ''")  # required
    field.fill("12/31/2031")
    assert field.evaluate("e => e.validity.patternMismatch")
    field.fill("2031-12-31")
    assert field.evaluate("e => e.validity.valid")
    page.select_option("#hold-form select[name=reason_code]", index=1)
    page.click("#hold-submit")
    expect(page.locator("#hold-table")).to_contain_text("2031-12-31")


def test_finished_requests_read_in_words(
    page: Page, container: Container, live_server: LiveServer, screenshot: Shoot
) -> None:
    """A completed erasure: its result in words and its certificate a click away; a rejected
    request: the steps it went through, no greyed pending ones; the history beside the details."""
    svc = container.consent
    with container.uow() as uow:  # an email only: no retention rule keeps it, so it is shredded
        container.tokenization.tokenize(
            uow, Caller(), [TokenizeItem("email", "someone@example.com", "cust-8008")]
        )
    with container.uow() as uow:
        rejected = svc.create_request(uow, DPO, "cust-8008", "access", channel="web")["dsr_id"]
    with container.uow() as uow:
        svc.advance_request(uow, DPO, rejected, "rejected", reason_code="duplicate")
    with container.uow() as uow:
        erasure = svc.create_request(uow, DPO, "cust-8008", "erasure", channel="web")["dsr_id"]
    for to_state, kw in (("identity_verified", {"method": "in_person"}), ("approved", {}), ("completed", {})):
        if to_state == "completed":
            four_eyes(container, DSR_ERASURE, erasure, holder="seed.dpo")
        with container.uow() as uow:
            svc.advance_request(uow, DPO, erasure, to_state, **kw)
    container.audit.sequence_pending()  # the certificate is signed once its event is
    _user(container, "wu.dpo", "dpo")
    page.set_viewport_size({"width": 1366, "height": 768})
    _sign_in(page, "wu.dpo")

    page.goto(f"/console/dsr/{erasure}")
    expect(page.locator("#dsr-outcome")).to_contain_text("已删除（密钥销毁）")
    expect(page.locator("#dsr-outcome")).not_to_contain_text("None")
    certificate = page.request.get(page.locator("#dsr-certificate").get_attribute("href") or "")
    assert certificate.ok and certificate.json()["receipt"]["piiPrincipalId"] == "cust-8008"
    expect(page.locator("#dsr-actions")).to_have_count(0)  # no empty "next step" card
    expect(page.locator(".grid-2 #dsr-steps")).to_contain_text("已完成")
    screenshot(page, "dsr-completed")

    page.goto(f"/console/dsr/{rejected}")
    steps = page.locator("ol.steps li")
    expect(steps).to_have_count(2)
    expect(steps.last).to_have_text("已拒绝")
    expect(page.locator(".grid-2 #dsr-steps")).to_contain_text("重复请求")
