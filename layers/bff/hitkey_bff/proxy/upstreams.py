"""The proxy's upstream table, ``API_UPSTREAMS``: parsed once, validated fully, frozen.

Two forms per name::

    {"projects": "https://api.hitkey.io/v1/projects"}                   # short: GET only
    {"notes": {"url": "https://notes.example.com",
               "methods": ["GET", "POST", "PUT", "DELETE"],
               "paths": ["/notes", "/notes/*"], "timeout": 10}}         # full

Rules: names ``[a-z0-9-]{1,32}``; ``url`` is ``https`` (``http`` only for a loopback host:
127.0.0.0/8, ``::1``, ``localhost``) with a host, no credentials, no query, no fragment; its path
is the upstream's base path, which no request can leave. ``methods`` from :data:`METHODS`
(default ``["GET"]``). ``timeout`` seconds, ``0 < timeout <= MAX_TIMEOUT`` (default 10).

``paths`` (optional) is an allow-list of patterns, relative to the base path. A pattern is
``/`` (the base itself) or ``/`` followed by segments separated by ``/``; each segment is

* a literal, compared case-sensitively with the request's percent-decoded segment,
* ``*``: exactly one segment, any non-empty value,
* ``**`` (last segment only): one or more segments, any values.

A single trailing slash on the request is ignored for matching (``/notes/`` matches ``/notes``;
the base with or without a slash matches ``/``); the upstream still receives the path as sent.
Without ``paths`` every path under the base is allowed.

A bad table raises :class:`~hitkey_bff.errors.ConfigError` (``503 misconfigured``) naming the
upstream and what is wrong (never the variable's name: that is for the log line); nothing here
runs at import time.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from hitkey_bff.budgets import PROXY_CALL_MAX_SECONDS
from hitkey_bff.errors import ConfigError

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
DEFAULT_METHODS = ("GET",)
DEFAULT_TIMEOUT = PROXY_CALL_MAX_SECONDS
# Two upstream calls (the first answered 401, the retry) of at most 10 s each leave >= 4 s of
# the proxy's 24 s deadline for the refreshes (hitkey_bff.budgets asserts it).
MAX_TIMEOUT = PROXY_CALL_MAX_SECONDS
MAX_UPSTREAMS = 50
MAX_PATTERNS = 50
_NAME = re.compile(r"[a-z0-9-]{1,32}")
_LITERAL = re.compile(r"[A-Za-z0-9._~!$&'()+,;=:@-]+")
_LOOPBACK_NAMES = frozenset({"localhost"})


@dataclass(frozen=True, slots=True)
class Pattern:
    """One ``paths`` entry: literal segments, ``*`` for one segment, a final ``**`` for any depth."""

    text: str
    segments: tuple[str, ...]

    def matches(self, segments: tuple[str, ...]) -> bool:
        """Whether a request's decoded segments (trailing empty segment already removed) match."""
        pattern = self.segments
        if pattern and pattern[-1] == "**":
            head = pattern[:-1]
            return len(segments) > len(head) and _match_each(head, segments[: len(head)])
        return len(segments) == len(pattern) and _match_each(pattern, segments)


def _match_each(pattern: tuple[str, ...], segments: tuple[str, ...]) -> bool:
    return all((p == "*" and s != "") or p == s for p, s in zip(pattern, segments, strict=True))


@dataclass(frozen=True, slots=True)
class Upstream:
    """A named API the SPA may call through ``/api/{name}/...``."""

    name: str
    url: str  # scheme://host[:port][/base], no trailing slash
    scheme: str
    host: str
    port: int | None
    base_path: str  # "" or "/base" without a trailing slash
    methods: tuple[str, ...]
    paths: tuple[Pattern, ...] | None
    timeout: float = DEFAULT_TIMEOUT

    def allows_path(self, segments: tuple[str, ...]) -> bool:
        """Whether ``paths`` (if any) allows the request's decoded segments."""
        if self.paths is None:
            return True
        trimmed = segments[:-1] if segments and segments[-1] == "" else segments
        return any(p.matches(trimmed) for p in self.paths)


def _bad(name: str, what: str) -> ConfigError:
    return _public(f"API upstream {name!r}: {what}")


def _public(message: str) -> ConfigError:
    """A table error: it names an upstream and a rule, never a variable or an ARN."""
    err = ConfigError(message)
    err.public = True
    return err


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url(name: str, raw: object) -> tuple[str, str, str, int | None, str]:
    if not isinstance(raw, str) or not raw.strip():
        raise _bad(name, "url must be a non-empty string")
    if raw != raw.strip() or any(ord(c) < 0x21 or ord(c) == 0x7F or c == "\\" for c in raw):
        raise _bad(name, "url must not contain spaces, control characters or backslashes")
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise _bad(name, "url is not a valid URL (check the port)") from None
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    if scheme not in ("https", "http"):
        raise _bad(name, "url must start with https://")
    if not host:
        raise _bad(name, "url has no host")
    if scheme == "http" and not _is_loopback(host):
        raise _bad(name, "url must use https (plain http is allowed only for a loopback host)")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise _bad(name, "url must not contain credentials")
    if parts.query or "?" in raw:
        raise _bad(name, "url must not contain a query string")
    if parts.fragment or "#" in raw:
        raise _bad(name, "url must not contain a fragment")
    base = parts.path.rstrip("/")
    segments = base.split("/")[1:] if base else []
    if any(s == "" or unquote(s) in (".", "..") or "%" in s for s in segments):
        raise _bad(name, "url's path must not contain empty, '.', '..' or percent-encoded segments")
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    return f"{scheme}://{netloc}{base}", scheme, host, port, base


