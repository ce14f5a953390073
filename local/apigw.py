"""The API Gateway HTTP API contract, without a server: routes from the template and how a
request picks one, the payload-2.0 event a request becomes, the Lambda context, how a function's
answer becomes HTTP (cookies, base64) and how CORS preflights are answered.

The local gateway, the tests and the bench build events and contexts with these functions.
"""

from __future__ import annotations

import base64
import binascii
import decimal
import json
import math
import os
import re
import secrets
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote

from local.template import CorsConfig, FunctionSpec, http_events

DEFAULT_ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"
LOCAL_API_ID = "local"
MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}
)
_TEXT_MEDIA_TYPES = frozenset({"application/json", "application/javascript", "application/xml", "application/graphql"})


# --------------------------------------------------------------------------------------------
# Routes
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Route:
    """``METHOD PATH`` -> function. ``method`` is upper case or ``ANY``; ``path`` may be ``$default``."""

    method: str
    path: str
    function: FunctionSpec
    event_name: str = ""
    _pattern: re.Pattern[str] | None = field(default=None, init=False, compare=False, repr=False)
    _param_names: tuple[str, ...] = field(default=(), init=False, compare=False, repr=False)
    _greedy: bool = field(default=False, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.path != "$default":
            pattern, names, greedy = _compile_path(self.path)
            object.__setattr__(self, "_pattern", pattern)
            object.__setattr__(self, "_param_names", names)
            object.__setattr__(self, "_greedy", greedy)

    @property
    def route_key(self) -> str:
        return "$default" if self.path == "$default" else f"{self.method} {self.path}"

    def match(self, method: str, raw_path: str) -> dict[str, str] | None:
        """Path parameters (decoded) when this route takes the request, else ``None``."""
        if self.method not in ("ANY", method):
            return None
        if self._pattern is None:  # $default
            return {}
        m = self._pattern.fullmatch(raw_path)
        if m is None:
            return None
        return {name: unquote(m.group(f"p{i}")) for i, name in enumerate(self._param_names)}

    @property
    def specificity(self) -> tuple[int, int, int, int]:
        """Sort key: literal paths beat ``{param}``s beat ``{proxy+}`` beat ``$default``; verbs beat ANY."""
        return (
            self.path == "$default",
            self._greedy,
            len(self._param_names),
            self.method == "ANY",
        )


def _compile_path(path: str) -> tuple[re.Pattern[str], tuple[str, ...], bool]:
    if not path.startswith("/"):
        raise ValueError(f"route path must start with '/': {path!r}")
    segments = [] if path == "/" else path[1:].split("/")
    parts: list[str] = []
    names: list[str] = []
    greedy = False
    for i, segment in enumerate(segments):
        m = re.fullmatch(r"\{([^{}/+]+)(\+?)\}", segment)
        if m is None:
            if "{" in segment or "}" in segment:
                raise ValueError(f"path variables must be whole segments: {path!r}")
            parts.append(re.escape(segment))
            continue
        name, plus = m.groups()
        if plus:
            if i != len(segments) - 1:
                raise ValueError(f"a greedy {{{name}+}} must be the last segment: {path!r}")
            greedy = True
        parts.append(f"(?P<p{len(names)}>{'.+' if plus else '[^/]+'})")
        names.append(name)
    return re.compile("/" + "/".join(parts)), tuple(names), greedy


def load_routes(template_path: str | os.PathLike[str]) -> dict[tuple[str, str], Route]:
    """Every ``HttpApi`` event of every ``AWS::Serverless::Function`` -> ``{(METHOD, PATH): Route}``.

    ``Method`` may be ``ANY``; ``Path`` may hold ``{name}`` or a trailing ``{proxy+}``; an
    ``HttpApi`` event without ``Path`` is ``$default`` (key ``("ANY", "$default")``).
    """
    routes: dict[tuple[str, str], Route] = {}
    for event in http_events(template_path):
        key = (event.method, event.path)
        if key in routes:
            other = routes[key].function.logical_id
            raise ValueError(
                f"route {event.method} {event.path} is defined twice ({other}, {event.function.logical_id})"
            )
        routes[key] = Route(event.method, event.path, event.function, event.name)
    return routes


# --------------------------------------------------------------------------------------------
# Events and context
# --------------------------------------------------------------------------------------------


class LambdaContext:
    """The attributes and method of the Python runtime's context object."""

    def __init__(
        self,
        function_name: str,
        timeout_s: float = 60,  # template.yaml's Globals Timeout
        *,
        memory_mb: int = 256,
        region: str | None = None,
        account_id: str | None = None,
    ) -> None:
        region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
        account_id = account_id or DEFAULT_ACCOUNT_ID
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{region}:{account_id}:function:{function_name}"
        self.memory_limit_in_mb = memory_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        today = datetime.now(UTC).strftime("%Y/%m/%d")
        self.log_stream_name = f"{today}/[$LATEST]{secrets.token_hex(16)}"
        self.identity: Any = None
        self.client_context: Any = None
        self.tenant_id: str | None = None
        self.timeout_s = timeout_s
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))

    def __repr__(self) -> str:
        return f"LambdaContext(function_name={self.function_name!r}, aws_request_id={self.aws_request_id!r})"


