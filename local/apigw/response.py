"""What API Gateway sends back: a function's answer as HTTP (payload format 2.0) and CORS headers."""

from __future__ import annotations

import base64
import decimal
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from local.api_template import CorsConfig

HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}
)


@dataclass(slots=True)
class HttpResponse:
    """What goes back on the wire. ``headers`` may repeat a name (``Set-Cookie``)."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


class MalformedResponse(ValueError):
    """The function returned something API Gateway cannot turn into a response (a 502)."""


def _lambda_json_default(obj: Any) -> Any:
    # The Python runtime's marshaller turns Decimals into numbers; everything else is an error.
    if isinstance(obj, decimal.Decimal):
        if obj.is_nan():
            return math.nan
        return int(obj) if obj == obj.to_integral_value() else float(obj)
    raise TypeError(f"Unable to marshal response: Object of type {type(obj).__name__} is not JSON serializable")


def json_response(status: int, payload: Any, extra: Iterable[tuple[str, str]] = ()) -> HttpResponse:
    body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
    return HttpResponse(status, [("content-type", "application/json"), *extra], body)


def _header_value(name: str, value: Any) -> str:
    if not isinstance(value, str | int | float):  # bool is an int
        raise MalformedResponse(f"header {name!r} must be a string, got {type(value).__name__}")
    text = str(value).lower() if isinstance(value, bool) else str(value)
    if any(c in text for c in "\r\n\0"):
        raise MalformedResponse(f"header {name!r} contains a line break")
    return text


def translate_response(result: Any) -> HttpResponse:
    """Map a function's return value to HTTP as API Gateway does for payload format 2.0.

    A dict with ``statusCode`` is taken field by field; any other JSON value is 200 with the value
    as JSON. Raises :class:`MalformedResponse` (``TypeError`` for no JSON) where API Gateway 502s.
    """
    # What API Gateway sees is the JSON the runtime marshalled, not the Python object.
    result = json.loads(json.dumps(result, default=_lambda_json_default))
    if not (isinstance(result, dict) and "statusCode" in result):
        return json_response(200, result)
    status = result["statusCode"]
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise MalformedResponse(f"statusCode must be an HTTP status, got {result['statusCode']!r}")
    return HttpResponse(status, _response_headers(result), _response_body(result))


def _response_headers(result: dict[str, Any]) -> list[tuple[str, str]]:
    """``headers`` (minus hop-by-hop and content-length), then one ``Set-Cookie`` per ``cookies`` entry."""
    raw_headers = result.get("headers") or {}
    if not isinstance(raw_headers, dict):
        raise MalformedResponse("headers must be an object")
    headers: list[tuple[str, str]] = []
    for name, value in raw_headers.items():
        if not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name):
            raise MalformedResponse(f"invalid header name {name!r}")
        if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
            headers.append((name, _header_value(name, value)))
    cookies = result.get("cookies") or []
    if not isinstance(cookies, list) or not all(isinstance(c, str) for c in cookies):
        raise MalformedResponse("cookies must be a list of strings")
    return headers + [("Set-Cookie", _header_value("Set-Cookie", c)) for c in cookies]


def _response_body(result: dict[str, Any]) -> bytes:
    body = result.get("body")
    if body is None:
        return b""
    if not isinstance(body, str):
        raise MalformedResponse(f"body must be a string, got {type(body).__name__}")
    if not result.get("isBase64Encoded"):
        return body.encode("utf-8")
    try:
        return base64.b64decode(body, validate=True)
    except ValueError as exc:  # binascii.Error, or a non-ASCII body
        raise MalformedResponse("isBase64Encoded is true but body is not base64") from exc


def _origin_allowed(cors: CorsConfig, origin: str) -> bool:
    return bool(origin) and ("*" in cors.allow_origins or origin in cors.allow_origins)


def cors_preflight(cors: CorsConfig, headers: Mapping[str, str]) -> HttpResponse:
    """API Gateway's own 204 to a preflight (``headers`` lower-cased): CORS headers for a matching origin."""
    origin = headers.get("origin", "")
    out: list[tuple[str, str]] = []
    if _origin_allowed(cors, origin) and headers.get("access-control-request-method"):
        wildcard_origin = "*" in cors.allow_origins and not cors.allow_credentials
        out.append(("access-control-allow-origin", "*" if wildcard_origin else origin))
        if cors.allow_methods:
            out.append(("access-control-allow-methods", ",".join(cors.allow_methods)))
        requested = headers.get("access-control-request-headers", "")
        if cors.allow_headers:
            allowed = ",".join(cors.allow_headers) if "*" not in cors.allow_headers else requested
            if allowed:
                out.append(("access-control-allow-headers", allowed))
        if cors.allow_credentials:
            out.append(("access-control-allow-credentials", "true"))
        if cors.max_age is not None:
            out.append(("access-control-max-age", str(cors.max_age)))
    return HttpResponse(204, out)


def cors_response_headers(cors: CorsConfig, headers: Mapping[str, str]) -> list[tuple[str, str]]:
    """The CORS headers API Gateway adds to an ordinary response for a matching ``Origin``."""
    origin = headers.get("origin", "")
    if not _origin_allowed(cors, origin):
        return []
    out = [("access-control-allow-origin", origin if cors.allow_credentials or "*" not in cors.allow_origins else "*")]
    if cors.allow_credentials:
        out.append(("access-control-allow-credentials", "true"))
    if cors.expose_headers:
        out.append(("access-control-expose-headers", ",".join(cors.expose_headers)))
    return out
