"""The API proxy's request and response shaping, and its one upstream call (docs/proxy.md).

Pure functions turn an API Gateway (HTTP API, payload 2.0) event into a :class:`ProxyRequest`,
check it against an :class:`~hitkey_bff.upstreams.Upstream` and build the upstream URL;
:func:`forward` makes the call over the upstream's cached ``httpx.Client`` and returns a
:class:`ProxyResult`, which :meth:`ProxyResult.to_response` turns into API Gateway's answer.

The route glue is :mod:`hitkey_bff.routes.api` (CSRF and the session first, then
:func:`prepare`, then :func:`forward` inside ``call_with_fresh_token``; a second 401 is
:class:`UpstreamUnauthorized`, re-raised unchanged, whose ``result`` is the answer).

API Gateway's ``rawPath`` is *decoded* once by HTTP APIs (a client's ``%2F`` arrives as ``/``,
``%252F`` as ``%2F``) while the local gateway passes it still encoded; :func:`parse_path` is safe
for both: it refuses anything that decodes, at any depth, to a separator, a dot segment or a
control character, and re-encodes what it forwards.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import ipaddress
import json
import re
import threading
import time
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any
from urllib.parse import quote, unquote_to_bytes, urlsplit

import httpx
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from hitkey_bff.errors import (
    BffError,
    InvalidBody,
    InvalidPath,
    MethodNotAllowed,
    PathNotAllowed,
    PayloadTooLarge,
    UnknownApi,
    UpstreamError,
    UpstreamResponseTooLarge,
    UpstreamTimeout,
    UpstreamUnauthorized,
    UpstreamUnreachable,
)
from hitkey_bff.header_rules import bearer_challenges, private_cache_control
from hitkey_bff.observability import logger, metrics
from hitkey_bff.upstreams import METHODS, Upstream
from hitkey_bff.watchdog import Watchdog as _Watchdog

Response = dict[str, Any]

# --- limits (arithmetic in docs/proxy.md, "Limits") ---------------------------------------------
LAMBDA_PAYLOAD = 6 * 1024 * 1024  # synchronous invoke, request and response: 6 MiB each
RESPONSE_OVERHEAD = 64 * 1024  # status, headers and JSON framing of our answer
MAX_REQUEST_BODY = LAMBDA_PAYLOAD  # decoded bytes; larger events never even reach a Lambda
# The body must fit base64-encoded (4 bytes per 3) in what is left of the 6 MiB: 4,669,440 bytes.
MAX_RESPONSE_BODY = (LAMBDA_PAYLOAD - RESPONSE_OVERHEAD) // 4 * 3
# The whole proxied request - refresh, call, refresh, retry - ends by this many seconds after it
# started: under API Gateway's 30 s integration timeout (the functions' Lambda timeout, 60 s in
# template.yaml, is longer).
DEADLINE_SECONDS = 24.0
MIN_CALL_SECONDS = 0.25  # less left than this: 504 without calling
CONNECT_TIMEOUT = 3.0
MAX_RESPONSE_HEADERS = 16 * 1024  # the allow-listed ones, well inside RESPONSE_OVERHEAD
MAX_PATH = 2048
MAX_QUERY = 8192
MAX_DECODE_DEPTH = 4
USER_AGENT = "hitkey-bff/0.1"

# --- header lists (docs/proxy.md, "What is forwarded") ------------------------------------------
REQUEST_HEADERS = frozenset(
    {
        "accept",
        "accept-language",
        "cache-control",
        "content-type",
        "content-language",
        "if-match",
        "if-none-match",
        "if-modified-since",
        "if-unmodified-since",
        "if-range",
        "range",
        "prefer",
        "idempotency-key",
        "traceparent",
        "tracestate",
        "x-amzn-trace-id",
        "x-request-id",
    }
)
RESPONSE_HEADERS = frozenset(
    {
        "content-type",
        "content-language",
        "content-disposition",
        "content-range",
        "accept-ranges",
        "cache-control",
        "etag",
        "last-modified",
        "expires",
        "vary",
        "retry-after",
        "x-request-id",
    }
)
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "proxy-authenticate",
        "proxy-authorization",
    }
)
CSP_JSON = "default-src 'none'; frame-ancestors 'none'"
CSP_PROXIED = "default-src 'none'; frame-ancestors 'none'; sandbox"
_SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cross-origin-resource-policy": "same-origin",
}

_HEX_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
_BARE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_PATH_SAFE = "!$&'()*+,;=:@%~"
_QUERY_SAFE = _PATH_SAFE + "/?"
_TEXT_TYPES = ("application/json", "application/xml", "application/javascript", "application/x-www-form-urlencoded")


# --- the request --------------------------------------------------------------------------------


def _mapping(value: object) -> Mapping[object, object]:
    return value if isinstance(value, Mapping) else {}


@dataclass(frozen=True, slots=True)
class ProxyRequest:
    """What the proxy reads from an event: the upstream's name, the rest of the path as API
    Gateway gave it, the raw query string, headers (lower-case names), the decoded body and the
    caller's IP as API Gateway saw it."""

    name: str
    method: str
    rest: str
    raw_query: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    source_ip: str = ""

    @classmethod
    def from_event(cls, event: object) -> ProxyRequest:
        """Parse ``/api/{name}{rest}``; :class:`InvalidPath`, :class:`PayloadTooLarge` or
        :class:`InvalidBody` for what cannot be proxied."""
        ev = _mapping(event)
        http = _mapping(_mapping(ev.get("requestContext")).get("http"))
        raw_path = ev.get("rawPath")
        if not isinstance(raw_path, str) or not raw_path.startswith("/api/"):
            raise InvalidPath("the path must start with /api/{name}")
        name, slash, rest = raw_path[len("/api/") :].partition("/")
        method, query, source_ip = http.get("method"), ev.get("rawQueryString"), http.get("sourceIp")
        headers = {str(k).lower(): v for k, v in _mapping(ev.get("headers")).items() if isinstance(v, str)}
        return cls(
            name=name,
            method=method.upper() if isinstance(method, str) else "",
            rest=slash + rest,
            raw_query=query if isinstance(query, str) else "",
            headers=headers,
            body=request_body(ev.get("body"), ev.get("isBase64Encoded") is True),
            source_ip=source_ip if isinstance(source_ip, str) else "",
        )


