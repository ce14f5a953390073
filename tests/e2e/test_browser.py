"""A real browser through the whole demo: Debian's Chromium, driven by Playwright, against
``make run`` (app on http://localhost:P, HitKey emulator on http://127.0.0.1:Q - two sites, as
in production).

Sign in on the emulator's page, see the user and the claims, refresh the tokens, reload, sign
out and prove the old cookie is dead; then deny at HitKey and see the SPA say so. Every step
leaves a screenshot in ``out/e2e/``. What the page shows and what the cookie jar holds are both
checked: the session cookie is HttpOnly, Secure, SameSite=Strict, Path=/, host-only, and
``document.cookie`` never sees it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.emulator import SEEDED_USERS
from tests.e2e.conftest import TIMEOUT_MS, Stack
from tests.harness import LOGIN, SESSION

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture skips (or fails in CI) with how to install it
    expect = None  # type: ignore[assignment]

pytestmark = pytest.mark.e2e

ADA = SEEDED_USERS[0]

FETCH = """async (path) => {
  const res = await fetch(path, {credentials: "include", headers: {"X-CSRF": "1"}, cache: "no-store"});
  return {status: res.status, body: await res.json()};
}"""


@pytest.fixture
def page(browser: Any, stack: Stack, shots: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh context (empty cookie jar) per test; a screenshot of where it stood if the test fails."""
    expect.set_options(timeout=TIMEOUT_MS)
    context = browser.new_context(viewport={"width": 1000, "height": 900}, locale="en-US")
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    try:
        yield tab
    finally:
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            try:
                tab.screenshot(path=shots / f"failed-{request.node.name}.png", full_page=True)
                print(f"failure screenshot: {shots / f'failed-{request.node.name}.png'} (url {tab.url})")
            except Exception as exc:  # a dead page must not hide the real failure
                print(f"no failure screenshot: {exc}")
        context.close()


def shot(page: Any, folder: Path, name: str) -> None:
    page.screenshot(path=folder / f"{name}.png", full_page=True)


def cookies_by_name(page: Any, url: str) -> dict[str, dict[str, Any]]:
    return {cookie["name"]: cookie for cookie in page.context.cookies(url)}


def assert_host_only_strict(cookie: dict[str, Any], host: str) -> None:
    assert cookie["httpOnly"] is True, cookie
    assert cookie["secure"] is True, cookie
    assert cookie["sameSite"] == "Strict", cookie
    assert cookie["path"] == "/", cookie
    assert cookie["domain"] == host, f"a Domain attribute was set (host-only expected): {cookie}"
    assert cookie["value"].startswith("v1."), cookie


def go_to_hitkey(page: Any, stack: Stack) -> None:
    """From the signed-out SPA: click "Sign in", land on the emulator's sign-in page (another site)."""
    page.click("#signin")
    page.wait_for_url(f"{stack.hitkey}/**")
    expect(page.locator("h1")).to_have_text("Sign in with HitKey")
    expect(page.locator("#allow")).to_be_visible()


