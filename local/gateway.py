"""A local stand-in for API Gateway HTTP API in front of the template's Lambdas, on werkzeug.

``sam local start-api`` needs Docker; this does not. Routes come from ``template.yaml``; each
request becomes the payload-2.0 event :mod:`local.apigw` builds, the function's handler is called
in-process (imported lazily, once, by file path) and its answer translated back. It also serves a
static SPA (the demo in ``local/spa/`` by default) on ``/``, so browser, BFF and cookies share
one origin, and answers CORS preflights from the template's ``CorsConfiguration``.

``make run`` (:mod:`local.stack`) starts it; tests use ``with Gateway(template) as gw:``.

The access log is one line per request - method, path, status, milliseconds - and never carries
the query string, cookies or ``Set-Cookie`` values: those hold OAuth codes and session secrets.
"""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import mimetypes
import os
import secrets
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO
from urllib.parse import unquote, urlsplit

from werkzeug.wrappers import Request, Response

from local.apigw import (
    HOP_BY_HOP,
    MAX_BODY_BYTES,
    HttpResponse,
    LambdaContext,
    Route,
    build_event,
    cors_preflight,
    cors_response_headers,
    json_response,
    load_routes,
    translate_response,
)
from local.httpserver import Server
from local.template import CorsConfig, FunctionSpec, cors_config

DEFAULT_SPA_DIR = Path(__file__).resolve().parent / "spa"
# The demo imports the JS client from its one source, clients/js (not a copy in local/spa).
JS_CLIENT = Path(__file__).resolve().parents[1] / "clients" / "js" / "hitkey-bff.js"
HANDLER = Callable[[dict[str, Any], Any], Any]
API_PREFIXES = ("/auth", "/api")  # never answered with the SPA's index.html
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


