"""Hostile input, black-box, on every route: the real handlers from template.yaml's routes invoked
with API Gateway 2.0 events (``local.apigw.event.build_event``), moto for AWS, the HitKey emulator
over real HTTP.

Every hostile request checks the same invariants on top of its own expectation
(:func:`assert_sane`): no 5xx, a ``{"error", "message"}`` JSON body on every 4xx, no stack trace
anywhere in the response, and no session item created (where real sessions exist: none added or
removed). Cheap cases run as subtests of one test, so moto is set up once per group.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

import pytest

from hitkey_bff.cookies import b64url
from local.apigw.event import build_event
from local.emulator import Emulator
from local.emulator.users import SEEDED_USERS
from testkit.browser import Browser, approve_at_hitkey
from testkit.functions import handler_for, routes
from tests.conftest import APP_ORIGIN, Aws
from tests.harness import LOGIN, SESSION, Bff, body, items, signed_in

ADA, ALAN = SEEDED_USERS[0], SEEDED_USERS[1]
LOGIN_ROUTE, CALLBACK_ROUTE = "GET /auth/login", "GET /auth/callback"
SESSION_ROUTE, USERINFO_ROUTE = "GET /auth/session", "GET /auth/userinfo"
REFRESH_ROUTE, LOGOUT_ROUTE = "POST /auth/refresh", "POST /auth/logout"
ALL_ROUTES = tuple(routes())  # template.yaml's: a new route is covered without an edit here
JSON_ROUTES = tuple(r for r in ALL_ROUTES if handler_for(r).csrf)  # the CSRF check is on unless declared off
CSRF_OK = {"x-csrf": "1", "origin": APP_ORIGIN}
STACK_TRACE = re.compile(r"Traceback|File \"|\.py\b|line \d+|Exception|botocore|hitkey_bff\.")


def test_every_route_is_covered() -> None:
    """Only the two navigations (HitKey's redirect, the SPA's sign-in link) opt out of CSRF;
    every other route is a JSON route and gets every test below."""
    assert set(ALL_ROUTES) - set(JSON_ROUTES) == {LOGIN_ROUTE, CALLBACK_ROUTE}
    assert {SESSION_ROUTE, USERINFO_ROUTE, REFRESH_ROUTE, LOGOUT_ROUTE} <= set(JSON_ROUTES)


# --- helpers -----------------------------------------------------------------------------------


def invoke(
    bff: Bff,
    route: str,
    query: str = "",
    *,
    headers: dict[str, str] | None = None,
    cookies: Sequence[str] = (),
    method: str | None = None,
) -> dict[str, Any]:
    """Invoke the handler of ``route`` with an event built like API Gateway's (``method`` may
    differ from the route's: what a handler would see if a wrong method reached it)."""
    route_method, path = route.split(" ", 1)
    event = build_event(method or route_method, path, query, headers=headers, cookies=list(cookies), route_key=route)
    return bff.invoke(route, event)


def session_count(aws: Aws) -> int:
    return len(items(aws, "USER#"))


def assert_sane(response: dict[str, Any], aws: Aws, sessions: int = 0) -> None:
    """The invariants every hostile request must keep."""
    status = response["statusCode"]
    assert isinstance(status, int) and 200 <= status < 500, response
    everything = json.dumps(response, default=str)
    assert not STACK_TRACE.search(everything), everything
    if status >= 400:
        assert response["headers"]["content-type"] == "application/json"
        data = json.loads(response["body"])
        assert set(data) == {"error", "message"}, data
        assert isinstance(data["error"], str) and re.fullmatch(r"[a-z_]+", data["error"]), data
        assert isinstance(data["message"], str) and data["message"], data
    assert session_count(aws) == sessions, f"sessions changed: {items(aws, 'USER#')}"


