"""The proxy's headers: the request headers it forwards (allow-list, our bearer token,
``X-Forwarded-For``), and an upstream's response headers made safe for the browser (allow-list,
``Location`` rewritten or dropped, ``Bearer`` challenges only, ``Cache-Control`` made private, our
security headers on top). The two value rules live in :mod:`hitkey_bff.proxy.header_rules`.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Iterable, Mapping

import httpx

from hitkey_bff.errors import InvalidPath, UpstreamResponseTooLarge
from hitkey_bff.proxy.header_rules import bearer_challenges, private_cache_control
from hitkey_bff.proxy.limits import MAX_RESPONSE_HEADERS
from hitkey_bff.proxy.paths import base_url, browser_path, location_segments_safe, parse_path
from hitkey_bff.proxy.upstreams import Upstream

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
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cross-origin-resource-policy": "same-origin",
}


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


def rewrite_location(value: str, request_url: httpx.URL, upstream: Upstream) -> str | None:
    """A ``Location`` on the upstream, rewritten to ``/api/{name}/...``; anything else: ``None``.

    Dropped: a value with a control character (tab included: browsers delete it), a path segment
    that is a dot segment in any decoding, a target off the upstream or outside its base path, a
    path below the base that the proxy would refuse as a request, and a result that a browser
    would resolve outside ``/api/{name}``."""
    value = value.strip(" ")
    if not _clean_value(value) or "\t" in value or not location_segments_safe(value):
        return None
    try:
        resolved = request_url.join(value)
    except (httpx.InvalidURL, ValueError):
        return None
    base = base_url(upstream)
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


_LOCATION = "hitkey_bff.location"


def stash_location(response: httpx.Response) -> None:
    """Take ``Location`` out before httpx looks at it: ``Client.send`` builds a redirect request
    even when not following, and an odd ``Location`` (``javascript:...``) makes that raise
    ``InvalidURL``. :func:`inbound_headers` reads it from the stash."""
    values = response.headers.get_list("location")
    if values:
        response.extensions[_LOCATION] = values
        del response.headers["location"]


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
    return {**headers, **SECURITY_HEADERS, "content-security-policy": CSP_PROXIED}
