"""HitKey misbehaving, injected with the emulator's faults, at every place the BFF calls it.

Places: the callback (code exchange, then userinfo), ``POST /auth/refresh``, and
``GET /auth/userinfo`` with an expired stored token (its refresh runs first). For every fault the
answer is the stable JSON error of README's table (502/504, never a 500), nothing half-written
(callback: no session; refresh: the item exactly as it was - same version, same ciphertexts, no
leftover lease), no retry of a non-idempotent grant, and the user can carry on afterwards.

``hang`` cases shrink HitKey's timeout to :data:`SHORT_TIMEOUT` so that they cost half a second,
not seven: the emulator holds the request for :data:`HANG_SECONDS` and the BFF must give up first.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

import hitkey_bff.config
import hitkey_bff.hitkey
from hitkey_bff import refresh
from hitkey_bff.budgets import REFRESH_BUDGET_SECONDS
from hitkey_bff.hitkey import HitKeyClient, new_http_client
from local.emulator import Emulator
from local.emulator.users import SEEDED_USERS
from testkit.browser import Browser, approve_at_hitkey
from tests.conftest import APP_ORIGIN, Aws
from tests.harness import (
    LOGIN,
    SESSION,
    Bff,
    assert_auth_error,
    assert_error,
    body,
    expires,
    only_session,
    signed_in,
    upstream,
)

ADA = SEEDED_USERS[0]
SHORT_TIMEOUT = 0.5
HANG_SECONDS = 5.0  # far above SHORT_TIMEOUT: "gave up first" holds on a loaded machine
API_GATEWAY_LIMIT = 29  # HTTP API's integration timeout is 30 s; keep a second for ourselves

# (kind, status, error) for the token endpoint; invalid_grant has its own tests below.
TOKEN_FAULTS = [
    pytest.param("error500", 502, "upstream_error", id="error500"),
    pytest.param("hang", 504, "upstream_timeout", id="hang"),
    pytest.param("malformed", 502, "upstream_bad_response", id="malformed"),
    pytest.param("html", 502, "upstream_error", id="html"),  # a 502 page: HitKey's side failed
    pytest.param("invalid_client", 502, "invalid_client", id="invalid_client"),
]
# The callback's ``auth_error`` for each: stable codes the SPA explains (HitKey's text is logged).
CALLBACK_AUTH_ERRORS = {
    "error500": "upstream_error",
    "hang": "upstream_timeout",
    "malformed": "upstream_error",
    "html": "upstream_error",
    "invalid_client": "misconfigured",
}
# Places that refresh: the explicit route, and userinfo finding its stored token expired.
REFRESHING = ["refresh", "userinfo-expired"]


# --- helpers -----------------------------------------------------------------------------------


def inject(
    bff: Bff, hitkey: Emulator, monkeypatch: pytest.MonkeyPatch, endpoint: str, kind: str, count: int = 1
) -> None:
    """Queue a fault; for ``hang``, first give the BFF a short timeout (a fresh client gets it)."""
    if kind == "hang":  # a fresh Lambda whose HitKey client has a short timeout
        bff.configure(refresh_budget_seconds=1)  # a refresh's whole budget, shorter than the hang
        s = bff.settings
        bff.cold(hitkey=HitKeyClient(new_http_client(httpx.Timeout(SHORT_TIMEOUT)), s.api_url, s.client_id))
        hitkey.inject_fault(endpoint, "hang", count, seconds=HANG_SECONDS)
    else:
        hitkey.inject_fault(endpoint, kind, count)
    hitkey.reset_counters()


def timed(call: Any, *args: Any) -> tuple[dict[str, Any], float]:
    started = time.monotonic()
    response = call(*args)
    return response, time.monotonic() - started


def user_items(aws: Aws) -> list[dict[str, Any]]:
    return [i for i in aws.scan() if str(i["pk"]["S"]).startswith("USER#")]  # type: ignore[index]


def expire_stored_access_token(aws: Aws) -> None:
    item = only_session(aws)
    aws.session.client("dynamodb").update_item(
        TableName=aws.resources.table,
        Key={"pk": item["pk"], "sk": item["sk"]},
        UpdateExpression="SET at_exp = :z",
        ExpressionAttributeValues={":z": {"N": "1"}},
    )


def call_refreshing(place: str, browser: Browser) -> dict[str, Any]:
    if place == "refresh":
        return browser.call("POST /auth/refresh")
    return browser.call("GET /auth/userinfo")


def prepare_refreshing(place: str, aws: Aws) -> None:
    if place == "userinfo-expired":
        expire_stored_access_token(aws)


def approved_callback(browser: Browser) -> str:
    """Login and HitKey's consent; returns the callback query, not yet delivered."""
    return approve_at_hitkey(browser.login()["headers"]["location"], ADA.sub)