def expect_signed_out(route: str, response: dict[str, Any]) -> None:
    """What each JSON route answers to a request that carries no usable session."""
    status = response["statusCode"]
    if route == SESSION_ROUTE:
        assert status == 200 and body(response) == {"authenticated": False}, response
    elif route == LOGOUT_ROUTE:
        assert status == 204 and any(c.startswith(SESSION + "=;") for c in response["cookies"]), response
    else:
        assert status == 401 and body(response)["error"] == "unauthenticated", response


def secret_b64() -> str:
    return b64url(secrets.token_bytes(32))


def sign_in_with_login_query(browser: Browser, aws: Aws, query: str) -> tuple[dict[str, Any], str]:
    """Login with this raw query, HitKey's page, the callback: (callback response, stored return_to)."""
    login = browser.call(LOGIN_ROUTE, query, csrf=False)
    assert_sane(login, aws, sessions=session_count(aws))
    assert login["statusCode"] == 302
    stored = {i["return_to"]["S"] for i in items(aws, "LOGIN#")}
    (return_to,) = stored or {""}
    return browser.callback(approve_at_hitkey(login["headers"]["location"], ADA.sub)), return_to


# --- open redirects through login -> HitKey -> callback ------------------------------------------

REDIRECT_PAYLOADS = {
    "absolute": "https://evil.example/",
    "absolute-upper": "HTTPS://evil.example",
    "scheme-no-slashes": "https:evil.example",
    "scheme-relative": "//evil.example",
    "triple-slash": "///evil.example",
    "slash-backslash": "/\\evil.example",
    "double-backslash": "\\\\evil.example",
    "pct-2f2f": "/%2f%2fevil.example",
    "pct-2f2f-leading": "%2f%2fevil.example",
    "double-pct-2f2f": "/%252f%252fevil.example",
    "pct-5c": "/%5cevil.example",
    "pct-5c5c": "/%5C%5Cevil.example",
    "tab": "/\t/evil.example",
    "pct-tab": "/%09/evil.example",
    "newline": "/\n/evil.example",
    "fullwidth-solidus": "/\uff0f/evil.example",
    "fullwidth-solidus-pct": "/%EF%BC%8F%EF%BC%8Fevil.example",
    "division-slash": "/\u2215\u2215evil.example",
    "division-slash-pct": "/%E2%88%95%E2%88%95evil.example",
    "javascript": "javascript:alert(document.cookie)",
    "javascript-mixed-case": "JaVaScRiPt:alert(1)",
    "data": "data:text/html,<script>alert(1)</script>",
    "userinfo-at": "@evil.example",
}
# Percent-encoded look-alikes of "/" and "\" that NFKC does not fold: redirects.py maps them
# explicitly (they once passed when sent encoded).
ENCODED_LOOKALIKES = {
    "division-slash-pct": "/%E2%88%95%E2%88%95evil.example",  # U+2215
    "fraction-slash-pct": "/%E2%81%84%E2%81%84evil.example",  # U+2044
    "big-solidus-pct": "/%E2%A7%B8%E2%A7%B8evil.example",  # U+29F8
    "set-minus-pct": "/%E2%88%96%E2%88%96evil.example",  # U+2216, a backslash look-alike
}


@pytest.mark.parametrize("encoding", ["urlencoded", "raw"])
def test_open_redirect_payloads_land_on_app_root(
    bff: Bff, hitkey: Emulator, aws: Aws, subtests: pytest.Subtests, encoding: str
) -> None:
    """``urlencoded``: the BFF reads the payload itself; ``raw``: the payload sits in the query
    as is, so the BFF reads its percent-decoding."""
    bff.configure(max_sessions_per_user=10 * len(REDIRECT_PAYLOADS))  # one user signs in each time
    for name, payload in REDIRECT_PAYLOADS.items():
        with subtests.test(name):
            query = urlencode({"return_to": payload}) if encoding == "urlencoded" else f"return_to={payload}"
            sessions = session_count(aws)
            response, stored = sign_in_with_login_query(Browser(bff.invoke), aws, query)
            assert stored == "/"
            assert response["statusCode"] == 302
            assert response["headers"]["location"] == APP_ORIGIN + "/"
            assert session_count(aws) == sessions + 1  # the sign-in itself succeeded


