"""The API proxy's whole route (``ANY /api/{upstream}/{proxy+}``): the real handler on moto and
the HitKey emulator, forwarding to a real HTTP upstream on loopback that records what it gets.

The upstream accepts only live access tokens of the emulator (like local/sample_api.py), so an
expired or refused token is HitKey's own verdict; ``refuse_all`` makes it answer 401 always.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hitkey_bff.budgets import REFRESH_COOLDOWN_SECONDS
from local.emulator import Emulator
from local.emulator.users import SEEDED_USERS
from local.gateway import Gateway, build_event
from testkit.browser import Browser
from testkit.clock import ManualClock
from tests.conftest import Aws
from tests.harness import SESSION, Bff, assert_error, body, expires, items, signed_in, upstream

ROOT = Path(__file__).resolve().parents[2]
PROXY = "ANY /api/{upstream}/{proxy+}"
BASE = "ANY /api/{upstream}"
ADA = SEEDED_USERS[0]
FORGED_BEARER = "Bearer forged-" + "f" * 30


@dataclass
class Seen:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Recorder:
    emulator: Emulator
    seen: list[Seen] = field(default_factory=list)
    refuse_all: bool = False
    port: int = 0


def _handler(recorder: Recorder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "RecordingUpstream/1.0"

        def log_message(self, format: str, *args: Any) -> None:  # quiet: requests carry tokens
            pass

        def _handle(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            data = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            recorder.seen.append(Seen(self.command, self.path, headers, data))
            scheme, _, token = headers.get("authorization", "").partition(" ")
            user = recorder.emulator.user_for_access_token(token) if scheme == "Bearer" else None
            if user is None or recorder.refuse_all:
                status, payload = 401, {"error": "invalid_token"}
                extra = [("WWW-Authenticate", 'Bearer error="invalid_token"')]
            else:
                status, payload = 200, {"sub": user.sub, "path": self.path, "method": self.command}
                extra = []
            raw = json.dumps(payload).encode()
            self.send_response(status)
            for key, value in [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(raw))),
                ("Set-Cookie", "upstream_session=leaked; Path=/"),
                ("X-Internal", "db-7"),
                *extra,
            ]:
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(raw)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

    return Handler


@pytest.fixture
def api(hitkey: Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorder]:
    """A recording upstream configured as ``rec`` (all methods) and ``ro`` (GET, /hello only)."""
    recorder = Recorder(hitkey)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(recorder))
    recorder.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{recorder.port}/base"
    table = {
        "rec": {"url": url, "methods": ["GET", "POST", "PUT", "DELETE"]},
        "ro": {"url": url, "paths": ["/hello"]},
    }
    monkeypatch.setenv("API_UPSTREAMS", json.dumps(table))
    try:
        yield recorder
    finally:
        server.shutdown()
        server.server_close()


def call(
    bff: Bff,
    browser: Browser,
    method: str,
    path: str,
    query: str = "",
    headers: dict[str, str] | None = None,
    data: bytes | None = None,
    csrf: bool = True,
) -> dict[str, Any]:
    """One proxied request as API Gateway would send it, with the browser's cookies."""
    sent = {"x-csrf": "1", "origin": browser.origin} if csrf else {}
    sent.update(headers or {})
    route = PROXY if path.count("/") > 2 else BASE
    cookies = [f"{k}={v}" for k, v in browser.jar.items()]
    event = build_event(method, path, query, headers=sent, cookies=cookies, body=data, route_key=route)
    event["requestContext"]["http"]["sourceIp"] = "203.0.113.9"
    response: dict[str, Any] = bff.invoke(route, event)
    return response


def expire_stored_access_token(aws: Aws) -> None:
    client = aws.session.client("dynamodb")
    for item in items(aws, "USER#"):
        client.update_item(
            TableName=aws.resources.table,
            Key={"pk": item["pk"], "sk": item["sk"]},
            UpdateExpression="SET at_exp = :z",
            ExpressionAttributeValues={":z": {"N": "1"}},
        )


# --- header hygiene, both ways ------------------------------------------------------------------


