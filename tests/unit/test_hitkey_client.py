"""The HitKey client maps every upstream fault to a typed error (faults injected with respx)."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from hitkey_bff.errors import InvalidGrant, UpstreamError, UpstreamTimeout
from hitkey_bff.hitkey import HitKeyClient, new_http_client

API = "https://api.hitkey.test"
GOOD = {"access_token": "at", "refresh_token": "rt", "token_type": "Bearer", "expires_in": 3600, "scope": "openid"}


@pytest.fixture
def client() -> HitKeyClient:
    return HitKeyClient(new_http_client(), API, "cid")


@respx.mock
def test_code_exchange_posts_json_once(client: HitKeyClient) -> None:
    route = respx.post(f"{API}/oauth/token").respond(200, json=GOOD)
    tokens = client.exchange_code("code", "verifier", "https://app/auth/callback", "secret")
    assert tokens.access_token == "at" and tokens.refresh_token == "rt" and tokens.expires_in == 3600
    assert route.call_count == 1
    sent = route.calls[0].request
    assert sent.headers["content-type"] == "application/json"
    assert json.loads(sent.content) == {
        "grant_type": "authorization_code",
        "code": "code",
        "client_id": "cid",
        "client_secret": "secret",
        "redirect_uri": "https://app/auth/callback",
        "code_verifier": "verifier",
    }


@respx.mock
def test_refresh_posts_json(client: HitKeyClient) -> None:
    route = respx.post(f"{API}/oauth/token").respond(200, json={**GOOD, "refresh_token": "rt2"})
    assert client.refresh("rt1", "secret").refresh_token == "rt2"
    body = json.loads(route.calls[0].request.content)
    assert body == {
        "grant_type": "refresh_token",
        "refresh_token": "rt1",
        "client_id": "cid",
        "client_secret": "secret",
    }


@pytest.mark.parametrize(
    ("response", "error", "code"),
    [
        (httpx.Response(500, json={"error": "server_error"}), UpstreamError, "upstream_error"),
        (httpx.Response(502, text="<html>Bad Gateway</html>"), UpstreamError, "upstream_error"),
        (httpx.Response(200, text='{"access_token": "x'), UpstreamError, "upstream_bad_response"),
        (httpx.Response(200, text="<html>hi</html>"), UpstreamError, "upstream_bad_response"),
        (httpx.Response(200, json=[1, 2]), UpstreamError, "upstream_bad_response"),
        (httpx.Response(200, json={"token_type": "Bearer"}), UpstreamError, "upstream_bad_response"),
        (httpx.Response(400, text="<html>Bad</html>"), UpstreamError, "upstream_bad_response"),
        (httpx.Response(400, json={"error": "invalid_grant"}), InvalidGrant, "invalid_grant"),
        (httpx.Response(401, json={"error": "invalid_client"}), UpstreamError, "invalid_client"),
        (httpx.Response(400, json={"error": "unsupported_grant_type"}), UpstreamError, "upstream_rejected"),
    ],
)
@respx.mock
def test_token_faults(client: HitKeyClient, response: httpx.Response, error: type[Exception], code: str) -> None:
    respx.post(f"{API}/oauth/token").mock(return_value=response)
    with pytest.raises(error) as caught:
        client.refresh("rt", "secret")
    assert caught.value.code == code  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("exc", "error", "status"),
    [
        (httpx.ReadTimeout("slow"), UpstreamTimeout, 504),
        (httpx.ConnectTimeout("slow"), UpstreamTimeout, 504),
        (httpx.ConnectError("refused"), UpstreamError, 502),
        (httpx.RemoteProtocolError("eof"), UpstreamError, 502),
    ],
)
@respx.mock
def test_transport_faults(client: HitKeyClient, exc: Exception, error: type[Exception], status: int) -> None:
    route = respx.post(f"{API}/oauth/token").mock(side_effect=exc)
    with pytest.raises(error) as caught:
        client.exchange_code("c", "v", "r", "s")
    assert caught.value.status == status  # type: ignore[attr-defined]
    assert route.call_count == 1  # a code exchange is never retried


@respx.mock
def test_userinfo(client: HitKeyClient) -> None:
    route = respx.get(f"{API}/oauth/userinfo").respond(200, json={"sub": "u1", "name": "Ada"})
    assert client.userinfo("at")["sub"] == "u1"
    assert route.calls[0].request.headers["authorization"] == "Bearer at"


@respx.mock
def test_userinfo_refused_is_a_value(client: HitKeyClient) -> None:
    respx.get(f"{API}/oauth/userinfo").respond(401, json={"error": "invalid_token"})
    assert client.userinfo("at") is None


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (httpx.Response(500), UpstreamError),
        (httpx.Response(200, json={"name": "no sub"}), UpstreamError),
        (httpx.Response(200, json={"sub": "x" * 256}), UpstreamError),  # would not fit the cookie
        (httpx.Response(200, json={"sub": "a\nb"}), UpstreamError),
        (httpx.Response(200, text="not json"), UpstreamError),
    ],
)
@respx.mock
def test_userinfo_faults(client: HitKeyClient, response: httpx.Response, error: type[Exception]) -> None:
    respx.get(f"{API}/oauth/userinfo").mock(return_value=response)
    with pytest.raises(error):
        client.userinfo("at")


def test_timeouts_fit_two_calls_under_api_gateways_30_seconds() -> None:
    timeout = new_http_client().timeout
    per_call = (timeout.connect or 0) + (timeout.read or 0)
    assert 0 < 2 * per_call < 25


@respx.mock
def test_token_endpoint_error_text_is_never_the_errors_message(client: HitKeyClient) -> None:
    """HitKey's ``error``/``error_description`` is its text, not ours: the error raised (whose
    message becomes the JSON answer's) has a fixed message and the stable code."""
    hostile = "<script>alert(1)</script>" * 120
    respx.post(f"{API}/oauth/token").mock(
        return_value=httpx.Response(400, json={"error": hostile, "error_description": hostile})
    )
    with pytest.raises(UpstreamError) as caught:
        client.refresh("rt", "secret")
    assert caught.value.code == "upstream_rejected"
    assert caught.value.message == "HitKey's token endpoint refused the request"
    assert "<script" not in str(caught.value)
