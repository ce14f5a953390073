"""A local stand-in for HitKey's OAuth2 API, faithful to HitKey's published quick-start, on werkzeug.

One origin serves both halves of HitKey: the sign-in page (``hitkey.io/``) and the API
(``api.hitkey.io/oauth/...``). Point the BFF's ``HITKEY_AUTHORIZE_URL`` at ``<base>/`` and its
``HITKEY_API_URL`` at ``<base>``. The rules live in :mod:`local.hitkey_provider`; this module is
the sign-in page, the HTTP endpoints and the faults' effect on the wire.

Endpoints
---------
``POST /oauth/clients``
    Register a client (``Authorization: Bearer <admin_token>``; JSON ``{name, redirect_uri}``).
``GET /?client_id&redirect_uri&response_type=code&state[&scope&code_challenge&code_challenge_method]``
    The sign-in page. Invalid client or redirect_uri, ``response_type != code`` and a missing
    ``state`` are reported on the page (HTTP 400), never by redirecting.
``POST /``
    The sign-in form: the authorize parameters again, ``decision=allow|deny``, and either
    ``sub=<seeded user's sub>`` or ``email`` (+ optional ``name``); with neither, the first seeded
    user (Ada Lovelace). Allow redirects to ``redirect_uri?code=..&state=..``; deny to
    ``redirect_uri?error=access_denied&state=..``.
``POST /oauth/token``
    JSON body only. ``authorization_code`` (single-use codes, 60 s, PKCE S256/plain) and
    ``refresh_token`` (rotating; reuse of a rotated token revokes the whole login).
``GET /oauth/userinfo``
    ``Authorization: Bearer <access_token>`` -> the documented claims.

Test knobs (all but ``health`` need ``Authorization: Bearer <admin_token>``)
---------------------------------------------------------------------------
``GET /_emulator/health``, ``GET /_emulator/counters``, ``POST /_emulator/reset``,
``POST /_emulator/faults`` ``{endpoint, kind, count, seconds}``,
``POST /_emulator/expire-access-tokens``, ``POST /_emulator/config`` ``{access_token_ttl, code_ttl}``.

Faults ``delay`` and ``trickle`` answer the request first (a refresh is rotated at once), then
``delay`` waits ``seconds`` before sending and ``trickle`` sends the body in small pieces spread
over ``seconds`` (each under 7 s apart). ``hang`` waits and closes without answering.

Run it standalone::

    python -m local.emulator --host 127.0.0.1 --port 0 \\
        --client-id demo --client-secret demo-secret --redirect-uri http://localhost:3000/auth/callback

It prints its base URL as the only line on stdout once listening, and stops on Ctrl-C or SIGTERM.
Token values are never logged: the log line is method, path and status.
"""

from __future__ import annotations

import argparse
import hmac
import html
import json
import math
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from string import Template
from types import FrameType
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from werkzeug.wrappers import Request, Response

from local.hitkey_provider import (
    AUTHORIZE_PARAMS,
    DEFAULT_ADMIN_TOKEN,
    DEFAULT_DELAY_SECONDS,
    DEFAULT_HANG_SECONDS,
    DEFAULT_TRICKLE_SECONDS,
    FAULT_ENDPOINTS,
    FAULT_KINDS,
    GRANT_TYPES,
    MAX_BODY_BYTES,
    SEEDED_USERS,
    TRICKLE_GAP_SECONDS,
    AuthorizePageError,
    AuthorizeRedirectError,
    Client,
    Fault,
    Instruments,
    OAuthError,
    OAuthProvider,
    User,
    chosen_user,
    invalid_token,
    normalize_scope,
)
from local.httpserver import Server

__all__ = [
    "AUTHORIZE_PARAMS",
    "DEFAULT_ADMIN_TOKEN",
    "FAULT_ENDPOINTS",
    "FAULT_KINDS",
    "SEEDED_USERS",
    "Emulator",
    "User",
    "main",
]


# --------------------------------------------------------------------------------------------
# HTML (the markup is in local/templates/)
# --------------------------------------------------------------------------------------------

_TEMPLATES: Final = Path(__file__).with_name("templates")
_PAGE: Final = Template((_TEMPLATES / "page.html").read_text(encoding="utf-8"))
_SIGN_IN: Final = Template((_TEMPLATES / "signin.html").read_text(encoding="utf-8"))

