"""The harness itself: a real page loads in Chromium and errors are caught."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

pytestmark = pytest.mark.browser


def test_health_page_loads_in_chromium(page: Page) -> None:
    response = page.goto("/healthz")
    assert response is not None and response.ok
    assert "ok" in page.content().lower()
