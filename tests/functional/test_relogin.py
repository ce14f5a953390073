"""Signing in again ends the browser's old session - recorded by ``/auth/login`` (a same-site
navigation, which the ``SameSite=Strict`` session cookie reaches) and ended by the callback, which
HitKey's cross-site redirect reaches *without* that cookie. Real handlers, moto, the emulator."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from hitkey_bff.cookies import SessionKey, digest
from local.emulator import Emulator
from local.emulator.users import SEEDED_USERS
from testkit.browser import Browser, approve_at_hitkey
from tests.conftest import Aws
from tests.harness import LOGIN, SESSION, Bff, assert_auth_error, body, items, signed_in

ADA, ALAN = SEEDED_USERS[0], SEEDED_USERS[1]


def relogin_ended(logs: io.StringIO) -> int:
    lines = [json.loads(line) for line in logs.getvalue().splitlines() if line.startswith("{")]
    ended = [x for x in lines if x.get("message") == "session ended" and x.get("reason") == "relogin"]
    return sum(int(x["sessions_ended"]) for x in ended)


def alive(bff: Bff, cookie: str) -> bool:
    answer: dict[str, Any] = body(Browser(bff.invoke, jar={SESSION: cookie}).call("GET /auth/session", "passive=1"))
    return answer["authenticated"] is True


def login_then_cross_site_callback(browser: Browser, sub: str, decision: str = "allow") -> dict[str, Any]:
    """``/auth/login`` with the browser's cookies (same-site), then the callback as a browser
    delivers HitKey's cross-site redirect: the Strict session cookie withheld, the Lax login
    cookie sent."""
    authorize = browser.login()["headers"]["location"]
    query = approve_at_hitkey(authorize, sub=sub, decision=decision)
    withheld = browser.jar.pop(SESSION, None)
    assert LOGIN in browser.jar
    response = browser.callback(query)
    if SESSION not in browser.jar and withheld is not None:
        browser.jar[SESSION] = withheld  # the browser still has it: only this request lacked it
    return response


@pytest.mark.parametrize("who", [ADA.sub, ALAN.sub], ids=["same-user", "another-user"])
def test_callback_without_any_session_cookie_ends_the_old_session(
    bff: Bff, hitkey: Emulator, aws: Aws, bff_logs: io.StringIO, who: str
) -> None:
    browser = signed_in(bff, ADA.sub)
    old = browser.jar[SESSION]
    elsewhere = signed_in(bff, ADA.sub).jar[SESSION]  # the same user on another device
    response = login_then_cross_site_callback(browser, who)
    assert response["statusCode"] == 302 and browser.jar[SESSION] != old
    assert not alive(bff, old)  # ended, though the callback never saw its cookie
    assert alive(bff, browser.jar[SESSION]) and alive(bff, elsewhere)  # nothing else ended
    assert relogin_ended(bff_logs) == 1


def test_the_login_state_records_the_session_by_hash_never_its_secret(bff: Bff, hitkey: Emulator, aws: Aws) -> None:
    browser = signed_in(bff, ADA.sub)
    cookie = browser.jar[SESSION]
    key = SessionKey.decode(cookie)
    assert key is not None
    browser.login()
    (state,) = items(aws, "LOGIN#")
    assert state["prev_sub"] == {"S": ADA.sub} and state["prev_session"] == {"S": digest(key.secret)}
    stored = json.dumps(state, default=str)
    secret_part = cookie.rsplit(".", 1)[1]
    assert cookie not in stored and secret_part not in stored and key.secret.hex() not in stored


def test_a_login_without_a_session_records_none_and_ends_nothing(
    bff: Bff, hitkey: Emulator, aws: Aws, bff_logs: io.StringIO
) -> None:
    other = signed_in(bff, ADA.sub).jar[SESSION]
    fresh = Browser(bff.invoke)
    fresh.login()
    (state,) = items(aws, "LOGIN#")
    assert "prev_sub" not in state and "prev_session" not in state
    assert fresh.sign_in(ADA.sub)["statusCode"] == 302
    assert alive(bff, other) and relogin_ended(bff_logs) == 0


def test_a_declined_sign_in_keeps_the_old_session(bff: Bff, hitkey: Emulator, aws: Aws, bff_logs: io.StringIO) -> None:
    browser = signed_in(bff, ADA.sub)
    old = browser.jar[SESSION]
    assert_auth_error(login_then_cross_site_callback(browser, ADA.sub, decision="deny"), "access_denied")
    assert alive(bff, old) and relogin_ended(bff_logs) == 0


def test_the_old_session_survives_when_the_new_one_cannot_be_stored(
    hitkey: Emulator, aws: Aws, bff: Bff, bff_logs: io.StringIO
) -> None:
    browser = signed_in(bff, ADA.sub)
    old = browser.jar[SESSION]

    def refuse_new_sessions(params: dict[str, Any], **_: Any) -> None:
        if str(params.get("Item", {}).get("pk", {}).get("S", "")).startswith("USER#"):
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "injected"}}, "PutItem")

    bff.deps.aws.dynamodb().meta.events.register("before-parameter-build.dynamodb.PutItem", refuse_new_sessions)
    assert_auth_error(login_then_cross_site_callback(browser, ADA.sub), "service_unavailable")
    assert alive(bff, old) and relogin_ended(bff_logs) == 0


def test_the_session_cookie_on_the_callback_still_ends_its_session(
    bff: Bff, hitkey: Emulator, aws: Aws, bff_logs: io.StringIO
) -> None:
    """A login begun without the cookie (a link from another site) whose callback does carry it."""
    browser = signed_in(bff, ADA.sub)
    old = browser.jar.pop(SESSION)
    authorize = browser.login()["headers"]["location"]  # no session cookie: nothing recorded
    browser.jar[SESSION] = old
    assert browser.callback(approve_at_hitkey(authorize, sub=ADA.sub))["statusCode"] == 302
    assert not alive(bff, old) and relogin_ended(bff_logs) == 1