_PAGE_HEADERS: Final = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _page(title: str, content: str) -> str:
    return _PAGE.substitute(title=html.escape(title), content=content)


def render_error_page(message: str) -> str:
    """The page shown for an authorization request that cannot be redirected back."""
    return _page(
        "Sign-in error - HitKey",
        "<h1>This sign-in request is invalid</h1>\n"
        f'<p class="error" role="alert" id="error">{html.escape(message)}</p>\n'
        "<p>The application that sent you here is misconfigured. You have not been redirected.</p>",
    )


def _user_choice(user: User, checked: bool) -> str:
    sub = html.escape(user.sub)
    return (
        f'<label class="user"><input type="radio" name="sub" value="{sub}" data-sub="{sub}"'
        f"{' checked' if checked else ''}> <span>{html.escape(user.name)}</span> "
        f"<small>{html.escape(user.email)}</small></label>"
    )


def render_sign_in_page(
    client: Client, params: Mapping[str, str], error: str | None = None, email: str = "", name: str = ""
) -> str:
    """The sign-in page: pick a seeded user or type an email, then Allow or Deny."""
    hidden = "\n".join(
        f'<input type="hidden" name="{key}" value="{html.escape(params[key])}">'
        for key in AUTHORIZE_PARAMS
        if params.get(key)
    )
    scope, _ = normalize_scope(params.get("scope"))
    scopes = " ".join(f"<code>{html.escape(item)}</code>" for item in scope.split())
    users = "\n".join(_user_choice(user, index == 0) for index, user in enumerate(SEEDED_USERS))
    alert = f'<p class="error" role="alert" id="error">{html.escape(error)}</p>\n' if error else ""
    content = _SIGN_IN.substitute(
        client=html.escape(client.name),
        scopes=scopes,
        alert=alert,
        hidden=hidden,
        users=users,
        email=html.escape(email),
        name=html.escape(name),
    ).rstrip("\n")
    return _page(f"Sign in to {client.name} - HitKey", content)


_FAULT_HTML: Final = _page(
    "502 Bad Gateway", "<h1>502 Bad Gateway</h1>\n<p>The upstream server returned an invalid response.</p>"
)


# --------------------------------------------------------------------------------------------
# HTTP: requests in, responses out
# --------------------------------------------------------------------------------------------


class _Reply(Response):
    default_mimetype = None


class _HangUp(Exception):
    """Close the connection without answering."""


def _first_values(query: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        values.setdefault(key, value)
    return values


def bearer(request: Request) -> str | None:
    """The bearer token from the Authorization header, if any."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    token = value.strip()
    return token if scheme.lower() == "bearer" and token else None


def json_object(request: Request) -> dict[str, Any]:
    """The JSON object body, or ``invalid_request``."""
    if request.mimetype != "application/json":
        raise OAuthError("invalid_request", "the body must be JSON (Content-Type: application/json)")
    try:
        value = json.loads(request.get_data())
    except (ValueError, UnicodeDecodeError):
        raise OAuthError("invalid_request", "the body is not valid JSON") from None
    if not isinstance(value, dict):
        raise OAuthError("invalid_request", "the body must be a JSON object")
    return value


def json_response(status: int, payload: object, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON response that caches must not store."""
    headers = {"Cache-Control": "no-store", "Pragma": "no-cache", **(headers or {})}
    return _Reply(json.dumps(payload), status, headers, content_type="application/json")


def html_response(status: int, page: str) -> Response:
    """An HTML page with a strict CSP."""
    return _Reply(page, status, dict(_PAGE_HEADERS), content_type="text/html; charset=utf-8")


def redirect_response(uri: str, params: Mapping[str, str]) -> Response:
    """302 to ``uri`` with ``params`` added to its query."""
    parts = urlsplit(uri)
    query = urlencode([*parse_qsl(parts.query, keep_blank_values=True), *params.items()])
    location = urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))
    return _Reply(b"", 302, {"Location": location, "Cache-Control": "no-store"})


def oauth_error_response(error: OAuthError) -> Response:
    """The JSON error body, plus WWW-Authenticate for bearer-token errors."""
    headers = {}
    if error.error == "invalid_token":
        headers["WWW-Authenticate"] = f'Bearer error="invalid_token", error_description="{error.description}"'
    return json_response(error.status, {"error": error.error, "error_description": error.description}, headers)


