"""API Gateway HTTP API (payload 2.0) in and out: a typed :class:`Request` and response builders."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from hitkey_bff.errors import BadRequest, BffError

Response = dict[str, Any]
Handler = Callable[[dict[str, Any], Any], Response]

MAX_QUERY = 4096
MAX_QUERY_FIELDS = 32
MAX_COOKIE_VALUE = 1024

_BASE_HEADERS = {
    "cache-control": "no-store",
    "pragma": "no-cache",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    # HTTPS only, for two years; no includeSubDomains: the BFF does not own its parent domain's
    # other hosts (docs/security.md)
    "strict-transport-security": "max-age=63072000",
}
_JSON_HEADERS = {
    "content-type": "application/json",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",  # JSON is never a page
}


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
    # The event itself, for a flow that reads more of it (the API proxy: body, rawPath, sourceIp).
    event: Mapping[object, object] = field(default_factory=dict, repr=False, compare=False)

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
        return cls(
            method=_text(method).upper() if isinstance(method, str) else "",
            path=_text(path) if isinstance(path, str) else "",
            headers=headers,
            query=query,
            cookies=_parse_cookies(ev.get("cookies")),
            event=ev,
        )

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
