"""Issue 10's smaller findings: security headers, logout with two session cookies, a blank
``sub``, and error bodies that name no internals."""

from __future__ import annotations

import base64
import json
import re
import secrets

import pytest

from hitkey_bff.cookies import SessionKey
from local.emulator import SEEDED_USERS, Emulator
from tests.conftest import Aws
from tests.harness import SESSION, Browser, current, items, signed_in

HSTS = "max-age=63072000"
CSP = "default-src 'none'; frame-ancestors 'none'"
INTERNALS = re.compile(r"arn:aws|[A-Z][A-Z0-9]*_[A-Z0-9_]+|[A-Za-z]+(Error|Exception)\b")


def test_every_response_has_hsts_and_json_has_csp(hitkey: Emulator) -> None:
    browser = Browser()
    answers = [browser.login(), browser.call("GET /auth/session"), browser.call("POST /auth/logout")]
    browser = signed_in()
    answers += [browser.call("GET /auth/session"), browser.call("GET /auth/userinfo")]
    for answer in answers:
        assert answer["headers"]["strict-transport-security"] == HSTS, answer
        if answer["headers"].get("content-type") == "application/json":
            assert answer["headers"]["content-security-policy"] == CSP


def test_logout_with_two_session_cookies_ends_both(hitkey: Emulator, aws: Aws) -> None:
    both = Browser()
    first, second = signed_in(SEEDED_USERS[0].sub), signed_in(SEEDED_USERS[1].sub)
    both.jar.clear()
    from local.gateway import build_event

    event = build_event(
        "POST",
        "/auth/logout",
        headers={"x-csrf": "1", "origin": both.origin},
        cookies=[f"{SESSION}={first.jar[SESSION]}", f"{SESSION}={second.jar[SESSION]}"],
        route_key="POST /auth/logout",
    )
    answer = current().invoke("POST /auth/logout", event)
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
    from tests.kit import handler_for

    monkeypatch.delenv("SESSION_TABLE", raising=False)
    from local.apigw import make_context
    from local.gateway import build_event

    handler = handler_for("GET /auth/login").using(lambda: __import__("hitkey_bff.deps").deps.Deps.from_env())
    answer = handler(build_event("GET", "/auth/login", route_key="GET /auth/login"), make_context("LoginFunction"))
    assert answer["statusCode"] == 503
    body = json.loads(answer["body"])
    assert body["error"] == "missing_config"
    assert not INTERNALS.search(body["message"]), body


def test_the_user_snapshot_is_standard_claims_and_bounded(hitkey: Emulator, aws: Aws) -> None:
    """A userinfo answer with extra and oversized claims: the session stores, and
    ``/auth/session`` returns, only standard claims within the caps."""
    from hitkey_bff import claims, sessions
    from hitkey_bff.hitkey import TokenSet

    deps = current().deps
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
    key = SessionKey.new(user["sub"])
    sessions.create(deps, key, TokenSet("hkat_x", "hkrt_x", 3600, "openid"), user)
    (item,) = items(aws, "USER#")
    stored = json.loads(item["user"]["S"])
    assert stored == {"sub": user["sub"], "name": "Ada", "email": "ada@example.com", "email_verified": True}
    browser = Browser()
    browser.jar[SESSION] = key.encode()
    answer = browser.call("GET /auth/session")
    assert json.loads(answer["body"])["user"] == stored
    many = {"sub": "s", **{name: "v" * claims.MAX_VALUE for name in claims.STRING_CLAIMS if name != "sub"}}
    assert len(json.dumps(claims.snapshot(many))) <= claims.MAX_TOTAL