def test_only_the_bearer_token_and_allowed_headers_reach_the_upstream(bff: Bff, api: Recorder) -> None:
    browser = signed_in(bff)
    response = call(
        bff,
        browser,
        "GET",
        "/api/rec/hello",
        "a=1&b=%2F",
        headers={
            "authorization": FORGED_BEARER,
            "accept": "application/json",
            "x-forwarded-for": "10.0.0.1",
            "forwarded": "for=10.0.0.1",
            "proxy-authorization": "Basic eA==",
            "x-api-key": "client-secret",
        },
    )
    assert response["statusCode"] == 200, response
    assert body(response)["sub"] == ADA.sub  # the session's own access token, accepted upstream
    (seen,) = api.seen
    assert seen.target == "/base/hello?a=1&b=%2F"  # the query as the client sent it
    assert seen.headers["authorization"].startswith("Bearer ") and seen.headers["authorization"] != FORGED_BEARER
    assert seen.headers["accept"] == "application/json"
    assert seen.headers["x-forwarded-for"] == "203.0.113.9"  # API Gateway's sourceIp, not the client's
    for name in ("cookie", "x-csrf", "origin", "forwarded", "proxy-authorization", "x-api-key"):
        assert name not in seen.headers, name
    assert SESSION not in json.dumps(seen.headers) and browser.jar[SESSION] not in json.dumps(seen.headers)


def test_headers_named_in_connection_never_reach_the_upstream(bff: Bff, api: Recorder) -> None:
    browser = signed_in(bff)
    named = {"connection": "keep-alive, Accept-Language, Idempotency-Key", "accept-language": "de"}
    response = call(
        bff, browser, "POST", "/api/rec/notes", headers={**named, "idempotency-key": "k-1", "accept": "*/*"}
    )
    assert response["statusCode"] == 200, response
    (seen,) = api.seen
    assert "accept-language" not in seen.headers and "idempotency-key" not in seen.headers  # allow-listed, but named
    assert seen.headers["accept"] == "*/*"


def test_through_the_local_gateway_headers_named_in_connection_are_dropped(bff: Bff, api: Recorder) -> None:
    """Over a real socket: the gateway hands ``Connection`` to the function as API Gateway's event
    carries every request header, and the proxy drops what it names."""
    browser = signed_in(bff)
    gateway = Gateway(ROOT / "template.yaml", spa_dir=None, access_log=False)
    gateway.start("127.0.0.1", 0)
    try:
        response = httpx.get(
            f"{gateway.base_url}/api/rec/hello",
            headers={
                "cookie": f"{SESSION}={browser.jar[SESSION]}",
                "x-csrf": "1",
                "origin": browser.origin,
                "connection": "keep-alive, Accept-Language",
                "accept-language": "de",
                "accept": "application/json",
            },
            timeout=30,
        )
    finally:
        gateway.stop()
    assert response.status_code == 200, response.text
    (seen,) = api.seen
    assert "accept-language" not in seen.headers and seen.headers["accept"] == "application/json"


def test_the_upstreams_cookies_and_internal_headers_never_reach_the_browser(bff: Bff, api: Recorder) -> None:
    browser = signed_in(bff)
    response = call(bff, browser, "GET", "/api/rec/hello")
    assert response["statusCode"] == 200
    assert response["cookies"] == []
    names = {k.lower() for k in response["headers"]}
    assert not names & {"set-cookie", "server", "x-internal"}, names
    assert response["headers"]["cache-control"] == "no-store"
    assert response["headers"]["x-content-type-options"] == "nosniff"


# --- CSRF, session, refusals: nothing reaches the upstream -----------------------------------------


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "csrf_header_missing"),
        ({"x-csrf": "1", "origin": "https://evil.example"}, "origin_not_allowed"),
        ({"origin": "https://app.example.com"}, "csrf_header_missing"),
    ],
    ids=["no-csrf-header", "foreign-origin", "origin-only"],
)
def test_csrf_and_origin_are_checked_for_every_method(
    bff: Bff, api: Recorder, headers: dict[str, str], code: str
) -> None:
    browser = signed_in(bff)
    for method in ("GET", "POST", "DELETE"):
        response = call(bff, browser, method, "/api/rec/notes", headers=headers, csrf=False)
        assert_error(response, 403, code)
    assert api.seen == []