def request_body(body: object, is_base64: bool) -> bytes:
    """The event's body as bytes; the size is checked before anything is decoded."""
    if not isinstance(body, str) or not body:
        return b""
    if is_base64:
        padding = len(body) - len(body.rstrip("="))
        if len(body) // 4 * 3 - padding > MAX_REQUEST_BODY:
            raise PayloadTooLarge(f"the request body is over {MAX_REQUEST_BODY} bytes")
        try:
            return binascii.a2b_base64(body, strict_mode=True)
        except (binascii.Error, ValueError):
            raise InvalidBody("the request body is not valid base64") from None
    if len(body) > MAX_REQUEST_BODY:  # a character is at least one byte
        raise PayloadTooLarge(f"the request body is over {MAX_REQUEST_BODY} bytes")
    try:
        data = body.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidBody("the request body is not valid text") from None
    if len(data) > MAX_REQUEST_BODY:
        raise PayloadTooLarge(f"the request body is over {MAX_REQUEST_BODY} bytes")
    return data


# --- paths --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParsedPath:
    """A safe path: ``encoded`` to append to the base path, ``segments`` decoded for matching."""

    encoded: str
    segments: tuple[str, ...]


def _forbidden_char(ch: str) -> bool:
    code = ord(ch)
    return code < 0x20 or 0x7F <= code < 0xA0 or ch == "\\" or 0xD800 <= code <= 0xDFFF


def _dangerous(text: str) -> bool:
    """A decoded form that a server could take as a separator or a dot segment."""
    for form in (text, unicodedata.normalize("NFKC", text)):
        if "/" in form or any(_forbidden_char(c) for c in form):
            return True
        if form.split(";", 1)[0] in (".", ".."):  # ``..;`` is ``..`` to Tomcat and friends
            return True
    return False


