"""A local stand-in for API Gateway HTTP API (payload format 2.0) in front of the template's Lambdas.

``sam local start-api`` needs Docker; this does not. It reads ``template.yaml``, maps every
``HttpApi`` event of every ``AWS::Serverless::Function`` to a route, and for each request builds
the event API Gateway would send, calls the function's handler in-process (imported lazily, once,
by file path) and translates the result back the way API Gateway does. It also serves the demo
SPA in ``local/spa/`` on ``/`` so the browser, the BFF and its cookies share one origin.

Run it::

    python -m local.gateway --template template.yaml --port 3000

The functions read their settings from this process's environment, as they would from the
Lambda's. Layers the template references (``AWS::Serverless::LayerVersion`` with a local
``ContentUri``) are put on ``sys.path``, as Lambda puts them in ``/opt/python``.

The access log is one line per request - method, path, status, milliseconds - and never carries
the query string, cookies or ``Set-Cookie`` values: those hold OAuth codes and session secrets.

Other tests build events exactly as this gateway does with :func:`build_event` and
:func:`make_context`.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import decimal
import hashlib
import importlib.util
import json
import math
import mimetypes
import os
import re
import secrets
import socket
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO
from urllib.parse import parse_qsl, unquote, urlsplit

import yaml

__all__ = [
    "DEFAULT_SPA_DIR",
    "CfnLoader",
    "FunctionSpec",
    "Gateway",
    "HttpResponse",
    "LambdaContext",
    "MalformedResponse",
    "Route",
    "build_event",
    "load_routes",
    "load_template",
    "main",
    "make_context",
    "translate_response",
]

DEFAULT_SPA_DIR = Path(__file__).resolve().parent / "spa"
DEFAULT_ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"
LOCAL_API_ID = "local"
MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
LAMBDA_DEFAULT_TIMEOUT = 3
LAMBDA_DEFAULT_MEMORY = 128
HANDLER = Callable[[dict[str, Any], Any], Any]

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}
)
_TEXT_MEDIA_TYPES = frozenset({"application/json", "application/javascript", "application/xml", "application/graphql"})
_STATIC_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
}
_SPA_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


# --------------------------------------------------------------------------------------------
# Template
# --------------------------------------------------------------------------------------------


class CfnLoader(yaml.SafeLoader):  # type: ignore[misc,unused-ignore]
    """A SafeLoader that also reads CloudFormation's short tags (``!Ref``, ``!GetAtt``, ``!Sub``...).

    Each becomes the long form as plain data - ``!Ref X`` is ``{"Ref": "X"}``, ``!GetAtt A.B`` is
    ``{"Fn::GetAtt": ["A", "B"]}``, ``!Condition C`` is ``{"Condition": "C"}`` and any other
    ``!Name v`` is ``{"Fn::Name": v}`` - so unknown tags load too. Nothing is ever instantiated.
    """


def _construct_cfn_tag(loader: Any, tag_suffix: str, node: Any) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if tag_suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    key = tag_suffix if tag_suffix in ("Ref", "Condition") else f"Fn::{tag_suffix}"
    return {key: value}


CfnLoader.add_multi_constructor("!", _construct_cfn_tag)


def load_template(template_path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse a CloudFormation/SAM template (short tags included) into plain data."""
    with open(template_path, encoding="utf-8") as fh:
        data = yaml.load(fh, Loader=CfnLoader)  # noqa: S506 - CfnLoader is a SafeLoader
    if not isinstance(data, dict):
        raise ValueError(f"{template_path}: not a CloudFormation template (top level is not a mapping)")
    return data


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """One ``AWS::Serverless::Function``, Globals applied."""

    logical_id: str
    code_uri: Path
    handler: str
    timeout: int
    memory_size: int
    runtime: str = ""
    layer_paths: tuple[Path, ...] = ()

    @property
    def handler_file(self) -> Path:
        """The file Lambda would import: ``app.handler`` -> ``<CodeUri>/app.py``."""
        module, _, _ = self.handler.rpartition(".")
        return self.code_uri / (module.replace(".", "/") + ".py")

    @property
    def module_name(self) -> str:
        """A unique ``sys.modules`` name - every function's file is called ``app.py``."""
        module, _, _ = self.handler.rpartition(".")
        safe = re.sub(r"\W", "_", f"{self.logical_id}__{module}")
        where = hashlib.sha256(str(self.code_uri).encode()).hexdigest()[:8]
        return f"_gateway_fn__{safe}__{where}"


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


