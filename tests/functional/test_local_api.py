"""The BffSession authorizer and the helpers of ``hitkey_bff.local_api``: every deny path, the
context's shape, the AWS calls, and calls with the caller's fresh access token - the real
handler, moto, the HitKey emulator."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hitkey_bff import local_api
from hitkey_bff.authorizer import CONTEXT_KEYS, Authorizer
from hitkey_bff.authorizer import handler as authorizer_handler
from hitkey_bff.errors import Unauthenticated, UpstreamError
from local.apigw.event import build_event
from local.emulator import Emulator
from local.emulator.users import SEEDED_USERS
from local.lambda_runtime import LambdaContext
from local.localapi import authorizer_event
from testkit.browser import Browser
from testkit.clock import ManualClock
from tests.conftest import Aws
from tests.harness import SESSION, Bff, body, signed_in

ADA, ALAN = SEEDED_USERS[0], SEEDED_USERS[1]
ORIGIN = "https://app.example.com"


def refused(claims: dict[str, Any] | None) -> bool:
    """``HitKeyClient.userinfo``'s answer when HitKey refuses the access token."""
    return claims is None


def count_calls(bff: Bff) -> Counter[str]:
    """The AWS calls of ``bff.deps`` from now on, by ``service.Operation``."""
    seen: Counter[str] = Counter()

    def count(event_name: str, **_: object) -> None:
        parts = event_name.split(".")
        seen[f"{parts[1]}.{parts[2]}"] += 1

    for client in (bff.deps.aws.dynamodb(), bff.deps.aws.kms(), bff.deps.aws.secretsmanager()):
        client.meta.events.register("before-call.*.*", count)
    return seen


@pytest.fixture
def calls(bff: Bff) -> Iterator[Counter[str]]:
    """The BFF's AWS calls by ``service.Operation`` (the authorizer shares its ``Deps``)."""
    yield count_calls(bff)


def request_event(
    browser: Browser | None,
    *,
    method: str = "GET",
    path: str = "/api/me",
    headers: dict[str, str] | None = None,
    cookies: list[str] | None = None,
    context: dict[str, Any] | None = None,
    body_text: str | None = None,
) -> dict[str, Any]:
    """The integration event API Gateway builds for a team's route (``context``: the authorizer's)."""
    sent = {"x-csrf": "1", "origin": ORIGIN} if headers is None else headers
    jar = cookies if cookies is not None else [f"{k}={v}" for k, v in (browser.jar if browser else {}).items()]
    event = build_event(method, path, headers=sent, cookies=jar, body=body_text, route_key=f"{method} {path}")
    if context is not None:
        event["requestContext"]["authorizer"] = {"lambda": context}
    return event


def authorize(bff: Bff, event: dict[str, Any]) -> dict[str, Any]:
    """The authorizer's answer to the request ``event`` is (identity sources: cookie, X-CSRF)."""
    jar = "; ".join(event.get("cookies", []))
    answer: dict[str, Any] = authorizer_handler.using(bff.deps)(
        authorizer_event(event, [jar, event["headers"].get("x-csrf", "")]), LambdaContext("AuthorizerFunction")
    )
    return answer


def sessions_listed(browser: Browser) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = body(browser.call("GET /auth/sessions"))["sessions"]
    return listed


# --- the authorizer -------------------------------------------------------------------------------


def test_allows_a_live_session_with_exactly_the_documented_context(bff: Bff, calls: Counter[str]) -> None:
    browser = signed_in(bff, ADA.sub)
    (listed,) = sessions_listed(browser)
    calls.clear()
    answer = authorize(bff, request_event(browser))
    assert answer["isAuthorized"] is True and set(answer) == {"isAuthorized", "context"}
    context = answer["context"]
    assert tuple(context) == CONTEXT_KEYS
    assert context["sub"] == ADA.sub and context["session_id"] == listed["id"]
    assert context["name"] == "Ada Lovelace" and context["email"] == "ada@example.com"
    assert isinstance(context["expires_at"], int) and context["expires_at"] > 0
    cookie = browser.jar[SESSION]
    assert all(part not in json.dumps(answer) for part in cookie.split(".")[1:])  # no cookie, no secret
    assert "hkat_" not in json.dumps(answer) and "hkrt_" not in json.dumps(answer)  # no token
    assert calls == Counter({"dynamodb.GetItem": 1})  # one read; no write, no KMS, no secret