def make_context(function_name: str, timeout_s: float = 60, *, memory_mb: int = 256) -> LambdaContext:
    """A Lambda context whose clock starts now."""
    return LambdaContext(function_name, timeout_s, memory_mb=memory_mb)


def _is_text(content_type: str | None) -> bool:
    """API Gateway passes these bodies as text; anything else (forms too) arrives base64-encoded."""
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media.startswith("text/") or media in _TEXT_MEDIA_TYPES or media.endswith("+json") or media.endswith("+xml")


def _split_host(host: str) -> tuple[str, int | None]:
    if host.startswith("["):  # [::1]:3000
        end = host.find("]")
        name, rest = host[1:end], host[end + 1 :]
        port = rest[1:] if rest.startswith(":") else ""
    else:
        name, _, port = host.partition(":")
    return name, int(port) if port.isdigit() else None


def _request_time(now: datetime) -> str:
    return f"{now:%d}/{_MONTHS[now.month - 1]}/{now:%Y:%H:%M:%S} +0000"


def _header_pairs(headers: Mapping[str, str] | Iterable[tuple[str, str]] | None) -> list[tuple[str, str]]:
    if headers is None:
        return []
    items = headers.items() if isinstance(headers, Mapping) else headers
    return [(str(k).lower(), str(v)) for k, v in items]


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
    scheme: str = "http",
    request_id: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The HTTP API payload-2.0 event API Gateway sends for one request.

    ``headers`` may repeat a name (pairs); they are lower-cased and repeats joined with commas.
    ``Cookie`` headers are split on ``;`` into ``cookies`` and dropped from ``headers``;
    ``cookies`` (``{"name": "value"}`` or ``["name=value"]``) are added after them.
    ``raw_query`` is kept exactly as given; ``queryStringParameters`` is its decoded form with
    repeated keys comma-joined. A body is passed as text when its ``content-type`` is textual
    and it is UTF-8, else base64 with ``isBase64Encoded``. ``route_key`` defaults to
    ``"METHOD path"``. Like API Gateway, ``host`` (default ``localhost:3000``),
    ``x-forwarded-for/-port/-proto`` and ``x-amzn-trace-id`` are always present (values given
    in ``headers`` are kept, so an event's own headers round-trip unchanged).
    """
    method = method.upper()
    if "?" in path and not raw_query:
        path, _, raw_query = path.partition("?")
    now = now or datetime.now(UTC)
    pairs = _header_pairs(headers)

    cookie_list, plain = _split_cookies(pairs, cookies)
    payload = body.encode("utf-8") if isinstance(body, str) else (body or b"")
    host = plain.setdefault("host", ["localhost:3000"])[0]
    domain, port = _split_host(host)
    if payload and "content-length" not in plain:
        plain["content-length"] = [str(len(payload))]
    plain.setdefault("x-forwarded-for", [source_ip])
    plain.setdefault("x-forwarded-port", [str(port or (443 if scheme == "https" else 80))])
    plain.setdefault("x-forwarded-proto", [scheme])
    plain.setdefault("x-amzn-trace-id", [f"Root=1-{int(now.timestamp()):08x}-{secrets.token_hex(12)}"])
    header_map = {name: ",".join(values) for name, values in plain.items()}

    request_id = request_id or base64.b64encode(secrets.token_bytes(11)).decode("ascii")
    route_key = route_key or f"{method} {path}"
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": raw_query,
    }
    if cookie_list:
        event["cookies"] = cookie_list
    event["headers"] = header_map
    params: dict[str, list[str]] = {}
    for key, value in parse_qsl(raw_query, keep_blank_values=True):
        params.setdefault(key, []).append(value)
    if params:
        event["queryStringParameters"] = {k: ",".join(v) for k, v in params.items()}
    event["requestContext"] = {
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
        "requestId": request_id,
        "routeKey": route_key,
        "stage": "$default",
        "time": _request_time(now),
        "timeEpoch": int(now.timestamp() * 1000),
    }
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    event.update(_body_fields(payload, header_map.get("content-type")))
    return event


def _split_cookies(
    pairs: list[tuple[str, str]], cookies: Mapping[str, str] | Sequence[str] | None
) -> tuple[list[str], dict[str, list[str]]]:
    """``Cookie`` headers split on ``;`` (then ``cookies``), and the other non-hop-by-hop headers."""
    cookie_list: list[str] = []
    plain: dict[str, list[str]] = {}
    for name, value in pairs:
        if name == "cookie":
            cookie_list.extend(c.strip() for c in value.split(";") if c.strip())
        elif name not in HOP_BY_HOP:
            plain.setdefault(name, []).append(value)
    if isinstance(cookies, Mapping):
        cookie_list.extend(f"{k}={v}" for k, v in cookies.items())
    elif cookies is not None:
        cookie_list.extend(cookies)
    return cookie_list, plain


def _body_fields(payload: bytes, content_type: str | None) -> dict[str, Any]:
    """``body`` as text when textual and UTF-8, else base64; and ``isBase64Encoded``."""
    if not payload:
        return {"isBase64Encoded": False}
    if _is_text(content_type):
        try:
            return {"body": payload.decode("utf-8"), "isBase64Encoded": False}
        except UnicodeDecodeError:
            pass
    return {"body": base64.b64encode(payload).decode("ascii"), "isBase64Encoded": True}


# --------------------------------------------------------------------------------------------
# Responses
# --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class HttpResponse:
    """What goes back on the wire. ``headers`` may repeat a name (``Set-Cookie``)."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""

    def header(self, name: str) -> str | None:
        lname = name.lower()
        return next((v for k, v in self.headers if k.lower() == lname), None)


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
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str | int | float):
        text = str(value)
    else:
        raise MalformedResponse(f"header {name!r} must be a string, got {type(value).__name__}")
    if any(c in text for c in "\r\n\0"):
        raise MalformedResponse(f"header {name!r} contains a line break")
    return text


