"""The HitKey emulator over real HTTP: the quick-start contract, its rules and its test knobs."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import re
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from local.emulator import Emulator
from local.emulator.faults import FAULT_KINDS
from local.emulator.pages import AUTHORIZE_PARAMS
from local.emulator.users import SEEDED_USERS

pytestmark = pytest.mark.integration

ADMIN = "test-admin-token"
REDIRECT = "http://localhost:3000/auth/callback"
ADA, ALAN, GRACE = SEEDED_USERS
TOKEN_KEYS = {"access_token", "refresh_token", "token_type", "expires_in", "scope"}
CLAIM_KEYS = {"sub", "email", "email_verified", "name", "given_name", "family_name", "display_name"}
REPO_ROOT = Path(__file__).resolve().parents[2]
# Traffic here is plain HTTP; one shared context spares each client re-reading the CA bundle (~30 ms).
TLS = ssl.create_default_context()


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def emu(clock: FakeClock) -> Iterator[Emulator]:
    emulator = Emulator(admin_token=ADMIN, clock=clock)
    emulator.start(host="127.0.0.1", port=0)
    yield emulator
    emulator.stop()


@pytest.fixture
def client(emu: Emulator) -> dict[str, str]:
    return emu.register_client(name="Demo <App>", redirect_uri=REDIRECT)


@pytest.fixture
def http(emu: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emu.base_url, timeout=5.0, verify=TLS) as session:
        yield session


def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN}"}


def authorize_params(client: dict[str, str], **overrides: str) -> dict[str, str]:
    params = {
        "client_id": client["client_id"],
        "redirect_uri": client["redirect_uri"],
        "response_type": "code",
        "state": "state-123",
        "scope": "openid profile email",
    }
    params.update(overrides)
    return {key: value for key, value in params.items() if value is not None}


def redirect_query(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    location = httpx.URL(response.headers["location"])
    assert str(location.copy_with(query=None)) == REDIRECT
    return dict(location.params)


def sign_in(http: httpx.Client, client: dict[str, str], decision: str = "allow", **fields: str) -> httpx.Response:
    """Load the page (as a browser would), then submit the form."""
    params = authorize_params(client, **{k: v for k, v in fields.items() if k in AUTHORIZE_PARAMS})
    assert http.get("/", params=params).status_code == 200
    form = {**params, "decision": decision, "sub": ADA.sub}
    form.update({k: v for k, v in fields.items() if k not in AUTHORIZE_PARAMS})
    return http.post("/", data=form)


def code_grant(client: dict[str, str], code: str, verifier: str | None = None, **overrides: str) -> dict[str, str]:
    body = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": client["client_id"],
        "client_secret": client["client_secret"],
        "redirect_uri": client["redirect_uri"],
    }
    if verifier is not None:
        body["code_verifier"] = verifier
    body.update(overrides)
    return body


def refresh_grant(client: dict[str, str], refresh_token: str) -> dict[str, str]:
    return {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": client["client_id"],
        "client_secret": client["client_secret"],
    }


def login(http: httpx.Client, client: dict[str, str], **fields: str) -> dict[str, Any]:
    code = redirect_query(sign_in(http, client, **fields))["code"]
    response = http.post("/oauth/token", json=code_grant(client, code))
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


def userinfo(http: httpx.Client, access_token: str) -> httpx.Response:
    return http.get("/oauth/userinfo", headers={"Authorization": f"Bearer {access_token}"})


def assert_oauth_error(response: httpx.Response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["error"] == error
    assert isinstance(body["error_description"], str)


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


# -- authorize -------------------------------------------------------------------------------


def test_sign_in_page_offers_seeded_users_and_stable_controls(http: httpx.Client, client: dict[str, str]) -> None:
    response = http.get("/", params=authorize_params(client))

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    page = response.text
    for user in SEEDED_USERS:
        assert f'data-sub="{user.sub}"' in page
        assert user.name in page
    for element in ('id="allow"', 'id="deny"', 'id="email"', 'id="name"', 'for="email"', 'for="name"'):
        assert element in page
    assert '<input type="hidden" name="state" value="state-123">' in page
    assert "Demo &lt;App&gt;" in page


def test_sign_in_page_escapes_everything_it_echoes(http: httpx.Client, client: dict[str, str]) -> None:
    state = '"><script>alert(1)</script>'

    page = http.get("/", params=authorize_params(client, state=state)).text

    assert "<script>" not in page
    assert "&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in page


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"redirect_uri": REDIRECT + "/"}, "not the one registered"),
        ({"redirect_uri": "http://localhost:3001/auth/callback"}, "not the one registered"),
        ({"redirect_uri": "https://evil.example/auth/callback"}, "not the one registered"),
        ({"redirect_uri": REDIRECT + "?x=1"}, "not the one registered"),
        ({"redirect_uri": None}, "not the one registered"),
        ({"client_id": "0" * 32}, "no application"),
        ({"client_id": None}, "no client_id"),
        ({"response_type": "token"}, "response_type"),
        ({"state": None}, "no state"),
    ],
)
def test_authorize_errors_are_shown_on_the_page_never_redirected(
    http: httpx.Client, client: dict[str, str], overrides: dict[str, Any], message: str
) -> None:
    params = authorize_params(client, **overrides)

    for response in (http.get("/", params=params), http.post("/", data={**params, "decision": "allow"})):
        assert response.status_code == 400
        assert "location" not in response.headers
        assert response.headers["content-type"].startswith("text/html")
        assert message in response.text
        assert 'id="allow"' not in response.text


def test_unknown_scope_redirects_with_invalid_scope(http: httpx.Client, client: dict[str, str]) -> None:
    response = http.get("/", params=authorize_params(client, scope="openid admin"))

    query = redirect_query(response)
    assert query["error"] == "invalid_scope"
    assert query["state"] == "state-123"
    assert "code" not in query


def test_allow_redirects_with_a_code_and_the_state(http: httpx.Client, client: dict[str, str]) -> None:
    query = redirect_query(sign_in(http, client, state="a b&c"))

    assert query["state"] == "a b&c"
    assert query["code"].startswith("hkac_")
    assert set(query) == {"code", "state"}


def test_deny_redirects_with_access_denied_and_the_state(http: httpx.Client, client: dict[str, str]) -> None:
    query = redirect_query(sign_in(http, client, decision="deny"))

    assert query == {"error": "access_denied", "state": "state-123"}


def test_redirect_keeps_a_query_the_registered_uri_already_has(emu: Emulator, http: httpx.Client) -> None:
    registered = REDIRECT + "?tenant=7"
    client = emu.register_client(name="Q", redirect_uri=registered)
    params = authorize_params(client, redirect_uri=registered)

    response = http.post("/", data={**params, "decision": "allow", "sub": ALAN.sub})

    location = httpx.URL(response.headers["location"])
    assert location.params["tenant"] == "7"
    assert location.params["state"] == "state-123"


def test_typed_email_signs_in_a_stable_user(http: httpx.Client, client: dict[str, str]) -> None:
    first = login(http, client, email="Someone@Example.org", name="Katherine  Johnson", sub="")
    second = login(http, client, email="someone@example.org", name="Katherine Johnson")

    claims = userinfo(http, first["access_token"]).json()
    again = userinfo(http, second["access_token"]).json()
    expected_sub = str(uuid.uuid5(uuid.UUID("7ffb191e-7ffa-4394-bad7-54fcb0bc6fac"), "someone@example.org"))
    assert claims["sub"] == again["sub"] == expected_sub
    assert claims["email"] == "someone@example.org"
    assert (claims["given_name"], claims["family_name"]) == ("Katherine", "Johnson")


def test_typed_email_of_a_seeded_user_is_that_user(http: httpx.Client, client: dict[str, str]) -> None:
    tokens = login(http, client, email="grace@example.com", name="Someone Else")

    assert userinfo(http, tokens["access_token"]).json()["sub"] == GRACE.sub


def test_bare_post_signs_in_the_first_seeded_user_and_unknown_sub_is_refused(
    http: httpx.Client, client: dict[str, str]
) -> None:
    params = authorize_params(client)
    code = redirect_query(http.post("/", data={**params, "decision": "allow"}))["code"]
    tokens = http.post("/oauth/token", json=code_grant(client, code)).json()

    unknown = http.post("/", data={**params, "decision": "allow", "sub": str(uuid.uuid4())})

    assert userinfo(http, tokens["access_token"]).json()["sub"] == ADA.sub
    assert unknown.status_code == 400
    assert "Choose a test user" in unknown.text


def test_invalid_typed_email_rerenders_the_form(http: httpx.Client, client: dict[str, str]) -> None:
    response = sign_in(http, client, email="not-an-email", name="<b>X</b>")

    assert response.status_code == 400
    assert "Enter a valid email address." in response.text
    assert 'id="allow"' in response.text
    assert 'value="&lt;b&gt;X&lt;/b&gt;"' in response.text


# -- token: authorization_code ---------------------------------------------------------------


def test_code_exchange_returns_exactly_the_documented_shape(http: httpx.Client, client: dict[str, str]) -> None:
    code = redirect_query(sign_in(http, client, scope="openid email"))["code"]

    response = http.post("/oauth/token", json=code_grant(client, code))

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    tokens = response.json()
    assert set(tokens) == TOKEN_KEYS
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 3600
    assert tokens["scope"] == "openid email"
    assert re.fullmatch(r"hkat_[A-Za-z0-9_-]{43}", tokens["access_token"])
    assert re.fullmatch(r"hkrt_[A-Za-z0-9_-]{43}", tokens["refresh_token"])


def test_userinfo_returns_the_documented_claims(http: httpx.Client, client: dict[str, str]) -> None:
    tokens = login(http, client)

    response = userinfo(http, tokens["access_token"])

    assert response.status_code == 200
    assert response.json() == {
        "sub": ADA.sub,
        "email": "ada@example.com",
        "email_verified": True,
        "name": "Ada Lovelace",
        "given_name": "Ada",
        "family_name": "Lovelace",
        "display_name": "Ada Lovelace",
    }
    assert set(response.json()) == CLAIM_KEYS


def test_code_is_single_use_and_reuse_revokes_its_tokens(http: httpx.Client, client: dict[str, str]) -> None:
    code = redirect_query(sign_in(http, client))["code"]
    tokens = http.post("/oauth/token", json=code_grant(client, code)).json()
    assert userinfo(http, tokens["access_token"]).status_code == 200

    replay = http.post("/oauth/token", json=code_grant(client, code))

    assert_oauth_error(replay, 400, "invalid_grant")
    assert userinfo(http, tokens["access_token"]).status_code == 401
    assert_oauth_error(
        http.post("/oauth/token", json=refresh_grant(client, tokens["refresh_token"])), 400, "invalid_grant"
    )


def test_code_is_bound_to_redirect_uri_and_consumed_by_a_failed_attempt(
    http: httpx.Client, client: dict[str, str]
) -> None:
    code = redirect_query(sign_in(http, client))["code"]

    wrong = http.post("/oauth/token", json=code_grant(client, code, redirect_uri=REDIRECT + "/"))
    right = http.post("/oauth/token", json=code_grant(client, code))

    assert_oauth_error(wrong, 400, "invalid_grant")
    assert_oauth_error(right, 400, "invalid_grant")


def test_code_is_bound_to_its_client(emu: Emulator, http: httpx.Client, client: dict[str, str]) -> None:
    other = emu.register_client(name="Other", redirect_uri=REDIRECT)
    code = redirect_query(sign_in(http, client))["code"]

    response = http.post("/oauth/token", json=code_grant(other, code))

    assert_oauth_error(response, 400, "invalid_grant")


def test_code_expires_after_60_seconds(http: httpx.Client, client: dict[str, str], clock: FakeClock) -> None:
    fresh = redirect_query(sign_in(http, client))["code"]
    stale = redirect_query(sign_in(http, client))["code"]
    clock.now += 59
    assert http.post("/oauth/token", json=code_grant(client, fresh)).status_code == 200

    clock.now += 1

    assert_oauth_error(http.post("/oauth/token", json=code_grant(client, stale)), 400, "invalid_grant")


def test_unknown_code_is_invalid_grant(http: httpx.Client, client: dict[str, str]) -> None:
    response = http.post("/oauth/token", json=code_grant(client, "hkac_nope"))

    assert_oauth_error(response, 400, "invalid_grant")


# -- PKCE ------------------------------------------------------------------------------------


def pkce_code(http: httpx.Client, client: dict[str, str], verifier: str, method: str = "S256") -> str:
    challenge = s256(verifier) if method == "S256" else verifier
    response = sign_in(http, client, code_challenge=challenge, code_challenge_method=method)
    return redirect_query(response)["code"]


def test_pkce_s256_accepts_the_right_verifier(http: httpx.Client, client: dict[str, str]) -> None:
    verifier = secrets.token_urlsafe(48)
    code = pkce_code(http, client, verifier)

    assert http.post("/oauth/token", json=code_grant(client, code, verifier)).status_code == 200


@pytest.mark.parametrize("verifier", [None, "x" * 43, "short"])
def test_pkce_s256_rejects_a_wrong_or_missing_verifier(
    http: httpx.Client, client: dict[str, str], verifier: str | None
) -> None:
    code = pkce_code(http, client, secrets.token_urlsafe(48))

    response = http.post("/oauth/token", json=code_grant(client, code, verifier))

    assert_oauth_error(response, 400, "invalid_grant")


def test_pkce_plain_compares_the_verifier_itself(http: httpx.Client, client: dict[str, str]) -> None:
    verifier = secrets.token_urlsafe(48)
    good, bad = pkce_code(http, client, verifier, "plain"), pkce_code(http, client, verifier, "plain")

    assert http.post("/oauth/token", json=code_grant(client, good, verifier)).status_code == 200
    assert_oauth_error(http.post("/oauth/token", json=code_grant(client, bad, s256(verifier))), 400, "invalid_grant")


def test_a_verifier_without_a_challenge_is_rejected(http: httpx.Client, client: dict[str, str]) -> None:
    code = redirect_query(sign_in(http, client))["code"]

    response = http.post("/oauth/token", json=code_grant(client, code, secrets.token_urlsafe(48)))

    assert_oauth_error(response, 400, "invalid_grant")


@pytest.mark.parametrize(
    "params",
    [
        {"code_challenge": "a" * 43, "code_challenge_method": "S512"},
        {"code_challenge": "too-short", "code_challenge_method": "S256"},
        {"code_challenge_method": "S256"},
    ],
)
def test_bad_pkce_parameters_redirect_with_invalid_request(
    http: httpx.Client, client: dict[str, str], params: dict[str, str]
) -> None:
    query = redirect_query(http.get("/", params=authorize_params(client, **params)))

    assert query["error"] == "invalid_request"
    assert query["state"] == "state-123"


# -- token: client authentication and request format -----------------------------------------


@pytest.mark.parametrize(
    "credentials",
    [
        {"client_secret": "wrong"},
        {"client_id": "f" * 32},
        {"client_secret": None},
        {"client_id": None},
    ],
)
def test_bad_client_credentials_are_invalid_client(
    http: httpx.Client, client: dict[str, str], credentials: dict[str, Any]
) -> None:
    code = redirect_query(sign_in(http, client))["code"]
    body = {k: v for k, v in {**code_grant(client, code), **credentials}.items() if v is not None}

    response = http.post("/oauth/token", json=body)

    assert_oauth_error(response, 401, "invalid_client")


def test_token_endpoint_requires_a_json_body(http: httpx.Client, client: dict[str, str]) -> None:
    code = redirect_query(sign_in(http, client))["code"]

    form = http.post("/oauth/token", data=code_grant(client, code))
    not_json = http.post("/oauth/token", content=b"{", headers={"Content-Type": "application/json"})
    not_object = http.post("/oauth/token", json=["grant_type"])

    assert_oauth_error(form, 400, "invalid_request")
    assert_oauth_error(not_json, 400, "invalid_request")
    assert_oauth_error(not_object, 400, "invalid_request")
    assert http.post("/oauth/token", json=code_grant(client, code)).status_code == 200


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"grant_type": "password"}, "unsupported_grant_type"),
        ({"grant_type": None}, "invalid_request"),
        ({"code": None}, "invalid_request"),
        ({"redirect_uri": None}, "invalid_request"),
    ],
)
def test_malformed_grants_are_rejected(
    http: httpx.Client, client: dict[str, str], changes: dict[str, Any], error: str
) -> None:
    body = {k: v for k, v in {**code_grant(client, "hkac_x"), **changes}.items() if v is not None}

    assert_oauth_error(http.post("/oauth/token", json=body), 400, error)


# -- token: refresh rotation -----------------------------------------------------------------


def test_refresh_rotates_the_pair(http: httpx.Client, client: dict[str, str]) -> None:
    first = login(http, client)

    response = http.post("/oauth/token", json=refresh_grant(client, first["refresh_token"]))

    assert response.status_code == 200
    second = response.json()
    assert set(second) == TOKEN_KEYS
    assert second["access_token"] != first["access_token"]
    assert second["refresh_token"] != first["refresh_token"]
    assert userinfo(http, second["access_token"]).json()["sub"] == ADA.sub
    assert_oauth_error(
        http.post("/oauth/token", json=refresh_grant(client, first["refresh_token"])), 400, "invalid_grant"
    )


def test_reusing_a_rotated_refresh_token_revokes_the_family(http: httpx.Client, client: dict[str, str]) -> None:
    first = login(http, client)
    second = http.post("/oauth/token", json=refresh_grant(client, first["refresh_token"])).json()
    third = http.post("/oauth/token", json=refresh_grant(client, second["refresh_token"])).json()
    other_login = login(http, client)
    assert userinfo(http, third["access_token"]).status_code == 200

    reuse = http.post("/oauth/token", json=refresh_grant(client, first["refresh_token"]))

    assert_oauth_error(reuse, 400, "invalid_grant")
    assert userinfo(http, third["access_token"]).status_code == 401
    assert userinfo(http, first["access_token"]).status_code == 401
    assert_oauth_error(
        http.post("/oauth/token", json=refresh_grant(client, third["refresh_token"])), 400, "invalid_grant"
    )
    assert userinfo(http, other_login["access_token"]).status_code == 200


def test_refresh_token_is_bound_to_its_client(emu: Emulator, http: httpx.Client, client: dict[str, str]) -> None:
    other = emu.register_client(name="Other", redirect_uri=REDIRECT)
    tokens = login(http, client)

    stolen = http.post("/oauth/token", json=refresh_grant(other, tokens["refresh_token"]))

    assert_oauth_error(stolen, 400, "invalid_grant")
    assert http.post("/oauth/token", json=refresh_grant(client, tokens["refresh_token"])).status_code == 200


# -- userinfo --------------------------------------------------------------------------------


def test_expired_access_token_is_401_but_refresh_still_works(
    emu: Emulator, http: httpx.Client, client: dict[str, str]
) -> None:
    tokens = login(http, client)

    assert emu.expire_access_tokens() == 1
    response = userinfo(http, tokens["access_token"])

    assert_oauth_error(response, 401, "invalid_token")
    assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    renewed = http.post("/oauth/token", json=refresh_grant(client, tokens["refresh_token"])).json()
    assert userinfo(http, renewed["access_token"]).status_code == 200


def test_access_token_expires_after_its_ttl(http: httpx.Client, client: dict[str, str], clock: FakeClock) -> None:
    tokens = login(http, client)
    clock.now += 3599
    assert userinfo(http, tokens["access_token"]).status_code == 200

    clock.now += 1

    assert_oauth_error(userinfo(http, tokens["access_token"]), 401, "invalid_token")


@pytest.mark.parametrize(
    "headers",
    [{"Authorization": "Bearer hkat_unknown"}, {"Authorization": "Basic abc"}, {}],
)
def test_userinfo_rejects_unknown_or_missing_tokens(http: httpx.Client, headers: dict[str, str]) -> None:
    response = http.get("/oauth/userinfo", headers=headers)

    assert_oauth_error(response, 401, "invalid_token")
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


# -- client registration ---------------------------------------------------------------------


def test_register_client_over_http(http: httpx.Client) -> None:
    response = http.post("/oauth/clients", json={"name": "My App", "redirect_uri": REDIRECT}, headers=admin_headers())

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "name", "client_id", "client_secret", "redirect_uri"}
    uuid.UUID(body["id"])
    assert re.fullmatch(r"[0-9a-f]{32}", body["client_id"])
    assert re.fullmatch(r"[0-9a-f]{64,}", body["client_secret"])
    assert (body["name"], body["redirect_uri"]) == ("My App", REDIRECT)
    assert login(http, body)["token_type"] == "Bearer"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": ADMIN}])
def test_register_client_requires_the_admin_token(http: httpx.Client, headers: dict[str, str]) -> None:
    response = http.post("/oauth/clients", json={"name": "X", "redirect_uri": REDIRECT}, headers=headers)

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


@pytest.mark.parametrize(
    "body",
    [{"name": "X"}, {"name": "", "redirect_uri": REDIRECT}, {"name": "X", "redirect_uri": "/relative"}],
)
def test_register_client_validates_its_body(http: httpx.Client, body: dict[str, str]) -> None:
    response = http.post("/oauth/clients", json=body, headers=admin_headers())

    assert_oauth_error(response, 400, "invalid_request")


def test_register_client_in_process_accepts_fixed_credentials(emu: Emulator, http: httpx.Client) -> None:
    client = emu.register_client(name="Fixed", redirect_uri=REDIRECT, client_id="demo", client_secret="s3cret")

    assert (client["client_id"], client["client_secret"]) == ("demo", "s3cret")
    assert login(http, client)["scope"] == "openid profile email"


# -- faults ----------------------------------------------------------------------------------


def test_error500_fault_then_normal_service(emu: Emulator, http: httpx.Client, client: dict[str, str]) -> None:
    body = refresh_grant(client, login(http, client)["refresh_token"])
    emu.inject_fault("token", "error500", count=2)

    first, second, third = (http.post("/oauth/token", json=body) for _ in range(3))

    assert first.status_code == second.status_code == 500
    assert first.json()["error"] == "server_error"
    assert third.status_code == 200


def test_html_fault_is_a_502_html_page(emu: Emulator, http: httpx.Client) -> None:
    emu.inject_fault("userinfo", "html")

    response = http.get("/oauth/userinfo")

    assert response.status_code == 502
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>502 Bad Gateway</h1>" in response.text


def test_malformed_fault_is_invalid_json_labelled_json(emu: Emulator, http: httpx.Client) -> None:
    emu.inject_fault("token", "malformed")

    response = http.post("/oauth/token", json={})

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        response.json()


@pytest.mark.parametrize(
    ("endpoint", "kind", "status", "error"),
    [
        ("token", "invalid_grant", 400, "invalid_grant"),
        ("token", "invalid_client", 401, "invalid_client"),
        ("userinfo", "unauthorized", 401, "invalid_token"),
    ],
)
def test_oauth_error_faults_preempt_a_valid_request(
    emu: Emulator, http: httpx.Client, client: dict[str, str], endpoint: str, kind: str, status: int, error: str
) -> None:
    tokens = login(http, client)
    emu.inject_fault(endpoint, kind)

    def call() -> httpx.Response:
        if endpoint == "token":
            return http.post("/oauth/token", json=refresh_grant(client, tokens["refresh_token"]))
        return userinfo(http, tokens["access_token"])

    assert_oauth_error(call(), status, error)
    assert call().status_code == 200


def test_authorize_fault_hits_the_sign_in_page(emu: Emulator, http: httpx.Client, client: dict[str, str]) -> None:
    emu.inject_fault("authorize", "error500")

    assert http.get("/", params=authorize_params(client)).status_code == 500
    assert http.get("/", params=authorize_params(client)).status_code == 200


def test_hang_fault_answers_nothing(emu: Emulator, client: dict[str, str]) -> None:
    emu.inject_fault("userinfo", "hang", count=2, seconds=1)

    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(emu.base_url + "/oauth/userinfo", timeout=0.3)
    # held for its 1 s, then closed without an answer (not a read timeout: it ended before 3 s)
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(emu.base_url + "/oauth/userinfo", timeout=3)

    assert time.monotonic() - started >= 1.0
    assert emu.counters["userinfo"] == 2


def test_stop_does_not_wait_for_a_hung_request() -> None:
    emulator = Emulator(admin_token=ADMIN)
    url = emulator.start()
    emulator.inject_fault("userinfo", "hang")  # default: 30 s
    errors: list[Exception] = []

    def call() -> None:
        try:
            httpx.get(url + "/oauth/userinfo", timeout=10)
        except httpx.HTTPError as error:
            errors.append(error)

    caller = threading.Thread(target=call)
    caller.start()
    time.sleep(0.2)
    emulator.stop()
    caller.join(timeout=5)

    assert not caller.is_alive()  # ended within the join's 5 s, not at the hang's 30 s
    assert len(errors) == 1
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/_emulator/health", timeout=1)


def test_delay_fault_answers_normally_and_concurrently(
    emu: Emulator, http: httpx.Client, client: dict[str, str]
) -> None:
    tokens = login(http, client)
    emu.inject_fault("userinfo", "delay", count=3, seconds=0.5)
    statuses: list[int] = []
    spans: list[tuple[float, float]] = []

    def call() -> None:
        started = time.monotonic()
        statuses.append(httpx.get(emu.base_url + "/oauth/userinfo", headers=bearer(tokens), timeout=5).status_code)
        spans.append((started, time.monotonic()))

    callers = [threading.Thread(target=call) for _ in range(3)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()

    assert statuses == [200, 200, 200]
    assert all(end - start >= 0.5 for start, end in spans)  # each one delayed
    assert max(start for start, _ in spans) < min(end for _, end in spans)  # all held at once


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def test_faults_queue_in_order(emu: Emulator, http: httpx.Client) -> None:
    emu.inject_fault("userinfo", "error500")
    emu.inject_fault("userinfo", "html")

    statuses = [http.get("/oauth/userinfo").status_code for _ in range(3)]

    assert statuses == [500, 502, 401]


def test_inject_fault_validates_its_arguments(emu: Emulator) -> None:
    with pytest.raises(ValueError, match="endpoint"):
        emu.inject_fault("nowhere", "error500")
    with pytest.raises(ValueError, match="kind"):
        emu.inject_fault("token", "explode")
    with pytest.raises(ValueError, match="count"):
        emu.inject_fault("token", "error500", count=0)
    assert len(FAULT_KINDS) == 9  # trickle joined the eight


# -- counters --------------------------------------------------------------------------------


def test_counters_count_every_call_per_endpoint_and_grant(
    emu: Emulator, http: httpx.Client, client: dict[str, str]
) -> None:
    tokens = login(http, client)
    http.post("/oauth/token", json=refresh_grant(client, tokens["refresh_token"]))
    emu.inject_fault("token", "error500")
    http.post("/oauth/token", json=refresh_grant(client, "hkrt_faulted"))
    http.post("/oauth/token", content=b"not json")
    userinfo(http, tokens["access_token"])
    http.post("/oauth/clients", json={}, headers=admin_headers())

    assert emu.counters == {
        "authorize": 1,
        "authorize.decision": 1,
        "clients": 1,
        "token": 4,
        "token.authorization_code": 1,
        "token.refresh_token": 2,
        "userinfo": 1,
    }

    emu.reset_counters()

    assert set(emu.counters.values()) == {0}


# -- HTTP knobs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/_emulator/counters"),
        ("POST", "/_emulator/reset"),
        ("POST", "/_emulator/faults"),
        ("POST", "/_emulator/expire-access-tokens"),
        ("POST", "/_emulator/config"),
    ],
)
def test_knobs_require_the_admin_token(http: httpx.Client, method: str, path: str) -> None:
    response = http.request(method, path, json={}, headers={"Authorization": "Bearer nope"})

    assert_oauth_error(response, 401, "invalid_token")


def test_http_knobs_drive_the_emulator(http: httpx.Client, client: dict[str, str]) -> None:
    tokens = login(http, client)
    assert http.get("/_emulator/health").json() == {"ok": True}

    fault = {"endpoint": "userinfo", "kind": "error500", "count": 1}
    assert http.post("/_emulator/faults", json=fault, headers=admin_headers()).status_code == 200
    assert userinfo(http, tokens["access_token"]).status_code == 500
    counters = http.get("/_emulator/counters", headers=admin_headers()).json()
    assert counters["userinfo"] == 1
    assert counters["token.authorization_code"] == 1

    http.post("/_emulator/faults", json=fault, headers=admin_headers())
    assert http.post("/_emulator/reset", headers=admin_headers()).json() == {"ok": True}
    assert userinfo(http, tokens["access_token"]).status_code == 200
    assert http.get("/_emulator/counters", headers=admin_headers()).json()["userinfo"] == 1

    expired = http.post("/_emulator/expire-access-tokens", headers=admin_headers())
    assert expired.json() == {"expired": 1}
    assert userinfo(http, tokens["access_token"]).status_code == 401

    config = http.post("/_emulator/config", json={"access_token_ttl": 120}, headers=admin_headers())
    assert config.json() == {"access_token_ttl": 120}
    assert login(http, client)["expires_in"] == 120


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/_emulator/faults", {"endpoint": "token", "kind": "explode"}),
        ("/_emulator/faults", {"endpoint": "token", "kind": "hang", "seconds": -1}),
        ("/_emulator/config", {"access_token_ttl": "soon"}),
        ("/_emulator/config", {"refresh_token_ttl": 5}),
    ],
)
def test_knobs_reject_bad_input(http: httpx.Client, path: str, body: dict[str, Any]) -> None:
    assert_oauth_error(http.post(path, json=body, headers=admin_headers()), 400, "invalid_request")


def test_unknown_paths_and_methods(http: httpx.Client) -> None:
    assert http.get("/oauth/nope").status_code == 404
    response = http.get("/oauth/token")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


@pytest.mark.parametrize(
    ("framing", "status"),
    [("Transfer-Encoding: chunked", 411), ("Content-Length: 12x", 400), ("Content-Length: 70000", 413)],
)
def test_bodies_need_a_sane_content_length(emu: Emulator, framing: str, status: int) -> None:
    """A chunked body, a bad Content-Length or one over 64 KiB is refused before the endpoint runs."""
    request = f"POST /oauth/token HTTP/1.1\r\nHost: hitkey\r\n{framing}\r\nConnection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", int(emu.base_url.rsplit(":", 1)[1])), timeout=5) as raw:
        raw.sendall(request.encode())
        head, _, body = b"".join(iter(lambda: raw.recv(65536), b"")).partition(b"\r\n\r\n")
    assert head.split(b" ", 2)[1] == str(status).encode()
    assert json.loads(body)["error"] == "invalid_request"
    assert emu.counters["token"] == 0


# -- operations ------------------------------------------------------------------------------


def test_verbose_logging_never_shows_tokens_or_codes(capsys: pytest.CaptureFixture[str]) -> None:
    emulator = Emulator(admin_token=ADMIN, verbose=True)
    emulator.start()
    try:
        client = emulator.register_client(name="Log", redirect_uri=REDIRECT)
        with httpx.Client(base_url=emulator.base_url, timeout=5, verify=TLS) as session:
            response = sign_in(session, client)
            code = redirect_query(response)["code"]
            tokens = session.post("/oauth/token", json=code_grant(client, code)).json()
            userinfo(session, tokens["access_token"])
    finally:
        emulator.stop()

    logged = capsys.readouterr().err
    assert "POST /oauth/token -> 200" in logged
    for value in (code, tokens["access_token"], tokens["refresh_token"], client["client_secret"], "state-123"):
        assert value not in logged


def test_stop_is_idempotent_and_releases_the_port() -> None:
    emulator = Emulator()
    url = emulator.start()
    emulator.stop()
    emulator.stop()

    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/_emulator/health", timeout=1)


def test_runs_standalone_and_stops_on_sigterm() -> None:
    command = [
        sys.executable,
        "-m",
        "local.emulator",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--client-id",
        "cli-client",
        "--client-secret",
        "cli-secret",
        "--redirect-uri",
        REDIRECT,
        "--admin-token",
        ADMIN,
        "--access-token-ttl",
        "90",
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    process = subprocess.Popen(
        command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", base_url)
        client = {"client_id": "cli-client", "client_secret": "cli-secret", "redirect_uri": REDIRECT}
        with httpx.Client(base_url=base_url, timeout=5, verify=TLS) as session:
            assert login(session, client)["expires_in"] == 90
            assert session.get("/_emulator/counters", headers=admin_headers()).json()["token"] == 1
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=5)

    assert process.returncode == 0
    assert stdout == ""
    assert "cli-secret" not in stderr
    assert "Traceback" not in stderr


# -- slow answers after the rotation ---------------------------------------------------------


def _refresh_in_background(url: str, body: dict[str, str]) -> tuple[threading.Thread, list[Any]]:
    """POST the refresh on a thread, streaming: ``[(arrival, piece), ...]`` then the status."""
    received: list[Any] = []

    def call() -> None:
        try:
            with httpx.stream("POST", url + "/oauth/token", json=body, timeout=httpx.Timeout(10, read=7)) as response:
                for piece in response.iter_raw():
                    received.append((time.monotonic(), piece))
                received.append(response.status_code)
        except httpx.HTTPError as error:  # cut off: what a BFF would see
            received.append(error)

    thread = threading.Thread(target=call)
    thread.start()
    return thread, received


def test_trickle_rotates_at_once_then_sends_the_body_slowly(
    emu: Emulator, http: httpx.Client, client: dict[str, str]
) -> None:
    tokens = login(http, client)
    emu.inject_fault("token", "trickle", seconds=3)
    started = time.monotonic()
    thread, received = _refresh_in_background(emu.base_url, refresh_grant(client, tokens["refresh_token"]))
    time.sleep(0.5)
    # The body is still on its way, but HitKey has already rotated: the old token is now a reuse.
    again = http.post("/oauth/token", json=refresh_grant(client, tokens["refresh_token"]))
    assert_oauth_error(again, 400, "invalid_grant")
    assert "reused" in again.json()["error_description"]
    thread.join(timeout=10)

    *pieces, status = received
    assert status == 200
    body = json.loads(b"".join(piece for _, piece in pieces))
    assert set(body) == TOKEN_KEYS and body["refresh_token"] != tokens["refresh_token"]
    arrivals = [started] + [at for at, _ in pieces]
    assert len(pieces) >= 3  # small pieces, not one write
    assert arrivals[-1] - started >= 2.5  # spread over the requested seconds...
    assert max(b - a for a, b in itertools.pairwise(arrivals)) < 7  # ...each under httpx's read timeout


def test_delay_rotates_before_it_waits(emu: Emulator, http: httpx.Client, client: dict[str, str]) -> None:
    tokens = login(http, client)
    emu.inject_fault("token", "delay", seconds=2)
    thread, received = _refresh_in_background(emu.base_url, refresh_grant(client, tokens["refresh_token"]))
    time.sleep(0.5)
    again = http.post("/oauth/token", json=refresh_grant(client, tokens["refresh_token"]))
    assert "reused" in again.json()["error_description"]  # rotated already, answer not yet sent
    thread.join(timeout=10)
    assert received[-1] == 200
    assert set(json.loads(b"".join(piece for _, piece in received[:-1]))) == TOKEN_KEYS


def test_stop_cuts_a_trickling_answer() -> None:
    emulator = Emulator(admin_token=ADMIN)
    url = emulator.start()
    registered = emulator.register_client(name="Trickle", redirect_uri=REDIRECT)
    with httpx.Client(base_url=url, timeout=5, verify=TLS) as session:
        tokens = login(session, registered)
    emulator.inject_fault("token", "trickle", seconds=30)
    thread, received = _refresh_in_background(url, refresh_grant(registered, tokens["refresh_token"]))
    time.sleep(0.3)
    emulator.stop()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert isinstance(received[-1], httpx.RemoteProtocolError)  # cut off, never completed


def test_werkzeug_logs_no_code_or_state(caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> None:
    """werkzeug's request log would print the query string: neither the emulator's nor a bad request's."""
    caplog.set_level("DEBUG", logger="werkzeug")
    emulator = Emulator(admin_token=ADMIN, verbose=True)
    url = emulator.start()
    try:
        registered = emulator.register_client(name="Logs", redirect_uri=REDIRECT)
        with httpx.Client(base_url=url, timeout=5, verify=TLS) as session:
            response = sign_in(session, registered, state="STATE-SECRET-42")
            code = redirect_query(response)["code"]
            session.get("/", params={"code": code, "state": "STATE-SECRET-42"})
        with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1]))) as raw:
            raw.sendall(b"GET /?code=" + code.encode() + b"&state=STATE-SECRET-42 BAD/9.9\r\n\r\n")
            raw.recv(1024)
    finally:
        emulator.stop()
    werkzeug_records = [r.getMessage() for r in caplog.records if r.name.startswith("werkzeug")]
    logged = "\n".join(werkzeug_records) + "".join(capfd.readouterr())
    assert "hitkey-emulator: GET / -> 200" in logged  # the path-only line is there
    assert code not in logged and "STATE-SECRET-42" not in logged


# -- the sample API --------------------------------------------------------------------------


def test_sample_api_answers_for_the_tokens_user_only(emu: Emulator, http: httpx.Client, client: dict[str, str]) -> None:
    from local.sample_api import SampleApi

    tokens = login(http, client, sub=GRACE.sub)
    api = SampleApi(emu)
    url = api.start("127.0.0.1", 0)
    try:
        answer = httpx.post(url + "/notes/42?x=1", headers=bearer(tokens), timeout=5)
        assert answer.status_code == 200
        assert answer.json() == {"sub": GRACE.sub, "name": GRACE.name, "path": "/notes/42", "method": "POST"}
        for headers in (
            {},
            {"Authorization": "Bearer hkat_forged"},
            {"Authorization": f"Basic {tokens['access_token']}"},
        ):
            refused = httpx.get(url + "/", headers=headers, timeout=5)
            assert refused.status_code == 401 and refused.json()["error"] == "invalid_token"
        emu.expire_access_tokens()
        assert httpx.get(url + "/", headers=bearer(tokens), timeout=5).status_code == 401
    finally:
        api.stop()