@pytest.mark.parametrize("payload", list(ENCODED_LOOKALIKES.values()), ids=list(ENCODED_LOOKALIKES))
def test_encoded_unicode_lookalikes_land_on_app_root(bff: Bff, hitkey: Emulator, aws: Aws, payload: str) -> None:
    response, stored = sign_in_with_login_query(Browser(bff.invoke), aws, urlencode({"return_to": payload}))
    assert response["headers"]["location"] == APP_ORIGIN + "/"
    assert stored == "/"


def test_same_origin_return_to_survives_the_wiring(bff: Bff, hitkey: Emulator, aws: Aws) -> None:
    """Control for the cases above: a legitimate path goes all the way through."""
    response, stored = sign_in_with_login_query(
        Browser(bff.invoke), aws, urlencode({"return_to": "/dashboard?tab=1#top"})
    )
    assert stored == "/dashboard?tab=1#top"
    assert response["headers"]["location"] == APP_ORIGIN + "/dashboard?tab=1#top"


def test_duplicated_return_to_lands_on_root(bff: Bff, hitkey: Emulator, aws: Aws) -> None:
    response, stored = sign_in_with_login_query(Browser(bff.invoke), aws, "return_to=/a&return_to=/b")
    assert stored == "/"
    assert response["headers"]["location"] == APP_ORIGIN + "/"


# --- query strings -----------------------------------------------------------------------------


def test_duplicated_code_or_state_is_invalid_request(
    bff: Bff, hitkey: Emulator, aws: Aws, subtests: pytest.Subtests
) -> None:
    templates = [
        "code={code}&code={code}&state={state}",
        "code={code}&code=forged&state={state}",
        "code={code}&state={state}&state={state}",
        "state={state}&code={code}&state=forged",
    ]
    for template in templates:
        with subtests.test(template):
            browser = Browser(bff.invoke)
            genuine = approve_at_hitkey(browser.login()["headers"]["location"], ADA.sub)
            params = {k: v[0] for k, v in parse_qs(genuine).items()}
            login_cookie, sessions = browser.jar[LOGIN], session_count(aws)
            hitkey.reset_counters()
            response = browser.callback(template.format(code=params["code"], state=params["state"]))
            assert_sane(response, aws, sessions)
            assert response["headers"]["location"] == APP_ORIGIN + "/?auth_error=invalid_request"
            assert hitkey.counters.get("token", 0) == 0
            # refused before the state was consumed: the genuine callback still signs in
            browser.jar[LOGIN] = login_cookie
            assert browser.callback(genuine)["headers"]["location"] == APP_ORIGIN + "/"
            assert session_count(aws) == sessions + 1


OVERSIZED_QUERIES = {
    "10KB": "return_to=/" + "a" * 10 * 1024,
    "10KB-code-state": "code=" + "c" * 5000 + "&state=" + "s" * 5000,
    "100-params": "&".join(f"p{i}=v" for i in range(100)),
    "100-return_to": "&".join(["return_to=/"] * 100),
    "200-empty-fields": "&" * 200,
}


def test_oversized_query_is_400_on_every_route(bff: Bff, hitkey: Emulator, aws: Aws, subtests: pytest.Subtests) -> None:
    for route in ALL_ROUTES:
        for name, query in OVERSIZED_QUERIES.items():
            with subtests.test(route=route, query=name):
                response = invoke(bff, route, query, headers=CSRF_OK)
                assert_sane(response, aws)
                assert response["statusCode"] == 400 and body(response)["error"] == "query_too_long"
    assert items(aws, "LOGIN#") == []  # refused before any work


@pytest.mark.parametrize(
    ("query", "status"),
    [
        pytest.param("return_to=/" + "a" * (4096 - 11), 302, id="4096-chars"),
        pytest.param("return_to=/" + "a" * (4097 - 11), 400, id="4097-chars"),
        pytest.param("&".join(f"p{i}=v" for i in range(32)), 302, id="32-params"),
        pytest.param("&".join(f"p{i}=v" for i in range(33)), 400, id="33-params"),
    ],
)
def test_query_limits_are_exact(bff: Bff, hitkey: Emulator, aws: Aws, query: str, status: int) -> None:
    response = invoke(bff, LOGIN_ROUTE, query)
    assert_sane(response, aws)
    assert response["statusCode"] == status


