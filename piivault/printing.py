"""HTML to PDF with headless Chromium, driven by Playwright (the customer's copy of an access request).

The browser is the system's Chromium (Debian's ``chromium``; ``PIIVAULT_CHROMIUM`` names another
executable), never a build Playwright downloads. The page is loaded with JavaScript off and every
request but the page itself refused, so a document prints only what it holds. Playwright is an
optional dependency (``pip install piivault[pdf]``); without it or the browser,
:func:`html_to_pdf` raises :class:`PrinterUnavailable`.
"""

from __future__ import annotations

import concurrent.futures
import os
import shutil
from typing import Any

from piivault.errors import UnavailableError

CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
TIMEOUT_MS = 30_000


class PrinterUnavailable(UnavailableError):
    """No PDF printer here: Playwright or Chromium is missing, or the browser failed."""

    code = "printer_unavailable"


def chromium_path() -> str | None:
    """The Chromium executable to print with: ``PIIVAULT_CHROMIUM``, else the first on PATH."""
    named = os.environ.get("PIIVAULT_CHROMIUM")
    if named:
        return named if os.access(named, os.X_OK) else None
    return next((found for name in CANDIDATES if (found := shutil.which(name))), None)


def html_to_pdf(page: str, *, footer: str = "") -> bytes:
    """``page`` (a whole HTML document) printed to an A4 PDF, with ``footer`` (plain text: it is
    escaped here) and the page number at each page's foot.

    Raises :class:`PrinterUnavailable` when Playwright or Chromium is missing or the browser fails.
    """
    executable = chromium_path()
    if executable is None:
        raise PrinterUnavailable("no Chromium to print PDFs with: install chromium, or set PIIVAULT_CHROMIUM")
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise PrinterUnavailable("PDF printing needs Playwright: pip install 'piivault[pdf]'") from None
    import html

    template = (
        '<div style="font-size:8px;width:100%;padding:0 16mm;color:#555;display:flex;'
        'justify-content:space-between;font-family:sans-serif">'
        f"<span>{html.escape(footer)}</span>"
        '<span><span class="pageNumber"></span> / <span class="totalPages"></span></span></div>'
    )
    # Playwright's sync API refuses a thread with a running asyncio loop (an async server, or
    # another sync Playwright in the same thread): a thread of its own has none.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as printer:
        return printer.submit(_print, sync_playwright, PlaywrightError, executable, page, template).result()


def _print(sync_playwright: Any, playwright_error: Any, executable: str, page: str, template: str) -> bytes:
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
            try:
                context = browser.new_context(java_script_enabled=False, offline=True)
                tab = context.new_page()
                tab.set_default_timeout(TIMEOUT_MS)
                # Nothing but the document itself: no image, font or stylesheet from anywhere.
                tab.route("**/*", lambda route: route.abort())
                tab.set_content(page, wait_until="load")
                return tab.pdf(
                    format="A4",
                    print_background=True,
                    prefer_css_page_size=True,
                    display_header_footer=True,
                    header_template="<div></div>",
                    footer_template=template,
                )
            finally:
                browser.close()
    except playwright_error:
        raise PrinterUnavailable("the PDF printer failed; the HTML copy prints the same") from None