def test_sign_in_refresh_reload_sign_out(page: Any, stack: Stack, shots: Path) -> None:
    app, host = stack.app, "localhost"
    assert stack.hitkey.startswith("http://127.0.0.1:"), "the emulator must be a different site from the app"

    # 1. The demo SPA, signed out; the browser holds no cookie.
    page.goto(f"{app}/")
    expect(page.locator("#signin")).to_be_visible()
    expect(page.locator("#view-signed-in")).to_be_hidden()
    expect(page.locator("#error")).to_be_hidden()
    assert cookies_by_name(page, app) == {}
    shot(page, shots, "01-signed-out")

    # 2. Sign in: a top-level navigation to /auth/login, which sends us on to HitKey with a login
    #    cookie (Lax, so HitKey's redirect back carries it).
    go_to_hitkey(page, stack)
    login = cookies_by_name(page, app)[LOGIN]
    assert (login["httpOnly"], login["secure"], login["sameSite"], login["path"]) == (True, True, "Lax", "/")
    assert SESSION not in cookies_by_name(page, app)
    ada = page.locator(f'input[name=sub][data-sub="{ADA.sub}"]')
    expect(ada).to_be_checked()  # the first seeded user is the default
    ada.check()
    shot(page, shots, "02-hitkey-sign-in")
    page.click("#allow")

    # 3. Back on the app, signed in: the name, the session's expiry and HitKey's claims.
    page.wait_for_url(f"{app}/")
    expect(page.locator("#user-name")).to_have_text(ADA.name)
    expect(page.locator("#user-email")).to_have_text(ADA.email)
    expect(page.locator("#session-expiry")).to_have_text(re.compile(r"\d.*\(in \d+ days\)"))
    claims = page.locator("#claims")
    expect(claims).to_contain_text(f'"sub": "{ADA.sub}"')
    expect(claims).to_contain_text(f'"email": "{ADA.email}"')
    expect(page.locator("#signin")).to_be_hidden()
    expect(page.locator("#error")).to_be_hidden()
    jar = cookies_by_name(page, app)
    assert LOGIN not in jar, "the login cookie must be consumed by the callback"
    assert_host_only_strict(jar[SESSION], host)
    old = jar[SESSION]
    assert SESSION not in page.evaluate("document.cookie"), "JavaScript can read the session cookie"
    assert page.evaluate("document.cookie") == ""
    shot(page, shots, "03-signed-in")

    # 4. Refresh the tokens: the access token's expiry is shown, moves on, and the status says so.
    expiry = page.locator("#token-expiry")
    expect(expiry).to_have_text(re.compile(r"\d.*\(in \d+ (min|h)\)"))
    before = expiry.get_attribute("title") or ""
    page.click("#refresh")
    expect(page.locator("#status")).to_have_text(re.compile(r"^Tokens refreshed at .+\.$"))
    expect(page.locator("#token-expiry")).to_have_text(re.compile(r"\d.*\(in \d+ (min|h)\)"))
    expect(page.locator("#refresh")).to_be_enabled()
    expect(page.locator("#error")).to_be_hidden()
    assert (expiry.get_attribute("title") or "") >= before  # ISO times compare as strings
    shot(page, shots, "04-refreshed")

    # 5. Reload: the cookie alone brings the session back.
    page.reload()
    expect(page.locator("#user-name")).to_have_text(ADA.name)
    expect(claims).to_contain_text(f'"email": "{ADA.email}"')
    expect(page.locator("#signin")).to_be_hidden()
    expect(expiry).to_have_text(re.compile(r"\d.*\(in \d+ (min|h)\)"))
    assert cookies_by_name(page, app)[SESSION]["value"] == old["value"]
    shot(page, shots, "05-reloaded")

    # 6. Sign out: the SPA shows "Sign in" again and the browser drops the cookie.
    page.click("#signout")
    expect(page.locator("#signin")).to_be_visible()
    expect(page.locator("#status")).to_have_text("You are signed out.")
    expect(page.locator("#user-name")).to_have_text("")
    expect(page.locator("#error")).to_be_hidden()
    assert SESSION not in cookies_by_name(page, app)
    shot(page, shots, "06-signed-out")

    # The old cookie, put back into the jar, is worth nothing: the session is gone server-side.
    for path, status, body in (
        ("/auth/userinfo", 401, {"error": "unauthenticated"}),
        ("/auth/session", 200, {"authenticated": False}),
    ):
        page.context.add_cookies([old])
        assert cookies_by_name(page, app)[SESSION]["value"] == old["value"]
        with page.expect_request(f"{app}{path}") as sent:
            answer = page.evaluate(FETCH, path)
        assert f"{SESSION}={old['value']}" in (sent.value.all_headers().get("cookie") or ""), (
            f"the browser did not send the old cookie to {path}"
        )
        assert answer["status"] == status, answer
        assert {k: answer["body"][k] for k in body} == body, answer
        assert SESSION not in cookies_by_name(page, app), f"{path} did not clear the dead cookie"


def test_denied_at_hitkey_shows_the_error(page: Any, stack: Stack, shots: Path) -> None:
    app = stack.app
    page.goto(f"{app}/")
    expect(page.locator("#signin")).to_be_visible()
    go_to_hitkey(page, stack)
    page.click("#deny")

    # Back on the app with ?auth_error=access_denied, which the SPA shows and then removes.
    page.wait_for_url(re.compile(re.escape(f"{app}/") + r"(\?.*)?$"))
    expect(page.locator("#error")).to_be_visible()
    expect(page.locator("#error-title")).to_have_text("Sign-in failed")
    expect(page.locator("#error-message")).to_have_text("Sign-in was cancelled at HitKey.")
    expect(page.locator("#error-code")).to_have_text("access_denied")
    expect(page.locator("#signin")).to_be_visible()
    expect(page).to_have_url(f"{app}/")  # auth_error taken out of the address bar
    jar = cookies_by_name(page, app)
    assert SESSION not in jar and LOGIN not in jar, jar
    shot(page, shots, "07-denied")
