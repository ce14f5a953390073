"""Sign in, reload and sign out on ``make run`` in WebKit (Safari's engine, as WebKitGTK) and in
Firefox ESR, beside the Chromium tests of test_browser.py.

WebKit keeps no ``Secure`` cookie on http://localhost, so with ``make run``'s default (deployed)
cookies its login cookie never comes back and sign-in fails - shown here, with the SPA saying so.
With ``HTTP_COOKIES=1`` (cookies without ``Secure`` and the ``__Host-`` prefix, ``make run`` only)
both engines sign in, reload and sign out; Firefox does so with the default cookies too.
docs/browsers.md tells which engine does what.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from local.console import free_port
from local.emulator.users import SEEDED_USERS
from tests.e2e.conftest import Stack, hitkey_of, make_run
from tests.e2e.engines import Engine, firefox, wait_for, webkit, xvfb
from tests.harness import LOGIN, SESSION

pytestmark = [
    pytest.mark.e2e,
    # Selenium's WebKitGTK driver and Marionette's helpers (mozinfo, mozrunner) use deprecated APIs.
    pytest.mark.filterwarnings("ignore:setting remote_server_addr:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:distro.linux_distribution:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:.telnetlib. is deprecated:DeprecationWarning"),
]

ADA = SEEDED_USERS[0]
PLAIN_SESSION, PLAIN_LOGIN = "hitkey-session", "hitkey-session-login"
# The callback's answer to a browser that came back without its login cookie.
NO_LOGIN_COOKIE = ("login_cookie_missing", "invalid_state")


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    with xvfb() as name:
        yield name


@pytest.fixture(scope="module")
def http_cookies_stack(shots: Path) -> Iterator[Stack]:
    """``HTTP_COOKIES=1 make run``: the local stack in its plain-http cookie mode."""
    port = free_port()
    log = shots / "stack-http-cookies.log"
    with make_run(log, {"PORT": str(port), "HTTP_COOKIES": "1"}) as text:
        assert "HTTP_COOKIES=1: cookies without Secure" in text, text
        yield Stack(f"http://localhost:{port}", hitkey_of(text), log)


def _launch(name: str, request: pytest.FixtureRequest) -> Iterator[Engine]:
    if name == "webkit":
        with webkit(request.getfixturevalue("display")) as engine:
            yield engine
    else:
        with firefox(request.getfixturevalue("shots") / "firefox.log") as engine:
            yield engine


@pytest.fixture
def engine(request: pytest.FixtureRequest, shots: Path) -> Iterator[Engine]:
    """A fresh browser of the engine the test names; a screenshot of where it stood if it failed."""
    for browser in _launch(request.param, request):
        print(f"\n{browser.name} {browser.version}")
        try:
            yield browser
        finally:
            report = getattr(request.node, "report_call", None)
            if report is not None and report.failed:
                browser.screenshot(shots / f"failed-{request.node.name}.png")


def sign_in_at_hitkey(browser: Engine, stack: Stack) -> None:
    """From the signed-out demo: "Sign in", the emulator's page (another site), "Allow" as Ada."""
    browser.open(f"{stack.app}/")
    wait_for("the signed-out demo", lambda: browser.shown("signin"))
    browser.click("signin")
    wait_for("the emulator's sign-in page", lambda: browser.url().startswith(stack.hitkey))
    browser.click("allow")
    wait_for("the way back to the app", lambda: browser.url().startswith(f"{stack.app}/"))


def sign_in_reload_sign_out(browser: Engine, stack: Stack, session_name: str, login_name: str, secure: bool) -> None:
    sign_in_at_hitkey(browser, stack)
    wait_for("Ada's name on the signed-in page", lambda: browser.text("user-name") == ADA.name)
    assert not browser.shown("error"), browser.text("error")
    assert browser.script("return document.cookie") == "", "JavaScript can read the session cookie"

    browser.reload()
    wait_for("Ada's name after a reload", lambda: browser.text("user-name") == ADA.name)
    # WebDriver lists only the cookies the page's own navigation could carry (WebKit hides
    # SameSite=Strict ones on a page reached through HitKey's cross-site redirect): open the app anew.
    browser.open(f"{stack.app}/")
    wait_for("Ada's name on the app opened anew", lambda: browser.text("user-name") == ADA.name)
    jar = browser.cookies()
    assert login_name not in jar, "the login cookie must be consumed by the callback"
    assert session_name in jar, jar
    session = jar[session_name]
    assert session["httpOnly"] is True and session["secure"] is secure, session
    assert (session["sameSite"], session["path"], session["domain"]) == ("Strict", "/", "localhost"), session

    browser.click("signout")
    wait_for("the signed-out page", lambda: browser.text("status") == "You are signed out.")
    assert browser.shown("signin") and not browser.shown("error")
    assert session_name not in browser.cookies()


@pytest.mark.parametrize("engine", ["webkit", "firefox"], indirect=True)
def test_signs_in_reloads_and_signs_out_with_http_cookies(
    engine: Engine, http_cookies_stack: Stack, shots: Path
) -> None:
    sign_in_reload_sign_out(engine, http_cookies_stack, PLAIN_SESSION, PLAIN_LOGIN, secure=False)
    engine.screenshot(shots / f"20-{engine.name}-http-cookies-signed-out.png")


@pytest.mark.parametrize("engine", ["firefox"], indirect=True)
def test_firefox_keeps_secure_cookies_on_http_localhost(engine: Engine, stack: Stack, shots: Path) -> None:
    """The default ``make run``: Firefox, like Chromium, treats http://localhost as secure."""
    sign_in_reload_sign_out(engine, stack, SESSION, LOGIN, secure=True)
    engine.screenshot(shots / "21-firefox-signed-out.png")


@pytest.mark.parametrize("engine", ["webkit"], indirect=True)
def test_webkit_with_secure_cookies_on_http_fails_and_says_so(engine: Engine, stack: Stack, shots: Path) -> None:
    """The default ``make run``: WebKit drops the ``Secure`` login cookie, so the callback cannot
    match the sign-in to this browser - the SPA shows the sign-in error instead of a session."""
    engine.open(f"{stack.app}/")
    wait_for("the signed-out demo", lambda: engine.shown("signin"))
    engine.click("signin")
    wait_for("the emulator's sign-in page", lambda: engine.url().startswith(stack.hitkey))
    engine.open(f"{stack.app}/")  # the app's own page, to read its cookie jar
    assert LOGIN not in engine.cookies(), "WebKit kept a Secure cookie on http://localhost"
    engine.script("history.back()")
    wait_for("the emulator's sign-in page", lambda: engine.url().startswith(stack.hitkey))
    engine.click("allow")
    wait_for("the sign-in error", lambda: engine.shown("error"))
    assert engine.text("error-title") == "Sign-in failed"
    assert engine.text("error-code") in NO_LOGIN_COOKIE
    assert engine.shown("signin") and SESSION not in engine.cookies()
    engine.screenshot(shots / "22-webkit-secure-cookies-on-http.png")
