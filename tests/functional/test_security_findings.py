"""Smaller security defences: security headers, logout with two session cookies, a blank
``sub``, and error bodies that name no internals."""

from __future__ import annotations

import base64
import json
import re
import secrets

import pytest

from hitkey_bff.cookies import SessionKey
from local.emulator import Emulator
from local.emulator.users import SEEDED_USERS
from testkit.browser import Browser
from tests.conftest import CLIENT_SECRET, Aws
from tests.harness import SESSION, Bff, items, signed_in

HSTS = "max-age=63072000"
CSP = "default-src 'none'; frame-ancestors 'none'"
INTERNALS = re.compile(r"arn:aws|[A-Z][A-Z0-9]*_[A-Z0-9_]+|[A-Za-z]+(Error|Exception)\b")


def test_every_response_has_hsts_and_json_has_csp(bff: Bff, hitkey: Emulator) -> None:
    browser = Browser(bff.invoke)
    answers = [browser.login(), browser.call("GET /auth/session"), browser.call("POST /auth/logout")]
    browser = signed_in(bff)
    answers += [browser.call("GET /auth/session"), browser.call("GET /auth/userinfo")]
    for answer in answers:
        assert answer["headers"]["strict-transport-security"] == HSTS, answer
        if answer["headers"].get("content-type") == "application/json":
            assert answer["headers"]["content-security-policy"] == CSP


def test_logout_with_two_session_cookies_ends_both(bff: Bff, hitkey: Emulator, aws: Aws) -> None:
    both = Browser(bff.invoke)
    first, second = signed_in(bff, SEEDED_USERS[0].sub), signed_in(bff, SEEDED_USERS[1].sub)
    both.jar.clear()
    from local.gateway import build_event

    event = build_event(
        "POST",
        "/auth/logout",
        headers={"x-csrf": "1", "origin": both.origin},
        cookies=[f"{SESSION}={first.jar[SESSION]}", f"{SESSION}={second.jar[SESSION]}"],
        route_key="POST /auth/logout",
    )
    answer = bff.invoke("POST /auth/logout", event)
    assert answer["statusCode"] == 204
    assert items(aws, "USER#") == []  # both sessions ended
    assert first.call("GET /auth/session")["statusCode"] == 200
    assert json.loads(first.call("GET /auth/session")["body"]).get("authenticated") is False


@pytest.mark.parametrize("sub", [" ", "\t", "   "])
def test_a_whitespace_sub_is_refused(sub: str) -> None:
    raw = base64.urlsafe_b64encode(sub.encode()).decode().rstrip("=")
    secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    assert SessionKey.decode(f"v1.{raw}.{secret}") is None