def test_no_session_is_401_and_does_not_reveal_the_upstream_table(bff: Bff, api: Recorder) -> None:
    stranger = Browser(bff.invoke)
    for path in ("/api/rec/hello", "/api/nope/hello", "/api/ro/other", "/api/rec/a/../b"):
        response = call(bff, stranger, "GET", path)
        assert_error(response, 401, "unauthenticated")
    assert_error(call(bff, stranger, "PATCH", "/api/rec/hello"), 401, "unauthenticated")
    assert api.seen == []


def test_refusals_for_a_signed_in_user(bff: Bff, api: Recorder) -> None:
    browser = signed_in(bff)
    assert_error(call(bff, browser, "GET", "/api/nope/hello"), 404, "unknown_api")
    assert_error(call(bff, browser, "GET", "/api/rec/a/%2e%2e/b"), 400, "invalid_path")
    refused = call(bff, browser, "POST", "/api/ro/hello", data=b"{}")
    assert_error(refused, 405, "method_not_allowed")
    assert refused["headers"]["allow"] == "GET"
    assert_error(call(bff, browser, "GET", "/api/ro/other"), 403, "path_not_allowed")
    assert api.seen == []
    assert call(bff, browser, "GET", "/api/ro/hello")["statusCode"] == 200


def test_a_bad_upstream_table_is_503_naming_the_upstream(
    bff: Bff, api: Recorder, monkeypatch: pytest.MonkeyPatch, bff_logs: io.StringIO
) -> None:
    browser = signed_in(bff)
    monkeypatch.setenv("API_UPSTREAMS", json.dumps({"billing": "http://billing.example.com"}))
    response = call(bff, browser, "GET", "/api/billing/x")
    assert_error(response, 503, "misconfigured")
    assert "billing" in body(response)["message"] and "https" in body(response)["message"]
    assert "API_UPSTREAMS" not in response["body"]
    (line,) = [json.loads(ln) for ln in bff_logs.getvalue().splitlines() if "API_UPSTREAMS is invalid" in ln]
    assert line["level"] == "ERROR" and "billing" in line["problem"]  # the operator's clear log line
    monkeypatch.setenv("API_UPSTREAMS", "{not json")
    assert_error(call(bff, browser, "GET", "/api/billing/x"), 503, "misconfigured")


# --- fresh tokens -------------------------------------------------------------------------------


def test_expired_token_is_refreshed_once_then_called(bff: Bff, api: Recorder, hitkey: Emulator, aws: Aws) -> None:
    browser = signed_in(bff)
    hitkey.expire_access_tokens()
    expire_stored_access_token(aws)
    hitkey.reset_counters()
    response = call(bff, browser, "GET", "/api/rec/hello")
    assert response["statusCode"] == 200 and body(response)["sub"] == ADA.sub
    assert upstream(hitkey).get("token.refresh_token") == 1 and "userinfo" not in upstream(hitkey)
    assert len(api.seen) == 1


def test_upstream_401_refreshes_once_and_retries_the_same_body(bff: Bff, api: Recorder, hitkey: Emulator) -> None:
    browser = signed_in(bff)
    hitkey.expire_access_tokens()  # the upstream (HitKey's verdict) refuses; our record does not know
    hitkey.reset_counters()
    payload = json.dumps({"title": "n\u00f6te", "n": 42}).encode()
    response = call(bff, browser, "POST", "/api/rec/notes", headers={"content-type": "application/json"}, data=payload)
    assert response["statusCode"] == 200 and body(response)["method"] == "POST"
    assert upstream(hitkey).get("token.refresh_token") == 1 and "userinfo" not in upstream(hitkey)
    first, retry = api.seen
    assert first.body == retry.body == payload
    assert first.headers["authorization"] != retry.headers["authorization"]


def test_a_second_401_is_the_upstreams_answer_and_the_session_lives_on(
    bff: Bff, api: Recorder, hitkey: Emulator, aws: Aws
) -> None:
    browser = signed_in(bff)
    api.refuse_all = True
    hitkey.reset_counters()
    response = call(bff, browser, "GET", "/api/rec/hello")
    assert response["statusCode"] == 401
    assert json.loads(response["body"]) == {"error": "invalid_token"}  # the upstream's own body
    assert response["headers"]["www-authenticate"] == 'Bearer error="invalid_token"'
    assert not expires(response, SESSION) and SESSION in browser.jar
    assert upstream(hitkey).get("token.refresh_token") == 1 and len(api.seen) == 2
    assert len(items(aws, "USER#")) == 1
    assert browser.call("GET /auth/session")["statusCode"] == 200