def _resolve_scalar(value: Any, parameters: Mapping[str, Any], default: Any) -> Any:
    """A literal, or a ``!Ref`` to a parameter with a Default; otherwise ``default``."""
    if isinstance(value, dict):
        if set(value) == {"Ref"} and isinstance(value["Ref"], str):
            param = parameters.get(value["Ref"])
            if isinstance(param, dict) and "Default" in param:
                return param["Default"]
        return default
    return default if value is None else value


def _as_int(values: Iterable[Any], parameters: Mapping[str, Any], default: int) -> int:
    """The first of ``values`` (the function's, then Globals') that resolves to a number."""
    for value in values:
        try:
            return int(_resolve_scalar(value, parameters, None))
        except (TypeError, ValueError):
            continue
    return default


def _layer_paths(layers: Any, resources: Mapping[str, Any], base: Path) -> tuple[Path, ...]:
    paths: list[Path] = []
    for layer in layers if isinstance(layers, list) else []:
        if not (isinstance(layer, dict) and isinstance(layer.get("Ref"), str)):
            continue  # an ARN of a published layer: nothing local to add
        resource = resources.get(layer["Ref"])
        if not isinstance(resource, dict):
            continue
        props = resource.get("Properties") or {}
        content = props.get("ContentUri") or (props.get("Content") if isinstance(props.get("Content"), str) else None)
        if not isinstance(content, str):
            continue
        root = (base / content).resolve()
        # A prebuilt layer keeps its packages in python/; a SAM-built one (BuildMethod) is the folder.
        paths.append(root / "python" if (root / "python").is_dir() else root)
    return tuple(paths)


def load_routes(template_path: str | os.PathLike[str]) -> dict[tuple[str, str], Route]:
    """Every ``HttpApi`` event of every ``AWS::Serverless::Function`` -> ``{(METHOD, PATH): Route}``.

    Globals.Function supplies Handler, CodeUri, Timeout, MemorySize, Runtime and Layers (SAM adds
    global Layers before the function's own). ``Method`` may be ``ANY``; ``Path`` may hold
    ``{name}`` or a trailing ``{proxy+}``; an ``HttpApi`` event without ``Path`` is ``$default``
    (key ``("ANY", "$default")``). Paths are relative to the template's folder.
    """
    template_file = Path(template_path).resolve()
    base = template_file.parent
    template = load_template(template_file)
    globals_fn = (template.get("Globals") or {}).get("Function") or {}
    parameters = template.get("Parameters") or {}
    resources = template.get("Resources") or {}
    routes: dict[tuple[str, str], Route] = {}
    for logical_id, resource in resources.items():
        if not isinstance(resource, dict) or resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource.get("Properties") or {}
        events = props.get("Events") or {}
        http_events = {name: ev for name, ev in events.items() if isinstance(ev, dict) and ev.get("Type") == "HttpApi"}
        if not http_events:
            continue

        def prop(name: str, props: Mapping[str, Any] = props) -> Any:
            return props[name] if name in props else globals_fn.get(name)

        def both(name: str, props: Mapping[str, Any] = props) -> tuple[Any, Any]:
            return props.get(name), globals_fn.get(name)

        code_uri = prop("CodeUri")
        if not isinstance(code_uri, str):
            raise ValueError(f"{logical_id}: CodeUri must be a local folder to run locally, got {code_uri!r}")
        handler = _resolve_scalar(prop("Handler"), parameters, None)
        if not isinstance(handler, str) or "." not in handler:
            raise ValueError(f"{logical_id}: Handler must look like 'module.function', got {handler!r}")
        layers = list(globals_fn.get("Layers") or []) + list(props.get("Layers") or [])
        spec = FunctionSpec(
            logical_id=logical_id,
            code_uri=(base / code_uri).resolve(),
            handler=handler,
            timeout=_as_int(both("Timeout"), parameters, LAMBDA_DEFAULT_TIMEOUT),
            memory_size=_as_int(both("MemorySize"), parameters, LAMBDA_DEFAULT_MEMORY),
            runtime=str(_resolve_scalar(prop("Runtime"), parameters, "")),
            layer_paths=_layer_paths(layers, resources, base),
        )
        for event_name, event in http_events.items():
            ev_props = event.get("Properties") or {}
            path = ev_props.get("Path")
            if path is None:
                method, path = "ANY", "$default"
            else:
                method = str(ev_props.get("Method") or "ANY").upper()
                if method == "X-AMAZON-APIGATEWAY-ANY-METHOD":
                    method = "ANY"
                path = str(path)
            key = (method, path)
            if key in routes:
                other = routes[key].function.logical_id
                raise ValueError(f"route {method} {path} is defined twice ({other}, {logical_id})")
            routes[key] = Route(method, path, spec, event_name)
    return routes


