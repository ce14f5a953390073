"""Sign in, reload and sign out on ``make run`` in WebKit, Safari's engine (WebKitGTK).

WebKit keeps no ``Secure`` cookie on http://localhost, so with ``make run``'s default (deployed)
cookies the login cookie never comes back and sign-in fails - shown here, with the SPA saying so.
With ``HTTP_COOKIES=1`` (cookies without ``Secure`` and the ``__Host-`` prefix, ``make run`` only)
the same engine signs in, reloads and signs out. docs/browsers.md tells which engine does what.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.emulator import SEEDED_USERS
from local.stack import free_port
from tests.e2e.conftest import Stack, hitkey_of, make_run
from tests.e2e.engines import wait_for, webkit, xvfb
from tests.harness import LOGIN, SESSION

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore:setting remote_server_addr:DeprecationWarning")]

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


@pytest.fixture
def browser(display: str, shots: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh WebKit per test; a screenshot of where it stood if the test failed."""
    with webkit(display) as driver:
        print(f"\nWebKitGTK {driver.capabilities.get('browserVersion')}")
        try:
            yield driver
        finally:
            report = getattr(request.node, "report_call", None)
            if report is not None and report.failed:
                driver.save_screenshot(str(shots / f"failed-{request.node.name}.png"))


def text_of(driver: Any, element_id: str) -> str:
    return str(driver.execute_script(f"return document.getElementById('{element_id}').textContent"))


def shown(driver: Any, element_id: str) -> bool:
    from selenium.webdriver.common.by import By

    return bool(driver.find_element(By.ID, element_id).is_displayed())


def cookies(driver: Any) -> dict[str, dict[str, Any]]:
    return {cookie["name"]: cookie for cookie in driver.get_cookies()}


def sign_in_at_hitkey(driver: Any, stack: Stack) -> None:
    """From the signed-out demo: "Sign in", the emulator's page (another site), "Allow" as Ada."""
    from selenium.webdriver.common.by import By

    driver.get(f"{stack.app}/")
    wait_for("the signed-out demo", lambda: shown(driver, "signin"))
    driver.find_element(By.ID, "signin").click()
    wait_for("the emulator's sign-in page", lambda: driver.current_url.startswith(stack.hitkey))
    driver.find_element(By.ID, "allow").click()
    wait_for("the way back to the app", lambda: driver.current_url.startswith(f"{stack.app}/"))


def test_webkit_signs_in_reloads_and_signs_out_with_http_cookies(
    browser: Any, http_cookies_stack: Stack, shots: Path
) -> None:
    from selenium.webdriver.common.by import By

    stack = http_cookies_stack
    sign_in_at_hitkey(browser, stack)
    wait_for("Ada's name on the signed-in page", lambda: text_of(browser, "user-name") == ADA.name)
    assert not shown(browser, "error"), text_of(browser, "error")
    assert browser.execute_script("return document.cookie") == "", "JavaScript can read the session cookie"
    browser.save_screenshot(str(shots / "20-webkit-signed-in.png"))

    browser.refresh()
    wait_for("Ada's name after a reload", lambda: text_of(browser, "user-name") == ADA.name)
    # WebKitWebDriver lists only the cookies the page's own navigation could carry: SameSite=Strict
    # ones stay hidden on a page reached through HitKey's cross-site redirect, so open the app anew.
    browser.get(f"{stack.app}/")
    wait_for("Ada's name on the app opened anew", lambda: text_of(browser, "user-name") == ADA.name)
    jar = cookies(browser)
    assert PLAIN_LOGIN not in jar, "the login cookie must be consumed by the callback"
    assert PLAIN_SESSION in jar, jar
    session = jar[PLAIN_SESSION]
    assert session["httpOnly"] is True and session["secure"] is False, session
    assert (session["sameSite"], session["path"], session["domain"]) == ("Strict", "/", "localhost"), session

    browser.find_element(By.ID, "signout").click()
    wait_for("the signed-out page", lambda: text_of(browser, "status") == "You are signed out.")
    assert shown(browser, "signin")
    assert PLAIN_SESSION not in cookies(browser)
    browser.save_screenshot(str(shots / "21-webkit-signed-out.png"))


def test_webkit_with_secure_cookies_on_http_fails_and_says_so(browser: Any, stack: Stack, shots: Path) -> None:
    """The default ``make run``: WebKit drops the ``Secure`` login cookie, so the callback cannot
    match the sign-in to this browser - the SPA shows the sign-in error instead of a session."""
    from selenium.webdriver.common.by import By

    browser.get(f"{stack.app}/")
    wait_for("the signed-out demo", lambda: shown(browser, "signin"))
    browser.find_element(By.ID, "signin").click()
    wait_for("the emulator's sign-in page", lambda: browser.current_url.startswith(stack.hitkey))
    browser.get(f"{stack.app}/")  # the app's own page, to read its cookie jar
    assert LOGIN not in cookies(browser), "WebKit kept a Secure cookie on http://localhost"
    browser.back()
    wait_for("the emulator's sign-in page", lambda: browser.current_url.startswith(stack.hitkey))
    browser.find_element(By.ID, "allow").click()
    wait_for("the sign-in error", lambda: shown(browser, "error"))
    assert text_of(browser, "error-title") == "Sign-in failed"
    assert text_of(browser, "error-code") in NO_LOGIN_COOKIE
    assert shown(browser, "signin") and SESSION not in cookies(browser)
    browser.save_screenshot(str(shots / "22-webkit-secure-cookies-on-http.png"))