def emitted(capsys: pytest.CaptureFixture[str], metric: str) -> float:
    """The sum of ``metric`` over the EMF lines printed since the last read."""
    total = 0.0
    for line in capsys.readouterr().out.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            value = json.loads(line).get(metric, 0)
            total += sum(value) if isinstance(value, list) else value
    return total


def test_an_api_that_always_answers_401_costs_one_refresh_per_cooldown(
    api: Recorder, hitkey: Emulator, bff: Bff, aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = ManualClock()  # time stands still: every call below is within one cooldown
    bff.clock = clock
    bff.cold()
    browser = signed_in(bff)
    api.refuse_all = True
    hitkey.reset_counters()
    capsys.readouterr()
    statuses = [call(bff, browser, "GET", "/api/rec/hello")["statusCode"] for _ in range(20)]
    assert statuses == [401] * 20
    assert upstream(hitkey).get("token.refresh_token") == 1  # not 20 rotations
    (item,) = items(aws, "USER#")
    assert item["refreshed_at"] == {"N": str(clock.now())}  # written by the refresh's commit
    assert len(api.seen) == 21  # the first call was retried once with the new token, no other
    assert emitted(capsys, "RefreshSuppressed") == 19
    assert SESSION in browser.jar and browser.call("GET /auth/session")["statusCode"] == 200

    clock.advance(REFRESH_COOLDOWN_SECONDS)  # the cooldown is over: one refresh again, then quiet
    assert [call(bff, browser, "GET", "/api/rec/hello")["statusCode"] for _ in range(3)] == [401] * 3
    assert upstream(hitkey).get("token.refresh_token") == 2


def test_invalid_grant_during_the_refresh_ends_the_session(bff: Bff, api: Recorder, hitkey: Emulator, aws: Aws) -> None:
    browser = signed_in(bff)
    hitkey.expire_access_tokens()
    expire_stored_access_token(aws)
    hitkey.inject_fault("token", "invalid_grant")
    response = call(bff, browser, "GET", "/api/rec/hello")
    assert_error(response, 401, "unauthenticated")
    assert expires(response, SESSION) and items(aws, "USER#") == []
    assert api.seen == []


# --- fuzzed events through the proxy, signed in -------------------------------------------------

_SEGMENT = st.one_of(
    st.sampled_from(["hello", "..", ".", "%2e%2e", "%2f", "%252f", "%5c", "a\\b", "", "%00", "%zz", "\u2025", "x;y"]),
    st.text(min_size=0, max_size=12),
)
_METHODS = st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "CONNECT", "get", ""])
_HEADERS = st.dictionaries(
    st.sampled_from(["accept", "content-type", "authorization", "connection", "te", "if-match", "range", "x-y"]),
    st.text(max_size=40),
    max_size=5,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    method=_METHODS,
    name=st.sampled_from(["rec", "ro", "nope", "", "REC", "rec%2f"]),
    segments=st.lists(_SEGMENT, max_size=5),
    query=st.text(max_size=60),
    headers=_HEADERS,
    data=st.one_of(st.none(), st.binary(max_size=64)),
    base64_garbage=st.booleans(),
)
def test_fuzzed_proxy_events_never_get_a_5xx_from_our_code(
    bff: Bff,
    signed_in_browser: Browser,
    method: str,
    name: str,
    segments: list[str],
    query: str,
    headers: dict[str, str],
    data: bytes | None,
    base64_garbage: bool,
) -> None:
    path = "/api/" + name + "".join("/" + s for s in segments)
    event = build_event(
        method or "GET",
        path,
        query,
        headers={"x-csrf": "1", "origin": signed_in_browser.origin, **headers},
        cookies=dict(signed_in_browser.jar),
        body=data,
        route_key=PROXY,
    )
    event["requestContext"]["http"]["method"] = method
    if base64_garbage:
        event["body"], event["isBase64Encoded"] = "not*base64", True
    response = bff.invoke(PROXY, event)
    assert isinstance(response["statusCode"], int)
    assert response["statusCode"] < 500, response


@pytest.fixture
def signed_in_browser(bff: Bff, api: Recorder) -> Browser:
    return signed_in(bff)