def _redirect_error(error: AuthorizeRedirectError) -> Response:
    params = {"error": error.error, "error_description": error.description, "state": error.state}
    return redirect_response(error.redirect_uri, params)


def _is_absolute_http_uri(uri: str) -> bool:
    parts = urlsplit(uri)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and not parts.fragment


def _body_problem(environ: Mapping[str, Any]) -> Response | None:
    if environ.get("HTTP_TRANSFER_ENCODING"):
        return json_response(411, {"error": "invalid_request", "error_description": "send a Content-Length"})
    raw = environ.get("CONTENT_LENGTH") or ""
    if raw and not raw.strip().isdigit():
        return json_response(400, {"error": "invalid_request", "error_description": "invalid Content-Length"})
    if raw and int(raw) > MAX_BODY_BYTES:
        return json_response(413, {"error": "invalid_request", "error_description": "body too large"})
    return None


Handler = Callable[["App", Request], Response]


class App:
    """The WSGI application: routes, counters and faults around an :class:`OAuthProvider`."""

    def __init__(
        self,
        provider: OAuthProvider,
        instruments: Instruments,
        admin_token: str,
        stopping: threading.Event,
        verbose: bool = False,
    ) -> None:
        self.provider = provider
        self.instruments = instruments
        self.admin_token = admin_token
        self.stopping = stopping
        self.verbose = verbose

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        try:
            response = _body_problem(environ) or self.handle(request)
        except _HangUp:
            with_socket = environ.get("werkzeug.socket")
            if isinstance(with_socket, socket.socket):
                with_socket.shutdown(socket.SHUT_RDWR)
            start_response("500 Hung Up", [])
            return [b""]
        except Exception:
            traceback.print_exc(file=sys.stderr)
            response = json_response(500, {"error": "server_error", "error_description": "emulator bug"})
        if self.verbose:  # the path only: the query of GET / carries the state
            sys.stderr.write(f"hitkey-emulator: {request.method} {request.path} -> {response.status_code}\n")
        return response(environ, start_response)

    def handle(self, request: Request) -> Response:
        """Answer one request (counting it and applying any queued fault)."""
        route = _ROUTES.get(request.path)
        if route is None:
            return json_response(404, {"error": "not_found", "error_description": "no such endpoint"})
        endpoint, methods = route
        handler = methods.get(request.method)
        if handler is None:
            return json_response(405, {"error": "method_not_allowed"}, {"Allow": ", ".join(sorted(methods))})
        fault = None
        if endpoint is not None:
            self.instruments.count(self._counter_keys(endpoint, request))
            fault = self.instruments.take(endpoint)
            faulted = self._fault_response(fault) if fault is not None else None
            if faulted is not None:
                return faulted
        try:
            response = handler(self, request)
        except OAuthError as error:
            response = oauth_error_response(error)
        if fault is not None and fault.kind == "delay":  # answered (rotated) first, then slow to send
            self.stopping.wait(DEFAULT_DELAY_SECONDS if fault.seconds is None else fault.seconds)
        elif fault is not None and fault.kind == "trickle":
            return self._trickle(response, DEFAULT_TRICKLE_SECONDS if fault.seconds is None else fault.seconds)
        return response

    def _trickle(self, response: Response, seconds: float) -> Response:
        """The same answer, its body sent in pieces over ``seconds``, each under 7 s after the last."""
        body = response.get_data()
        gaps = max(1, math.ceil(seconds / TRICKLE_GAP_SECONDS))
        size = max(1, math.ceil(len(body) / (gaps + 1)))
        pieces = [body[i : i + size] for i in range(0, len(body), size)] or [b""]
        pause = seconds / max(1, len(pieces) - 1)
        stopping = self.stopping

        def stream() -> Iterator[bytes]:
            for index, piece in enumerate(pieces):
                if index and stopping.wait(pause):
                    return
                yield piece

        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        headers["Content-Length"] = str(len(body))
        return _Reply(stream(), response.status_code, headers, direct_passthrough=True)

    @staticmethod
    def _counter_keys(endpoint: str, request: Request) -> list[str]:
        keys = [endpoint]
        if endpoint == "token":
            try:
                grant_type = json.loads(request.get_data()).get("grant_type")
            except (ValueError, UnicodeDecodeError, AttributeError):
                grant_type = None
            if grant_type in GRANT_TYPES:
                keys.append(f"token.{grant_type}")
        elif endpoint == "authorize" and request.method == "POST":
            keys = ["authorize.decision"]
        return keys

    def _fault_response(self, fault: Fault) -> Response | None:
        """The faulty response, or None to answer normally (``delay`` and ``trickle`` act after)."""
        kind = fault.kind
        if kind == "hang":
            self.stopping.wait(DEFAULT_HANG_SECONDS if fault.seconds is None else fault.seconds)
            raise _HangUp
        if kind in ("delay", "trickle"):
            return None
        if kind == "error500":
            return json_response(500, {"error": "server_error", "error_description": "injected fault"})
        if kind == "html":
            return _Reply(_FAULT_HTML, 502, content_type="text/html; charset=utf-8")
        if kind == "malformed":
            return _Reply(b'{"access_token": "hkat_trunc', 200, content_type="application/json")
        if kind == "invalid_grant":
            return oauth_error_response(OAuthError("invalid_grant", "injected fault"))
        if kind == "invalid_client":
            return oauth_error_response(OAuthError("invalid_client", "injected fault", 401))
        return oauth_error_response(invalid_token("injected fault"))

    def _require_admin(self, request: Request) -> None:
        token = bearer(request)
        if token is None or not hmac.compare_digest(token.encode(), self.admin_token.encode()):
            raise invalid_token("the admin bearer token is required")

    # -- HitKey endpoints ------------------------------------------------------------------

    def authorize_page(self, request: Request) -> Response:
        """GET /: validate, then render the sign-in page."""
        query = _first_values(request.query_string.decode("latin-1"))
        try:
            authz = self.provider.validate_authorize(query)
        except AuthorizePageError as error:
            return html_response(400, render_error_page(str(error)))
        except AuthorizeRedirectError as error:
            return _redirect_error(error)
        return html_response(200, render_sign_in_page(authz.client, query))

    def authorize_decision(self, request: Request) -> Response:
        """POST /: the form's Allow or Deny, re-validated from scratch."""
        form = _first_values(request.get_data().decode("utf-8", "replace"))
        try:
            authz = self.provider.validate_authorize(form)
        except AuthorizePageError as error:
            return html_response(400, render_error_page(str(error)))
        except AuthorizeRedirectError as error:
            return _redirect_error(error)
        if form.get("decision") == "deny":
            return redirect_response(authz.redirect_uri, {"error": "access_denied", "state": authz.state})
        if form.get("decision") != "allow":
            return html_response(400, render_error_page("Choose Allow or Deny."))
        user, problem = chosen_user(form)
        if user is None:
            page = render_sign_in_page(authz.client, form, problem, form.get("email", ""), form.get("name", ""))
            return html_response(400, page)
        code = self.provider.issue_code(authz, user)
        return redirect_response(authz.redirect_uri, {"code": code, "state": authz.state})

    def register_client(self, request: Request) -> Response:
        """POST /oauth/clients."""
        self._require_admin(request)
        body = json_object(request)
        name, redirect_uri = body.get("name"), body.get("redirect_uri")
        if not isinstance(name, str) or not name.strip() or len(name) > 255:
            raise OAuthError("invalid_request", "name is required (at most 255 characters)")
        if not isinstance(redirect_uri, str) or not _is_absolute_http_uri(redirect_uri):
            raise OAuthError("invalid_request", "redirect_uri must be an absolute http(s) URI without fragment")
        client = self.provider.register_client(name.strip(), redirect_uri)
        return json_response(201, client.as_dict())

    def token(self, request: Request) -> Response:
        """POST /oauth/token."""
        return json_response(200, self.provider.token(json_object(request)))

    def userinfo(self, request: Request) -> Response:
        """GET /oauth/userinfo."""
        return json_response(200, self.provider.userinfo(bearer(request)))

    # -- test knobs ------------------------------------------------------------------------

    def health(self, request: Request) -> Response:
        """GET /_emulator/health (no auth): readiness."""
        return json_response(200, {"ok": True})

    def counters(self, request: Request) -> Response:
        """GET /_emulator/counters."""
        self._require_admin(request)
        return json_response(200, self.instruments.snapshot())

    def reset(self, request: Request) -> Response:
        """POST /_emulator/reset: counters and faults."""
        self._require_admin(request)
        self.instruments.reset_counters()
        self.instruments.clear_faults()
        return json_response(200, {"ok": True})

    def faults(self, request: Request) -> Response:
        """POST /_emulator/faults."""
        self._require_admin(request)
        body = json_object(request)
        try:
            self.instruments.inject(
                str(body.get("endpoint")), str(body.get("kind")), body.get("count", 1), body.get("seconds")
            )
        except ValueError as error:
            raise OAuthError("invalid_request", str(error)) from None
        return json_response(200, {"ok": True})

    def expire_access_tokens(self, request: Request) -> Response:
        """POST /_emulator/expire-access-tokens."""
        self._require_admin(request)
        return json_response(200, {"expired": self.provider.expire_access_tokens()})

    def config(self, request: Request) -> Response:
        """POST /_emulator/config: ``access_token_ttl`` (int >= 0) and/or ``code_ttl`` (seconds)."""
        self._require_admin(request)
        body = json_object(request)
        unknown = set(body) - {"access_token_ttl", "code_ttl"}
        if unknown:
            raise OAuthError("invalid_request", f"unknown settings: {', '.join(sorted(unknown))}")
        ttl, code_ttl = body.get("access_token_ttl"), body.get("code_ttl")
        if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 0):
            raise OAuthError("invalid_request", "access_token_ttl must be a non-negative integer")
        if code_ttl is not None and (
            isinstance(code_ttl, bool) or not isinstance(code_ttl, int | float) or code_ttl < 0
        ):
            raise OAuthError("invalid_request", "code_ttl must be a non-negative number")
        self.provider.configure(access_token_ttl=ttl, code_ttl=code_ttl)
        return json_response(200, {"access_token_ttl": self.provider.access_token_ttl})