def assert_signs_in_again(browser: Browser, hitkey: Emulator) -> None:
    hitkey.clear_faults()
    assert browser.sign_in(ADA.sub)["statusCode"] == 302
    response = browser.call("GET /auth/userinfo")
    assert response["statusCode"] == 200 and body(response)["sub"] == ADA.sub


# --- callback ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "status", "code"), TOKEN_FAULTS)
def test_token_fault_at_callback(
    bff: Bff, hitkey: Emulator, aws: Aws, monkeypatch: pytest.MonkeyPatch, kind: str, status: int, code: str
) -> None:
    browser = Browser(bff.invoke)
    query = approved_callback(browser)
    inject(bff, hitkey, monkeypatch, "token", kind)
    response, took = timed(browser.callback, query)
    assert_auth_error(response, CALLBACK_AUTH_ERRORS[kind])  # a navigation: a redirect, never JSON
    assert took < HANG_SECONDS  # a hang is cut by our timeout, not by HitKey hanging up
    assert expires(response, LOGIN) and LOGIN not in browser.jar and SESSION not in browser.jar
    assert upstream(hitkey) == {"token": 1, "token.authorization_code": 1}  # exchanged once, not retried
    assert aws.scan() == []  # no session, and the login state is spent
    assert_signs_in_again(browser, hitkey)


def test_invalid_grant_at_callback_redirects_with_auth_error(
    bff: Bff, hitkey: Emulator, aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    browser = Browser(bff.invoke)
    query = approved_callback(browser)
    inject(bff, hitkey, monkeypatch, "token", "invalid_grant")
    response = browser.callback(query)
    assert response["statusCode"] == 302
    assert response["headers"]["location"] == f"{APP_ORIGIN}/?auth_error=invalid_grant"
    assert expires(response, LOGIN) and SESSION not in browser.jar
    assert upstream(hitkey) == {"token": 1, "token.authorization_code": 1}
    assert aws.scan() == []
    assert_signs_in_again(browser, hitkey)


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        pytest.param("unauthorized", 502, "upstream_error", id="unauthorized"),  # refused a token it just issued
        pytest.param("error500", 502, "upstream_error", id="error500"),
        pytest.param("hang", 504, "upstream_timeout", id="hang"),
    ],
)
def test_userinfo_fault_at_callback(
    bff: Bff, hitkey: Emulator, aws: Aws, monkeypatch: pytest.MonkeyPatch, kind: str, status: int, code: str
) -> None:
    browser = Browser(bff.invoke)
    query = approved_callback(browser)
    inject(bff, hitkey, monkeypatch, "userinfo", kind)
    response, took = timed(browser.callback, query)
    assert_auth_error(response, code)
    assert took < HANG_SECONDS
    assert expires(response, LOGIN) and SESSION not in browser.jar
    # the code was exchanged exactly once; userinfo was not retried either
    assert upstream(hitkey) == {"token": 1, "token.authorization_code": 1, "userinfo": 1}
    assert aws.scan() == []
    assert_signs_in_again(browser, hitkey)


# --- refresh, explicit or inside userinfo --------------------------------------------------------


@pytest.mark.parametrize("place", REFRESHING)
@pytest.mark.parametrize(("kind", "status", "code"), TOKEN_FAULTS)
def test_token_fault_while_refreshing_keeps_the_session(
    bff: Bff, hitkey: Emulator, aws: Aws, monkeypatch: pytest.MonkeyPatch, place: str, kind: str, status: int, code: str
) -> None:
    browser = signed_in(bff)
    prepare_refreshing(place, aws)
    before = only_session(aws)
    inject(bff, hitkey, monkeypatch, "token", kind)
    response, took = timed(call_refreshing, place, browser)
    assert_error(response, status, code)
    assert took < HANG_SECONDS
    assert response["cookies"] == [] and SESSION in browser.jar  # the session is not ended
    assert upstream(hitkey) == {"token": 1, "token.refresh_token": 1}  # one refresh, not retried, no userinfo
    after = only_session(aws)
    if kind == "hang":  # HitKey may have rotated: the outcome is marked unknown
        assert int(after.pop("refresh_unknown_since")["N"]) > 0
    assert after == before  # same version and ciphertexts, lease released
    assert "lease_owner" not in after
    # the session still works: the stored refresh token is still HitKey's current one
    hitkey.clear_faults()
    assert call_refreshing(place, browser)["statusCode"] == 200
    assert browser.call("POST /auth/refresh")["statusCode"] == 200
    assert browser.call("GET /auth/userinfo")["statusCode"] == 200
    assert_signs_in_again(Browser(bff.invoke), hitkey)


