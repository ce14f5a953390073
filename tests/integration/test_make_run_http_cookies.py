"""``HTTP_COOKIES=1 make run``: cookies without ``Secure`` and the ``__Host-`` prefix, so a client
that keeps no ``Secure`` cookie on plain http - WebKit, or httpx - signs in with its own cookie
jar; and the settings it refuses, each as a one-line error before anything starts."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from local.console import free_port
from testkit.processes import stop_group
from tests.integration.test_make_run import run_stack_module, start_stack, wait_ready

pytestmark = pytest.mark.integration


@pytest.fixture
def app() -> Iterator[str]:
    port = free_port()
    process = start_stack(port, HTTP_COOKIES="1")
    try:
        wait_ready(process)
        yield f"http://localhost:{port}"
    finally:
        stop_group(process)


def test_a_jar_that_drops_secure_cookies_on_http_signs_in_and_out(app: str) -> None:
    with httpx.Client(headers={"x-csrf": "1", "origin": app}) as browser:  # its jar keeps no Secure cookie on http
        login = browser.get(f"{app}/auth/login")
        assert login.status_code == 302
        (set_login,) = login.headers.get_list("set-cookie")
        assert set_login.startswith("hitkey-session-login=") and "secure" not in set_login.lower(), set_login
        authorize = login.headers["location"]
        form = {k: v[0] for k, v in parse_qs(urlsplit(authorize).query).items()}
        decision = browser.post(authorize.split("?")[0], data={**form, "decision": "allow"})
        callback = browser.get(decision.headers["location"])  # the jar sends the login cookie itself
        assert callback.status_code == 302 and callback.headers["location"] == f"{app}/", callback.text
        set_session = next(h for h in callback.headers.get_list("set-cookie") if h.startswith("hitkey-session="))
        assert "secure" not in set_session.lower() and "HttpOnly" in set_session and "SameSite=Strict" in set_session
        session = browser.get(f"{app}/auth/session").json()
        assert session["authenticated"] is True and session["user"]["name"] == "Ada Lovelace"
        assert browser.post(f"{app}/auth/logout").status_code == 204
        assert "hitkey-session" not in browser.cookies
        assert browser.get(f"{app}/auth/session").json()["authenticated"] is False


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"HTTP_COOKIES": "1", "APP_ORIGIN": "https://localhost:5173"}, "HTTP_COOKIES=1 is for an app on http://"),
        ({"HTTP_COOKIES": "1", "APP_ORIGIN": "http://app.example.com"}, "HTTP_COOKIES=1 is for an app on http://"),
        ({"HTTP_COOKIES": "sometimes"}, "HTTP_COOKIES=sometimes is not 1 or 0"),
    ],
)
def test_http_cookies_it_cannot_use_are_one_line_errors(variables: dict[str, str], expected: str) -> None:
    result = run_stack_module(PORT=str(free_port()), **variables)
    assert result.returncode != 0
    assert expected in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