# --- cookies -----------------------------------------------------------------------------------

ADA_SUB_B64 = b64url(ADA.sub.encode())
NOT_UTF8_SUB, CONTROL_SUB, LONG_SUB = b64url(b"\xff\xfe"), b64url(b"\x00\x1b"), b64url(b"x" * 300)
MALFORMED_COOKIES = {
    "5KB": f"{SESSION}=" + "A" * 5 * 1024,
    "5KB-well-formed-prefix": f"{SESSION}=v1.{ADA_SUB_B64}." + "A" * 5 * 1024,
    "no-equals": SESSION,
    "empty": "",
    "empty-value": f"{SESSION}=",
    "semicolons": ";;;",
    "semicolons-around-name": f";;{SESSION};;=;",
    "unicode-value": f"{SESSION}=ünïcødé",
    "unicode-name": "ключ=значение",
    "v1-dot": f"{SESSION}=v1.",
    "v1-dot-dot": f"{SESSION}=v1..",
    "v1-short-parts": f"{SESSION}=v1.a.b",
    "v1-not-base64": f"{SESSION}=v1.!!!.###",
    "v1-four-parts": f"{SESSION}=v1.{ADA_SUB_B64}.{secret_b64()}.extra",
    "v2": f"{SESSION}=v2.{ADA_SUB_B64}.{secret_b64()}",
    "v1-short-secret": f"{SESSION}=v1.{ADA_SUB_B64}.{secret_b64()[:-1]}",
    "v1-padded-secret": f"{SESSION}=v1.{ADA_SUB_B64}.{secret_b64()}=",
    "v1-empty-sub": f"{SESSION}=v1..{secret_b64()}",
    "v1-sub-not-utf8": f"{SESSION}=v1.{NOT_UTF8_SUB}.{secret_b64()}",
    "v1-sub-control-chars": f"{SESSION}=v1.{CONTROL_SUB}.{secret_b64()}",
    "v1-sub-too-long": f"{SESSION}=v1.{LONG_SUB}.{secret_b64()}",
    "v1-well-formed-unknown-secret": f"{SESSION}=v1.{ADA_SUB_B64}.{secret_b64()}",
    "v1-percent-encoded": f"{SESSION}=%76%31.{ADA_SUB_B64}.{secret_b64()}",
    "%ff%fe": f"{SESSION}=%ff%fe",
}


def test_malformed_session_cookie_is_no_session(
    bff: Bff, hitkey: Emulator, aws: Aws, subtests: pytest.Subtests
) -> None:
    signed_in(bff)  # a real session of the same user exists and must neither match nor suffer
    hitkey.reset_counters()
    for route in JSON_ROUTES:
        for name, cookie in MALFORMED_COOKIES.items():
            with subtests.test(route=route, cookie=name):
                response = invoke(bff, route, headers=CSRF_OK, cookies=[cookie])
                assert_sane(response, aws, sessions=1)
                expect_signed_out(route, response)
    assert hitkey.counters.get("token", 0) == 0 and hitkey.counters.get("userinfo", 0) == 0


