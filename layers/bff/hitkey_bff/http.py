"""API Gateway HTTP API (payload 2.0) in and out: a typed :class:`Request` and response builders.

The event is parsed once, here: what the flows read (method, path, headers, query, cookies) and
what the API proxy forwards as it came (the raw path and query, the caller's IP, the body, which
is decoded only when asked: a refused request never pays for it). One security-header policy
covers every answer: :data:`SECURITY_HEADERS` on all of them, HSTS on the BFF's own (a browser
learns it for the whole host from any of them; a proxied answer carries the upstream's headers
through an allow-list that has none), and a CSP by kind: :data:`CSP_JSON` for JSON, the proxy's
sandboxing one for proxied bodies.
"""

from __future__ import annotations

import binascii
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from hitkey_bff.errors import BadRequest, BffError, InvalidBody, PayloadTooLarge

Response = dict[str, Any]
Handler = Callable[[dict[str, Any], Any], Response]

MAX_QUERY = 4096
MAX_QUERY_FIELDS = 32
MAX_COOKIE_VALUE = 1024

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cross-origin-resource-policy": "same-origin",
}
# HTTPS only, for two years; no includeSubDomains: the BFF does not own its parent domain's other
# hosts (docs/security.md)
HSTS = {"strict-transport-security": "max-age=63072000"}
CSP_JSON = "default-src 'none'; frame-ancestors 'none'"  # JSON is never a page
_BASE_HEADERS = {"cache-control": "no-store", "pragma": "no-cache", **SECURITY_HEADERS, **HSTS}
_JSON_HEADERS = {"content-type": "application/json", "content-security-policy": CSP_JSON}


def _text(value: str) -> str:
    """A string that encodes as UTF-8: lone surrogates (JSON allows ``"\\udcff"``) become U+FFFD."""
    return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def _mapping(value: object) -> Mapping[object, object]:
    return value if isinstance(value, Mapping) else {}


def _parse_cookies(raw: object) -> dict[str, list[str]]:
    jar: dict[str, list[str]] = {}
    items = raw if isinstance(raw, list) else []
    for item in items:
        if not isinstance(item, str):
            continue
        for pair in _text(item).split(";"):
            name, sep, value = pair.strip().partition("=")
            if sep and name:
                jar.setdefault(name, []).append(value.strip())
    return jar


@dataclass(frozen=True, slots=True)
class Request:
    """The parts of an HTTP API 2.0 event that the flows read; hostile input is tolerated."""

    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, list[str]] = field(default_factory=dict)
    cookies: dict[str, list[str]] = field(default_factory=dict)
    # As API Gateway sent them, for the API proxy, which forwards them (its rules refuse what is
    # not valid text): ``rawPath``, ``rawQueryString``, the caller's ``sourceIp``.
    raw_path: str = ""
    raw_query: str = ""
    source_ip: str = ""
    # The body as the event carries it (text, or base64 when ``body_is_base64``): see :meth:`body`.
    raw_body: str = field(default="", repr=False)
    body_is_base64: bool = False

    @classmethod
    def from_event(cls, event: object) -> Request:
        """Parse an event; raises :class:`BadRequest` for a query string we refuse to read."""
        ev = _mapping(event)
        http = _mapping(_mapping(ev.get("requestContext")).get("http"))
        raw_query = ev.get("rawQueryString")
        raw_query = _text(raw_query) if isinstance(raw_query, str) else ""
        if len(raw_query) > MAX_QUERY:
            raise BadRequest("query string too long", code="query_too_long")
        try:
            query = parse_qs(raw_query, keep_blank_values=True, max_num_fields=MAX_QUERY_FIELDS)
        except ValueError:
            raise BadRequest("too many query parameters", code="query_too_long") from None
        headers = {
            _text(str(k)).lower(): _text(v) for k, v in _mapping(ev.get("headers")).items() if isinstance(v, str)
        }
        method, path = http.get("method"), http.get("path") or ev.get("rawPath")
        raw_path, raw_query, source_ip, body = (
            ev.get("rawPath"),
            ev.get("rawQueryString"),
            http.get("sourceIp"),
            ev.get("body"),
        )
        return cls(
            method=_text(method).upper() if isinstance(method, str) else "",
            path=_text(path) if isinstance(path, str) else "",
            headers=headers,
            query=query,
            cookies=_parse_cookies(ev.get("cookies")),
            raw_path=raw_path if isinstance(raw_path, str) else "",
            raw_query=raw_query if isinstance(raw_query, str) else "",
            source_ip=source_ip if isinstance(source_ip, str) else "",
            raw_body=body if isinstance(body, str) else "",
            body_is_base64=ev.get("isBase64Encoded") is True,
        )

    def body(self, max_bytes: int) -> bytes:
        """The body as bytes, its size checked before anything is decoded:
        :class:`PayloadTooLarge` over ``max_bytes``, :class:`InvalidBody` when it does not decode."""
        body = self.raw_body
        if not body:
            return b""
        if self.body_is_base64:
            padding = len(body) - len(body.rstrip("="))
            if len(body) // 4 * 3 - padding > max_bytes:
                raise PayloadTooLarge(f"the request body is over {max_bytes} bytes")
            try:
                return binascii.a2b_base64(body, strict_mode=True)
            except (binascii.Error, ValueError):
                raise InvalidBody("the request body is not valid base64") from None
        if len(body) > max_bytes:  # a character is at least one byte
            raise PayloadTooLarge(f"the request body is over {max_bytes} bytes")
        try:
            data = body.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidBody("the request body is not valid text") from None
        if len(data) > max_bytes:
            raise PayloadTooLarge(f"the request body is over {max_bytes} bytes")
        return data

    def param(self, name: str) -> str | None:
        """A query parameter given exactly once, else ``None`` (absent or duplicated)."""
        values = self.query.get(name, [])
        return values[0] if len(values) == 1 else None

    def cookie(self, name: str) -> str | None:
        """A cookie sent exactly once with a sane length, else ``None``."""
        values = self.cookies.get(name, [])
        if len(values) != 1 or not values[0] or len(values[0]) > MAX_COOKIE_VALUE:
            return None
        return values[0]


def json_response(status: int, body: object, cookies: Iterable[str] = ()) -> Response:
    """A JSON response that no cache keeps."""
    return {
        "statusCode": status,
        "headers": {**_BASE_HEADERS, **_JSON_HEADERS},
        "cookies": list(cookies),
        "body": json.dumps(body, separators=(",", ":")),
        "isBase64Encoded": False,
    }


def no_content(cookies: Iterable[str] = ()) -> Response:
    """A 204."""
    return {"statusCode": 204, "headers": dict(_BASE_HEADERS), "cookies": list(cookies), "body": ""}


def redirect(location: str, cookies: Iterable[str] = ()) -> Response:
    """A 302 to ``location``."""
    return {
        "statusCode": 302,
        "headers": {**_BASE_HEADERS, "location": location},
        "cookies": list(cookies),
        "body": "",
    }


def error_response(error: BffError, cookies: Iterable[str] = ()) -> Response:
    """``{"error": code, "message": text}`` with the error's status and extra headers."""
    response = json_response(error.status, {"error": error.code, "message": error.message}, cookies)
    response["headers"] = {**error.headers, **response["headers"]}
    return response
