"""The payload-2.0 event API Gateway sends a function for one request."""

from __future__ import annotations

import base64
import contextlib
import secrets
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from local.lambda_runtime import DEFAULT_ACCOUNT_ID

LOCAL_API_ID = "local"
MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# A request's headers all reach the event: AWS documents no exception for HTTP APIs' payload 2.0
# (repeats comma-joined, Cookie moved to ``cookies``), so ``Connection`` and the headers it names
# arrive too and the function must drop them itself. Only the framing is the gateway's own: the
# body arrives whole (``content-length`` is set for it), never chunked.
FRAMING = frozenset({"transfer-encoding"})
_TEXT_MEDIA_TYPES = frozenset({"application/json", "application/javascript", "application/xml", "application/graphql"})
_OPTIONAL_EVENT_FIELDS = ("cookies", "queryStringParameters", "pathParameters")  # absent when empty


def _split_host(host: str) -> tuple[str, int | None]:
    if host.startswith("["):  # [::1]:3000
        end = host.find("]")
        name, rest = host[1:end], host[end + 1 :]
        port = rest[1:] if rest.startswith(":") else ""
    else:
        name, _, port = host.partition(":")
    return name, int(port) if port.isdigit() else None


def build_event(
    method: str,
    path: str,
    raw_query: str = "",
    headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    cookies: Mapping[str, str] | Sequence[str] | None = None,
    body: str | bytes | None = None,
    route_key: str | None = None,
    *,
    path_parameters: Mapping[str, str] | None = None,
    source_ip: str = "127.0.0.1",
    protocol: str = "HTTP/1.1",
    request_id: str | None = None,
) -> dict[str, Any]:
    """The HTTP API payload-2.0 event API Gateway sends for one request.

    ``headers`` (a mapping, or pairs) are lower-cased, repeats comma-joined; ``Cookie`` headers
    become ``cookies``, then ``cookies`` (``{"name": "value"}`` or ``["name=value"]``).
    ``queryStringParameters`` decodes ``raw_query`` (kept as given), repeats comma-joined. Like API
    Gateway, ``host`` (default ``localhost:3000``), ``x-forwarded-*`` and ``x-amzn-trace-id`` are
    always present (given values are kept: an event's own headers round-trip).
    """
    method = method.upper()
    if "?" in path and not raw_query:
        path, _, raw_query = path.partition("?")
    now = datetime.now(UTC)
    cookie_list, plain = _split_cookies(headers, cookies)
    payload = body.encode("utf-8") if isinstance(body, str) else (body or b"")
    domain, port = _split_host(plain.setdefault("host", ["localhost:3000"])[0])
    if payload:
        plain.setdefault("content-length", [str(len(payload))])
    plain.setdefault("x-forwarded-for", [source_ip])
    plain.setdefault("x-forwarded-port", [str(port or 80)])
    plain.setdefault("x-forwarded-proto", ["http"])
    plain.setdefault("x-amzn-trace-id", [f"Root=1-{int(now.timestamp()):08x}-{secrets.token_hex(12)}"])
    header_map = {name: ",".join(values) for name, values in plain.items()}
    route_key = route_key or f"{method} {path}"
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": raw_query,
        "cookies": cookie_list,
        "headers": header_map,
        "queryStringParameters": {k: ",".join(v) for k, v in parse_qs(raw_query, keep_blank_values=True).items()},
        "requestContext": {
            "accountId": DEFAULT_ACCOUNT_ID,
            "apiId": LOCAL_API_ID,
            "domainName": domain,
            "domainPrefix": domain.split(".", 1)[0],
            "http": {
                "method": method,
                "path": path,
                "protocol": protocol,
                "sourceIp": source_ip,
                "userAgent": header_map.get("user-agent", ""),
            },
            "requestId": request_id or base64.b64encode(secrets.token_bytes(11)).decode("ascii"),
            "routeKey": route_key,
            "stage": "$default",
            "time": f"{now:%d}/{_MONTHS[now.month - 1]}/{now:%Y:%H:%M:%S} +0000",
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "pathParameters": dict(path_parameters or {}),
        **_body_fields(payload, header_map.get("content-type")),
    }
    return {k: v for k, v in event.items() if v or k not in _OPTIONAL_EVENT_FIELDS}


def _split_cookies(
    headers: Mapping[str, str] | Iterable[tuple[str, str]] | None, cookies: Mapping[str, str] | Sequence[str] | None
) -> tuple[list[str], dict[str, list[str]]]:
    """``Cookie`` headers split on ``;`` (then ``cookies``), and the other headers but the framing, lower-cased."""
    cookie_list: list[str] = []
    plain: dict[str, list[str]] = {}
    for name, value in headers.items() if isinstance(headers, Mapping) else headers or ():
        name, value = str(name).lower(), str(value)
        if name == "cookie":
            cookie_list.extend(c.strip() for c in value.split(";") if c.strip())
        elif name not in FRAMING:
            plain.setdefault(name, []).append(value)
    if isinstance(cookies, Mapping):
        cookie_list.extend(f"{k}={v}" for k, v in cookies.items())
    elif cookies is not None:
        cookie_list.extend(cookies)
    return cookie_list, plain


def _body_fields(payload: bytes, content_type: str | None) -> dict[str, Any]:
    """``body`` as text when textual and UTF-8, else base64 (forms too, as API Gateway does); ``isBase64Encoded``."""
    if not payload:
        return {"isBase64Encoded": False}
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media.startswith("text/") or media in _TEXT_MEDIA_TYPES or media.endswith(("+json", "+xml")):
        with contextlib.suppress(UnicodeDecodeError):
            return {"body": payload.decode("utf-8"), "isBase64Encoded": False}
    return {"body": base64.b64encode(payload).decode("ascii"), "isBase64Encoded": True}