def test_misconfiguration_body_names_no_variable(hitkey: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    from testkit.functions import handler_for

    monkeypatch.delenv("SESSION_TABLE", raising=False)
    from local.gateway import build_event
    from local.lambda_runtime import LambdaContext

    handler = handler_for("GET /auth/login").using(lambda: __import__("hitkey_bff.deps").deps.Deps.from_env())
    answer = handler(build_event("GET", "/auth/login", route_key="GET /auth/login"), LambdaContext("LoginFunction"))
    assert answer["statusCode"] == 503
    body = json.loads(answer["body"])
    assert body["error"] == "missing_config"
    assert not INTERNALS.search(body["message"]), body


def test_the_user_snapshot_is_standard_claims_and_bounded(bff: Bff, hitkey: Emulator, aws: Aws) -> None:
    """A userinfo answer with extra and oversized claims: the session stores, and
    ``/auth/session`` returns, only standard claims within the caps."""
    from hitkey_bff import claims, sessions
    from hitkey_bff.hitkey import TokenSet

    deps = bff.deps
    user = {
        "sub": SEEDED_USERS[0].sub,
        "name": "Ada",
        "email": "ada@example.com",
        "email_verified": True,
        "picture": "https://example.com/" + "p" * 5000,  # over the per-value cap: dropped
        "groups": ["admin"] * 1000,  # not a standard claim: dropped
        "internal_note": "x" * 50_000,
        **{f"custom_{i}": "y" * 400 for i in range(20)},
    }
    key = SessionKey.new(SEEDED_USERS[0].sub)
    sessions.create(deps, key, TokenSet("hkat_x", "hkrt_x", 3600, "openid"), user)
    (item,) = items(aws, "USER#")
    stored = json.loads(item["user"]["S"])
    assert stored == {"sub": user["sub"], "name": "Ada", "email": "ada@example.com", "email_verified": True}
    browser = Browser(bff.invoke)
    browser.jar[SESSION] = key.encode()
    answer = browser.call("GET /auth/session")
    assert json.loads(answer["body"])["user"] == stored
    many = {"sub": "s", **{name: "v" * claims.MAX_VALUE for name in claims.STRING_CLAIMS if name != "sub"}}
    assert len(json.dumps(claims.snapshot(many))) <= claims.MAX_TOTAL


def test_no_error_body_names_an_internal(bff: Bff, hitkey: Emulator, aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every error an anonymous or signed-in caller can provoke carries a stable code and a
    generic message: no ARN, no environment variable name, no exception class."""
    answers = []
    browser = signed_in(bff)
    for kind in ("error500", "malformed", "html", "invalid_client", "hang"):
        hitkey.inject_fault("token", kind, 1, seconds=0.1)
        answers.append(browser.call("POST /auth/refresh"))
    hitkey.inject_fault("userinfo", "error500")
    answers.append(browser.call("GET /auth/userinfo"))
    answers += [Browser(bff.invoke).call("GET /auth/userinfo"), browser.call("GET /auth/session", csrf=False)]
    answers.append(Browser(bff.invoke).call("GET /auth/login", "return_to=" + "x" * 5000))
    bff.configure(api_url="http://127.0.0.1:9")  # nothing listens: unreachable
    answers.append(browser.call("POST /auth/refresh"))
    aws.session.client("secretsmanager").delete_secret(
        SecretId=aws.resources.secret_id, ForceDeleteWithoutRecovery=True
    )
    bff.configure(api_url=hitkey.base_url)
    answers.append(browser.call("POST /auth/refresh"))  # the secret is gone: its ARN must not show
    monkeypatch.delenv("SESSION_TABLE", raising=False)
    from testkit.functions import handler_for

    cold = handler_for("GET /auth/session").using(lambda: __import__("hitkey_bff.deps").deps.Deps.from_env())
    from local.gateway import build_event
    from local.lambda_runtime import LambdaContext

    answers.append(cold(build_event("GET", "/auth/session", route_key="GET /auth/session"), LambdaContext("S")))
    errors = [a for a in answers if a["statusCode"] >= 400]
    assert {a["statusCode"] for a in errors} >= {401, 403, 502, 503}
    for answer in errors:
        payload = json.loads(answer["body"])
        assert set(payload) == {"error", "message"}, payload
        assert not INTERNALS.search(payload["message"]), payload


@pytest.mark.parametrize(
    ("page", "headers"),
    [
        ("http://127.0.0.1:3000", {}),  # the app opened on the wrong host: Origin differs
        ("https://app.example.com", {"sec-fetch-site": "cross-site"}),  # a cross-site fetch
    ],
)
def test_origin_refusal_names_the_expected_origin_and_nothing_else(
    bff: Bff, hitkey: Emulator, aws: Aws, page: str, headers: dict[str, str]
) -> None:
    """A developer whose POSTs get 403 learns which origin the BFF expects (APP_ORIGIN's value,
    public: the app's own address) - and nothing else: no setting's name or value, no secret,
    not what the page sent."""
    browser = signed_in(bff)  # a live session: the refusal comes before it is even read
    browser.origin = page
    response = browser.call("POST /auth/refresh", headers=headers)
    refused = json.loads(response["body"])
    settings = bff.settings
    assert response["statusCode"] == 403 and refused["error"] == "origin_not_allowed"
    assert refused["message"].endswith(f"only {settings.app_origin} may call")
    private = [settings.client_id, settings.client_secret_id, settings.session_table, settings.kms_key_id, "APP_"]
    private += [browser.jar[SESSION], CLIENT_SECRET]
    assert not [value for value in private if value and value in response["body"]]
    if page != settings.app_origin:
        assert page not in refused["message"]  # the sent Origin is not echoed
