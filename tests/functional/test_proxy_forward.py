"""``proxy.forward`` against a real HTTP upstream on loopback that records what it receives.

Header hygiene both ways, bodies (binary, non-UTF-8, compressed, oversized), redirects and
``Location``, HEAD/204/304, and the upstream's faults: hang, trickle past the deadline, reset,
refused connection, 5xx. The upstream is a ``ThreadingHTTPServer``; nothing of ours is mocked.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from hitkey_bff.errors import BffError
from hitkey_bff.http import error_response
from hitkey_bff.proxy import forward as proxy
from hitkey_bff.proxy.forward import client_for, deadline_from, forward
from hitkey_bff.proxy.headers import CSP_PROXIED
from hitkey_bff.proxy.limits import LAMBDA_PAYLOAD, MAX_RESPONSE_BODY
from hitkey_bff.proxy.paths import ProxyRequest, check, prepare
from hitkey_bff.proxy.upstreams import Upstream, parse_upstreams

TOKEN = "at-" + "7" * 40
SESSION_COOKIE = "__Host-Http-hitkey-session=cookie-secret-" + "c" * 30
SOURCE_IP = "203.0.113.9"
HANG_SECONDS = 3.0
STALL_SECONDS = 6.0


@dataclass
class Seen:
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name]


@dataclass
class Upstreamd:
    """The recording upstream: ``seen`` lists every request it got, in order."""

    port: int
    seen: list[Seen] = field(default_factory=list)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "UpstreamSrv/9.9"
    recorder: Upstreamd

    def log_message(self, format: str, *args: Any) -> None:  # quiet: paths carry test tokens
        pass

    def _answer(
        self, status: int, body: bytes = b"", headers: dict[str, str] | list[tuple[str, str]] | None = None
    ) -> None:
        self.send_response(status)
        pairs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
        for key, value in pairs:
            self.send_header(key, value)
        if not any(k.lower() == "content-length" for k, _ in pairs) and status not in (204, 304):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and status not in (204, 304):
            self.wfile.write(body)

    def _handle(self) -> None:  # noqa: C901 - the fake upstream's script: one flat branch per scripted path
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        self.recorder.seen.append(Seen(self.command, self.path, list(self.headers.items()), body))
        parts = urlsplit(self.path)
        route, query = parts.path.removeprefix("/base"), parse_qs(parts.query)
        if route == "/echo":
            self._answer(
                200,
                json.dumps({"ok": True}).encode(),
                [
                    ("Content-Type", "application/json"),
                    ("Set-Cookie", "upstream=1; Path=/"),
                    ("Set-Cookie", "other=2"),
                    ("X-Powered-By", "PHP/5"),
                    ("Access-Control-Allow-Origin", "*"),
                    ("Strict-Transport-Security", "max-age=1"),
                    ("Content-Security-Policy", "default-src *"),
                    ("ETag", '"v1"'),
                    ("Vary", "Accept"),
                    ("Vary", "Accept-Language"),
                    ("Connection", "X-Secret-Hop"),
                    ("X-Secret-Hop", "1"),
                    ("X-Internal", "db-7"),
                    ("Location-Hint", "x"),
                ],
            )
        elif route == "/cached":
            values = query.get("cc", ["max-age=60"])
            self._answer(200, b"{}", [("Content-Type", "application/json"), *(("Cache-Control", v) for v in values)])
        elif route.startswith("/status/"):
            status = int(route.rsplit("/", 1)[1])
            self._answer(status, b'{"upstream":"said no"}', {"Content-Type": "application/json", "Retry-After": "5"})
        elif route == "/unauthorized":
            scheme = query.get("scheme", ["Bearer"])[0]
            values = query.get("challenge", [f'{scheme} realm="x"'])
            self._answer(401, b"nope", [("Content-Type", "text/plain"), *(("WWW-Authenticate", v) for v in values)])
        elif route == "/hang":
            time.sleep(HANG_SECONDS)
            self._answer(200, b"late")
        elif route == "/trickle":
            self.send_response(200)
            self.send_header("Content-Length", "40")
            self.end_headers()
            try:
                for _ in range(40):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.1)
            except OSError:
                pass
        elif route == "/stall":
            self.send_response(200)
            self.send_header("Content-Length", "10")
            self.end_headers()
            try:
                for _ in range(4):  # every read well under the read timeout ...
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.5)
                time.sleep(STALL_SECONDS)  # ... then one read that would outlast the deadline
                self.wfile.write(b"x" * 6)
            except OSError:
                pass
        elif route == "/reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
        elif route == "/size":
            n = int(query["n"][0])
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(n))
            self.end_headers()
            chunk = b"\xab" * 65536
            try:
                while n > 0:
                    self.wfile.write(chunk[: min(n, len(chunk))])
                    n -= len(chunk)
            except OSError:
                pass
        elif route == "/bytes":
            kind = query["kind"][0]
            payloads = {
                "binary": (bytes(range(256)), "application/octet-stream"),
                "png": (b"\x89PNG\r\n\x1a\n", "image/png"),
                "latin1": (b"caf\xe9", "text/plain; charset=iso-8859-1"),
                "badutf8": (b'{"a":"\xff\xfe"}', "application/json"),
                "utf8": ('{"name":"Ad\u00e1 \u2603"}'.encode(), "application/json; charset=utf-8"),
                "problem": (b'{"title":"x"}', "application/problem+json"),
                "untyped": (b"hello", ""),
            }
            data, ctype = payloads[kind]
            self._answer(200, data, {"Content-Type": ctype} if ctype else {})
        elif route == "/gzip":
            data = gzip.compress(b"compressed " * 100)
            self._answer(200, data, {"Content-Type": "text/plain", "Content-Encoding": "gzip"})
        elif route == "/redirect":
            self._answer(int(query.get("status", ["302"])[0]), b"", {"Location": query["to"][0]})
        elif route == "/manyheaders":
            self._answer(200, b"{}", [("Vary", "x" * 1000) for _ in range(20)])
        elif route == "/nobody":
            self._answer(int(query["status"][0]), b"", {"ETag": '"e"'})
        else:
            self._answer(404, b"no such route", {"Content-Type": "text/plain"})

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:  # clients leave on purpose
        pass


@pytest.fixture(scope="module")
def upstreamd() -> Iterator[Upstreamd]:
    recorder = Upstreamd(0)
    handler = type("RecordingHandler", (Handler,), {"recorder": recorder})
    server = QuietServer(("127.0.0.1", 0), handler)
    recorder.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield recorder
    server.shutdown()
    server.server_close()
    proxy.close_clients()


def table(port: int, timeout: float = 1.0, base: str = "/base") -> Upstream:
    spec = {
        "url": f"http://127.0.0.1:{port}{base}",
        "methods": ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
        "timeout": timeout,
    }
    return parse_upstreams(json.dumps({"local": spec}))["local"]


@pytest.fixture
def up(upstreamd: Upstreamd) -> Upstream:
    upstreamd.seen.clear()
    return table(upstreamd.port)


def event(
    method: str, rest: str, query: str = "", headers: dict[str, str] | None = None, body: bytes | None = None
) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "rawPath": f"/api/local{rest}",
        "rawQueryString": query,
        "headers": headers or {},
        "cookies": [SESSION_COOKIE],
        "requestContext": {"http": {"method": method, "sourceIp": SOURCE_IP}},
        "isBase64Encoded": body is not None,
    }
    if body is not None:
        ev["body"] = base64.b64encode(body).decode()
    return ev


def call(upstream: Upstream, ev: dict[str, Any], deadline: float | None = None) -> dict[str, Any]:
    """What the glue will do: parse, check, forward once; refusals as JSON errors."""
    try:
        target, request, url = prepare({"local": upstream}, ev)
        result = forward(
            client_for(target), target, request, url, TOKEN, deadline=deadline or deadline_from(time.monotonic())
        )
        return result.to_response()
    except BffError as err:
        return error_response(err)


def body_of(response: dict[str, Any]) -> bytes:
    raw = response["body"]
    return base64.b64decode(raw) if response["isBase64Encoded"] else raw.encode()


def assert_error(response: dict[str, Any], status: int, code: str) -> None:
    assert response["statusCode"] == status, response
    assert json.loads(response["body"])["error"] == code


# --- request headers -----------------------------------------------------------------------------

HOSTILE_REQUEST_HEADERS = {
    "cookie": SESSION_COOKIE,
    "x-csrf": "1",
    "authorization": "Bearer forged-by-the-browser",
    "proxy-authorization": "Basic eDp5",
    "proxy-connection": "keep-alive",
    "x-forwarded-for": "6.6.6.6",
    "x-forwarded-host": "evil.example",
    "x-forwarded-proto": "http",
    "x-forwarded-port": "1",
    "forwarded": "for=6.6.6.6;host=evil.example",
    "x-real-ip": "6.6.6.6",
    "host": "evil.example",
    "origin": "https://app.example.com",
    "referer": "https://app.example.com/secret-page?code=abc",
    "user-agent": "Browser/1.0",
    "te": "trailers",
    "upgrade": "websocket",
    "keep-alive": "timeout=5",
    "trailer": "x-late",
    "connection": "keep-alive, accept-language",
    "accept-language": "de",  # named in Connection: hop-by-hop, so dropped though allow-listed
    "accept-encoding": "identity",
    "x-amz-security-token": "aws-session-token",
    "x-custom": "anything",
    "sec-fetch-site": "same-origin",
    # allow-listed
    "accept": "application/json",
    "content-type": "application/json",
    "if-none-match": '"v0"',
    "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    "x-request-id": "req-1",
    "idempotency-key": "k-1",
}


def test_request_headers_are_allow_listed(up: Upstream, upstreamd: Upstreamd) -> None:
    response = call(up, event("POST", "/echo", "a=1&b=%2F", HOSTILE_REQUEST_HEADERS, b'{"x":1}'))
    assert response["statusCode"] == 200
    [seen] = upstreamd.seen
    assert seen.target == "/base/echo?a=1&b=%2F"  # the query as the client sent it
    assert seen.header("authorization") == [f"Bearer {TOKEN}"]
    assert seen.header("x-forwarded-for") == [SOURCE_IP]
    assert seen.header("host") == [f"127.0.0.1:{upstreamd.port}"]
    assert seen.header("user-agent") == ["hitkey-bff/0.1"]
    for name in ("accept", "content-type", "if-none-match", "traceparent", "x-request-id", "idempotency-key"):
        assert seen.header(name) == [HOSTILE_REQUEST_HEADERS[name]], name
    names = {k.lower() for k, _ in seen.headers}
    dropped = set(HOSTILE_REQUEST_HEADERS) - {"accept", "content-type", "if-none-match", "traceparent"}
    dropped -= {"x-request-id", "idempotency-key", "host", "user-agent", "connection", "accept-encoding"}
    dropped -= {"authorization", "x-forwarded-for"}  # present, with our values (asserted above)
    assert not names & dropped, names & dropped
    assert seen.header("accept-encoding") != ["identity"]  # httpx negotiates and decodes itself
    raw = repr(seen.headers)
    for secret in (
        "cookie-secret",
        "forged-by-the-browser",
        "aws-session-token",
        "6.6.6.6",
        "evil.example",
        "code=abc",
    ):
        assert secret not in raw
    assert seen.body == b'{"x":1}'


def test_upstream_cookies_are_never_kept_between_calls(up: Upstream, upstreamd: Upstreamd) -> None:
    """One client serves every user of a warm Lambda: a Set-Cookie from the upstream (for one
    user) must never ride along on the next call (another user's)."""
    call(up, event("GET", "/echo"))
    call(up, event("GET", "/echo"))
    assert len(upstreamd.seen) == 2
    assert upstreamd.seen[1].header("cookie") == []
    assert len(client_for(up).cookies) == 0


def test_source_ip_that_is_not_an_ip_is_not_forwarded(up: Upstream, upstreamd: Upstreamd) -> None:
    ev = event("GET", "/echo")
    ev["requestContext"]["http"]["sourceIp"] = "1.2.3.4, 6.6.6.6"
    call(up, ev)
    assert upstreamd.seen[-1].header("x-forwarded-for") == []


def test_header_values_with_control_characters_are_dropped(up: Upstream, upstreamd: Upstreamd) -> None:
    response = call(up, event("GET", "/echo", headers={"accept": "a\r\nX-Injected: 1", "x-request-id": "ok"}))
    assert response["statusCode"] == 200
    seen = upstreamd.seen[-1]
    assert seen.header("x-injected") == [] and seen.header("x-request-id") == ["ok"]
    assert seen.header("accept") != ["a\r\nX-Injected: 1"]


def test_retry_sends_the_same_buffered_body(up: Upstream, upstreamd: Upstreamd) -> None:
    """After a 401 the helper retries with the same ProxyRequest: the upstream gets it twice."""
    payload = bytes(range(256)) * 10
    request = ProxyRequest.from_event(event("PUT", "/unauthorized", "v=1", {"content-type": "x/y"}, payload))
    url = check(up, request)
    for _ in range(2):
        result = forward(client_for(up), up, request, url, TOKEN, deadline=deadline_from(time.monotonic()))
        assert result.status == 401
    first, second = upstreamd.seen
    assert first.body == second.body == payload
    assert (first.method, first.target) == (second.method, second.target) == ("PUT", "/base/unauthorized?v=1")


# --- response headers ----------------------------------------------------------------------------


def test_response_headers_are_allow_listed(up: Upstream) -> None:
    response = call(up, event("GET", "/echo"))
    headers = response["headers"]
    assert response["statusCode"] == 200 and response["cookies"] == []
    assert headers["content-type"] == "application/json"
    assert headers["etag"] == '"v1"'
    assert headers["vary"] == "Accept, Accept-Language"
    for name in (
        "set-cookie",
        "server",
        "x-powered-by",
        "access-control-allow-origin",
        "strict-transport-security",
        "x-secret-hop",
        "x-internal",
        "location-hint",
        "connection",
        "content-length",
        "date",
    ):
        assert name not in headers, name
    assert headers["content-security-policy"] == CSP_PROXIED  # ours, not the upstream's
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["cache-control"] == "no-store"
    assert "upstream=1" not in json.dumps(response)


def test_upstream_cache_control_is_kept_and_made_private(up: Upstream) -> None:
    headers = call(up, event("GET", "/cached"))["headers"]
    assert headers["cache-control"] == "max-age=60, private" and "pragma" not in headers


@pytest.mark.parametrize(
    ("sent", "passed"),
    [
        (["public, max-age=600"], "max-age=600, private"),
        (["PUBLIC, S-MaxAge=3600, max-age=60"], "max-age=60, private"),
        (["max-age=60", "public", "s-maxage=9"], "max-age=60, private"),
        (['private="set-cookie", max-age=60, must-revalidate'], "max-age=60, must-revalidate, private"),
        (["private, no-cache"], "no-cache, private"),
        (["no-store"], "no-store, private"),
    ],
)
def test_a_per_user_answer_is_never_publicly_cacheable(up: Upstream, sent: list[str], passed: str) -> None:
    query = "&".join(f"cc={quote(v, safe='')}" for v in sent)
    headers = call(up, event("GET", "/cached", query))["headers"]
    assert headers["cache-control"] == passed


@pytest.mark.parametrize("sent", ['max-age=60, "public"', "public, max-age=", "=60"])
def test_a_cache_control_that_does_not_parse_is_replaced_by_no_store(up: Upstream, sent: str) -> None:
    headers = call(up, event("GET", "/cached", f"cc={quote(sent, safe='')}"))["headers"]
    assert headers["cache-control"] == "no-store" and headers["pragma"] == "no-cache"


@pytest.mark.parametrize("status", [500, 502, 503, 504, 404, 409, 429])
def test_upstream_statuses_pass_through(up: Upstream, status: int) -> None:
    response = call(up, event("GET", f"/status/{status}"))
    assert response["statusCode"] == status
    assert json.loads(response["body"]) == {"upstream": "said no"}
    assert response["headers"]["retry-after"] == "5"


@pytest.mark.parametrize(("scheme", "kept"), [("Bearer", True), ("Basic", False), ("Negotiate", False)])
def test_401_passes_through_with_only_bearer_challenges(up: Upstream, scheme: str, kept: bool) -> None:
    response = call(up, event("GET", "/unauthorized", f"scheme={scheme}"))
    assert response["statusCode"] == 401 and body_of(response) == b"nope"
    assert ("www-authenticate" in response["headers"]) is kept


@pytest.mark.parametrize(
    ("sent", "passed"),
    [
        (['Bearer realm="a", Basic realm="b"'], 'Bearer realm="a"'),
        (['BearerX, Basic realm="b"'], None),
        (['Basic realm="x, Bearer y", Bearer error="invalid_token"'], 'Bearer error="invalid_token"'),
        (['Basic realm="b"', 'Bearer error="insufficient_scope"'], 'Bearer error="insufficient_scope"'),
        (['Bearer realm="unterminated'], None),
        (["Negotiate abc==, Bearer"], "Bearer"),
    ],
)
def test_401_passes_only_the_bearer_challenges_of_a_challenge_list(
    up: Upstream, sent: list[str], passed: str | None
) -> None:
    query = "&".join(f"challenge={quote(v, safe='')}" for v in sent)
    response = call(up, event("GET", "/unauthorized", query))
    assert response["statusCode"] == 401
    assert response["headers"].get("www-authenticate") == passed


# --- bodies --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "is_base64", "expected"),
    [
        ("binary", True, bytes(range(256))),
        ("png", True, b"\x89PNG\r\n\x1a\n"),
        ("latin1", True, b"caf\xe9"),
        ("badutf8", True, b'{"a":"\xff\xfe"}'),
        ("utf8", False, '{"name":"Ad\u00e1 \u2603"}'.encode()),
        ("problem", False, b'{"title":"x"}'),
        ("untyped", True, b"hello"),
    ],
)
def test_bodies_text_or_base64(up: Upstream, kind: str, is_base64: bool, expected: bytes) -> None:
    response = call(up, event("GET", "/bytes", f"kind={kind}"))
    assert response["statusCode"] == 200
    assert response["isBase64Encoded"] is is_base64
    assert body_of(response) == expected


