"""The request side of the proxy: the parsed request read into a :class:`ProxyRequest`, the path after
``/api/{name}`` checked segment by segment, the upstream URL built and verified, and the checks
that need no I/O in the contract's order (:func:`prepare`).

API Gateway's ``rawPath`` is *decoded* once by HTTP APIs (a client's ``%2F`` arrives as ``/``,
``%252F`` as ``%2F``) while the local gateway passes it still encoded; :func:`parse_path` is safe
for both: it refuses anything that decodes, at any depth, to a separator, a dot segment or a
control character, and re-encodes what it forwards. The same dot-segment rule, and a browser's
reading of a path (:func:`browser_path`), judge an upstream's ``Location``. The event itself is
parsed by :class:`~hitkey_bff.http.Request`; :meth:`ProxyRequest.from_request` takes its parts.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import quote, unquote_to_bytes, urlsplit

import httpx

from hitkey_bff.errors import BffError, InvalidPath, MethodNotAllowed, PathNotAllowed, UnknownApi
from hitkey_bff.http import Request
from hitkey_bff.proxy.limits import MAX_DECODE_DEPTH, MAX_PATH, MAX_REQUEST_BODY
from hitkey_bff.proxy.upstreams import Upstream

_HEX_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
_BARE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_PATH_SAFE = "!$&'()*+,;=:@%~"
_QUERY_SAFE = _PATH_SAFE + "/?"


# --- the request --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProxyRequest:
    """What the proxy forwards: the upstream's name, the rest of the path as API Gateway gave it,
    the raw query string, headers (lower-case names), the decoded body and the caller's IP as API
    Gateway saw it."""

    name: str
    method: str
    rest: str
    raw_query: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    source_ip: str = ""

    @classmethod
    def from_request(cls, request: Request) -> ProxyRequest:
        """Split ``/api/{name}{rest}`` and decode the body; :class:`InvalidPath`,
        :class:`PayloadTooLarge` or :class:`InvalidBody` for what cannot be proxied."""
        if not request.raw_path.startswith("/api/"):
            raise InvalidPath("the path must start with /api/{name}")
        name, slash, rest = request.raw_path[len("/api/") :].partition("/")
        return cls(
            name=name,
            method=request.method,
            rest=slash + rest,
            raw_query=request.raw_query,
            headers=request.headers,
            body=request.body(MAX_REQUEST_BODY),
            source_ip=request.source_ip,
        )

    @classmethod
    def from_event(cls, event: object) -> ProxyRequest:
        """:meth:`from_request` of the event parsed by :class:`~hitkey_bff.http.Request`."""
        return cls.from_request(Request.from_event(event))


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
    """The query string as the client sent it; characters a URL cannot carry are encoded. Its
    length was checked with every route's (``http.MAX_QUERY``) when the event was parsed."""
    if any(0xD800 <= ord(c) <= 0xDFFF for c in raw_query):
        raise BffError("the query string is not valid text", code="invalid_query")
    return quote(_BARE_PERCENT.sub("%25", raw_query), safe=_QUERY_SAFE)


@lru_cache(maxsize=128)
def base_url(upstream: Upstream) -> httpx.URL:
    return httpx.URL(upstream.url)


def upstream_url(upstream: Upstream, path: ParsedPath, raw_query: str) -> httpx.URL:
    """Base URL + path + query, verified after joining: same scheme, host and port, a path at or
    under the base path, with no ``//`` and no dot segment. Anything else is :class:`InvalidPath`
    (never sent)."""
    base = base_url(upstream)
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


def prepare(
    upstreams: Mapping[str, Upstream], source: Request | Mapping[str, object]
) -> tuple[Upstream, ProxyRequest, httpx.URL]:
    """Everything that needs no I/O, in the contract's order: the body (400/413), the name (404),
    the path (400), the method (405) and ``paths`` (403), for a parsed request (or an event, parsed
    first). The route runs it after the session check, so a caller without a session learns
    nothing about the table."""
    parsed = source if isinstance(source, Request) else Request.from_event(source)
    request = ProxyRequest.from_request(parsed)
    upstream = lookup(upstreams, request.name)
    return upstream, request, check(upstream, request)


def location_segments_safe(value: str) -> bool:
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
