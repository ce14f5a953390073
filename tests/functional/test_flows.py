"""The six routes end to end, in-process: real handlers from template.yaml's routes, moto for
AWS, the HitKey emulator over real HTTP."""

from __future__ import annotations

import base64
import hashlib
import io
from collections import Counter
from urllib.parse import parse_qs, urlsplit

import pytest

from hitkey_bff.deps import Deps
from local.apigw.event import build_event
from local.emulator import Emulator
from local.emulator.users import SEEDED_USERS
from local.lambda_runtime import LambdaContext
from testkit.browser import Browser, approve_at_hitkey, set_cookie_attrs
from testkit.functions import handler_for
from tests.conftest import APP_ORIGIN, CLIENT_ID, REDIRECT_URI, Aws
from tests.harness import LOGIN, SESSION, Bff, body, items, signed_in, upstream

ADA, ALAN = SEEDED_USERS[0], SEEDED_USERS[1]


@pytest.fixture
def aws_calls(bff: Bff, hitkey: Emulator) -> Counter[str]:
    """Counts the BFF's own AWS calls, e.g. ``kms.Decrypt`` or ``dynamodb.GetItem``."""
    seen: Counter[str] = Counter()

    def count(event_name: str, **_: object) -> None:
        _, service, operation = event_name.split(".")
        seen[f"{service}.{operation}"] += 1

    aws = bff.deps.aws  # the clients every handler uses
    aws.dynamodb().meta.events.register("before-call.dynamodb.*", count)
    aws.kms().meta.events.register("before-call.kms.*", count)
    return seen


def expire_stored_access_token(aws: Aws) -> None:
    client = aws.session.client("dynamodb")
    for item in items(aws, "USER#"):
        client.update_item(
            TableName=aws.resources.table,
            Key={"pk": item["pk"], "sk": item["sk"]},  # type: ignore[typeddict-item]
            UpdateExpression="SET at_exp = :z",
            ExpressionAttributeValues={":z": {"N": "1"}},
        )


# --- login -------------------------------------------------------------------------------------


def test_login_redirects_to_hitkey_with_state_and_pkce(bff: Bff, hitkey: Emulator, aws: Aws) -> None:
    browser = Browser(bff.invoke)
    response = browser.login("/dashboard?tab=1#top")
    assert response["statusCode"] == 302
    url = urlsplit(response["headers"]["location"])
    assert f"{url.scheme}://{url.netloc}/" == hitkey.authorize_url
    q = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert q["client_id"] == CLIENT_ID and q["redirect_uri"] == REDIRECT_URI and q["response_type"] == "code"
    assert q["scope"] == "openid profile email" and q["code_challenge_method"] == "S256"
    assert len(base64.urlsafe_b64decode(q["state"] + "==")) >= 16
    # the challenge is S256 of the verifier kept server-side
    (item,) = [i for i in aws.scan() if str(i["pk"]["S"]).startswith("LOGIN#")]  # type: ignore[index]
    verifier = item["verifier"]["S"]  # type: ignore[index]
    expected = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert q["code_challenge"] == expected and 43 <= len(verifier) <= 128
    assert item["return_to"] == {"S": "/dashboard?tab=1#top"}
    assert item["pk"]["S"] == "LOGIN#" + hashlib.sha256(q["state"].encode()).hexdigest()  # type: ignore[index]
    (cookie,) = response["cookies"]
    attrs = set_cookie_attrs(cookie)
    assert cookie.startswith(LOGIN + "=") and attrs["samesite"] == "Lax" and int(attrs["max-age"]) <= 600
    assert "httponly" in attrs and "secure" in attrs
    assert q["state"] not in cookie  # the cookie binds the browser; it is not the state


def test_two_logins_get_different_states(bff: Bff, hitkey: Emulator) -> None:
    a, b = Browser(bff.invoke).login(), Browser(bff.invoke).login()
    assert a["headers"]["location"] != b["headers"]["location"]