def _decoded_segment(segment: str) -> str:
    """The segment decoded once (what the upstream sees), after checking every deeper decoding."""
    if any(_forbidden_char(c) for c in segment) or _dangerous(segment):
        raise InvalidPath("the path contains a dot segment, a backslash or a control character")
    first: str | None = None
    current = segment
    for _ in range(MAX_DECODE_DEPTH):
        if not _HEX_ESCAPE.search(current):
            return current if first is None else first
        try:
            decoded = unquote_to_bytes(current).decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidPath("the path contains a percent sequence that is not UTF-8") from None
        if _dangerous(decoded):
            raise InvalidPath("the path contains an encoded separator, dot segment or control character")
        first = decoded if first is None else first
        current = decoded
    raise InvalidPath("the path is encoded too many times")


def _encode_segment(segment: str) -> str:
    return quote(_BARE_PERCENT.sub("%25", segment), safe=_PATH_SAFE)


def parse_path(rest: str) -> ParsedPath:
    """Check the path after ``/api/{name}``: ``""`` (the base), or ``/`` and segments. Refused
    (:class:`InvalidPath`): empty segments but a final one (a trailing slash), ``.`` and ``..``
    (also encoded, double-encoded, as ``..;`` or in full-width forms), encoded ``/`` or ``\\``,
    backslashes, control characters and NUL, percent sequences that are not UTF-8, paths over
    :data:`MAX_PATH`. Everything else is re-encoded as a path (``?``, ``#``, spaces, non-ASCII)."""
    if rest == "":
        return ParsedPath("", ())
    if not rest.startswith("/"):
        raise InvalidPath("the path must start with /")
    if len(rest) > MAX_PATH:
        raise InvalidPath(f"the path is longer than {MAX_PATH} characters")
    raw = rest[1:].split("/")
    if any(s == "" for s in raw[:-1]):
        raise InvalidPath("the path contains an empty segment (//)")
    segments = tuple(_decoded_segment(s) if s else "" for s in raw)
    return ParsedPath("/" + "/".join(_encode_segment(s) for s in raw), segments)


def encode_query(raw_query: str) -> str:
    """The query string as the client sent it; characters a URL cannot carry are encoded."""
    if len(raw_query) > MAX_QUERY:
        raise BffError(f"the query string is longer than {MAX_QUERY} characters", code="query_too_long")
    if any(0xD800 <= ord(c) <= 0xDFFF for c in raw_query):
        raise BffError("the query string is not valid text", code="invalid_query")
    return quote(_BARE_PERCENT.sub("%25", raw_query), safe=_QUERY_SAFE)


@lru_cache(maxsize=128)
def _base(upstream: Upstream) -> httpx.URL:
    return httpx.URL(upstream.url)


def upstream_url(upstream: Upstream, path: ParsedPath, raw_query: str) -> httpx.URL:
    """Base URL + path + query, verified after joining: same scheme, host and port, a path at or
    under the base path, with no ``//`` and no dot segment. Anything else is :class:`InvalidPath`
    (never sent)."""
    base = _base(upstream)
    target = (upstream.base_path + path.encoded) or "/"
    query = encode_query(raw_query)
    try:
        url = base.copy_with(raw_path=(target + (f"?{query}" if query else "")).encode("ascii"))
    except (httpx.InvalidURL, UnicodeEncodeError):
        raise InvalidPath("the path cannot be part of a URL") from None
    url_path = url.raw_path.split(b"?", 1)[0].decode("ascii")
    under = upstream.base_path == "" or url_path == upstream.base_path or url_path.startswith(upstream.base_path + "/")
    plain = "//" not in url_path and not {".", ".."} & set(url_path.split("/"))
    if (url.scheme, url.host, url.port) != (base.scheme, base.host, base.port) or not (under and plain) or url.fragment:
        raise InvalidPath("the path would leave the upstream")
    return url