def test_compressed_body_is_decoded(up: Upstream) -> None:
    response = call(up, event("GET", "/gzip"))
    assert body_of(response) == b"compressed " * 100
    assert "content-encoding" not in response["headers"]


def test_largest_body_fits_in_a_lambda_response(up: Upstream) -> None:
    response = call(up, event("GET", "/size", f"n={MAX_RESPONSE_BODY}"))
    assert response["statusCode"] == 200 and len(body_of(response)) == MAX_RESPONSE_BODY
    assert len(json.dumps(response).encode()) <= LAMBDA_PAYLOAD


def test_oversized_headers_are_502(up: Upstream) -> None:
    assert_error(call(up, event("GET", "/manyheaders")), 502, "upstream_response_too_large")


def test_oversized_body_is_502(up: Upstream) -> None:
    assert_error(call(up, event("GET", "/size", f"n={MAX_RESPONSE_BODY + 1}")), 502, "upstream_response_too_large")


@pytest.mark.parametrize(("method", "rest", "query"), [("HEAD", "/echo", ""), ("GET", "/nobody", "status=204")])
def test_no_body_answers(up: Upstream, method: str, rest: str, query: str) -> None:
    response = call(up, event(method, rest, query))
    assert response["statusCode"] == (200 if method == "HEAD" else 204)
    assert response["body"] == "" and response["isBase64Encoded"] is False