@pytest.mark.parametrize("return_to", ["https://evil.example/", "//evil.example", "/\\evil.example", "javascript:x"])
def test_hostile_return_to_lands_on_root(bff: Bff, hitkey: Emulator, return_to: str) -> None:
    response = signed_in(bff, return_to=return_to)
    assert response.jar  # signed in
    # the last Location was the app's root
    assert Browser(bff.invoke).sign_in(ADA.sub, return_to)["headers"]["location"] == APP_ORIGIN + "/"


# --- callback ----------------------------------------------------------------------------------


def test_callback_opens_a_session(bff: Bff, hitkey: Emulator, aws: Aws) -> None:
    browser = Browser(bff.invoke)
    response = browser.sign_in(ADA.sub, "/welcome?x=1")
    assert response["statusCode"] == 302
    assert response["headers"]["location"] == APP_ORIGIN + "/welcome?x=1"
    session_cookie = next(c for c in response["cookies"] if c.startswith(SESSION + "="))
    attrs = set_cookie_attrs(session_cookie)
    assert attrs["samesite"] == "Strict" and attrs["path"] == "/" and "domain" not in attrs
    assert "httponly" in attrs and "secure" in attrs
    assert any(c.startswith(LOGIN + "=;") and "Max-Age=0" in c for c in response["cookies"])
    assert LOGIN not in browser.jar
    counters = hitkey.counters
    assert counters.get("token.authorization_code") == 1 and counters.get("userinfo") == 1
    (item,) = items(aws, "USER#")
    assert item["pk"] == {"S": f"USER#{ADA.sub}"} and item["version"] == {"N": "1"}
    assert int(item["ttl"]["N"]) > int(item["created_at"]["N"])  # type: ignore[index]


def test_each_sign_in_is_a_new_session_id(bff: Bff, hitkey: Emulator, aws: Aws) -> None:
    browser = signed_in(bff)
    first = browser.jar[SESSION]
    browser.sign_in(ADA.sub)
    # a new id, and the browser's old session ended (reason: relogin)
    assert browser.jar[SESSION] != first and len(items(aws, "USER#")) == 1


def test_no_plaintext_token_in_the_table(bff: Bff, hitkey: Emulator, aws: Aws) -> None:
    browser = signed_in(bff)
    browser.call("POST /auth/refresh")
    dump = repr(aws.scan())
    assert "hkat_" not in dump and "hkrt_" not in dump
    assert browser.jar[SESSION].rsplit(".", 1)[1] not in dump  # nor the cookie's secret


def test_replayed_callback_is_refused_without_a_token_call(bff: Bff, hitkey: Emulator, aws: Aws) -> None:
    browser = Browser(bff.invoke)
    query = approve_at_hitkey(browser.login()["headers"]["location"], ADA.sub)
    login_cookie = browser.jar[LOGIN]
    assert browser.callback(query)["statusCode"] == 302
    browser.jar[LOGIN] = login_cookie  # replay with the same cookie
    hitkey.reset_counters()
    replay = browser.callback(query)
    assert replay["headers"]["location"] == APP_ORIGIN + "/?auth_error=invalid_state"
    assert upstream(hitkey).get("token", 0) == 0 and len(items(aws, "USER#")) == 1


def test_state_from_another_browsers_login_is_refused(bff: Bff, hitkey: Emulator, aws: Aws) -> None:
    victim, attacker = Browser(bff.invoke), Browser(bff.invoke)
    attacker_query = approve_at_hitkey(attacker.login()["headers"]["location"], ALAN.sub)
    victim.login()
    response = victim.callback(attacker_query)  # login CSRF: victim lands on attacker's code
    assert response["headers"]["location"] == APP_ORIGIN + "/?auth_error=invalid_state"
    assert items(aws, "USER#") == [] and upstream(hitkey).get("token", 0) == 0
    assert attacker.callback(attacker_query)["statusCode"] == 302  # not burnt for its owner


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("error=access_denied&state=x", "invalid_state"),  # not this login's state: refused first
        ("error=%3Cscript%3E&state=x", "invalid_state"),
        ("error=access_denied", "invalid_state"),
        ("code=abc", "invalid_request"),
        ("state=abc", "invalid_request"),
        ("code=a&code=b&state=s", "invalid_request"),
        ("", "invalid_request"),
        ("code=abc&state=unknown", "invalid_state"),
    ],
)
def test_bad_callbacks_redirect_with_auth_error(bff: Bff, hitkey: Emulator, aws: Aws, query: str, code: str) -> None:
    browser = Browser(bff.invoke)
    browser.login()
    response = browser.callback(query)
    assert response["statusCode"] == 302
    assert response["headers"]["location"] == f"{APP_ORIGIN}/?auth_error={code}"
    assert items(aws, "USER#") == [] and upstream(hitkey).get("token", 0) == 0