def lookup(upstreams: Mapping[str, Upstream], name: str) -> Upstream:
    """The upstream called ``name``, else :class:`UnknownApi` (404)."""
    upstream = upstreams.get(name)
    if upstream is None:
        raise UnknownApi("no API of that name is configured")
    return upstream


def check(upstream: Upstream, request: ProxyRequest) -> httpx.URL:
    """The URL to call, after the path (400), the method (405) and ``paths`` (403) checks."""
    path = parse_path(request.rest)
    url = upstream_url(upstream, path, request.raw_query)
    if request.method not in upstream.methods:
        raise MethodNotAllowed(f"{upstream.name} does not allow this method", allow=upstream.methods)
    if not upstream.allows_path(path.segments):
        raise PathNotAllowed(f"{upstream.name} does not allow this path")
    return url


def prepare(upstreams: Mapping[str, Upstream], event: object) -> tuple[Upstream, ProxyRequest, httpx.URL]:
    """Everything that needs no I/O, in the contract's order: the event (400/413), the name
    (404), the path (400), the method (405) and ``paths`` (403). The route runs it after the
    session check, so a caller without a session learns nothing about the table."""
    request = ProxyRequest.from_event(event)
    upstream = lookup(upstreams, request.name)
    return upstream, request, check(upstream, request)


# --- headers ------------------------------------------------------------------------------------


def _connection_tokens(headers: Iterable[tuple[str, str]]) -> set[str]:
    return {t.strip().lower() for k, v in headers if k.lower() == "connection" for t in v.split(",") if t.strip()}


def _clean_value(value: str) -> bool:
    return value.isascii() and all(c == "\t" or 0x20 <= ord(c) < 0x7F for c in value)


def outbound_headers(headers: Mapping[str, str], access_token: str, source_ip: str) -> dict[str, str]:
    """The allow-listed request headers, our bearer token and ``X-Forwarded-For`` (API Gateway's
    ``sourceIp`` only). Values with control or non-ASCII characters are dropped."""
    named = _connection_tokens(headers.items())
    out = {
        k: v
        for k, v in headers.items()
        if k in REQUEST_HEADERS and k not in named and k not in HOP_BY_HOP and _clean_value(v)
    }
    out["authorization"] = f"Bearer {access_token}"
    with contextlib.suppress(ValueError):
        out["x-forwarded-for"] = str(ipaddress.ip_address(source_ip))
    return out


def _location_segments_safe(value: str) -> bool:
    """No segment of the reference's path is a dot segment, a separator or a control character in
    any decoding (the request-path rule): a browser also reads ``%2e%2e``, ``.%2e``, ``%2E.`` as
    ``..``, a server may decode ``%252e`` once more."""
    try:
        for segment in urlsplit(value).path.split("/"):
            _decoded_segment(segment)
    except (InvalidPath, ValueError):  # ValueError: urlsplit's, for a broken [IPv6] host
        return False
    return True


_BROWSER_SINGLE_DOT = frozenset({".", "%2e"})
_BROWSER_DOUBLE_DOT = frozenset({"..", ".%2e", "%2e.", "%2e%2e"})


def browser_path(path: str) -> str:
    """``path`` as a browser's URL parser (WHATWG) leaves it: ``\\`` is ``/`` and the dot segments,
    literal or percent-encoded in any case, are resolved."""
    segments = path.replace("\\", "/").split("/")[1:]
    out: list[str] = []
    for i, segment in enumerate(segments):
        lowered, last = segment.lower(), i == len(segments) - 1
        if lowered in _BROWSER_DOUBLE_DOT:
            if out:
                out.pop()
            if last:
                out.append("")
        elif lowered in _BROWSER_SINGLE_DOT:
            if last:
                out.append("")
        else:
            out.append(segment)
    return "/" + "/".join(out)