def test_304_keeps_its_validator(up: Upstream) -> None:
    response = call(up, event("GET", "/nobody", "status=304", {"if-none-match": '"e"'}))
    assert response["statusCode"] == 304 and response["body"] == "" and response["headers"]["etag"] == '"e"'


# --- redirects -----------------------------------------------------------------------------------


def redirect(up: Upstream, upstreamd: Upstreamd, to: str, status: int = 302) -> dict[str, Any]:
    response = call(up, event("GET", "/redirect", f"status={status}&to={quote(to, safe='')}"))
    assert response["statusCode"] == status
    assert len(upstreamd.seen) == 1  # never followed
    return response


@pytest.mark.parametrize(
    ("to", "location"),
    [
        ("/base/notes/2", "/api/local/notes/2"),
        ("/base/notes/2?x=1", "/api/local/notes/2?x=1"),
        ("/base", "/api/local"),
        ("other", "/api/local/other"),
        ("http://127.0.0.1:{port}/base/abs", "/api/local/abs"),
    ],
)
def test_location_on_the_upstream_is_rewritten(up: Upstream, upstreamd: Upstreamd, to: str, location: str) -> None:
    response = redirect(up, upstreamd, to.format(port=upstreamd.port), 302)
    assert response["headers"]["location"] == location