def deny_cases(browser: Browser) -> dict[str, dict[str, Any]]:
    cookie = browser.jar[SESSION]
    version, sub, secret = cookie.split(".")
    flipped = secret[:-2] + ("A" if secret[-2] != "A" else "B") + secret[-1]
    return {
        "no session cookie": request_event(None, cookies=["other=1"]),
        "tampered secret": request_event(None, cookies=[f"{SESSION}={version}.{sub}.{flipped}"]),
        "malformed cookie": request_event(None, cookies=[f"{SESSION}=v1.garbage"]),
        "the cookie twice": request_event(None, cookies=[f"{SESSION}={cookie}", f"{SESSION}={cookie}"]),
        "x-csrf not 1": request_event(browser, headers={"x-csrf": "yes", "origin": ORIGIN}),
        "foreign origin": request_event(browser, headers={"x-csrf": "1", "origin": "https://evil.example"}),
        "cross-site fetch": request_event(browser, headers={"x-csrf": "1", "sec-fetch-site": "cross-site"}),
    }


@pytest.mark.parametrize(
    "case",
    [
        "no session cookie",
        "tampered secret",
        "malformed cookie",
        "the cookie twice",
        "x-csrf not 1",
        "foreign origin",
        "cross-site fetch",
    ],
)
def test_denies(bff: Bff, case: str) -> None:
    browser = signed_in(bff, ADA.sub)
    assert authorize(bff, deny_cases(browser)[case]) == {"isAuthorized": False}


def test_no_origin_header_is_allowed_like_the_json_routes(bff: Bff) -> None:
    browser = signed_in(bff, ADA.sub)
    assert authorize(bff, request_event(browser, headers={"x-csrf": "1"}))["isAuthorized"] is True


def test_denies_after_logout_and_after_the_session_was_ended_elsewhere(bff: Bff) -> None:
    browser = signed_in(bff, ADA.sub)
    replay = request_event(browser)
    assert authorize(bff, replay)["isAuthorized"] is True
    assert browser.call("POST /auth/logout")["statusCode"] == 204
    assert authorize(bff, replay) == {"isAuthorized": False}

    laptop, phone = signed_in(bff, ALAN.sub), signed_in(bff, ALAN.sub)
    replay = request_event(laptop)
    (other,) = [s for s in sessions_listed(phone) if not s["current"]]
    ended = phone.call("DELETE /auth/sessions", headers={"x-csrf": "1", "origin": ORIGIN})
    assert ended["statusCode"] in (200, 204) and other["id"]
    assert authorize(bff, replay) == {"isAuthorized": False}
    assert authorize(bff, request_event(phone))["isAuthorized"] is True


@pytest.mark.parametrize(("advance", "why"), [(3601, "idle"), (30 * 86400 + 1, "expired")])
def test_denies_an_idle_or_expired_session_without_writing(bff: Bff, advance: int, why: str) -> None:
    clock = ManualClock()
    bff.clock = clock
    bff.configure(session_idle_timeout_seconds=3600)
    browser = signed_in(bff, ADA.sub)
    clock.advance(advance)
    calls = count_calls(bff)
    assert authorize(bff, request_event(browser)) == {"isAuthorized": False}, why
    assert calls == Counter({"dynamodb.GetItem": 1})  # read-only: the BFF's own routes delete it


def test_an_aws_failure_is_an_error_not_a_denial(bff: Bff, aws: Aws) -> None:
    browser = signed_in(bff, ADA.sub)
    aws.session.client("dynamodb").delete_table(TableName=aws.resources.table)
    with pytest.raises(RuntimeError, match="could not decide"):
        authorize(bff, request_event(browser))  # API Gateway answers 500 for a failed authorizer


def test_a_missing_setting_denies(aws: Aws) -> None:
    fresh = Authorizer()  # Deps.from_env: APP_ORIGIN and friends are not set
    event = authorizer_event(request_event(None, cookies=[f"{SESSION}=x"]), ["x", "1"])
    assert fresh(event, LambdaContext("AuthorizerFunction")) == {"isAuthorized": False}


# --- the helpers ----------------------------------------------------------------------------------


def allowed_event(bff: Bff, browser: Browser, **kw: Any) -> dict[str, Any]:
    """A team's route event as API Gateway sends it after the authorizer allowed it."""
    event = request_event(browser, **kw)
    answer = authorize(bff, event)
    assert answer["isAuthorized"] is True
    event["requestContext"]["authorizer"] = {"lambda": answer["context"]}
    return event


def test_current_user_from_the_raw_event_and_from_powertools(bff: Bff) -> None:
    browser = signed_in(bff, ADA.sub)
    event = allowed_event(bff, browser)
    user = local_api.current_user(event)
    assert (user.sub, user.name, user.email) == (ADA.sub, "Ada Lovelace", "ada@example.com")
    assert user.session_id == sessions_listed(browser)[0]["id"] and user.expires_at > 0
    assert dict(user.claims) == event["requestContext"]["authorizer"]["lambda"]

    app = APIGatewayHttpResolver()

    @app.get("/api/me")
    def me() -> dict[str, Any]:
        return {"sub": local_api.current_user(app.current_event).sub}

    answer = app.resolve(event, LambdaContext("LocalApiFunction"))
    assert answer["statusCode"] == 200 and json.loads(answer["body"]) == {"sub": ADA.sub}