def rewrite_location(value: str, request_url: httpx.URL, upstream: Upstream) -> str | None:
    """A ``Location`` on the upstream, rewritten to ``/api/{name}/...``; anything else: ``None``.

    Dropped: a value with a control character (tab included: browsers delete it), a path segment
    that is a dot segment in any decoding, a target off the upstream or outside its base path, a
    path below the base that the proxy would refuse as a request, and a result that a browser
    would resolve outside ``/api/{name}``."""
    value = value.strip(" ")
    if not _clean_value(value) or "\t" in value or not _location_segments_safe(value):
        return None
    try:
        resolved = request_url.join(value)
    except (httpx.InvalidURL, ValueError):
        return None
    base = _base(upstream)
    if (resolved.scheme, resolved.host, resolved.port) != (base.scheme, base.host, base.port):
        return None
    path = resolved.raw_path.split(b"?", 1)[0].decode("ascii")
    if upstream.base_path and path != upstream.base_path and not path.startswith(upstream.base_path + "/"):
        return None
    rest = path[len(upstream.base_path) :]
    try:
        parse_path(rest)
    except InvalidPath:
        return None
    prefix = f"/api/{upstream.name}"
    rewritten = prefix + ("" if rest == "/" and not upstream.base_path else rest)
    normalised = browser_path(rewritten)
    if normalised != rewritten or not (normalised == prefix or normalised.startswith(prefix + "/")):
        return None
    query = resolved.query.decode("ascii")
    return rewritten + (f"?{query}" if query else "")


def inbound_headers(response: httpx.Response, request_url: httpx.URL, upstream: Upstream) -> dict[str, str]:
    """The allow-listed response headers (repeated ones joined), ``Location`` rewritten or
    dropped, a ``Bearer`` challenge kept (others would open the browser's password prompt),
    ``Cache-Control`` made private (``no-store`` when the upstream set none, or none that parses),
    our security headers on top. More than one ``Location`` is no ``Location``."""
    stashed = response.extensions.get(_LOCATION, [])
    pairs = list(response.headers.multi_items()) + [("location", v) for v in stashed]
    named = _connection_tokens(pairs)
    out: dict[str, list[str]] = {}
    for key, value in pairs:
        name = key.lower()
        if name in named or name in HOP_BY_HOP or not _clean_value(value):
            continue
        if name == "location":
            rewritten = rewrite_location(value, request_url, upstream) if len(stashed) == 1 else None
            if rewritten is not None:
                out[name] = [rewritten]
        elif name == "www-authenticate":
            challenges = bearer_challenges(value)
            if challenges is not None:
                out.setdefault(name, []).append(challenges)
        elif name in RESPONSE_HEADERS:
            out.setdefault(name, []).append(value)
    headers = {k: ", ".join(v) for k, v in out.items()}
    if "cache-control" in headers:  # a per-user answer: never for a shared cache
        cache_control = private_cache_control(headers.pop("cache-control"))
        if cache_control is not None:
            headers["cache-control"] = cache_control
    if sum(len(k) + len(v) for k, v in headers.items()) > MAX_RESPONSE_HEADERS:
        raise UpstreamResponseTooLarge("the API's answer has too many headers to return")
    if "cache-control" not in headers:
        headers["cache-control"] = "no-store"
        headers["pragma"] = "no-cache"
    return {**headers, **_SECURITY_HEADERS, "content-security-policy": CSP_PROXIED}


# --- the answer ---------------------------------------------------------------------------------


def _textual(content_type: str) -> bool:
    media, _, params = content_type.partition(";")
    media = media.strip().lower()
    charset = next(
        (
            p.split("=", 1)[1].strip().strip('"').lower()
            for p in params.split(";")
            if p.strip().lower().startswith("charset=")
        ),
        "utf-8",
    )
    if charset not in ("utf-8", "utf8", "us-ascii"):
        return False
    return media.startswith("text/") or media in _TEXT_TYPES or media.endswith(("+json", "+xml"))