# --------------------------------------------------------------------------------------------
# Events and context
# --------------------------------------------------------------------------------------------


class LambdaContext:
    """The attributes and method of the Python runtime's context object."""

    def __init__(
        self,
        function_name: str,
        timeout_s: float = 25,
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


def make_context(function_name: str, timeout_s: float = 25, *, memory_mb: int = 256) -> LambdaContext:
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

    cookie_list: list[str] = []
    plain: dict[str, list[str]] = {}
    for name, value in pairs:
        if name == "cookie":
            cookie_list.extend(c.strip() for c in value.split(";") if c.strip())
        elif name not in _HOP_BY_HOP:
            plain.setdefault(name, []).append(value)
    if isinstance(cookies, Mapping):
        cookie_list.extend(f"{k}={v}" for k, v in cookies.items())
    elif cookies is not None:
        cookie_list.extend(cookies)

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
    if raw_query:
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
    if payload:
        if _is_text(header_map.get("content-type")):
            try:
                event["body"] = payload.decode("utf-8")
                event["isBase64Encoded"] = False
            except UnicodeDecodeError:
                event["body"] = base64.b64encode(payload).decode("ascii")
                event["isBase64Encoded"] = True
        else:
            event["body"] = base64.b64encode(payload).decode("ascii")
            event["isBase64Encoded"] = True
    else:
        event["isBase64Encoded"] = False
    return event


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


def _json_response(status: int, payload: Any, extra: Iterable[tuple[str, str]] = ()) -> HttpResponse:
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
        return _json_response(200, result)

    status = result["statusCode"]
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise MalformedResponse(f"statusCode must be an HTTP status, got {result['statusCode']!r}")

    headers: list[tuple[str, str]] = []
    raw_headers = result.get("headers") or {}
    if not isinstance(raw_headers, dict):
        raise MalformedResponse("headers must be an object")
    for name, value in raw_headers.items():
        if not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name):
            raise MalformedResponse(f"invalid header name {name!r}")
        if name.lower() in _HOP_BY_HOP or name.lower() == "content-length":
            continue
        headers.append((name, _header_value(name, value)))

    cookies = result.get("cookies") or []
    if not isinstance(cookies, list):
        raise MalformedResponse("cookies must be a list of strings")
    for cookie in cookies:
        if not isinstance(cookie, str):
            raise MalformedResponse("cookies must be a list of strings")
        headers.append(("Set-Cookie", _header_value("Set-Cookie", cookie)))

    body = result.get("body")
    if body is None:
        data = b""
    elif not isinstance(body, str):
        raise MalformedResponse(f"body must be a string, got {type(body).__name__}")
    elif result.get("isBase64Encoded"):
        try:
            data = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise MalformedResponse("isBase64Encoded is true but body is not base64") from exc
    else:
        data = body.encode("utf-8")
    return HttpResponse(status, headers, data)