def test_duplicated_session_cookie_is_no_session(
    bff: Bff, hitkey: Emulator, aws: Aws, subtests: pytest.Subtests
) -> None:
    ada, alan = signed_in(bff, ADA.sub), signed_in(bff, ALAN.sub)
    mine, other = f"{SESSION}={ada.jar[SESSION]}", f"{SESSION}={alan.jar[SESSION]}"
    garbage = f"{SESSION}=v1.{ADA_SUB_B64}.{secret_b64()}"
    arrangements = {
        "twice-same": [mine, mine],
        "valid-then-garbage": [mine, garbage],
        "garbage-then-valid": [garbage, mine],
        "one-entry-twice": [f"{mine}; {mine}"],
        "valid-then-other-users-valid": [mine, other],
        "valid-then-empty": [mine, f"{SESSION}="],
    }
    hitkey.reset_counters()
    # logout ends every session it can identify: test_security_findings.py covers it
    for route in [r for r in JSON_ROUTES if r != "POST /auth/logout"]:
        for name, cookies in arrangements.items():
            with subtests.test(route=route, arrangement=name):
                response = invoke(bff, route, headers=CSRF_OK, cookies=cookies)
                assert_sane(response, aws, sessions=2)
                expect_signed_out(route, response)
    assert hitkey.counters.get("token", 0) == 0 and hitkey.counters.get("userinfo", 0) == 0
    # the same cookie sent once is a session: the duplication alone was refused
    assert body(invoke(bff, SESSION_ROUTE, headers=CSRF_OK, cookies=[mine]))["authenticated"] is True


def test_one_users_sub_with_another_users_secret_is_no_session(
    bff: Bff, hitkey: Emulator, aws: Aws, subtests: pytest.Subtests
) -> None:
    ada, alan = signed_in(bff, ADA.sub), signed_in(bff, ALAN.sub)
    _, ada_sub, ada_secret = ada.jar[SESSION].split(".")
    _, alan_sub, alan_secret = alan.jar[SESSION].split(".")
    hitkey.reset_counters()
    for route in JSON_ROUTES:
        for name, forged in (
            ("ada-sub-alan-secret", f"v1.{ada_sub}.{alan_secret}"),
            ("alan-sub-ada-secret", f"v1.{alan_sub}.{ada_secret}"),
        ):
            with subtests.test(route=route, forged=name):
                response = invoke(bff, route, headers=CSRF_OK, cookies=[f"{SESSION}={forged}"])
                assert_sane(response, aws, sessions=2)
                expect_signed_out(route, response)
    assert hitkey.counters.get("token", 0) == 0 and hitkey.counters.get("userinfo", 0) == 0
    for browser, sub in ((ada, ADA.sub), (alan, ALAN.sub)):  # both real sessions untouched
        assert body(browser.call(SESSION_ROUTE))["user"]["sub"] == sub


# --- non-UTF-8 and lone surrogates -------------------------------------------------------------


def test_invalid_utf8_return_to_becomes_root(bff: Bff, hitkey: Emulator, aws: Aws, subtests: pytest.Subtests) -> None:
    for return_to in ("%ff%fe", "/%ff%fe", "/%ed%b3%bf", "/%c0%af%c0%afevil.example", "/%ff%2f%2fevil.example"):
        with subtests.test(return_to):
            response, stored = sign_in_with_login_query(Browser(bff.invoke), aws, f"return_to={return_to}")
            assert stored == "/"
            assert response["headers"]["location"] == APP_ORIGIN + "/"
            assert items(aws, "LOGIN#") == []  # consumed by the callback


def test_invalid_utf8_callback_params(bff: Bff, hitkey: Emulator, aws: Aws, subtests: pytest.Subtests) -> None:
    cases = {
        "code=%ff%fe&state=%ff%fe": "invalid_request",  # decodes to U+FFFD: not printable ASCII
        "code=%ff%fe&state=%ff%fe&error=%ff%fe": "invalid_state",  # an error without this login's state
        "code=%ed%b3%bf&state=%ed%a0%80": "invalid_request",  # UTF-8-encoded surrogates
        "%ff%fe=%ff%fe&code=x&state=y": "invalid_state",
    }
    browser = Browser(bff.invoke)
    browser.login()
    for query, auth_error in cases.items():
        with subtests.test(query):
            response = invoke(bff, CALLBACK_ROUTE, query, cookies=[f"{LOGIN}={browser.jar[LOGIN]}", f"{LOGIN}-x=%ff"])
            assert_sane(response, aws)
            assert response["headers"]["location"] == f"{APP_ORIGIN}/?auth_error={auth_error}"