@dataclass(frozen=True, slots=True)
class ProxyResult:
    """The upstream's answer, already shaped for the browser."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def to_response(self) -> Response:
        """API Gateway's answer: text when the type is textual and the bytes are UTF-8 and fit,
        base64 otherwise (which always fits: :data:`MAX_RESPONSE_BODY`)."""
        body, is_base64 = self.body, True
        text: str | None = None
        if _textual(self.headers.get("content-type", "")):
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                text = None
        if text is not None and len(json.dumps(text)) <= LAMBDA_PAYLOAD - RESPONSE_OVERHEAD:
            encoded, is_base64 = text, False
        else:
            encoded = base64.b64encode(body).decode("ascii")
        return {
            "statusCode": self.status,
            "headers": dict(self.headers),
            "cookies": [],
            "body": encoded if body else "",
            "isBase64Encoded": is_base64 and bool(body),
        }


def error_response(error: BffError) -> Response:
    """``{"error": code, "message": text}`` for a refusal, with ``Allow`` for a 405."""
    headers = {
        "cache-control": "no-store",
        "pragma": "no-cache",
        **_SECURITY_HEADERS,
        "content-security-policy": CSP_JSON,
        "content-type": "application/json",
    }
    if isinstance(error, MethodNotAllowed):
        headers["allow"] = ", ".join(error.allow)
    return {
        "statusCode": error.status,
        "headers": headers,
        "cookies": [],
        "body": json.dumps({"error": error.code, "message": error.message}, separators=(",", ":")),
        "isBase64Encoded": False,
    }


# --- the call -----------------------------------------------------------------------------------

_LOCATION = "hitkey_bff.location"


def _stash_location(response: httpx.Response) -> None:
    """Take ``Location`` out before httpx looks at it: ``Client.send`` builds a redirect request
    even when not following, and an odd ``Location`` (``javascript:...``) makes that raise
    ``InvalidURL``. :func:`inbound_headers` reads it from the stash."""
    values = response.headers.get_list("location")
    if values:
        response.extensions[_LOCATION] = values
        del response.headers["location"]


def _no_cookies() -> CookieJar:
    """A jar that keeps nothing: one client serves every user of a warm Lambda, so a cookie the
    upstream set for one user must never be sent on another's call."""
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


_clients_lock = threading.Lock()
_clients: dict[Upstream, httpx.Client] = {}


def client_for(upstream: Upstream) -> httpx.Client:
    """The upstream's ``httpx.Client``, made once per process: no redirects, no proxies from the
    environment, explicit timeouts (each call narrows them to its deadline), a small pool."""
    with _clients_lock:
        client = _clients.get(upstream)
        if client is None:
            client = httpx.Client(
                timeout=httpx.Timeout(upstream.timeout, connect=min(CONNECT_TIMEOUT, upstream.timeout)),
                follow_redirects=False,
                trust_env=False,
                limits=httpx.Limits(max_connections=10, max_keepalive_connections=5),
                headers={"user-agent": USER_AGENT},
                cookies=_no_cookies(),
                event_hooks={"response": [_stash_location]},
            )
            _clients[upstream] = client
        return client


def close_clients() -> None:
    """Close and forget every cached client (tests; a process that changes its table)."""
    with _clients_lock:
        for client in _clients.values():
            client.close()
        _clients.clear()


def deadline_from(started: float, remaining_ms: int | None = None) -> float:
    """The monotonic deadline of a proxied request that started at ``started``: at most
    :data:`DEADLINE_SECONDS`, and one second before the Lambda's own end when that is known."""
    budget = DEADLINE_SECONDS if remaining_ms is None else min(DEADLINE_SECONDS, remaining_ms / 1000 - 1.0)
    return started + budget


def _read(response: httpx.Response, call_deadline: float) -> bytes:
    if response.request.method == "HEAD":
        return b""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_RESPONSE_BODY:
            raise UpstreamResponseTooLarge("the API's answer is too large to return")
        if time.monotonic() > call_deadline:
            raise UpstreamTimeout("the API did not finish its answer in time")
        chunks.append(chunk)
    return b"".join(chunks)


_TRANSPORT_ERRORS = (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError)


def _log_transport_error(exc: Exception) -> None:
    """The exception's class for operators (the log); callers get a sentence without it."""
    logger.warning("upstream transport error", extra={"transport_error": type(exc).__name__})


