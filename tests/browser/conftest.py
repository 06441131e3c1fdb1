"""Browser fixtures: the app served on a loopback port, driven by headless Chromium.

The browser is Debian's ``chromium`` (``apt-get install chromium``; ``.ci/run``
installs it when missing), driven by Playwright through ``executable_path``:
Playwright's own browser downloads are never used. A missing browser fails the
run with that instruction rather than skipping, so the console cannot go
untested by accident. ``PIIVAULT_CHROMIUM`` names another binary.

Every page a test opens is watched: a JavaScript error or a console error
fails the test that caused it.

Screenshots go to ``PIIVAULT_SCREENSHOT_DIR`` when it is set (``make
screenshots`` points it at ``docs/screenshots``), else to the test's tmp dir.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Error,
    Page,
    Playwright,
    sync_playwright,
)
from werkzeug.serving import BaseWSGIServer, make_server

from api.app import create_app
from piivault.container import Container


def _chromium_path() -> str:
    named = os.environ.get("PIIVAULT_CHROMIUM")
    if named:
        return named
    for candidate in ("chromium", "chromium-browser"):
        found = shutil.which(candidate)
        if found:
            return found
    pytest.fail(
        "the console's browser tests need Chromium: `apt-get install chromium` "
        "(or set PIIVAULT_CHROMIUM to a Chromium binary)",
        pytrace=False,
    )


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
    b = playwright.chromium.launch(executable_path=_chromium_path(), args=["--no-sandbox"])
    yield b
    b.close()


class LiveServer:
    """The real WSGI app on 127.0.0.1, in a thread, for one test."""

    def __init__(self, container: Container) -> None:
        self.app = create_app(container)
        self._server: BaseWSGIServer = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> LiveServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)
        self._server.server_close()


@pytest.fixture
def live_server(container: Container) -> Iterator[LiveServer]:
    with LiveServer(container) as server:
        yield server


class PageErrors:
    """JavaScript exceptions and console errors seen on a page."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.messages.append(f"console: {message.text} ({message.location.get('url', '')})")

    def on_pageerror(self, error: Error) -> None:
        self.messages.append(f"pageerror: {error}")


@pytest.fixture
def page_errors() -> PageErrors:
    return PageErrors()


@pytest.fixture
def context(browser: Browser, live_server: LiveServer) -> Iterator[BrowserContext]:
    ctx = browser.new_context(
        base_url=live_server.url,
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
        viewport={"width": 1280, "height": 860},
    )
    ctx.set_default_timeout(15_000)
    yield ctx
    ctx.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    report = yield
    if report.when == "call":
        item.stash[_CALL_FAILED] = report.failed
    return report


_CALL_FAILED = pytest.StashKey[bool]()


@pytest.fixture
def page(
    request: pytest.FixtureRequest, context: BrowserContext, page_errors: PageErrors, tmp_path: Path
) -> Iterator[Page]:
    """A page whose JavaScript and console errors fail the test; photographed when the test fails."""
    p = context.new_page()
    p.on("console", page_errors.on_console)
    p.on("pageerror", page_errors.on_pageerror)
    yield p
    if request.node.stash.get(_CALL_FAILED, False):
        shot = tmp_path / "failure.png"
        p.screenshot(path=str(shot), full_page=True)
        print(f"screenshot of the failed page: {shot} ({p.url})")
    assert page_errors.messages == [], "\n".join(page_errors.messages)


@pytest.fixture
def screenshot(tmp_path: Path) -> Callable[[Page, str], Path]:
    """``screenshot(page, "dashboard")`` saves a full-page PNG and returns its path."""
    directory = Path(os.environ.get("PIIVAULT_SCREENSHOT_DIR") or tmp_path / "screenshots")

    def shoot(p: Page, name: str) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{name}.png"
        p.screenshot(path=str(path), full_page=True)
        return path

    return shoot