def test_invalid_utf8_everywhere_on_json_routes(
    bff: Bff, hitkey: Emulator, aws: Aws, subtests: pytest.Subtests
) -> None:
    query = "return_to=%ff%fe&code=%ff%fe&state=%ff%fe&error=%ff%fe&%ff%fe=%ff%fe"
    for route in JSON_ROUTES:
        with subtests.test(route):
            response = invoke(bff, route, query, headers={**CSRF_OK, "x-ff": "%ff%fe"}, cookies=[f"{SESSION}=%ff%fe"])
            assert_sane(response, aws)
            expect_signed_out(route, response)


# A Python dict can carry lone surrogates - and so can a JSON event: Python's json module decodes
# a "\udcff" escape into one - so the handlers must survive them too.
SURROGATES = ["\udcff", "\ud800", "a\udfffb"]


def test_lone_surrogate_return_to_becomes_root(bff: Bff, hitkey: Emulator, aws: Aws, subtests: pytest.Subtests) -> None:
    for value in SURROGATES:
        for return_to in (value, "/" + value, "/" + value + "/evil.example"):
            with subtests.test(return_to=ascii(return_to)):
                response = invoke(bff, LOGIN_ROUTE, f"return_to={return_to}")
                assert_sane(response, aws)
                assert response["statusCode"] == 302
    assert {i["return_to"]["S"] for i in items(aws, "LOGIN#")} == {"/"}


def test_lone_surrogates_in_callback_params(bff: Bff, hitkey: Emulator, aws: Aws, subtests: pytest.Subtests) -> None:
    cases = {
        "error={v}&state={v}": "invalid_state",
        "code={v}&state=x": "invalid_request",  # code and state must be printable ASCII
        "code=x&state={v}": "invalid_request",
        "{v}={v}&code=x&state=y": "login_cookie_missing",  # no login cookie was sent
    }
    for value in SURROGATES:
        for template, auth_error in cases.items():
            with subtests.test(query=ascii(template.format(v=value))):
                response = invoke(bff, CALLBACK_ROUTE, template.format(v=value))
                assert_sane(response, aws)
                assert response["headers"]["location"] == f"{APP_ORIGIN}/?auth_error={auth_error}"


@pytest.mark.parametrize(
    ("query", "login_cookie", "auth_error"),
    [
        pytest.param("code=x&state=\udcff", "binding", "invalid_request", id="state"),
        pytest.param("code=x&state=x", "\udcff", "invalid_state", id="login-cookie"),
    ],
)
def test_lone_surrogate_state_or_login_cookie_is_refused(
    bff: Bff, hitkey: Emulator, aws: Aws, query: str, login_cookie: str, auth_error: str
) -> None:
    response = invoke(bff, CALLBACK_ROUTE, query, cookies=[f"{LOGIN}={login_cookie}"])
    assert_sane(response, aws)
    assert response["headers"]["location"] == f"{APP_ORIGIN}/?auth_error={auth_error}"


def test_hostile_code_with_a_valid_state_is_refused(
    bff: Bff, hitkey: Emulator, aws: Aws, subtests: pytest.Subtests
) -> None:
    """The state and login cookie are genuine; only the code is hostile. HitKey refuses it."""
    cases = {
        "nul": ("\x00", "invalid_request"),  # not printable ASCII: refused before the state is spent
        "invalid-utf8": ("%ff%fe", "invalid_request"),
        "non-ascii": ("\u00e9" * 100, "invalid_request"),
        "json-breaking": ('","grant_type":"refresh_token', "invalid_grant"),
        "2048-chars": ("x" * 2048, "invalid_grant"),
        "2049-chars": ("x" * 2049, "invalid_request"),
    }
    for name, (code, auth_error) in cases.items():
        with subtests.test(name):
            browser = Browser(bff.invoke)
            state = parse_qs(approve_at_hitkey(browser.login()["headers"]["location"], ADA.sub))["state"][0]
            response = browser.callback(f"code={quote(code, safe='%')}&state={state}")
            assert_sane(response, aws)
            assert response["headers"]["location"] == f"{APP_ORIGIN}/?auth_error={auth_error}"