@pytest.mark.parametrize("context", [None, {}, {"sub": ""}, {"sub": 7}])
def test_current_user_without_the_authorizer_is_unauthenticated(context: dict[str, Any] | None) -> None:
    with pytest.raises(Unauthenticated):
        local_api.current_user(request_event(None, context=context))


def test_call_with_fresh_token_uses_the_stored_token(bff: Bff, hitkey: Emulator, calls: Counter[str]) -> None:
    browser = signed_in(bff, ADA.sub)
    event = allowed_event(bff, browser)
    hitkey.reset_counters()
    calls.clear()
    claims = local_api.call_with_fresh_token(event, bff.deps.hitkey.userinfo, deps=bff.deps)
    assert claims["sub"] == ADA.sub
    assert hitkey.counters["userinfo"] == 1 and hitkey.counters.get("token.refresh_token", 0) == 0
    assert calls["dynamodb.GetItem"] == 1 and calls["dynamodb.UpdateItem"] == 0


def test_call_with_fresh_token_refreshes_once_when_hitkey_refuses(bff: Bff, hitkey: Emulator) -> None:
    browser = signed_in(bff, ADA.sub)
    event = allowed_event(bff, browser)
    hitkey.expire_access_tokens()  # HitKey says expired; the stored expiry does not know yet
    hitkey.reset_counters()
    claims = local_api.call_with_fresh_token(event, bff.deps.hitkey.userinfo, refused=refused, deps=bff.deps)
    assert claims["sub"] == ADA.sub
    assert hitkey.counters["token.refresh_token"] == 1 and hitkey.counters["userinfo"] == 2
    assert local_api.current_user(event).sub == ADA.sub  # the session lives on
    again = local_api.call_with_fresh_token(event, bff.deps.hitkey.userinfo, refused=refused, deps=bff.deps)
    assert again["sub"] == ADA.sub and hitkey.counters["token.refresh_token"] == 1


def test_call_with_fresh_token_after_the_session_ended_is_unauthenticated(bff: Bff) -> None:
    browser = signed_in(bff, ADA.sub)
    event = allowed_event(bff, browser)  # e.g. a cached authorizer answer
    assert browser.call("POST /auth/logout")["statusCode"] == 204
    with pytest.raises(Unauthenticated):
        local_api.call_with_fresh_token(event, bff.deps.hitkey.userinfo, deps=bff.deps)


def test_call_with_fresh_token_needs_the_session_the_authorizer_allowed(bff: Bff) -> None:
    ada, alan = signed_in(bff, ADA.sub), signed_in(bff, ALAN.sub)
    event = allowed_event(bff, ada)
    event["cookies"] = [f"{SESSION}={alan.jar[SESSION]}"]  # another session's cookie, Ada's context
    with pytest.raises(Unauthenticated):
        local_api.call_with_fresh_token(event, bff.deps.hitkey.userinfo, deps=bff.deps)


def test_a_second_refusal_is_an_upstream_error(bff: Bff) -> None:
    browser = signed_in(bff, ADA.sub)
    event = allowed_event(bff, browser)

    def always_refused(token: str) -> None:
        raise local_api.AccessTokenRejected("refused")

    with pytest.raises(UpstreamError):
        local_api.call_with_fresh_token(event, always_refused, deps=bff.deps)
    answer = local_api.error_response(UpstreamError("the upstream refused a freshly refreshed access token"))
    assert answer["statusCode"] == 502 and json.loads(answer["body"])["error"] == "upstream_error"


_text = st.text(st.characters(codec="utf-8"), max_size=40)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    cookies=st.lists(_text, max_size=4),
    headers=st.dictionaries(st.sampled_from(["x-csrf", "origin", "sec-fetch-site", "cookie", "host"]), _text),
    junk=st.sampled_from([None, [], "x", {"requestContext": 7}]),
)
def test_any_event_gets_a_boolean_answer_never_an_exception(
    bff: Bff, cookies: list[str], headers: dict[str, str], junk: object
) -> None:
    event: Any = junk if junk is not None else {"version": "2.0", "cookies": cookies, "headers": headers}
    answer = authorizer_handler.using(bff.deps)(event, LambdaContext("AuthorizerFunction"))
    assert answer == {"isAuthorized": False}