# --------------------------------------------------------------------------------------------
# Gateway
# --------------------------------------------------------------------------------------------


class _FunctionRuntime:
    """A warm 'container': the handler module, imported on first use and then reused."""

    _sys_path_lock = threading.Lock()

    def __init__(self, spec: FunctionSpec) -> None:
        self.spec = spec
        self._lock = threading.Lock()
        self._handler: HANDLER | None = None
        self.module: ModuleType | None = None

    def handler(self) -> HANDLER:
        with self._lock:
            if self._handler is None:
                self._handler = self._import()
            return self._handler

    def _import(self) -> HANDLER:
        spec = self.spec
        path = spec.handler_file
        if not path.is_file():
            raise FileNotFoundError(f"{spec.logical_id}: handler file {path} does not exist")
        with self._sys_path_lock:
            for layer in spec.layer_paths:
                if str(layer) not in sys.path:
                    sys.path.append(str(layer))
            # The code folder is on sys.path while the module loads (siblings import like in Lambda),
            # and only then: every function has its own folder and they must not shadow each other.
            sys.path.insert(0, str(spec.code_uri))
            try:
                module_spec = importlib.util.spec_from_file_location(spec.module_name, path)
                if module_spec is None or module_spec.loader is None:
                    raise ImportError(f"cannot import {path}")
                module = importlib.util.module_from_spec(module_spec)
                sys.modules[spec.module_name] = module
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
            raise AttributeError(f"{spec.logical_id}: {path} has no callable {attr!r}")
        self.module = module
        return handler  # type: ignore[no-any-return]