def test_lone_surrogate_code_with_a_valid_state_is_refused(bff: Bff, hitkey: Emulator, aws: Aws) -> None:
    browser = Browser(bff.invoke)
    state = parse_qs(approve_at_hitkey(browser.login()["headers"]["location"], ADA.sub))["state"][0]
    response = browser.callback(f"code=\udcff&state={state}")
    assert_sane(response, aws)
    assert response["headers"]["location"] in (
        f"{APP_ORIGIN}/?auth_error=invalid_request",
        f"{APP_ORIGIN}/?auth_error=invalid_grant",
    )


def test_lone_surrogates_on_json_routes(bff: Bff, hitkey: Emulator, aws: Aws, subtests: pytest.Subtests) -> None:
    signed_in(bff)
    for route in JSON_ROUTES:
        for value in SURROGATES:
            cookies = (f"{SESSION}={value}", f"{SESSION}=v1.{value}.{value}", f"{SESSION}=v1.{ADA_SUB_B64}{value}.x")
            for cookie in cookies:
                with subtests.test(route=route, cookie=ascii(cookie)):
                    response = invoke(
                        bff, route, f"{value}={value}", headers={**CSRF_OK, "x-other": value}, cookies=[cookie]
                    )
                    assert_sane(response, aws, sessions=1)
                    expect_signed_out(route, response)
            for header in ({"x-csrf": value}, {"x-csrf": "1", "origin": value}):
                with subtests.test(route=route, headers=ascii(header)):
                    response = invoke(bff, route, headers=header)
                    assert_sane(response, aws, sessions=1)
                    assert response["statusCode"] == 403
            with subtests.test(route=route, headers="sec-fetch-site"):
                response = invoke(bff, route, headers={**CSRF_OK, "sec-fetch-site": value})
                assert_sane(response, aws, sessions=1)
                expect_signed_out(route, response)


# --- wrong methods -----------------------------------------------------------------------------


def test_wrong_method_reaching_a_handler_is_still_sane(
    bff: Bff, hitkey: Emulator, aws: Aws, subtests: pytest.Subtests
) -> None:
    """API Gateway answers 404 itself for an unmatched method; a handler that gets one anyway
    (a misrouted event) must still answer sanely."""
    cases = [
        (SESSION_ROUTE, "POST"),
        (SESSION_ROUTE, "DELETE"),
        (SESSION_ROUTE, ""),
        (USERINFO_ROUTE, "POST"),
        (REFRESH_ROUTE, "GET"),
        (LOGOUT_ROUTE, "GET"),
        (LOGOUT_ROUTE, "BREW"),
        (LOGIN_ROUTE, "POST"),
        (CALLBACK_ROUTE, "PUT"),
    ]
    for route, method in cases:
        with subtests.test(route=route, method=method):
            response = invoke(bff, route, headers=CSRF_OK, method=method)
            assert_sane(response, aws)
            if route in JSON_ROUTES:
                expect_signed_out(route, response)
            else:
                assert response["statusCode"] == 302


# --- callback state: replay and cross-browser ----------------------------------------------------


def test_replayed_state_is_refused(bff: Bff, hitkey: Emulator, aws: Aws) -> None:
    browser = Browser(bff.invoke)
    query = approve_at_hitkey(browser.login()["headers"]["location"], ADA.sub)
    login_cookie = browser.jar[LOGIN]
    assert browser.callback(query)["headers"]["location"] == APP_ORIGIN + "/"
    hitkey.reset_counters()
    for _ in range(3):
        browser.jar[LOGIN] = login_cookie
        replay = browser.callback(query)
        assert_sane(replay, aws, sessions=1)
        assert replay["headers"]["location"] == APP_ORIGIN + "/?auth_error=invalid_state"
    assert hitkey.counters.get("token", 0) == 0