@pytest.mark.parametrize(
    "to",
    [
        "https://evil.example/base/x",
        "//evil.example/base/x",
        "http://127.0.0.1:1/base/x",
        "https://127.0.0.1:{port}/base/x",
        "/elsewhere",
        "/basement",
        "../../etc",
        "../base/up",
        "javascript:alert(1)",
        "/\\evil.example",
    ],
)
def test_location_off_the_upstream_is_dropped(up: Upstream, upstreamd: Upstreamd, to: str) -> None:
    response = redirect(up, upstreamd, to.format(port=upstreamd.port), 301)
    location = response["headers"].get("location")
    assert location is None or location.startswith("/api/local/"), location


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize(
    "to",
    [
        "/base/%2e%2e/%2e%2e/auth/sessions",
        "/base/notes/%2E%2E/%2e%2E/%2e%2e/auth/sessions",
        "/base/.%2e/.%2e/api/other/x",
        "/base/%2e./x",
        "%2e%2e/%2e%2e/auth/sessions",
        "http://127.0.0.1:{port}/base/%2e%2e/%2e%2e/auth/sessions",
        "/base/%252e%252e/x",
        "/base/a/%2e",
    ],
)
def test_location_with_an_encoded_dot_segment_is_dropped(upstreamd: Upstreamd, status: int, to: str) -> None:
    for up in (table(upstreamd.port), table(upstreamd.port, base="")):
        upstreamd.seen.clear()
        target = to.format(port=upstreamd.port)
        if not up.base_path:
            target = target.replace("/base", "", 1)
        response = redirect(up, upstreamd, target, status)
        assert "location" not in response["headers"], (up.url, target, response["headers"])