class Gateway:
    """Routes from a SAM template, served over HTTP like API Gateway HTTP API.

    Use :meth:`start`/:meth:`stop` (or ``with Gateway(...) as gw:``) from tests, or
    :meth:`serve_forever` from the command line. The template is re-read when it changes, so a
    route added while the gateway runs is served on the next request.
    """

    def __init__(
        self,
        template: str | os.PathLike[str] = "template.yaml",
        *,
        spa_dir: str | os.PathLike[str] | None = DEFAULT_SPA_DIR,
        access_log: bool = True,
        log: TextIO | None = None,
    ) -> None:
        self.template = Path(template).resolve()
        self.spa_dir = Path(spa_dir).resolve() if spa_dir is not None else None
        self.access_log = access_log
        self._log = log
        self._log_lock = threading.Lock()
        self._routes_lock = threading.Lock()
        self._runtimes: dict[FunctionSpec, _FunctionRuntime] = {}
        self._template_stamp: tuple[int, int] | None = None
        self._routes: dict[tuple[str, str], Route] = {}
        self._ordered: list[Route] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._reload_if_changed()

    # -- routes ------------------------------------------------------------------------------

    @property
    def routes(self) -> dict[tuple[str, str], Route]:
        self._reload_if_changed()
        return dict(self._routes)

    def _reload_if_changed(self) -> None:
        stat = self.template.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp == self._template_stamp:
            return
        with self._routes_lock:
            if stamp == self._template_stamp:
                return
            routes = load_routes(self.template)
            self._routes = routes
            self._ordered = sorted(routes.values(), key=lambda r: r.specificity)
            self._template_stamp = stamp

    def match(self, method: str, raw_path: str) -> tuple[Route, dict[str, str]] | None:
        """The route API Gateway would pick for ``method raw_path``, with its path parameters."""
        self._reload_if_changed()
        for route in self._ordered:
            params = route.match(method.upper(), raw_path)
            if params is not None:
                return route, params
        return None

    def _runtime(self, spec: FunctionSpec) -> _FunctionRuntime:
        with self._routes_lock:
            runtime = self._runtimes.get(spec)
            if runtime is None:
                runtime = self._runtimes[spec] = _FunctionRuntime(spec)
            return runtime

    # -- requests ----------------------------------------------------------------------------

    def handle(
        self,
        method: str,
        raw_path: str,
        raw_query: str = "",
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        *,
        source_ip: str = "127.0.0.1",
        protocol: str = "HTTP/1.1",
    ) -> HttpResponse:
        """One request, without the HTTP server: route, invoke, translate (or serve a file, or 404)."""
        method = method.upper()
        request_id = base64.b64encode(secrets.token_bytes(11)).decode("ascii")
        apigw = [("apigw-requestid", request_id)]
        try:
            matched = self.match(method, raw_path)
        except Exception:
            self._print_exception(f"cannot read routes from {self.template}")
            return _json_response(500, {"message": "Internal Server Error"}, apigw)
        if matched is not None:
            route, params = matched
            event = build_event(
                method,
                raw_path,
                raw_query,
                headers,
                body=body,
                route_key=route.route_key,
                path_parameters=params,
                source_ip=source_ip,
                protocol=protocol,
                request_id=request_id,
            )
            response = self.invoke(route, event)
            response.headers.append(("apigw-requestid", request_id))
            return response
        static = self._static(method, raw_path)
        if static is not None:
            return static
        return _json_response(404, {"message": "Not Found"}, apigw)

    def invoke(self, route: Route, event: dict[str, Any]) -> HttpResponse:
        """Call the route's handler with ``event`` and a fresh context; translate its answer."""
        spec = route.function
        context = LambdaContext(spec.logical_id, spec.timeout, memory_mb=spec.memory_size)
        started = time.monotonic()
        try:
            handler = self._runtime(spec).handler()
            result = handler(event, context)
            response = translate_response(result)
        except (Exception, SystemExit):
            self._print_exception(f"{spec.logical_id} ({route.route_key}) failed; API Gateway answers 502")
            return _json_response(502, {"message": "Internal Server Error"})
        elapsed = time.monotonic() - started
        if elapsed > spec.timeout:
            self._write_log(
                f"[gateway] WARNING {spec.logical_id} ran {elapsed:.1f}s, over its Timeout of "
                f"{spec.timeout}s: Lambda would have stopped it and API Gateway answered 502"
            )
        return response

    def _static(self, method: str, raw_path: str) -> HttpResponse | None:
        if self.spa_dir is None or method not in ("GET", "HEAD"):
            return None
        rel = unquote(raw_path)
        if rel == "/":
            rel = "/index.html"
        parts = rel.split("/")[1:]
        if not parts or any(p in ("", ".", "..") or "\\" in p or "\0" in p or ":" in p for p in parts):
            return None
        root = self.spa_dir
        candidate = root.joinpath(*parts).resolve()
        if not candidate.is_relative_to(root) or not candidate.is_file():
            return None
        content_type = _STATIC_TYPES.get(candidate.suffix.lower()) or (
            mimetypes.guess_type(candidate.name)[0] or "application/octet-stream"
        )
        headers = [
            ("content-type", content_type),
            ("cache-control", "no-store"),
            ("x-content-type-options", "nosniff"),
            ("referrer-policy", "same-origin"),
        ]
        if content_type.startswith("text/html"):
            headers.append(("content-security-policy", _SPA_CSP))
        return HttpResponse(200, headers, candidate.read_bytes())

    # -- logging -----------------------------------------------------------------------------

    def _stream(self) -> TextIO:
        return self._log if self._log is not None else sys.stderr

    def _write_log(self, line: str) -> None:
        with self._log_lock:
            stream = self._stream()
            stream.write(line + "\n")
            stream.flush()

    def _print_exception(self, headline: str) -> None:
        with self._log_lock:
            stream = self._stream()
            stream.write(f"[gateway] {headline}\n")
            traceback.print_exc(file=stream)
            stream.flush()

    def log_access(self, method: str, raw_path: str, status: int, millis: float) -> None:
        """``GET /auth/login 302 12ms`` - the path only: queries and cookies carry secrets."""
        if self.access_log:
            safe_path = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in raw_path)
            self._write_log(f"{method} {safe_path} {status} {millis:.0f}ms")

    # -- server ------------------------------------------------------------------------------

    def _make_server(self, host: str, port: int) -> ThreadingHTTPServer:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET

        class _Server(ThreadingHTTPServer):
            address_family = family
            daemon_threads = True
            allow_reuse_address = True

        server = _Server((host, port), _RequestHandler)
        server.gateway = self  # type: ignore[attr-defined]
        return server

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve in a daemon thread; returns the base URL (``port=0`` picks a free port)."""
        if self._server is not None:
            raise RuntimeError("gateway already started")
        server = self._make_server(host, port)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="local-gateway", daemon=True
        )
        self._thread.start()
        return self.base_url

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("gateway not started")
        host, port = self._server.server_address[:2]
        host = str(host)
        if host in ("0.0.0.0", "::"):
            host = "127.0.0.1" if host == "0.0.0.0" else "::1"
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def stop(self) -> None:
        """Stop serving and close the socket (idempotent)."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def serve_forever(self, host: str = "127.0.0.1", port: int = 3000) -> None:
        """Serve in this thread until interrupted."""
        server = self._make_server(host, port)
        self._server = server
        try:
            server.serve_forever()
        finally:
            self._server = None
            server.server_close()

    def __enter__(self) -> Gateway:
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _ClientError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms stalls
    server_version = "local-gateway"

    def version_string(self) -> str:
        return self.server_version

    def _dispatch(self) -> None:
        started = time.perf_counter()
        gateway: Gateway = self.server.gateway  # type: ignore[attr-defined]
        method = self.command
        target = self.path
        if target.startswith(("http://", "https://")):  # absolute-form request target
            parts = urlsplit(target)
            raw_path, raw_query = parts.path or "/", parts.query
        else:
            raw_path, _, raw_query = target.partition("?")
            raw_path = raw_path.split("#", 1)[0]
        try:
            body = self._read_body()
            headers = [(k, v) for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP]
            response = gateway.handle(
                method,
                raw_path,
                raw_query,
                headers,
                body,
                source_ip=str(self.client_address[0]),
                protocol=self.request_version,
            )
        except _ClientError as exc:
            self.close_connection = True
            response = _json_response(exc.status, {"message": exc.message})
        except Exception:
            gateway._print_exception(f"gateway error on {method} {raw_path}")
            response = _json_response(500, {"message": "Internal Server Error"})
        # Logged before the response leaves, so a client that has its answer also has the log line.
        gateway.log_access(method, raw_path, response.status, (time.perf_counter() - started) * 1000)
        self._write(response, head=method == "HEAD")

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        if not length.strip().isdigit():
            raise _ClientError(400, "Bad Request")
        size = int(length)
        if size > MAX_BODY_BYTES:
            raise _ClientError(413, "Request Entity Too Large")
        return self.rfile.read(size)

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _ClientError(400, "Bad Request") from None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            total += size
            if total > MAX_BODY_BYTES:
                raise _ClientError(413, "Request Entity Too Large")
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _write(self, response: HttpResponse, *, head: bool) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if not head and response.body:
            self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch

    def log_message(self, format: str, *args: Any) -> None:
        # The stdlib logs the request line, query string included; Gateway.log_access logs instead.
        return


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local.gateway",
        description="Serve template.yaml's HttpApi routes (and the demo SPA) like API Gateway HTTP API.",
    )
    parser.add_argument("--template", default="template.yaml", help="SAM template (default: template.yaml)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=3000, help="port (default: 3000)")
    parser.add_argument("--spa-dir", default=str(DEFAULT_SPA_DIR), help="static files for / (default: local/spa)")
    parser.add_argument("--no-spa", action="store_true", help="serve the API routes only")
    parser.add_argument("--quiet", action="store_true", help="no access log")
    args = parser.parse_args(argv)

    gateway = Gateway(args.template, spa_dir=None if args.no_spa else args.spa_dir, access_log=not args.quiet)
    for route in sorted(gateway.routes.values(), key=lambda r: (r.path, r.method)):
        print(f"  {route.route_key:<32} -> {route.function.logical_id}", file=sys.stderr)
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"local gateway on http://{host}:{args.port}  (Ctrl-C to stop)", file=sys.stderr)
    with contextlib.suppress(KeyboardInterrupt):
        gateway.serve_forever(args.host, args.port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
