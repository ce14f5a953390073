"""A local stand-in for API Gateway HTTP API in front of the template's Lambdas, on werkzeug
(``sam local start-api`` needs Docker). Handlers run in-process on the events :mod:`local.apigw.event`
builds; a static SPA on ``/`` shares the origin, so browser, BFF and cookies meet on one host.

The access log is one line per request - method, path, status, milliseconds - and never carries
the query string, cookies or ``Set-Cookie`` values: those hold OAuth codes and session secrets.
"""

from __future__ import annotations

import base64
import mimetypes
import os
import secrets
import sys
import threading
import time
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from werkzeug.wrappers import Request, Response

from local.api_template import CorsConfig, Route, cors_config, load_routes
from local.apigw.event import MAX_BODY_BYTES, build_event
from local.apigw.response import HttpResponse, cors_preflight, cors_response_headers, json_response, translate_response
from local.httpserver import Server
from local.lambda_runtime import LambdaRuntime
from local.localapi import Authorizers

DEFAULT_SPA_DIR = Path(__file__).resolve().parent / "spa"
# The demo imports the JS client from its one source, clients/js (not a copy in local/spa).
JS_CLIENT = Path(__file__).resolve().parents[1] / "clients" / "js" / "hitkey-bff.js"
API_PREFIXES = ("/auth/", "/api/")  # never answered with the SPA's index.html
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
_STATIC_HEADERS = {"cache-control": "no-store", "x-content-type-options": "nosniff", "referrer-policy": "same-origin"}
_SPA_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


class _RawResponse(Response):
    default_mimetype = None  # a function that sets no content-type gets none, as from API Gateway