def test_state_with_another_browsers_login_cookie_is_refused(bff: Bff, hitkey: Emulator, aws: Aws) -> None:
    victim, attacker = Browser(bff.invoke), Browser(bff.invoke)
    attacker_query = approve_at_hitkey(attacker.login()["headers"]["location"], ALAN.sub)
    victim.login()
    hitkey.reset_counters()
    # the victim's own login cookie, a mangled one, none at all
    for jar, code in (
        ({LOGIN: victim.jar[LOGIN]}, "invalid_state"),
        ({LOGIN: victim.jar[LOGIN] + "x"}, "invalid_state"),
        ({}, "login_cookie_missing"),
    ):
        response = Browser(bff.invoke, jar=dict(jar)).callback(attacker_query)
        assert_sane(response, aws)
        assert response["headers"]["location"] == APP_ORIGIN + f"/?auth_error={code}"
    assert hitkey.counters.get("token", 0) == 0
    assert attacker.callback(attacker_query)["headers"]["location"] == APP_ORIGIN + "/"  # not burnt


# --- CSRF --------------------------------------------------------------------------------------

CSRF_CASES = {
    "evil-origin": ({"x-csrf": "1", "origin": "https://evil.example"}, "origin_not_allowed"),
    "null-origin": ({"x-csrf": "1", "origin": "null"}, "origin_not_allowed"),
    "suffix-origin": ({"x-csrf": "1", "origin": APP_ORIGIN + ".evil.example"}, "origin_not_allowed"),
    "http-origin": ({"x-csrf": "1", "origin": APP_ORIGIN.replace("https:", "http:")}, "origin_not_allowed"),
    "cross-site": ({"x-csrf": "1", "sec-fetch-site": "cross-site"}, "origin_not_allowed"),
    "missing-x-csrf": ({"origin": APP_ORIGIN}, "csrf_header_missing"),
    "x-csrf-0": ({"x-csrf": "0", "origin": APP_ORIGIN}, "csrf_header_missing"),
    "x-csrf-true": ({"x-csrf": "true", "origin": APP_ORIGIN}, "csrf_header_missing"),
    "x-csrf-empty": ({"x-csrf": "", "origin": APP_ORIGIN}, "csrf_header_missing"),
}


def test_csrf_defences(bff: Bff, hitkey: Emulator, aws: Aws, subtests: pytest.Subtests) -> None:
    browser = signed_in(bff)
    for route in JSON_ROUTES:
        for name, (headers, code) in CSRF_CASES.items():
            with subtests.test(route=route, case=name):
                (before,) = items(aws, "USER#")
                hitkey.reset_counters()
                response = browser.call(route, headers=headers, csrf=False)
                assert_sane(response, aws, sessions=1)
                assert response["statusCode"] == 403 and body(response)["error"] == code
                assert response["cookies"] == []  # nothing cleared, nothing set
                (after,) = items(aws, "USER#")
                assert after == before  # not logged out, not rotated
                assert hitkey.counters.get("token", 0) == 0 and hitkey.counters.get("userinfo", 0) == 0
    for route in (SESSION_ROUTE, USERINFO_ROUTE, REFRESH_ROUTE):  # the same browser, done right, works
        assert browser.call(route)["statusCode"] == 200


def test_login_and_callback_ignore_csrf_headers(bff: Bff, hitkey: Emulator, aws: Aws) -> None:
    """Top-level navigations carry no X-CSRF; a hostile Origin on them changes nothing."""
    evil = {"origin": "https://evil.example", "sec-fetch-site": "cross-site", "x-csrf": "0"}
    browser = Browser(bff.invoke)
    login = browser.call(LOGIN_ROUTE, "return_to=/x", headers=evil, csrf=False)
    assert login["statusCode"] == 302
    query = approve_at_hitkey(login["headers"]["location"], ADA.sub)
    response = browser.call(CALLBACK_ROUTE, query, headers=evil, csrf=False)
    assert response["headers"]["location"] == APP_ORIGIN + "/x" and session_count(aws) == 1