def translate_response(result: Any) -> HttpResponse:
    """Map a function's return value to HTTP as API Gateway does for payload format 2.0.

    A dict with ``statusCode`` is taken field by field (``headers``, one ``Set-Cookie`` per
    entry of ``cookies``, ``body``, ``isBase64Encoded``). Any other JSON value - a dict without
    ``statusCode``, a string, a list - is the simplified format: 200, the value JSON-encoded,
    ``content-type: application/json``. Raises :class:`MalformedResponse` (or ``TypeError`` when
    the value is not JSON) where API Gateway answers 502.
    """
    # What API Gateway sees is the JSON the runtime marshalled, not the Python object.
    result = json.loads(json.dumps(result, default=_lambda_json_default))
    if not (isinstance(result, dict) and "statusCode" in result):
        return json_response(200, result)

    return HttpResponse(_status(result), _response_headers(result), _response_body(result))


def _status(result: dict[str, Any]) -> int:
    status = result["statusCode"]
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise MalformedResponse(f"statusCode must be an HTTP status, got {result['statusCode']!r}")
    return status


def _response_headers(result: dict[str, Any]) -> list[tuple[str, str]]:
    """``headers`` (minus hop-by-hop and content-length), then one ``Set-Cookie`` per ``cookies`` entry."""
    headers: list[tuple[str, str]] = []
    raw_headers = result.get("headers") or {}
    if not isinstance(raw_headers, dict):
        raise MalformedResponse("headers must be an object")
    for name, value in raw_headers.items():
        if not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name):
            raise MalformedResponse(f"invalid header name {name!r}")
        if name.lower() in HOP_BY_HOP or name.lower() == "content-length":
            continue
        headers.append((name, _header_value(name, value)))
    cookies = result.get("cookies") or []
    if not isinstance(cookies, list) or not all(isinstance(c, str) for c in cookies):
        raise MalformedResponse("cookies must be a list of strings")
    headers.extend(("Set-Cookie", _header_value("Set-Cookie", c)) for c in cookies)
    return headers


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
    except (binascii.Error, ValueError) as exc:
        raise MalformedResponse("isBase64Encoded is true but body is not base64") from exc


# --------------------------------------------------------------------------------------------
# CORS
# --------------------------------------------------------------------------------------------


def _origin_allowed(cors: CorsConfig, origin: str) -> bool:
    return "*" in cors.allow_origins or origin in cors.allow_origins


def cors_preflight(cors: CorsConfig, headers: Mapping[str, str]) -> HttpResponse:
    """API Gateway's own answer to ``OPTIONS`` when the API has a CorsConfiguration.

    ``headers`` are the request's, lower-cased. A matching origin gets 204 with the allowed
    origin, methods, headers, credentials and max-age; any other origin 204 with no CORS headers.
    """
    origin = headers.get("origin", "")
    out: list[tuple[str, str]] = []
    if origin and _origin_allowed(cors, origin) and headers.get("access-control-request-method"):
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
    if not origin or not _origin_allowed(cors, origin):
        return []
    out = [("access-control-allow-origin", origin if cors.allow_credentials or "*" not in cors.allow_origins else "*")]
    if cors.allow_credentials:
        out.append(("access-control-allow-credentials", "true"))
    if cors.expose_headers:
        out.append(("access-control-expose-headers", ",".join(cors.expose_headers)))
    return out