class Gateway(Server):
    """Routes from a SAM template (re-read when it changes), served like API Gateway HTTP API.

    ``spa_fallback`` answers unknown ``GET`` paths outside ``/auth`` and ``/api`` with the SPA's
    ``index.html`` (deep links) when the last segment has no ``.``, as the viewer-request function of
    ``deploy/site.yaml`` does. ``parameters`` override template
    parameters (``AppOrigin``). ``canonical_origin`` is where a browser on ``127.0.0.1`` is sent.
    """

    def __init__(
        self,
        template: str | os.PathLike[str] = "template.yaml",
        *,
        spa_dir: str | os.PathLike[str] | None = DEFAULT_SPA_DIR,
        access_log: bool = True,
        spa_fallback: bool = False,
        parameters: Mapping[str, str] | None = None,
        canonical_origin: str | None = None,
        extra_templates: Sequence[str | os.PathLike[str]] = (),
    ) -> None:
        super().__init__(self.wsgi, "local-gateway")
        self.template = Path(template).resolve()
        self.spa_dir = Path(spa_dir).resolve() if spa_dir is not None else None
        self.access_log = access_log
        self.spa_fallback = spa_fallback
        self.parameters = dict(parameters or {})
        self.canonical_origin = canonical_origin.rstrip("/") if canonical_origin else None
        self._log_lock = threading.Lock()
        self._routes_lock = threading.Lock()
        self._runtime = LambdaRuntime()  # this gateway's warm functions
        self.extra_templates = tuple(Path(t).resolve() for t in extra_templates)  # a team's own routes
        self.authorizers = Authorizers(self._runtime, log=self._write_log)
        self._template_stamp: tuple[tuple[int, int], ...] | None = None
        self._routes: list[Route] = []  # most specific first
        self._cors: CorsConfig | None = None
        self._reload_if_changed()

    def _reload_if_changed(self) -> None:
        stats = [path.stat() for path in (self.template, *self.extra_templates)]
        stamp = tuple((stat.st_mtime_ns, stat.st_size) for stat in stats)
        with self._routes_lock:
            if stamp != self._template_stamp:
                routes = load_routes(self.template, self.extra_templates, self.parameters)
                self._routes = sorted(routes.values(), key=lambda r: r.specificity)
                self._cors = cors_config(self.template, self.parameters)
                self._template_stamp = stamp

    def match(self, method: str, raw_path: str) -> tuple[Route, dict[str, str]] | None:
        """The route API Gateway would pick for ``method raw_path``, with its path parameters."""
        self._reload_if_changed()
        for route in self._routes:
            params = route.match(method.upper(), raw_path)
            if params is not None:
                return route, params
        return None

    def _wrong_host(self, method: str, raw_path: str, raw_query: str, host: str) -> HttpResponse | None:
        """Send a browser on ``127.0.0.1`` to the canonical origin: cookies do not cross hosts."""
        canonical = urlsplit(self.canonical_origin or "").hostname
        if self.canonical_origin is None or canonical == "127.0.0.1" or host.rsplit(":", 1)[0] != "127.0.0.1":
            return None
        if method in ("GET", "HEAD"):
            target = self.canonical_origin + raw_path + (f"?{raw_query}" if raw_query else "")
            return HttpResponse(302, [("location", target), ("cache-control", "no-store")])
        message = f"open {self.canonical_origin}: the session cookie is set for {canonical}, not 127.0.0.1"
        return json_response(421, {"error": "wrong_host", "message": message})

    def invoke(self, route: Route, event: dict[str, Any]) -> HttpResponse:
        """Call the route's handler with ``event`` and a fresh context; translate its answer."""
        spec = route.function
        started = time.monotonic()
        try:
            response = translate_response(self._runtime.invoke(spec, event))
        except (Exception, SystemExit):
            message = f"[gateway] {spec.logical_id} ({route.route_key}) failed; API Gateway answers 502"
            self._write_log(message, with_traceback=True)
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
        parts = ["index.html"] if rel == "/" else rel.split("/")[1:]
        if not parts or any(p in ("", ".", "..") or "\\" in p or "\0" in p or ":" in p for p in parts):
            return None
        candidate = self.spa_dir.joinpath(*parts).resolve()
        if rel == "/" + JS_CLIENT.name and self.spa_dir == DEFAULT_SPA_DIR:
            candidate = JS_CLIENT
        elif not candidate.is_relative_to(self.spa_dir):
            return None
        if not candidate.is_file():
            deep_link = self.spa_fallback and not (rel + "/").startswith(API_PREFIXES) and "." not in parts[-1]
            candidate = self.spa_dir / "index.html"
            if not (deep_link and candidate.is_file()):
                return None
        fixed_type = _STATIC_TYPES.get(candidate.suffix.lower())
        content_type = fixed_type or mimetypes.guess_type(candidate.name)[0] or "application/octet-stream"
        headers = [("content-type", content_type), *_STATIC_HEADERS.items()]
        if content_type.startswith("text/html"):
            headers.append(("content-security-policy", _SPA_CSP))
        return HttpResponse(200, headers, candidate.read_bytes())

    def wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        """The WSGI application werkzeug serves."""
        started = time.perf_counter()
        request = Request(environ)
        target = environ.get("RAW_URI") or request.full_path
        if target.startswith(("http://", "https://")):  # absolute-form request target
            parts = urlsplit(target)
            raw_path, raw_query = parts.path or "/", parts.query
        else:
            raw_path, _, raw_query = target.partition("?")
            raw_path = raw_path.split("#", 1)[0]
        try:
            response = self._answer(request, raw_path, raw_query)
        except Exception:
            self._write_log(f"[gateway] gateway error on {request.method} {raw_path}", with_traceback=True)
            response = json_response(500, {"message": "Internal Server Error"})
        if self.access_log:  # the path only (queries, cookies carry secrets), before the response leaves
            safe_path = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in raw_path)
            millis = (time.perf_counter() - started) * 1000
            self._write_log(f"{request.method} {safe_path} {response.status} {millis:.0f}ms")
        out = _RawResponse(response.body, status=response.status, headers=response.headers)
        if not response.body:
            out.headers["Content-Length"] = "0"
        return out(environ, start_response)

    def _answer(self, request: Request, raw_path: str, raw_query: str) -> HttpResponse:
        """One request: route, invoke, translate (or a preflight, a redirect, a file, a 404)."""
        length = request.environ.get("CONTENT_LENGTH", "")
        if length and not length.strip().isdigit():
            return json_response(400, {"message": "Bad Request"})
        too_long = request.content_length is not None and request.content_length > MAX_BODY_BYTES
        body = b"" if too_long else request.stream.read(MAX_BODY_BYTES + 1)  # chunked: no Content-Length
        if too_long or len(body) > MAX_BODY_BYTES:
            return json_response(413, {"message": "Request Entity Too Large"})
        method = request.method
        headers = request.environ.get("local.headers") or list(request.headers.items())
        lower = {k.lower(): v for k, v in headers}
        moved = self._wrong_host(method, raw_path, raw_query, lower.get("host", ""))
        if moved is not None:
            return moved
        request_id = base64.b64encode(secrets.token_bytes(11)).decode("ascii")
        apigw = [("apigw-requestid", request_id)]
        try:
            matched, cors = self.match(method, raw_path), self._cors
        except Exception:
            self._write_log(f"[gateway] cannot read routes from {self.template}", with_traceback=True)
            return json_response(500, {"message": "Internal Server Error"}, apigw)
        if method == "OPTIONS" and cors is not None and "origin" in lower and "access-control-request-method" in lower:
            preflight = cors_preflight(cors, lower)  # API Gateway's own, for any route
            preflight.headers.extend(apigw)
            return preflight
        if matched is None:
            return self._static(method, raw_path) or json_response(404, {"message": "Not Found"}, apigw)
        route, params = matched
        event = build_event(
            method,
            raw_path,
            raw_query,
            headers,
            body=body,
            route_key=route.route_key,
            path_parameters=params,
            source_ip=str(request.remote_addr or "127.0.0.1"),
            protocol=str(request.environ.get("SERVER_PROTOCOL", "HTTP/1.1")),
            request_id=request_id,
        )
        refused = self.authorizers.apply(route.authorizer, event, lower) if route.authorizer else None
        response = refused or self.invoke(route, event)
        response.headers.extend(apigw)
        if cors is not None:  # API Gateway drops the function's CORS headers and adds its own
            kept = [(k, v) for k, v in response.headers if not k.lower().startswith("access-control-")]
            response.headers = kept + cors_response_headers(cors, lower)
        return response

    def _write_log(self, line: str, with_traceback: bool = False) -> None:
        with self._log_lock:
            sys.stderr.write(line + "\n")
            if with_traceback:
                traceback.print_exc(file=sys.stderr)
            sys.stderr.flush()