def _send(client: httpx.Client, request: httpx.Request, call_deadline: float) -> tuple[httpx.Response, bytes]:
    try:
        response = client.send(request, stream=True, follow_redirects=False)
    except httpx.TimeoutException:
        raise UpstreamTimeout("the API did not answer in time") from None
    except _TRANSPORT_ERRORS as exc:
        _log_transport_error(exc)
        raise UpstreamUnreachable("the API could not be reached") from None
    watchdog = _Watchdog(response, call_deadline)
    try:
        return response, _read(response, call_deadline)
    except httpx.TimeoutException:
        raise UpstreamTimeout("the API did not finish its answer in time") from None
    except httpx.DecodingError:
        raise UpstreamError("the API sent a body that cannot be decoded", code="upstream_bad_response") from None
    except _TRANSPORT_ERRORS as exc:
        if watchdog.fired:
            raise UpstreamTimeout("the API did not finish its answer in time") from None
        _log_transport_error(exc)
        raise UpstreamUnreachable("the API broke the connection") from None
    finally:
        watchdog.cancel()
        response.close()


def _record(upstream: Upstream, method: str, status: int, started: float, outcome: str) -> None:
    duration_ms = round((time.monotonic() - started) * 1000, 1)
    logger.info(
        "proxy call",
        extra={
            "upstream": upstream.name,
            "method": method,
            "status": status,
            "duration_ms": duration_ms,
            "outcome": outcome,
        },
    )
    series: list[tuple[str, MetricUnit, float]] = [
        ("ProxyCalls", MetricUnit.Count, 1),
        ("ProxyLatency", MetricUnit.Milliseconds, duration_ms),
    ]
    if 400 <= status < 500:
        series.append(("ProxyClientErrors", MetricUnit.Count, 1))
    elif status >= 500:
        series.append(("ProxyServerErrors", MetricUnit.Count, 1))
    for name, unit, value in series:
        # A metric of its own (not metrics.add_dimension): the dimension must not leak onto the
        # invocation's other metrics (Refreshes, ...), which would change their identity.
        with single_metric(name=name, unit=unit, value=value, namespace=metrics.namespace) as metric:
            metric.add_dimension(name="upstream", value=upstream.name)


def forward(
    client: httpx.Client,
    upstream: Upstream,
    request: ProxyRequest,
    url: httpx.URL,
    access_token: str,
    *,
    deadline: float,
) -> ProxyResult:
    """One call to the upstream, finished by ``min(now + upstream.timeout, deadline)``.

    Raises :class:`UpstreamUnauthorized` (carrying the shaped 401) when the upstream answers 401,
    :class:`UpstreamTimeout` (504), :class:`UpstreamUnreachable` or
    :class:`UpstreamResponseTooLarge` (502). Any other status, 5xx included, is a result.
    The request's body is bytes already, so a retry sends exactly the same request."""
    started = time.monotonic()
    budget = min(upstream.timeout, deadline - started)
    if request.method not in METHODS:
        raise MethodNotAllowed("this method cannot be proxied", allow=upstream.methods)
    if budget < MIN_CALL_SECONDS:
        _record(upstream, request.method, 504, started, "no_time_left")
        raise UpstreamTimeout("no time was left to call the API")
    outgoing = client.build_request(
        request.method,
        url,
        headers=outbound_headers(request.headers, access_token, request.source_ip),
        content=request.body if request.body or request.method not in ("GET", "HEAD") else None,
        timeout=httpx.Timeout(budget, connect=min(CONNECT_TIMEOUT, budget)),
    )
    try:
        response, body = _send(client, outgoing, started + budget)
    except BffError as err:
        _record(upstream, request.method, err.status, started, err.code)
        raise
    result = ProxyResult(response.status_code, inbound_headers(response, url, upstream), body)
    _record(upstream, request.method, response.status_code, started, "answered")
    if response.status_code == 401:
        raise UpstreamUnauthorized(result)
    return result
