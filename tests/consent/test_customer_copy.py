"""Issue 21: the customer's copy of an access request (PIPL art. 45), in words, masked by default,
through the same four-eyes gate as the DPO's package; rendered and looked at as images."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import re
import shutil
import subprocess

import pytest

from access.model import Acting
from tests.approved import SECOND_DPO, actor_of
from tests.consent.conftest import CARD, ID_NUMBER, MOBILE, NAME, audit_payloads, download, package_approved
from tests.consent.test_api_scenarios import SUBJECT, detok, dsr, grant, tokenize, work

HAN = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
def copy_of(client, keys, container):
    """An access request of a customer with four values, a consent, two uses of its mobile (one
    allowed, one refused), a legal hold and a closed relationship; returns a downloader."""
    tokens = tokenize(client, keys)
    resp = client.post(f"/v1/subjects/{SUBJECT}/open", json={}, headers=keys["service"])
    assert resp.status_code == 200, resp.json
    grant(client, keys, "marketing")
    assert detok(client, keys, "marketing", [tokens["cn_mobile"]]) == [{"value": MOBILE}]
    refused = detok(client, keys, "risk_scoring", [tokens["cn_resident_id"]])  # no consent: denied
    assert "value" not in refused[0]
    # Twice more in the same minute (the clock stands still): one line, "3 times".
    for _ in range(2):
        detok(client, keys, "marketing", [tokens["cn_mobile"]])
    ends = (dt.datetime.now(dt.UTC) + dt.timedelta(days=400)).isoformat()
    resp = client.post(
        f"/v1/subjects/{SUBJECT}/holds",
        json={"reason_code": "litigation", "ends_at": ends, "note": "case 2026-17"},
        headers=keys["dpo"],
    )
    assert resp.status_code == 201, resp.json
    dsr_id = dsr(client, keys, "access")
    work(client, keys, dsr_id)

    def fetch(query: str):
        return download(client, keys, dsr_id, query)

    fetch.dsr_id = dsr_id
    return fetch


def _text(page: str) -> str:
    return re.sub(r"<style>.*?</style>|<[^>]+>", " ", page, flags=re.S)


def test_the_customer_copy_is_in_words_masked_and_without_internal_codes(copy_of, container) -> None:
    resp = copy_of("?format=customer")
    assert resp.status_code == 200 and resp.mimetype == "text/html", resp.data[:300]
    assert resp.headers["Content-Disposition"] == f'attachment; filename="{copy_of.dsr_id}-copy-zh-CN.html"'
    page = resp.get_data(as_text=True)
    assert page.startswith('<!DOCTYPE html>\n<html lang="zh-CN">')
    text = _text(page)
    # What the bank holds, masked by default: no value in plain.
    for value in (NAME, MOBILE, ID_NUMBER, CARD):
        assert value not in page
    assert "138****5678" in text and "手机号码" in text
    # No client id, audit actor, code or UTC timestamp with seconds: words, local time to the minute.
    assert "client:" not in page and "t-service" not in text.replace("「t-service」", "")
    for code in ("cn_mobile", "marketing", "detokenize", "legal_obligation", "litigation"):
        assert code not in text, code
    assert not re.search(r"\d{2}:\d{2}:\d{2}|T\d{2}:\d{2}|Z\b", text)
    assert re.search(r"20\d\d-\d\d-\d\d \d\d:\d\d", text)
    # Who used it, when and why: the one allowed use of the mobile, not the refused attempt.
    uses = re.search(r'<table class="uses">(.*?)</table>', page, re.S).group(1)
    # The three uses of the mobile are one line "（3 次）", or two if the log's clock crossed a
    # minute between them; nothing else is listed.
    lines = re.findall(r"<tr><td[^>]*>([^<]*)</td><td[^>]*>([^<]*)</td><td[^>]*>([^<]*)</td>", uses)
    assert 1 <= len(lines) <= 2 and uses.count("<tr>") == 1 + len(lines)
    counts = [re.fullmatch(r"查看了您的手机号码(?:（(\d+) 次）)?", what) for _, _, what in lines]
    assert all(counts) and sum(int(m.group(1) or 1) for m in counts) == 3
    assert all(who == "本行系统「t-service」" for _, who, _ in lines) and "营销" in uses
    assert "居民身份证" not in uses  # the refused attempt on the ID number is left out
    # Purposes with their legal basis, the consent with its date, the hold and why.
    assert "履行法定职责或法定义务" in text and "您的同意" in text
    assert "已同意" in text and "手机银行 App" in text
    assert "诉讼" in text and "case 2026-17" not in text  # the DPO's note stays internal
    # Downloaded like the package: the same event, saying which copy.
    event = [e for e in audit_payloads(container) if e["action"] == "dsr.access_package"][-1]
    assert event["details"]["format"] == "customer"
    assert event["details"]["copy"] == {"language": "zh-CN", "values": "masked"}


def test_the_english_copy_and_plain_values_are_the_dpos_choice(copy_of) -> None:
    page = copy_of("?format=customer&lang=en&values=plain").get_data(as_text=True)
    assert page.startswith('<!DOCTYPE html>\n<html lang="en">')
    text = _text(page)
    assert MOBILE in text and NAME in text  # plain, as the DPO chose
    assert "mobile" in text.lower() and "Why we process your information" in text
    # The only Chinese left is the customer's own name and address-like values.
    assert set(HAN.findall(text.replace(NAME, ""))) == set()


@pytest.mark.parametrize("query", ["?format=customer&lang=fr", "?format=customer&values=none", "?format=doc"])
def test_a_bad_copy_option_is_refused(copy_of, query) -> None:
    resp = copy_of(query)
    assert resp.status_code == 422 and resp.mimetype == "application/problem+json", resp.json


def test_the_customer_copy_goes_through_the_same_four_eyes_gate(client, keys) -> None:
    tokenize(client, keys)
    dsr_id = dsr(client, keys, "access")
    work(client, keys, dsr_id)
    for fmt in ("customer", "pdf"):
        refused = client.get(f"/v1/dsr/{dsr_id}/package?format={fmt}", headers=keys["dpo"])
        assert refused.status_code == 403 and refused.json["type"].endswith("/approval_required"), fmt
        assert NAME not in refused.get_data(as_text=True)
    # Other roles never get it.
    for role in ("service", "analyst", "admin"):
        assert client.get(f"/v1/dsr/{dsr_id}/package?format=customer", headers=keys[role]).status_code == 403


@pytest.mark.browser
def test_the_copy_prints_to_a_pdf_and_looks_right(copy_of, tmp_path) -> None:
    """The PDF's pages as images (pdftoppm), and the HTML as a screenshot at A4 width: every page
    holds ink, the text fits the page, and nothing runs off the side."""
    from PIL import Image
    from playwright.sync_api import sync_playwright

    from piivault.printing import chromium_path

    pdf = copy_of("?format=pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf", pdf.data[:200]
    assert pdf.data.startswith(b"%PDF-")
    (tmp_path / "copy.pdf").write_bytes(pdf.data)
    assert shutil.which("pdftoppm"), "apt-get install poppler-utils"
    pdftoppm = ["pdftoppm", "-r", "60", "-png", str(tmp_path / "copy.pdf"), str(tmp_path / "page")]
    subprocess.run(pdftoppm, check=True)
    pages = sorted(tmp_path.glob("page*.png"))
    assert 1 <= len(pages) <= 4, len(pages)
    for path in pages:
        image = Image.open(path).convert("L")
        width, height = image.size
        assert abs(height / width - 297 / 210) < 0.01  # A4 portrait
        # Ink on the page, and none in the outer margins (nothing cut off at the edge).
        assert image.getextrema()[0] < 100
        edge = max(2, width // 60)
        for box in ((0, 0, edge, height), (width - edge, 0, width, height)):
            assert image.crop(box).getextrema()[0] > 200, (path.name, box)

    page = copy_of("?format=customer").get_data(as_text=True)

    def widths() -> tuple[int, int]:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
            try:
                tab = browser.new_page(viewport={"width": 794, "height": 1123})
                tab.set_content(page)
                a4 = tab.evaluate("document.documentElement.scrollWidth")
                tab.screenshot(path=str(tmp_path / "copy.png"), full_page=True)
                tab.set_viewport_size({"width": 390, "height": 844})
                return a4, tab.evaluate("document.documentElement.scrollWidth")
            finally:
                browser.close()

    # A thread of its own: the browser tests' session-wide Playwright holds this thread's loop.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        a4, phone = pool.submit(widths).result()
    assert a4 <= 794 and phone <= 390
    assert Image.open(tmp_path / "copy.png").size[0] == 794


def test_markup_in_any_text_is_shown_as_text() -> None:
    """A value, a client's name, a DPO's purpose text or the controller's name never become markup."""
    from consent.customer_copy import Wording, render
    from privacy.model import PurposeDef

    evil = '<img src=x onerror="alert(1)">'
    now = dt.datetime(2026, 12, 5, 13, 7, 41, 123456, tzinfo=dt.UTC)
    purpose = PurposeDef(
        code="evil",
        version=1,
        name_zh=evil,
        name_en=evil,
        legal_basis="consent",
        consent_required=True,
        separate_consent_required=False,
        separate_grounds=(),
        third_parties=(),
        field_types=None,
        retention=evil,
        retention_anchor=None,
        retention_years=None,
        hold_roles=(),
        description=evil,
        notice_version=1,
        accepted_notice_version=1,
        reconsent_grace=False,
        retired_at=None,
        updated_at=now,
        updated_by="x",
    )
    package = {
        "dsr_id": "dsr_x",
        "generated_at": now,
        "controller": {"piiController": evil},
        "values": [{"field_type": "name", "value": evil, "stored_at": now}],
        "attributes": [{"name": evil, "value": evil, "stored_at": now}],
        "consents": {
            "current": [
                {
                    "purpose": "evil",
                    "state": "granted",
                    "effective_at": now,
                    "expires_at": None,
                    "counts": True,
                }
            ],
            "history": [{"purpose": "evil", "action": "grant", "channel": evil, "effective_at": now}],
        },
        "holds": [
            {
                "kind": "legal",
                "purpose": "evil",
                "reason_code": evil,
                "ends_at": now,
                "retention_years": None,
                "released_at": None,
            }
        ],
        "requests": [{"type": evil, "state": evil, "received_at": now}],
        "uses": [
            {
                "time": "2026-12-05T13:07:41.123456Z",
                "who": "client:abc",
                "action": "detokenize",
                "purpose": "evil",
                "field_types": [evil],
                "outcome": "success",
            }
        ],
    }
    wording = Wording(
        [purpose], lambda code, lang: code, lambda code, value: value, {"abc": evil}, "Asia/Shanghai"
    )
    for language in ("zh-CN", "en"):
        page = render(package, wording, language=language, values="plain")
        assert "<img" not in page and "&lt;img" in page
        assert "2026-12-05 21:07" in page and "21:07:41" not in page  # Beijing time, to the minute


