"""The API Gateway HTTP API contract, without a server: the template's routes and how a request
picks one, the payload-2.0 event it becomes, the Lambda runtime (handlers, context), how the
function's answer becomes HTTP and how CORS preflights are answered. The local gateway, the tests
and the bench build their events and contexts here.
"""

from __future__ import annotations

import base64
import contextlib
import decimal
import importlib.util
import json
import math
import os
import re
import secrets
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

from local.template import AuthorizerSpec, CorsConfig, FunctionSpec, api_routes

DEFAULT_ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"
LOCAL_API_ID = "local"
MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}
)
# A request's headers all reach the event: AWS documents no exception for HTTP APIs' payload 2.0
# (repeats comma-joined, Cookie moved to ``cookies``), so ``Connection`` and the headers it names
# arrive too and the function must drop them itself. Only the framing is the gateway's own: the
# body arrives whole (``content-length`` is set for it), never chunked.
FRAMING = frozenset({"transfer-encoding"})
_TEXT_MEDIA_TYPES = frozenset({"application/json", "application/javascript", "application/xml", "application/graphql"})
_PATH_VARIABLE = re.compile(r"\{([^{}/+]+)(\+?)\}")
_OPTIONAL_EVENT_FIELDS = ("cookies", "queryStringParameters", "pathParameters")  # absent when empty
Handler = Callable[[dict[str, Any], Any], Any]


# -- Routes ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Route:
    """``METHOD PATH`` -> function. ``method`` is upper case or ``ANY``; ``path`` may be ``$default``."""

    method: str
    path: str
    function: FunctionSpec
    authorizer: AuthorizerSpec | None = None  # a Lambda authorizer API Gateway applies first

    def __post_init__(self) -> None:
        if self.path != "$default":
            _compile_path(self.path)  # a malformed path fails as the template is read

    @property
    def route_key(self) -> str:
        return "$default" if self.path == "$default" else f"{self.method} {self.path}"

    def match(self, method: str, raw_path: str) -> dict[str, str] | None:
        """Path parameters (decoded) when this route takes the request, else ``None``."""
        if self.method not in ("ANY", method):
            return None
        if self.path == "$default":
            return {}
        pattern, names = _compile_path(self.path)
        m = pattern.fullmatch(raw_path)
        return None if m is None else dict(zip(names, map(unquote, m.groups()), strict=True))

    @property
    def specificity(self) -> tuple[bool, bool, int, bool]:
        """Sort key: literal paths beat ``{param}``s beat ``{proxy+}`` beat ``$default``; verbs beat ANY."""
        return (self.path == "$default", self.path.endswith("+}"), self.path.count("{"), self.method == "ANY")


@cache
def _compile_path(path: str) -> tuple[re.Pattern[str], tuple[str, ...]]:
    if not path.startswith("/"):
        raise ValueError(f"route path must start with '/': {path!r}")
    segments = path[1:].split("/")
    parts: list[str] = []
    names: list[str] = []
    for i, segment in enumerate(segments):
        m = _PATH_VARIABLE.fullmatch(segment)
        if m is None:
            if "{" in segment or "}" in segment:
                raise ValueError(f"path variables must be whole segments: {path!r}")
            parts.append(re.escape(segment))
            continue
        if m[2] and i != len(segments) - 1:
            raise ValueError(f"a greedy {{{m[1]}+}} must be the last segment: {path!r}")
        parts.append("(.+)" if m[2] else "([^/]+)")
        names.append(m[1])
    return re.compile("/" + "/".join(parts)), tuple(names)


def load_routes(
    template_path: str | os.PathLike[str],
    extra_templates: Iterable[str | os.PathLike[str]] = (),
    parameters: Mapping[str, Any] | None = None,
) -> dict[tuple[str, str], Route]:
    """The ``AWS::ApiGatewayV2::Route`` resources of ``template_path`` and of each extra template
    (a team's routes on its API, see :func:`local.template.api_routes`) -> ``{(METHOD, PATH): Route}``.

    A path may hold ``{name}`` or a trailing ``{proxy+}``; the ``$default`` route is ``("ANY", "$default")``.
    """
    routes: dict[tuple[str, str], Route] = {}
    for source in (template_path, *extra_templates):
        for found in api_routes(source, template_path, parameters):
            method, _, path = found.route_key.partition(" ")
            route = Route(method.upper() if path else "ANY", path or "$default", found.function, found.authorizer)
            if (route.method, route.path) in routes:
                raise ValueError(f"route {route.route_key} of {Path(source).name} is defined twice")
            routes[(route.method, route.path)] = route
    return routes


# -- The Lambda runtime: handlers and context --------------------------------------------------
class LambdaRuntime:
    """Warm Lambda containers: a function's handler file is imported on its first call, then reused
    (a failed import is retried). Its layers go on ``sys.path``, its code folder only while it loads.
    """

    _import_lock = threading.Lock()  # sys.path and sys.modules are the process's

    def __init__(self) -> None:
        self._handlers: dict[FunctionSpec, Handler] = {}

    def handler(self, spec: FunctionSpec) -> Handler:
        """``spec``'s handler; threads never see a module that is still being executed."""
        if spec not in self._handlers:  # a warm handler never waits for another function's import
            with self._import_lock:
                if spec not in self._handlers:
                    self._handlers[spec] = _import_handler(spec)
        return self._handlers[spec]

    def invoke(self, spec: FunctionSpec, event: dict[str, Any]) -> Any:
        """``spec``'s answer to ``event``, with a fresh context (its Timeout and MemorySize)."""
        return self.handler(spec)(event, LambdaContext(spec.logical_id, spec.timeout, memory_mb=spec.memory_size))


def region() -> str:
    """The region Lambda and API Gateway would run in: the environment's, else us-east-1."""
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION


def _import_handler(spec: FunctionSpec) -> Handler:
    for layer in map(str, spec.layer_paths):
        if layer not in sys.path:
            sys.path.append(layer)
    module_spec = importlib.util.spec_from_file_location(spec.module_name, spec.handler_file)
    assert module_spec is not None and module_spec.loader is not None  # a .py file always has both
    module = sys.modules[spec.module_name] = importlib.util.module_from_spec(module_spec)
    sys.path.insert(0, str(spec.code_uri))  # siblings import as in Lambda; functions never shadow each other
    try:
        module_spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(spec.module_name, None)
        raise
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(str(spec.code_uri))
    attr = spec.handler.rpartition(".")[2]
    handler = getattr(module, attr, None)
    if not callable(handler):
        raise AttributeError(f"{spec.logical_id}: {spec.handler_file} has no callable {attr!r}")
    return handler  # type: ignore[no-any-return]


class LambdaContext:
    """The Python runtime's context object; its clock starts now (``timeout_s``: the Globals Timeout)."""

    function_version = "$LATEST"
    identity: Any = None
    client_context: Any = None
    tenant_id: str | None = None

    def __init__(self, function_name: str, timeout_s: float = 60, *, memory_mb: int = 256) -> None:
        self.function_name = function_name
        self.invoked_function_arn = f"arn:aws:lambda:{region()}:{DEFAULT_ACCOUNT_ID}:function:{function_name}"
        self.memory_limit_in_mb = memory_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{secrets.token_hex(16)}"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


# -- Events ------------------------------------------------------------------------------------
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


# -- Responses ---------------------------------------------------------------------------------
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


# -- CORS --------------------------------------------------------------------------------------
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
