"""The emulator's sign-in page in a real browser: it fits a 400 px wide phone screen."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from local.emulator import Emulator

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def page() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    executable = "/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else shutil.which("chromium")
    if executable is None:
        pytest.skip("needs Chromium: apt-get install chromium")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox", "--disable-gpu"])
        try:
            yield browser.new_page(viewport={"width": 400, "height": 800})
        finally:
            browser.close()


def test_sign_in_page_fits_400_px(page: Any) -> None:
    emulator = Emulator()
    base = emulator.start()
    try:
        client = emulator.register_client("A demo app with a rather long name", "http://localhost:3000/auth/callback")
        query = {
            "client_id": client["client_id"],
            "redirect_uri": client["redirect_uri"],
            "response_type": "code",
            "state": "s",
            "scope": "openid profile email project:read",
        }
        page.goto(f"{base}/?{urlencode(query)}")
        assert page.locator("#allow").is_visible()
        widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert widths[0] <= widths[1] <= 400, widths  # nothing sticks out on the right
        box = page.locator("main").bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 400
    finally:
        emulator.stop()