def test_without_a_printer_the_pdf_is_a_503_and_nothing_is_logged_as_given(
    copy_of, container, monkeypatch
) -> None:
    copy_of("?format=customer")  # the grant is approved; one copy given
    given = [e for e in audit_payloads(container) if e["action"] == "dsr.access_package"]
    monkeypatch.setenv("PIIVAULT_CHROMIUM", "/nonexistent/chromium")
    resp = copy_of("?format=pdf")
    assert resp.status_code == 503 and resp.mimetype == "application/problem+json", resp.data[:200]
    assert resp.json["type"].endswith("/printer_unavailable") and "Retry-After" in resp.headers
    after = [e for e in audit_payloads(container) if e["action"] == "dsr.access_package"]
    assert len(after) == len(given)


@pytest.mark.browser
def test_a_grant_revoked_while_the_pdf_prints_lets_no_copy_out(client, keys, container, backend, monkeypatch):
    """The PDF prints for seconds in the package's transaction. The second DPO revokes the grant
    while it prints (committed, in a connection of its own): the printed copy is not released,
    the refusal is the documented 403 approval_required, and nothing is logged as given."""
    if backend == "sqlite":
        pytest.skip(
            "SQLite: the package's transaction holds the write lock (BEGIN IMMEDIATE), no revocation commits"
        )
    from piivault import printing

    tokenize(client, keys)
    dsr_id = dsr(client, keys, "access")
    work(client, keys, dsr_id)
    approved = package_approved(client, keys, dsr_id)
    second = Acting(SECOND_DPO, "dpo", actor_of(SECOND_DPO))
    real_print = printing._print
    printed: list[bytes] = []

    def revoke_while_printing(*args):
        container.access.revoke(second, approved["grant_id"])
        printed.append(real_print(*args))
        return printed[-1]

    monkeypatch.setattr(printing, "_print", revoke_while_printing)
    resp = client.get(f"/v1/dsr/{dsr_id}/package?format=pdf", headers=keys["dpo"])
    assert printed and printed[0].startswith(b"%PDF-")  # the copy was printed, then held back
    assert resp.status_code == 403 and resp.mimetype == "application/problem+json", resp.data[:200]
    assert resp.json["type"].endswith("/approval_required")
    assert f"POST /v1/dsr/{dsr_id}/package/approval" in resp.json["detail"]
    assert NAME not in resp.get_data(as_text=True) and b"%PDF" not in resp.data
    assert not [e for e in audit_payloads(container) if e["action"] == "dsr.access_package"]
    assert container.access.get_grant(approved["grant_id"]).revoked_at is not None