def _methods(name: str, raw: object) -> tuple[str, ...]:
    if raw is None:
        return DEFAULT_METHODS
    if not isinstance(raw, list) or not raw:
        raise _bad(name, 'methods must be a non-empty list, e.g. ["GET", "POST"]')
    methods: list[str] = []
    for item in raw:
        if not isinstance(item, str) or item.upper() not in METHODS:
            raise _bad(name, f"method {item!r} is not one of {', '.join(sorted(METHODS))}")
        if item.upper() not in methods:
            methods.append(item.upper())
    return tuple(methods)


def parse_pattern(name: str, raw: object) -> Pattern:
    """One ``paths`` entry; raises :class:`ConfigError` naming the upstream and the pattern."""
    if not isinstance(raw, str) or not raw.startswith("/"):
        raise _bad(name, f"path pattern {raw!r} must be a string starting with /")
    if raw == "/":
        return Pattern(raw, ())
    segments = tuple(raw[1:].split("/"))
    for i, seg in enumerate(segments):
        if seg == "**" and i == len(segments) - 1:
            continue
        if seg == "**":
            raise _bad(name, f"path pattern {raw!r}: ** is allowed only as the last segment")
        if seg == "*":
            continue
        if not seg:
            raise _bad(name, f"path pattern {raw!r} has an empty segment (// or a trailing /)")
        if seg in (".", "..") or not _LITERAL.fullmatch(seg):
            raise _bad(
                name,
                f"path pattern {raw!r}: segment {seg!r} must be *, ** or plain characters "
                "(letters, digits and -._~!$&'()+,;=:@; no %, no partial wildcards)",
            )
    return Pattern(raw, segments)


def _paths(name: str, raw: object) -> tuple[Pattern, ...] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or not raw:
        raise _bad(name, 'paths must be a non-empty list of patterns, e.g. ["/notes", "/notes/*"]')
    if len(raw) > MAX_PATTERNS:
        raise _bad(name, f"paths has more than {MAX_PATTERNS} patterns")
    return tuple(parse_pattern(name, p) for p in raw)


def _timeout(name: str, raw: object) -> float:
    if raw is None:
        return DEFAULT_TIMEOUT
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not 0 < raw <= MAX_TIMEOUT:
        raise _bad(name, f"timeout must be a number of seconds above 0 and at most {MAX_TIMEOUT:g}")
    return float(raw)


_KEYS = frozenset({"url", "methods", "paths", "timeout"})


class _Duplicate(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """A JSON object that names no key twice (json.loads would silently keep the last)."""
    seen: dict[str, object] = {}
    for key, value in pairs:
        if key in seen:
            raise _Duplicate(key)
        seen[key] = value
    return seen


def parse_upstream(name: object, spec: object) -> Upstream:
    """One entry of the table, short (a URL string) or full (an object)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise _public(f"API upstream name {str(name)[:40]!r} must match [a-z0-9-]{{1,32}}")
    if isinstance(spec, str):
        spec = {"url": spec}
    if not isinstance(spec, Mapping):
        raise _bad(name, "must be a URL string or an object with url, methods, paths, timeout")
    unknown = sorted(str(k) for k in spec if k not in _KEYS)
    if unknown:
        raise _bad(name, f"unknown key(s) {', '.join(unknown)} (known: methods, paths, timeout, url)")
    url, scheme, host, port, base = _url(name, spec.get("url"))
    return Upstream(
        name=name,
        url=url,
        scheme=scheme,
        host=host,
        port=port,
        base_path=base,
        methods=_methods(name, spec.get("methods")),
        paths=_paths(name, spec.get("paths")),
        timeout=_timeout(name, spec.get("timeout")),
    )


def parse_upstreams(raw: str | None) -> Mapping[str, Upstream]:
    """The whole ``API_UPSTREAMS`` value (``None`` or blank means no upstreams)."""
    if raw is None or not raw.strip():
        return {}
    try:
        table = json.loads(raw, object_pairs_hook=_unique)
    except _Duplicate as dup:
        raise _public(f"the API upstream table names {dup.key!r} twice") from None
    except ValueError as exc:
        raise _public(f"the API upstream table is not valid JSON (line {getattr(exc, 'lineno', '?')})") from None
    if not isinstance(table, dict):
        raise _public('the API upstream table must be a JSON object of named upstreams, e.g. {"notes": "https://..."}')
    if len(table) > MAX_UPSTREAMS:
        raise _public(f"the API upstream table has more than {MAX_UPSTREAMS} upstreams")
    return {name: parse_upstream(name, spec) for name, spec in table.items()}