# --- faults --------------------------------------------------------------------------------------


def test_hang_is_504(up: Upstream) -> None:
    assert_error(call(up, event("GET", "/hang")), 504, "upstream_timeout")


def test_trickle_under_the_read_timeout_but_past_the_deadline_is_504(up: Upstream, upstreamd: Upstreamd) -> None:
    """One byte every 0.1 s never trips a 1 s read timeout; the 4 s body passes the call's deadline."""
    assert_error(call(up, event("GET", "/trickle")), 504, "upstream_timeout")
    assert len(upstreamd.seen) == 1


def test_stall_after_a_trickle_ends_at_the_deadline(upstreamd: Upstreamd) -> None:
    """Not a speed test: a deadline. Reads of 0.5 s each, then a stall. A read timeout alone
    would let the stalled read run a whole timeout (2 s) past the call's 2 s; the watchdog ends
    the call at its deadline. The bound leaves a second of slack for a loaded machine."""
    upstreamd.seen.clear()
    started = time.monotonic()
    assert_error(call(table(upstreamd.port, timeout=2.0), event("GET", "/stall")), 504, "upstream_timeout")
    assert time.monotonic() - started < 3.0


def test_trickle_within_a_longer_timeout_completes(upstreamd: Upstreamd) -> None:
    upstreamd.seen.clear()
    response = call(table(upstreamd.port, timeout=10.0), event("GET", "/trickle"))
    assert response["statusCode"] == 200 and body_of(response) == b"x" * 40


