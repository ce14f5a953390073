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

from local.emulator.users import SEEDED_USERS
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
    expect(page.locator("#session-expiry")).to_have_text(re.compile(r"\d.*\(in \d+ (days|h)\)"))
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


def test_a_callback_without_its_login_cookie_says_what_to_do(page: Any, stack: Stack, shots: Path) -> None:
    """The browser drops the login cookie before HitKey sends it back (as WebKit does on http):
    the SPA names the cause and the fixes, not a bare "could not be matched"."""
    app = stack.app
    page.goto(f"{app}/")
    expect(page.locator("#signin")).to_be_visible()
    go_to_hitkey(page, stack)
    assert LOGIN in cookies_by_name(page, app)
    page.context.clear_cookies(name=LOGIN)
    page.click("#allow")

    page.wait_for_url(re.compile(re.escape(f"{app}/") + r"(\?.*)?$"))
    expect(page.locator("#error-code")).to_have_text("login_cookie_missing")
    message = page.locator("#error-message")
    expect(message).to_contain_text("did not send back its sign-in cookie")
    expect(message).to_contain_text("https")
    expect(message).to_contain_text("allow cookies")
    expect(page.locator("#signin")).to_be_visible()
    assert SESSION not in cookies_by_name(page, app)
    shot(page, shots, "08-login-cookie-missing")


def sign_in(page: Any, stack: Stack) -> None:
    """From a signed-out demo page, through the emulator's page as Ada, back signed in."""
    go_to_hitkey(page, stack)
    page.click("#allow")
    page.wait_for_url(f"{stack.app}/")
    expect(page.locator("#user-name")).to_have_text(ADA.name)


def test_call_the_api_panel(page: Any, stack: Stack, shots: Path) -> None:
    """The demo upstream's answer through ``/api/demo/hello`` - or, on a BFF without the API
    proxy, its error in the panel, with the rest of the page untouched."""
    page.goto(f"{stack.app}/")
    sign_in(page, stack)
    expect(page.locator("#api-result")).to_be_hidden()
    with page.expect_response(f"{stack.app}/api/demo/hello") as called:
        page.click("#call-api")
    answer = called.value
    assert answer.request.headers.get("x-csrf") == "1"
    if answer.status == 200:
        expect(page.locator("#api-result")).to_contain_text(ADA.sub)
        expect(page.locator("#api-error")).to_be_hidden()
    else:
        expect(page.locator("#api-error")).to_contain_text(f"(HTTP {answer.status})")
        expect(page.locator("#api-result")).to_be_hidden()
    expect(page.locator("#call-api")).to_be_enabled()
    expect(page.locator("#user-name")).to_have_text(ADA.name)
    expect(page.locator("#error")).to_be_hidden()
    shot(page, shots, "08-api")


def test_your_sessions_panel(page: Any, browser: Any, stack: Stack, shots: Path) -> None:
    """Each device with its last activity; "Sign out" per device and "Sign out everywhere else"
    end the other browsers' sessions (two more contexts, each its own cookie jar). On a BFF
    without the session routes, the panel shows the error and nothing else breaks."""
    page.goto(f"{stack.app}/")
    with page.expect_response(f"{stack.app}/auth/sessions") as listed:
        sign_in(page, stack)
    if listed.value.status != 200:
        expect(page.locator("#sessions-error")).to_contain_text(f"(HTTP {listed.value.status})")
        expect(page.locator("#sessions li")).to_have_count(0)
        expect(page.locator("#end-others")).to_be_disabled()
        expect(page.locator("#claims")).to_contain_text(f'"email": "{ADA.email}"')
        shot(page, shots, "09-sessions-unavailable")
        return

    # Earlier tests of this module signed Ada in from other contexts: start from this device alone.
    page.evaluate(
        """async () => { await fetch("/auth/sessions", {method: "DELETE", credentials: "include",
        headers: {"X-CSRF": "1"}}); }"""
    )
    page.click("#sessions-reload")
    rows = page.locator("#sessions li")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-current", "true")
    expect(rows.first).to_contain_text("this device")
    expect(rows.first.locator(".session-seen")).to_have_text(re.compile(r"^Last active .+"))
    expect(page.locator("#end-others")).to_be_disabled()

    others = []
    for _ in range(2):
        other = browser.new_context(viewport={"width": 1000, "height": 900}, locale="en-US")
        other.set_default_timeout(TIMEOUT_MS)
        tab = other.new_page()
        tab.goto(f"{stack.app}/")
        sign_in(tab, stack)
        others.append((other, tab))
    try:
        page.click("#sessions-reload")
        expect(rows).to_have_count(3)
        expect(page.locator('#sessions li[data-current="true"]')).to_have_count(1)
        expect(page.locator("#end-others")).to_be_enabled()
        shot(page, shots, "09-sessions")

        # "Sign out" on one other device: it is gone from the list, and that browser's next call is a 401.
        page.locator('#sessions li[data-current="false"] button').first.click()
        expect(rows).to_have_count(2)
        expect(page.locator("#status")).to_have_text(re.compile(r"^Signed out .+\.$"))
        ended = [tab for _, tab in others if tab.evaluate(FETCH, "/auth/session")["body"]["authenticated"] is False]
        assert len(ended) == 1, "exactly one other browser must be signed out"

        # "Sign out everywhere else": the last other browser too; this one stays signed in.
        page.click("#end-others")
        expect(page.locator("#status")).to_have_text("Signed out 1 other session.")
        expect(rows).to_have_count(1)
        expect(page.locator("#end-others")).to_be_disabled()
        for _, tab in others:
            tab.click("#refresh")  # a 401 now: the client's signedout event shows "Sign in"
            expect(tab.locator("#signin")).to_be_visible()
            expect(tab.locator("#status")).to_have_text("Your session has ended - please sign in again.")
        assert page.evaluate(FETCH, "/auth/session")["body"]["authenticated"] is True
        shot(page, shots, "10-sessions-ended")
    finally:
        for other, _ in others:
            other.close()