@pytest.mark.parametrize("place", REFRESHING)
def test_invalid_grant_while_refreshing_ends_the_session(
    bff: Bff, hitkey: Emulator, aws: Aws, monkeypatch: pytest.MonkeyPatch, place: str
) -> None:
    browser = signed_in(bff)
    prepare_refreshing(place, aws)
    inject(bff, hitkey, monkeypatch, "token", "invalid_grant")
    response = call_refreshing(place, browser)
    assert_error(response, 401, "unauthenticated")
    assert expires(response, SESSION) and SESSION not in browser.jar
    assert user_items(aws) == []
    assert upstream(hitkey) == {"token": 1, "token.refresh_token": 1}
    assert body(browser.call("GET /auth/session")) == {"authenticated": False}
    assert_signs_in_again(browser, hitkey)


# --- userinfo ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        pytest.param("error500", 502, "upstream_error", id="error500"),
        pytest.param("hang", 504, "upstream_timeout", id="hang"),
    ],
)
def test_userinfo_fault_at_userinfo_keeps_the_session(
    bff: Bff, hitkey: Emulator, aws: Aws, monkeypatch: pytest.MonkeyPatch, kind: str, status: int, code: str
) -> None:
    browser = signed_in(bff)
    before = only_session(aws)
    inject(bff, hitkey, monkeypatch, "userinfo", kind)
    response, took = timed(browser.call, "GET /auth/userinfo")
    assert_error(response, status, code)
    assert took < HANG_SECONDS
    assert response["cookies"] == [] and SESSION in browser.jar
    assert upstream(hitkey) == {"userinfo": 1}  # no refresh for a HitKey failure, no retry
    assert only_session(aws) == before
    assert browser.call("GET /auth/userinfo")["statusCode"] == 200
    assert browser.call("POST /auth/refresh")["statusCode"] == 200
    assert_signs_in_again(Browser(bff.invoke), hitkey)


def test_userinfo_refused_once_is_refreshed_and_answered(
    bff: Bff, hitkey: Emulator, aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    browser = signed_in(bff)
    inject(bff, hitkey, monkeypatch, "userinfo", "unauthorized")
    response = browser.call("GET /auth/userinfo")
    assert response["statusCode"] == 200 and body(response)["sub"] == ADA.sub
    assert upstream(hitkey) == {"userinfo": 2, "token": 1, "token.refresh_token": 1}
    item = only_session(aws)
    assert item["version"] == {"N": "2"} and "lease_owner" not in item


def test_userinfo_refused_twice_is_a_502_with_the_refreshed_session_kept(
    bff: Bff, hitkey: Emulator, aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    browser = signed_in(bff)
    before = only_session(aws)
    inject(bff, hitkey, monkeypatch, "userinfo", "unauthorized", count=2)
    response = browser.call("GET /auth/userinfo")
    assert_error(response, 502, "upstream_error")
    assert upstream(hitkey) == {"userinfo": 2, "token": 1, "token.refresh_token": 1}  # one refresh, no loop
    after = only_session(aws)  # the refresh was real and committed whole: new version, new tokens
    assert after["version"] == {"N": "2"} and after["rt"] != before["rt"] and "lease_owner" not in after
    assert SESSION in browser.jar
    assert browser.call("GET /auth/userinfo")["statusCode"] == 200
    assert browser.call("POST /auth/refresh")["statusCode"] == 200


def test_userinfo_refused_within_the_refresh_cooldown_is_not_refreshed_again(
    bff: Bff, hitkey: Emulator, aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    browser = signed_in(bff)
    inject(bff, hitkey, monkeypatch, "userinfo", "unauthorized", count=4)
    assert_error(browser.call("GET /auth/userinfo"), 502, "upstream_error")  # refreshed, refused again
    after_refresh = only_session(aws)
    assert_error(browser.call("GET /auth/userinfo"), 502, "upstream_error")  # within the cooldown
    assert_error(browser.call("GET /auth/userinfo"), 502, "upstream_error")
    assert upstream(hitkey) == {"userinfo": 4, "token": 1, "token.refresh_token": 1}  # one rotation in all
    assert only_session(aws)["rt"] == after_refresh["rt"] and SESSION in browser.jar


# --- timeout budget ----------------------------------------------------------------------------


def test_hitkey_timeout_budget_fits_under_api_gateway() -> None:
    """The callback's two HitKey calls (each with an overall deadline) answer before API Gateway
    gives up, and so does a waiter; the HitKey client enforces the budgeted deadline. The rest of
    the arithmetic, and the template's timeout: tests/unit/test_budgets.py."""
    per_call = hitkey_bff.hitkey.CALL_SECONDS  # headers and body: an overall deadline, not per read
    assert 2 * per_call < API_GATEWAY_LIMIT  # the callback's two sequential calls
    assert refresh.WAIT_SECONDS < API_GATEWAY_LIMIT  # a waiter answers before the gateway gives up
    assert hitkey_bff.config.Settings.__dataclass_fields__["refresh_budget_seconds"].default == (REFRESH_BUDGET_SECONDS)