def test_overall_deadline_caps_the_upstream_timeout(upstreamd: Upstreamd) -> None:
    upstreamd.seen.clear()
    slow = table(upstreamd.port, timeout=10.0)
    assert_error(call(slow, event("GET", "/hang"), deadline=time.monotonic() + 1.0), 504, "upstream_timeout")


def test_no_time_left_means_no_call(up: Upstream, upstreamd: Upstreamd) -> None:
    assert_error(call(up, event("GET", "/echo"), deadline=time.monotonic() + 0.1), 504, "upstream_timeout")
    assert upstreamd.seen == []


def test_reset_is_502(up: Upstream) -> None:
    assert_error(call(up, event("GET", "/reset")), 502, "upstream_unreachable")


def test_refused_connection_is_502() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert_error(call(table(port), event("GET", "/echo")), 502, "upstream_unreachable")


def test_client_is_reused_and_ignores_proxy_environment(up: Upstream, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:1")
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:1")
    client = client_for(table(up.port or 0, timeout=2.0))
    assert client is client_for(table(up.port or 0, timeout=2.0))
    assert call(table(up.port or 0, timeout=2.0), event("GET", "/echo"))["statusCode"] == 200


# --- observability -------------------------------------------------------------------------------


def test_one_log_line_and_metrics_per_call(
    up: Upstream, bff_logs: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    call(up, event("POST", "/status/503", "secret=q", {"content-type": "application/json"}, b'{"body":"secret"}'))
    lines = [json.loads(line) for line in bff_logs.getvalue().splitlines() if "proxy call" in line]
    assert len(lines) == 1
    line = lines[0]
    assert (line["upstream"], line["method"], line["status"], line["outcome"]) == ("local", "POST", 503, "answered")
    assert isinstance(line["duration_ms"], float)
    text = bff_logs.getvalue()
    assert TOKEN not in text and "secret" not in text
    emitted = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    names = {m["Name"] for e in emitted for d in e["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
    assert {"ProxyCalls", "ProxyLatency", "ProxyServerErrors"} <= names and "ProxyClientErrors" not in names
    assert all(e.get("upstream") == "local" for e in emitted)


def test_failures_are_logged_with_their_code(up: Upstream, bff_logs: io.StringIO) -> None:
    call(up, event("GET", "/reset"))
    [line] = [json.loads(x) for x in bff_logs.getvalue().splitlines() if "proxy call" in x]
    assert (line["status"], line["outcome"]) == (502, "upstream_unreachable")