@pytest.mark.parametrize(
    ("error", "code"), [("access_denied", "access_denied"), ("%3Cscript%3E", "authorization_failed")]
)
def test_hitkeys_error_for_this_login_ends_it(bff: Bff, hitkey: Emulator, aws: Aws, error: str, code: str) -> None:
    browser = Browser(bff.invoke)
    state = parse_qs(urlsplit(browser.login()["headers"]["location"]).query)["state"][0]
    response = browser.callback(f"error={error}&state={state}")
    assert response["headers"]["location"] == f"{APP_ORIGIN}/?auth_error={code}"
    assert items(aws, "LOGIN#") == [] and LOGIN not in browser.jar


def test_unsolicited_error_leaves_the_sign_in_in_progress(bff: Bff, hitkey: Emulator, aws: Aws) -> None:
    """Any site can navigate the browser to ``/auth/callback?error=x``: without this login's
    state it is ``invalid_state``, and the pending login (state and cookie) carries on."""
    browser = Browser(bff.invoke)
    query = approve_at_hitkey(browser.login()["headers"]["location"], ADA.sub)
    for forged in ("error=access_denied", "error=access_denied&state=forged"):
        response = browser.callback(forged)
        assert response["headers"]["location"] == f"{APP_ORIGIN}/?auth_error=invalid_state"
        assert len(items(aws, "LOGIN#")) == 1 and LOGIN in browser.jar
    assert browser.callback(query)["statusCode"] == 302 and SESSION in browser.jar


@pytest.mark.parametrize("answer", ["code", "error"])
def test_callback_without_login_cookie_says_so(bff: Bff, hitkey: Emulator, aws: Aws, answer: str) -> None:
    """The browser did not send the login cookie back (blocked cookies, WebKit on plain http):
    a code of its own, distinct from a login cookie that came but does not match."""
    browser = Browser(bff.invoke)
    query = approve_at_hitkey(browser.login()["headers"]["location"], ADA.sub)
    if answer == "error":
        query = f"error=access_denied&state={parse_qs(query)['state'][0]}"
    login_cookie = browser.jar.pop(LOGIN)
    response = browser.callback(query)
    assert response["headers"]["location"] == f"{APP_ORIGIN}/?auth_error=login_cookie_missing"
    assert items(aws, "USER#") == [] and upstream(hitkey).get("token", 0) == 0
    assert len(items(aws, "LOGIN#")) == 1  # the pending login is left alone
    browser.jar[LOGIN] = "x" + login_cookie  # a login cookie that came but is not this login's
    assert browser.callback(query)["headers"]["location"] == f"{APP_ORIGIN}/?auth_error=invalid_state"


def test_expired_login_state_is_refused(bff: Bff, hitkey: Emulator, aws: Aws) -> None:
    browser = Browser(bff.invoke)
    query = approve_at_hitkey(browser.login()["headers"]["location"], ADA.sub)
    client = aws.session.client("dynamodb")
    for item in aws.scan():
        client.update_item(
            TableName=aws.resources.table,
            Key={"pk": item["pk"], "sk": item["sk"]},  # type: ignore[typeddict-item]
            UpdateExpression="SET #t = :t",
            ExpressionAttributeNames={"#t": "ttl"},
            ExpressionAttributeValues={":t": {"N": "1000"}},
        )
    assert browser.callback(query)["headers"]["location"].endswith("auth_error=invalid_state")
    assert upstream(hitkey).get("token", 0) == 0