_ROUTES: Final[dict[str, tuple[str | None, dict[str, Handler]]]] = {
    "/": ("authorize", {"GET": App.authorize_page, "POST": App.authorize_decision}),
    "/oauth/clients": ("clients", {"POST": App.register_client}),
    "/oauth/token": ("token", {"POST": App.token}),
    "/oauth/userinfo": ("userinfo", {"GET": App.userinfo}),
    "/_emulator/health": (None, {"GET": App.health}),
    "/_emulator/counters": (None, {"GET": App.counters}),
    "/_emulator/reset": (None, {"POST": App.reset}),
    "/_emulator/faults": (None, {"POST": App.faults}),
    "/_emulator/expire-access-tokens": (None, {"POST": App.expire_access_tokens}),
    "/_emulator/config": (None, {"POST": App.config}),
}


# --------------------------------------------------------------------------------------------
# Public facade
# --------------------------------------------------------------------------------------------


class Emulator:
    """An in-process HitKey emulator.

    Example::

        emu = Emulator(access_token_ttl=3600, admin_token="emulator-admin-token")
        base_url = emu.start(host="127.0.0.1", port=0)
        client = emu.register_client(name="Demo", redirect_uri="http://localhost:3000/auth/callback")
        emu.inject_fault("token", "error500", count=1)
        ...
        emu.stop()
    """

    def __init__(
        self,
        *,
        access_token_ttl: int = 3600,
        admin_token: str = DEFAULT_ADMIN_TOKEN,
        code_ttl: float = 60.0,
        verbose: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._provider = OAuthProvider(access_token_ttl=access_token_ttl, code_ttl=code_ttl, clock=clock)
        self._instruments = Instruments()
        self._stopping = threading.Event()
        self._app = App(self._provider, self._instruments, admin_token, self._stopping, verbose)
        self._server = Server(self._app, "hitkey-emulator")

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on ``host:port`` (0 picks a free port), serve in a daemon thread, return the base URL."""
        if self._server.running:
            raise RuntimeError("the emulator is already running")
        self._stopping.clear()
        return self._server.start(host, port)

    def stop(self) -> None:
        """Stop serving: wake hung/delayed requests, close connections, release the port. Idempotent."""
        if not self._server.running:
            return
        self._stopping.set()
        self._server.stop()

    @property
    def running(self) -> bool:
        """Whether the emulator is serving."""
        return self._server.running

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the running emulator."""
        if not self._server.running:
            raise RuntimeError("the emulator has not been started")
        return self._server.base_url

    @property
    def authorize_url(self) -> str:
        """Where to send browsers (HitKey's ``https://hitkey.io/``)."""
        return self.base_url + "/"

    @property
    def provider(self) -> OAuthProvider:
        """The OAuth state behind the endpoints (the sample API asks it whose a token is)."""
        return self._provider

    # -- state -----------------------------------------------------------------------------

    def register_client(
        self,
        name: str,
        redirect_uri: str,
        client_id: str | None = None,
        client_secret: str | None = None,
    ) -> dict[str, str]:
        """Register a client like ``POST /oauth/clients`` does; a given ``client_id`` is replaced."""
        return self._provider.register_client(name, redirect_uri, client_id, client_secret).as_dict()

    @property
    def clients(self) -> list[dict[str, str]]:
        """Every registered client, as the registration API returned it (secrets included)."""
        return [client.as_dict() for client in self._provider.clients()]

    def expire_access_tokens(self) -> int:
        """Expire every access token issued so far (refresh tokens stay valid); return the count."""
        return self._provider.expire_access_tokens()

    @property
    def access_token_ttl(self) -> int:
        """Lifetime (``expires_in``) of access tokens issued from now on."""
        return self._provider.access_token_ttl

    @access_token_ttl.setter
    def access_token_ttl(self, seconds: int) -> None:
        self._provider.configure(access_token_ttl=seconds)

    @property
    def admin_token(self) -> str:
        """The bearer token that guards ``/oauth/clients`` and the ``/_emulator`` knobs."""
        return self._app.admin_token

    # -- test knobs ------------------------------------------------------------------------

    def inject_fault(self, endpoint: str, kind: str, count: int = 1, seconds: float | None = None) -> None:
        """Make the next ``count`` calls of ``endpoint`` misbehave as ``kind`` (see FAULT_KINDS)."""
        self._instruments.inject(endpoint, kind, count, seconds)

    def clear_faults(self) -> None:
        """Drop every queued fault."""
        self._instruments.clear_faults()

    @property
    def counters(self) -> dict[str, int]:
        """A snapshot of call counts per endpoint and per grant type (faulted calls included)."""
        return self._instruments.snapshot()

    def reset_counters(self) -> None:
        """Zero every counter."""
        self._instruments.reset_counters()

    def reset(self) -> None:
        """Zero the counters and drop queued faults (clients and tokens are kept)."""
        self._instruments.reset_counters()
        self._instruments.clear_faults()


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m local.emulator", description="Run the HitKey emulator.")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (default 0: pick a free one)")
    parser.add_argument("--client-id", help="pre-register a client with this client_id")
    parser.add_argument("--client-secret", help="... and this client_secret")
    parser.add_argument("--redirect-uri", help="... and this redirect_uri (required to pre-register)")
    parser.add_argument("--client-name", default="Local app", help="name of the pre-registered client")
    parser.add_argument("--admin-token", default=DEFAULT_ADMIN_TOKEN, help="bearer token for admin calls")
    parser.add_argument("--access-token-ttl", type=int, default=3600, help="expires_in of access tokens")
    parser.add_argument("--code-ttl", type=float, default=60.0, help="lifetime of authorization codes (s)")
    parser.add_argument("--verbose", action="store_true", help="log one line per request to stderr")
    args = parser.parse_args(argv)
    if (args.client_id or args.client_secret) and not args.redirect_uri:
        parser.error("--redirect-uri is required to pre-register a client")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run until Ctrl-C or SIGTERM; print the base URL as the one line on stdout."""
    args = _parse_args(argv)
    emulator = Emulator(
        access_token_ttl=args.access_token_ttl,
        admin_token=args.admin_token,
        code_ttl=args.code_ttl,
        verbose=args.verbose,
    )
    if args.redirect_uri:
        client = emulator.register_client(args.client_name, args.redirect_uri, args.client_id, args.client_secret)
        shown = "" if args.client_secret else f" client_secret={client['client_secret']}"
        print(f"hitkey-emulator: registered client_id={client['client_id']}{shown}", file=sys.stderr)
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    print(emulator.start(args.host, args.port), flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
