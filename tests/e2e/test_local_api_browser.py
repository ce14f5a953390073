"""The demo SPA's "Your own API" panel in Chromium: ``GET /api/me`` through the BffSession
authorizer when ``make run`` serves the example's template, and a hint (no error) when it does not."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.console import free_port
from local.emulator.users import SEEDED_USERS
from tests.e2e.conftest import TIMEOUT_MS, Stack, hitkey_of, make_run

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture skips (or fails in CI) with how to install it
    expect = None  # type: ignore[assignment]

pytestmark = pytest.mark.e2e
ADA = SEEDED_USERS[0]


@pytest.fixture(scope="module")
def served(shots: Path) -> Iterator[Stack]:
    """``EXTRA_TEMPLATES="examples/local-api/template.yaml" make run``."""
    port = free_port()
    log = shots / "stack-local-api.log"
    with make_run(log, {"PORT": str(port), "EXTRA_TEMPLATES": "examples/local-api/template.yaml"}) as text:
        yield Stack(f"http://localhost:{port}", hitkey_of(text), log)


def open_signed_in(browser: Any, stack: Stack) -> Any:
    expect.set_options(timeout=TIMEOUT_MS)
    context = browser.new_context(viewport={"width": 1000, "height": 1100}, locale="en-US")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(f"{stack.app}/")
    page.click("#signin")
    page.wait_for_url(f"{stack.hitkey}/**")
    page.click("#allow")
    page.wait_for_url(f"{stack.app}/")
    expect(page.locator("#user-name")).to_have_text(ADA.name)
    return page


def test_the_demo_shows_who_the_teams_api_says_you_are(browser: Any, served: Stack, shots: Path) -> None:
    page = open_signed_in(browser, served)
    try:
        result = page.locator("#me-result")
        expect(result).to_be_visible()
        expect(result).to_contain_text(ADA.sub)
        expect(result).to_contain_text('"session_id"')
        expect(result).to_contain_text(ADA.name)
        expect(page.locator("#me-hint")).to_be_hidden()
        expect(page.locator("#me-error")).to_be_hidden()
        page.screenshot(path=shots / "11-local-api.png", full_page=True)
        # After signing out the browser has no session cookie left: API Gateway's own 401.
        answer = page.evaluate(
            """async () => {
                await fetch("/auth/logout", {method: "POST", credentials: "include", headers: {"X-CSRF": "1"}});
                const res = await fetch("/api/me", {credentials: "include", headers: {"X-CSRF": "1"}});
                return res.status;
            }"""
        )
        assert answer == 401
    finally:
        page.context.close()


def test_without_the_example_the_panel_shows_a_hint(browser: Any, stack: Stack) -> None:
    page = open_signed_in(browser, stack)
    try:
        expect(page.locator("#me-hint")).to_be_visible()
        expect(page.locator("#me-result")).to_be_hidden()
        expect(page.locator("#me-error")).to_be_hidden()
        expect(page.locator("#error")).to_be_hidden()
    finally:
        page.context.close()