def test_declined_at_hitkey(bff: Bff, hitkey: Emulator, aws: Aws) -> None:
    response = Browser(bff.invoke).sign_in(ADA.sub, decision="deny")
    assert response["headers"]["location"] == APP_ORIGIN + "/?auth_error=access_denied"
    assert items(aws, "USER#") == []


# --- session -----------------------------------------------------------------------------------


def test_session_answers_from_dynamodb_alone(bff: Bff, hitkey: Emulator, aws_calls: Counter[str]) -> None:
    browser = signed_in(bff)
    hitkey.reset_counters()
    aws_calls.clear()
    response = browser.call("GET /auth/session")
    assert response["statusCode"] == 200
    data = body(response)
    assert data["authenticated"] is True and data["user"]["sub"] == ADA.sub and data["user"]["name"] == ADA.name
    assert data["expires_at"] > data["access_token_expires_at"] > 0
    assert dict(aws_calls) == {"dynamodb.GetItem": 1} and upstream(hitkey) == {}


def test_session_without_cookie(bff: Bff, hitkey: Emulator) -> None:
    response = Browser(bff.invoke).call("GET /auth/session")
    assert response["statusCode"] == 200 and body(response) == {"authenticated": False}


def test_tampered_cookie_finds_nothing(bff: Bff, hitkey: Emulator) -> None:
    browser = signed_in(bff)
    prefix, sub, secret = browser.jar[SESSION].split(".")
    browser.jar[SESSION] = f"{prefix}.{sub}.{('B' if secret[0] != 'B' else 'C')}{secret[1:]}"
    assert body(browser.call("GET /auth/session")) == {"authenticated": False}
    assert browser.call("GET /auth/userinfo")["statusCode"] == 401


def test_another_users_sub_with_my_secret_finds_nothing(bff: Bff, hitkey: Emulator) -> None:
    ada, alan = signed_in(bff, ADA.sub), signed_in(bff, ALAN.sub)
    _, ada_sub, _ = ada.jar[SESSION].split(".")
    _, _, alan_secret = alan.jar[SESSION].split(".")
    alan.jar[SESSION] = f"v1.{ada_sub}.{alan_secret}"
    assert alan.call("GET /auth/userinfo")["statusCode"] == 401


# --- userinfo and refresh ----------------------------------------------------------------------


def test_userinfo_with_a_valid_token(bff: Bff, hitkey: Emulator, aws_calls: Counter[str]) -> None:
    browser = signed_in(bff)
    hitkey.reset_counters()
    aws_calls.clear()
    response = browser.call("GET /auth/userinfo")
    assert response["statusCode"] == 200 and body(response)["email"] == ADA.email
    assert upstream(hitkey) == {"userinfo": 1}
    assert "kms.Decrypt" not in aws_calls and "kms.GenerateDataKey" not in aws_calls


def test_expired_access_token_triggers_exactly_one_refresh(bff: Bff, hitkey: Emulator, aws: Aws) -> None:
    browser = signed_in(bff)
    hitkey.expire_access_tokens()
    expire_stored_access_token(aws)
    hitkey.reset_counters()
    response = browser.call("GET /auth/userinfo")
    assert response["statusCode"] == 200 and body(response)["sub"] == ADA.sub
    assert upstream(hitkey).get("token.refresh_token") == 1 and upstream(hitkey).get("userinfo") == 1
    (item,) = items(aws, "USER#")
    assert item["version"] == {"N": "2"} and int(item["at_exp"]["N"]) > 1  # type: ignore[index]
    assert browser.call("GET /auth/userinfo")["statusCode"] == 200
    assert upstream(hitkey).get("token.refresh_token") == 1