class _RawResponse(Response):
    default_mimetype = None  # a function that sets no content-type gets none, as from API Gateway


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
    ``make run``. The template is re-read when it changes, so a
    route added while the gateway runs is served on the next request.

    ``spa_fallback`` answers unknown ``GET`` paths outside ``/auth`` and ``/api`` with the SPA's
    ``index.html`` (deep links), as CloudFront's error-page setup does. ``parameters`` override
    template parameters (the CORS origins' ``AppOrigin``). ``canonical_origin``, when set, sends
    a browser that opened another host (``127.0.0.1``) there: cookies are per host.
    """

    def __init__(
        self,
        template: str | os.PathLike[str] = "template.yaml",
        *,
        spa_dir: str | os.PathLike[str] | None = DEFAULT_SPA_DIR,
        access_log: bool = True,
        log: TextIO | None = None,
        spa_fallback: bool = False,
        parameters: Mapping[str, str] | None = None,
        canonical_origin: str | None = None,
    ) -> None:
        self.template = Path(template).resolve()
        self.spa_dir = Path(spa_dir).resolve() if spa_dir is not None else None
        self.access_log = access_log
        self.spa_fallback = spa_fallback
        self.parameters = dict(parameters or {})
        self.canonical_origin = canonical_origin.rstrip("/") if canonical_origin else None
        self._log = log
        self._log_lock = threading.Lock()
        self._routes_lock = threading.Lock()
        self._runtimes: dict[FunctionSpec, _FunctionRuntime] = {}
        self._template_stamp: tuple[int, int] | None = None
        self._routes: dict[tuple[str, str], Route] = {}
        self._ordered: list[Route] = []
        self._cors: CorsConfig | None = None
        self._server = Server(self.wsgi, "local-gateway")
        self._reload_if_changed()

    # -- routes ------------------------------------------------------------------------------

    @property
    def routes(self) -> dict[tuple[str, str], Route]:
        self._reload_if_changed()
        return dict(self._routes)

    @property
    def cors(self) -> CorsConfig | None:
        self._reload_if_changed()
        return self._cors

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
            self._cors = cors_config(self.template, self.parameters)
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
        headers = list(headers)
        lower = {k.lower(): v for k, v in headers}
        request_id = base64.b64encode(secrets.token_bytes(11)).decode("ascii")
        apigw = [("apigw-requestid", request_id)]
        moved = self._wrong_host(method, raw_path, raw_query, lower.get("host", ""))
        if moved is not None:
            return moved
        try:
            matched = self.match(method, raw_path)
            cors = self._cors
        except Exception:
            self._print_exception(f"cannot read routes from {self.template}")
            return json_response(500, {"message": "Internal Server Error"}, apigw)
        preflight_request = "origin" in lower and "access-control-request-method" in lower
        if method == "OPTIONS" and cors is not None and preflight_request:  # API Gateway's, for any route
            preflight = cors_preflight(cors, lower)
            preflight.headers.extend(apigw)
            return preflight
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
            if cors is not None:  # API Gateway drops the function's CORS headers and adds its own
                kept = [(k, v) for k, v in response.headers if not k.lower().startswith("access-control-")]
                response.headers = kept + cors_response_headers(cors, lower)
            return response
        static = self._static(method, raw_path)
        if static is not None:
            return static
        return json_response(404, {"message": "Not Found"}, apigw)

    def _wrong_host(self, method: str, raw_path: str, raw_query: str, host: str) -> HttpResponse | None:
        """Send a browser on ``127.0.0.1`` to the canonical origin: cookies do not cross hosts."""
        if self.canonical_origin is None or not host:
            return None
        canonical = urlsplit(self.canonical_origin)
        name = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]", 1)[0] + "]"
        if name.lower() == (canonical.hostname or "").lower() or name.lower() != "127.0.0.1":
            return None
        if method in ("GET", "HEAD"):
            target = self.canonical_origin + raw_path + (f"?{raw_query}" if raw_query else "")
            return HttpResponse(302, [("location", target), ("cache-control", "no-store")])
        message = f"open {self.canonical_origin}: the session cookie is set for {canonical.hostname}, not {name}"
        return json_response(421, {"error": "wrong_host", "message": message})

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
            return json_response(502, {"message": "Internal Server Error"})
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
        if rel == "/" + JS_CLIENT.name and root == DEFAULT_SPA_DIR:
            candidate = JS_CLIENT
        elif not candidate.is_relative_to(root):
            return None
        if not candidate.is_file():
            deep_link = not rel.startswith(tuple(p + "/" for p in API_PREFIXES)) and rel not in API_PREFIXES
            if not (self.spa_fallback and deep_link and "." not in parts[-1]):
                return None
            candidate = root / "index.html"
            if not candidate.is_file():
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

    # -- WSGI --------------------------------------------------------------------------------

    def wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        """The WSGI application werkzeug serves."""
        started = time.perf_counter()
        request = Request(environ)
        method = request.method
        target = environ.get("RAW_URI") or request.full_path
        if target.startswith(("http://", "https://")):  # absolute-form request target
            parts = urlsplit(target)
            raw_path, raw_query = parts.path or "/", parts.query
        else:
            raw_path, _, raw_query = target.partition("?")
            raw_path = raw_path.split("#", 1)[0]
        response = self._answer(request, method, raw_path, raw_query)
        # Logged before the response leaves, so a client that has its answer also has the log line.
        self.log_access(method, raw_path, response.status, (time.perf_counter() - started) * 1000)
        out = _RawResponse(response.body, status=response.status, headers=response.headers)
        if not response.body:
            out.headers["Content-Length"] = "0"
        return out(environ, start_response)

    def _answer(self, request: Request, method: str, raw_path: str, raw_query: str) -> HttpResponse:
        length = request.environ.get("CONTENT_LENGTH", "")
        if length and not length.strip().isdigit():
            return json_response(400, {"message": "Bad Request"})
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            return json_response(413, {"message": "Request Entity Too Large"})
        try:
            body = request.stream.read(MAX_BODY_BYTES + 1)  # a chunked body has no Content-Length to check
            if len(body) > MAX_BODY_BYTES:
                return json_response(413, {"message": "Request Entity Too Large"})
            pairs = request.environ.get("local.headers") or list(request.headers.items())
            headers = [(k, v) for k, v in pairs if k.lower() not in HOP_BY_HOP]
            return self.handle(
                method,
                raw_path,
                raw_query,
                headers,
                body,
                source_ip=str(request.remote_addr or "127.0.0.1"),
                protocol=str(request.environ.get("SERVER_PROTOCOL", "HTTP/1.1")),
            )
        except Exception:
            self._print_exception(f"gateway error on {method} {raw_path}")
            return json_response(500, {"message": "Internal Server Error"})

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

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve in a daemon thread; returns the base URL (``port=0`` picks a free port)."""
        return self._server.start(host, port)

    @property
    def base_url(self) -> str:
        return self._server.base_url

    def stop(self) -> None:
        """Stop serving and close the socket (idempotent)."""
        self._server.stop()

    def __enter__(self) -> Gateway:
        if not self._server.running:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