def test_access_token_refused_upstream_is_refreshed_once(bff: Bff, hitkey: Emulator) -> None:
    browser = signed_in(bff)
    hitkey.expire_access_tokens()  # HitKey says expired, our record does not know yet
    hitkey.reset_counters()
    assert browser.call("GET /auth/userinfo")["statusCode"] == 200
    assert upstream(hitkey).get("token.refresh_token") == 1 and upstream(hitkey).get("userinfo") == 2


def test_refresh_rotates_and_stores_the_new_refresh_token(bff: Bff, hitkey: Emulator, aws: Aws) -> None:
    browser = signed_in(bff)
    (before,) = items(aws, "USER#")
    for _ in range(3):  # every rotation's token is the one used next: HitKey would revoke on reuse
        response = browser.call("POST /auth/refresh")
        assert response["statusCode"] == 200 and body(response)["expires_at"] > 0
    (after,) = items(aws, "USER#")
    assert after["rt"] != before["rt"] and after["version"] == {"N": "4"}
    assert upstream(hitkey).get("token.refresh_token") == 3
    assert browser.call("GET /auth/userinfo")["statusCode"] == 200


def test_invalid_grant_ends_the_session(bff: Bff, hitkey: Emulator, aws: Aws) -> None:
    browser = signed_in(bff)
    hitkey.inject_fault("token", "invalid_grant")
    response = browser.call("POST /auth/refresh")
    assert response["statusCode"] == 401 and body(response)["error"] == "unauthenticated"
    assert any(c.startswith(SESSION + "=;") for c in response["cookies"])
    assert items(aws, "USER#") == [] and SESSION not in browser.jar
    assert signed_in(bff).call("GET /auth/userinfo")["statusCode"] == 200  # can sign in again


def test_refresh_and_userinfo_need_a_session(bff: Bff, hitkey: Emulator) -> None:
    for route in ("POST /auth/refresh", "GET /auth/userinfo"):
        response = Browser(bff.invoke).call(route)
        assert response["statusCode"] == 401 and body(response)["error"] == "unauthenticated"


@pytest.mark.parametrize("kind", ["error500", "malformed", "html"])
def test_upstream_faults_at_refresh_leave_the_session_intact(bff: Bff, hitkey: Emulator, aws: Aws, kind: str) -> None:
    browser = signed_in(bff)
    (before,) = items(aws, "USER#")
    hitkey.inject_fault("token", kind)
    response = browser.call("POST /auth/refresh")
    assert response["statusCode"] == 502 and body(response)["error"].startswith("upstream")
    (after,) = items(aws, "USER#")
    assert after == before  # no half-written session, lease released
    assert browser.call("POST /auth/refresh")["statusCode"] == 200


def test_upstream_fault_at_callback_is_json_and_creates_nothing(bff: Bff, hitkey: Emulator, aws: Aws) -> None:
    browser = Browser(bff.invoke)
    query = approve_at_hitkey(browser.login()["headers"]["location"], ADA.sub)
    hitkey.inject_fault("token", "error500")
    response = browser.callback(query)
    assert response["statusCode"] == 302  # a navigation: a redirect the SPA explains, never JSON
    assert response["headers"]["location"] == f"{APP_ORIGIN}/?auth_error=upstream_error"
    assert items(aws, "USER#") == [] and upstream(hitkey).get("token") == 1
    assert signed_in(bff).jar


# --- ciphertext binding --------------------------------------------------------------------------


def test_ciphertext_swapped_into_another_users_item_does_not_decrypt(bff: Bff, hitkey: Emulator, aws: Aws) -> None:
    ada, alan = signed_in(bff, ADA.sub), signed_in(bff, ALAN.sub)
    by_user = {str(i["pk"]["S"]): i for i in items(aws, "USER#")}
    ada_item, alan_item = by_user[f"USER#{ADA.sub}"], by_user[f"USER#{ALAN.sub}"]
    aws.session.client("dynamodb").update_item(
        TableName=aws.resources.table,
        Key={"pk": alan_item["pk"], "sk": alan_item["sk"]},  # type: ignore[typeddict-item]
        UpdateExpression="SET rt = :rt, #at = :at, dk = :dk",
        ExpressionAttributeNames={"#at": "at"},
        ExpressionAttributeValues={":rt": ada_item["rt"], ":at": ada_item["at"], ":dk": ada_item["dk"]},  # type: ignore[dict-item]
    )
    hitkey.reset_counters()
    response = alan.call("GET /auth/userinfo")
    assert response["statusCode"] == 401 and upstream(hitkey) == {}
    assert ada.call("GET /auth/userinfo")["statusCode"] == 200


# --- logout ------------------------------------------------------------------------------------


def test_logout_deletes_the_session_and_is_idempotent(bff: Bff, hitkey: Emulator, aws: Aws) -> None:
    browser = signed_in(bff)
    stolen = browser.jar[SESSION]
    response = browser.call("POST /auth/logout")
    assert response["statusCode"] == 204 and any(c.startswith(SESSION + "=;") for c in response["cookies"])
    assert items(aws, "USER#") == []
    assert browser.call("POST /auth/logout")["statusCode"] == 204
    thief = Browser(bff.invoke, jar={SESSION: stolen})
    assert body(thief.call("GET /auth/session")) == {"authenticated": False}
    assert thief.call("GET /auth/userinfo")["statusCode"] == 401


# --- CSRF --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "route", ["GET /auth/session", "GET /auth/userinfo", "POST /auth/refresh", "POST /auth/logout"]
)
@pytest.mark.parametrize(
    "headers", [{}, {"x-csrf": "1", "origin": "https://evil.example"}, {"origin": APP_ORIGIN}], ids=str
)
def test_csrf_is_required(bff: Bff, hitkey: Emulator, aws: Aws, route: str, headers: dict[str, str]) -> None:
    browser = signed_in(bff)
    response = browser.call(route, headers=headers, csrf=False)
    assert response["statusCode"] == 403 and body(response)["error"] in ("csrf_header_missing", "origin_not_allowed")
    assert len(items(aws, "USER#")) == 1


# --- configuration -----------------------------------------------------------------------------


def test_missing_setting_is_a_503_naming_it_in_the_log(
    hitkey: Emulator, monkeypatch: pytest.MonkeyPatch, bff_logs: io.StringIO
) -> None:
    """The operator reads which variable is missing in the log; an anonymous caller only learns
    that the service is misconfigured (no variable names in bodies)."""
    monkeypatch.delenv("SESSION_TABLE")
    for route in ("GET /auth/login", "GET /auth/session"):
        cold = handler_for(route).using(Deps.from_env)  # a Lambda reads its environment at the first event
        method, path = route.split(" ", 1)
        event = build_event(method, path, headers={"x-csrf": "1", "origin": APP_ORIGIN}, route_key=route)
        response = cold(event, LambdaContext(route))
        assert response["statusCode"] == 503
        assert body(response)["error"] == "missing_config" and "SESSION_TABLE" not in body(response)["message"]
        assert "SESSION_TABLE" in bff_logs.getvalue()


def test_empty_client_secret_is_a_clear_503(bff: Bff, hitkey: Emulator, aws: Aws) -> None:
    aws.session.client("secretsmanager").put_secret_value(
        SecretId=aws.resources.secret_id, SecretString='{"client_secret": ""}'
    )
    browser = Browser(bff.invoke)
    query = approve_at_hitkey(browser.login()["headers"]["location"], ADA.sub)
    response = browser.callback(query)  # a navigation: the SPA explains "misconfigured"
    assert response["statusCode"] == 302
    assert response["headers"]["location"] == f"{APP_ORIGIN}/?auth_error=misconfigured"


def test_plain_text_client_secret_works(bff: Bff, hitkey: Emulator, aws: Aws) -> None:
    from tests.conftest import CLIENT_SECRET

    aws.session.client("secretsmanager").put_secret_value(SecretId=aws.resources.secret_id, SecretString=CLIENT_SECRET)
    assert signed_in(bff).call("GET /auth/userinfo")["statusCode"] == 200
