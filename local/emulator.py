"""A local stand-in for HitKey on werkzeug: the sign-in page and the OAuth API on one origin.

Point the BFF's ``HITKEY_AUTHORIZE_URL`` at ``<base>/`` and its ``HITKEY_API_URL`` at ``<base>``.
The OAuth rules are in :mod:`local.hitkey_provider`; here are the sign-in page, the endpoints, the
``/_emulator/*`` test knobs and ``python -m local.emulator`` (docs/local.md lists them), whose
``--verbose`` log line is method, path and status: never a token.
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
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from werkzeug.wrappers import Request, Response

from local import hitkey_provider as rules
from local.hitkey_provider import GRANT_TYPES, SEEDED_USERS, OAuthError, invalid_token
from local.httpserver import Server

__all__ = ["AUTHORIZE_PARAMS", "FAULT_KINDS", "SEEDED_USERS", "Emulator", "main"]

DEFAULT_ADMIN_TOKEN: Final = "emulator-admin-token"  # noqa: S105 - a public, local-only default
MAX_BODY_BYTES: Final = 64 * 1024
AUTHORIZE_PARAMS: Final = (
    "client_id",
    "redirect_uri",
    "response_type",
    "state",
    "scope",
    "code_challenge",
    "code_challenge_method",
)
FAULT_ENDPOINTS: Final = ("token", "userinfo", "authorize", "clients")
# Counted: each endpoint (POST / as authorize.decision) and each grant type of the token endpoint.
COUNTER_KEYS: Final = sorted({*FAULT_ENDPOINTS, "authorize.decision", *(f"token.{grant}" for grant in GRANT_TYPES)})

_PAGE, _SIGN_IN, _ERROR = (
    Template((Path(__file__).with_name("templates") / name).read_text(encoding="utf-8"))
    for name in ("page.html", "signin.html", "error.html")
)
_PAGE_HEADERS: Final = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_USER_CHOICES: Final = "\n".join(
    f'<label class="user"><input type="radio" name="sub" value="{html.escape(user.sub)}" '
    f'data-sub="{html.escape(user.sub)}"{" checked" if index == 0 else ""}> <span>{html.escape(user.name)}</span> '
    f"<small>{html.escape(user.email)}</small></label>"
    for index, user in enumerate(SEEDED_USERS)
)


class _Reply(Response):
    default_mimetype = None  # no Content-Type unless given: a redirect has none


def _page(title: str, content: str) -> str:
    return _PAGE.substitute(title=html.escape(title), content=content.rstrip("\n"))


def html_response(status: int, title: str, content: str) -> Response:
    """An HTML page with a strict CSP."""
    return _Reply(_page(title, content), status, _PAGE_HEADERS, content_type="text/html; charset=utf-8")


def error_page(message: str) -> Response:
    """400: the page shown for an authorization request that cannot be redirected back."""
    return html_response(400, "Sign-in error - HitKey", _ERROR.substitute(message=html.escape(message)))


def sign_in_page(client: rules.Client, params: Mapping[str, str], error: str = "") -> Response:
    """The sign-in page: pick a seeded user or type an email, then Allow or Deny; with an ``error``
    about the email typed, 400 and the error above the form, which keeps the email and name."""
    fields = [key for key in AUTHORIZE_PARAMS if params.get(key)]
    hidden = "\n".join(f'<input type="hidden" name="{key}" value="{html.escape(params[key])}">' for key in fields)
    scope, _ = rules.normalize_scope(params.get("scope"))
    content = _SIGN_IN.substitute(
        client=html.escape(client.name),
        scopes=" ".join(f"<code>{html.escape(item)}</code>" for item in scope.split()),
        alert=f'<p class="error" role="alert" id="error">{html.escape(error)}</p>\n' if error else "",
        hidden=hidden,
        users=_USER_CHOICES,
        email=html.escape(params.get("email", "")) if error else "",
        name=html.escape(params.get("name", "")) if error else "",
    )
    return html_response(400 if error else 200, f"Sign in to {client.name} - HitKey", content)


def json_response(status: int, payload: object, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON response that caches must not store."""
    headers = {"Cache-Control": "no-store", "Pragma": "no-cache", **(headers or {})}
    return _Reply(json.dumps(payload), status, headers, content_type="application/json")


def oauth_error_response(error: OAuthError) -> Response:
    """The JSON error body, plus WWW-Authenticate for bearer-token errors."""
    challenge = f'Bearer error="invalid_token", error_description="{error.description}"'
    headers = {"WWW-Authenticate": challenge} if error.error == "invalid_token" else {}
    return json_response(error.status, {"error": error.error, "error_description": error.description}, headers)


def redirect_response(uri: str, params: Mapping[str, str]) -> Response:
    """302 to ``uri`` with ``params`` added to its query."""
    parts = urlsplit(uri)
    query = urlencode([*parse_qsl(parts.query, keep_blank_values=True), *params.items()])
    location = urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))
    return _Reply(b"", 302, {"Location": location, "Cache-Control": "no-store"})


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


def _check_body(environ: Mapping[str, Any]) -> None:
    """Refuse a chunked body, a bad Content-Length and a body over MAX_BODY_BYTES."""
    length = environ.get("CONTENT_LENGTH") or ""
    if environ.get("HTTP_TRANSFER_ENCODING"):
        raise OAuthError("invalid_request", "send a Content-Length", 411)
    if length and not length.strip().isdigit():
        raise OAuthError("invalid_request", "invalid Content-Length")
    if length and int(length) > MAX_BODY_BYTES:
        raise OAuthError("invalid_request", "body too large", 413)


def _number(value: object, name: str, minimum: int = 0, integer: bool = False) -> None:
    """Refuse (ValueError) all but an int (or, unless ``integer``, a float) of at least ``minimum``; bools too."""
    if isinstance(value, bool) or not isinstance(value, int if integer else int | float) or value < minimum:
        kind = "integer" if integer else "number"
        raise ValueError(f"{name} must be a {'positive' if minimum else 'non-negative'} {kind}")


_FAULT_HTML: Final = _page(
    "502 Bad Gateway", "<h1>502 Bad Gateway</h1>\n<p>The upstream server returned an invalid response.</p>"
)
# What each fault kind does to a call: the answer sent instead of the endpoint's, or None for the
# timed kinds (default seconds below). ``hang`` waits, then closes without answering; ``delay`` and
# ``trickle`` answer first (a refresh is rotated at once), then ``delay`` waits before sending and
# ``trickle`` sends the body in pieces spread over the seconds.
_FAULTS: Final[dict[str, Callable[[], Response] | None]] = {
    "error500": lambda: oauth_error_response(OAuthError("server_error", "injected fault", 500)),
    "html": lambda: _Reply(_FAULT_HTML, 502, content_type="text/html; charset=utf-8"),
    "malformed": lambda: _Reply(b'{"access_token": "hkat_trunc', 200, content_type="application/json"),
    "hang": None,
    "delay": None,
    "invalid_grant": lambda: oauth_error_response(OAuthError("invalid_grant", "injected fault")),
    "invalid_client": lambda: oauth_error_response(OAuthError("invalid_client", "injected fault", 401)),
    "unauthorized": lambda: oauth_error_response(invalid_token("injected fault")),
    "trickle": None,
}
FAULT_KINDS: Final = tuple(_FAULTS)
_FAULT_SECONDS: Final = {"hang": 30.0, "delay": 1.0, "trickle": 10.0}


class _HangUp(Exception):
    """Close the connection without answering."""


class Emulator(rules.OAuthProvider, Server):
    """HitKey in process: the :class:`OAuthProvider` served over HTTP (a WSGI app), with test knobs.

    ``start(host, port)`` (port 0 picks a free one) returns the base URL; ``stop()`` wakes hung and
    delayed requests, closes connections and releases the port. Example::

        emu = Emulator(admin_token="emulator-admin-token")
        base_url = emu.start(host="127.0.0.1", port=0)
        client = emu.register_client(name="Demo", redirect_uri="http://localhost:3000/auth/callback")
        emu.inject_fault("token", "error500", count=1)
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
        rules.OAuthProvider.__init__(self, access_token_ttl=access_token_ttl, code_ttl=code_ttl, clock=clock)
        Server.__init__(self, self, "hitkey-emulator")
        self.admin_token = admin_token  # guards /oauth/clients and the /_emulator knobs
        self.verbose = verbose
        self._counters = dict.fromkeys(COUNTER_KEYS, 0)
        self._faults: dict[str, list[tuple[str, float, int]]] = {}  # endpoint: [(kind, seconds, calls left)]

    @property
    def authorize_url(self) -> str:
        """Where to send browsers (HitKey's ``https://hitkey.io/``)."""
        return self.base_url + "/"

    def inject_fault(self, endpoint: str, kind: str, count: int = 1, seconds: float | None = None) -> None:
        """Make the next ``count`` calls of ``endpoint`` misbehave as ``kind`` (after faults already queued)."""
        if endpoint not in FAULT_ENDPOINTS:
            raise ValueError(f"endpoint must be one of {', '.join(FAULT_ENDPOINTS)}")
        if kind not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {', '.join(FAULT_KINDS)}")
        _number(count, "count", minimum=1, integer=True)
        if seconds is not None:
            _number(seconds, "seconds")
        fault = (kind, _FAULT_SECONDS.get(kind, 0.0) if seconds is None else seconds, count)
        with self._lock:
            self._faults.setdefault(endpoint, []).append(fault)

    def clear_faults(self) -> None:
        """Drop every queued fault."""
        with self._lock:
            self._faults.clear()

    @property
    def counters(self) -> dict[str, int]:
        """A snapshot of call counts per endpoint and per grant type (faulted calls included)."""
        with self._lock:
            return dict(self._counters)

    def reset_counters(self) -> None:
        """Zero every counter."""
        with self._lock:
            self._counters = dict.fromkeys(COUNTER_KEYS, 0)

    def reset(self) -> None:
        """Zero the counters and drop queued faults (clients and tokens are kept)."""
        self.reset_counters()
        self.clear_faults()

    def _count_and_take_fault(self, endpoint: str, request: Request) -> tuple[str, float]:
        """Count this call of ``endpoint``; take one call's worth of its next queued fault ("" if none)."""
        keys = ["authorize.decision"] if endpoint == "authorize" and request.method == "POST" else [endpoint]
        body = request.get_json(force=True, silent=True) if endpoint == "token" else None
        if isinstance(body, dict) and body.get("grant_type") in GRANT_TYPES:
            keys.append(f"token.{body['grant_type']}")
        with self._lock:
            for key in keys:
                self._counters[key] += 1
            queue = self._faults.get(endpoint)
            if not queue:
                return "", 0.0
            kind, seconds, count = queue.pop(0)
            if count > 1:
                queue.insert(0, (kind, seconds, count - 1))
            return kind, seconds

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        try:
            response = self._handle(request)
        except _HangUp:
            if isinstance(connection := environ.get("werkzeug.socket"), socket.socket):
                connection.shutdown(socket.SHUT_RDWR)
            start_response("500 Hung Up", [])
            return [b""]
        except Exception:
            traceback.print_exc(file=sys.stderr)
            response = json_response(500, {"error": "server_error", "error_description": "emulator bug"})
        if self.verbose:  # the path only: the query of GET / carries the state
            sys.stderr.write(f"hitkey-emulator: {request.method} {request.path} -> {response.status_code}\n")
        return response(environ, start_response)

    def _handle(self, request: Request) -> Response:
        """Answer one request (counting it and applying any queued fault)."""
        kind, seconds = "", 0.0
        try:
            _check_body(request.environ)
            endpoint, methods = _ROUTES.get(request.path, (None, {}))
            if not methods:
                raise OAuthError("not_found", "no such endpoint", 404)
            if (handler := methods.get(request.method)) is None:
                return json_response(405, {"error": "method_not_allowed"}, {"Allow": ", ".join(sorted(methods))})
            if endpoint is not None:
                kind, seconds = self._count_and_take_fault(endpoint, request)
            if kind == "hang":
                self.stopping.wait(seconds)
                raise _HangUp
            if (answer := _FAULTS.get(kind)) is not None:
                return answer()
            response = handler(self, request)
        except OAuthError as error:
            response = oauth_error_response(error)
        if kind == "delay":  # answered (rotated) first, then slow to send
            self.stopping.wait(seconds)
        elif kind == "trickle":
            return self._trickle(response, seconds)
        return response

    def _trickle(self, response: Response, seconds: float) -> Response:
        """The same answer, its body sent in pieces over ``seconds``, each under 7 s after the last."""
        body = response.get_data()
        gaps = max(1, math.ceil(seconds))  # a piece at least every second: well under httpx's 7 s read timeout
        size = max(1, math.ceil(len(body) / (gaps + 1)))
        pieces = [body[i : i + size] for i in range(0, len(body), size)] or [b""]
        pause = seconds / max(1, len(pieces) - 1)

        def stream() -> Iterator[bytes]:
            for index, piece in enumerate(pieces):
                if index and self.stopping.wait(pause):
                    return
                yield piece

        response.response = stream()  # its headers, Content-Length included, stay as they are
        response.direct_passthrough = True
        return response

    def _require_admin(self, request: Request) -> None:
        token = bearer(request)
        if token is None or not hmac.compare_digest(token.encode(), self.admin_token.encode()):
            raise invalid_token("the admin bearer token is required")

    def _authorize(self, request: Request) -> Response:
        """GET / is the sign-in page; POST / is its Allow or Deny, re-validated from scratch."""
        page = request.method == "GET"
        raw = request.query_string.decode("latin-1") if page else request.get_data().decode("utf-8", "replace")
        params = dict(reversed(parse_qsl(raw, keep_blank_values=True)))  # the first of repeated keys wins
        try:
            authz = self.validate_authorize(params)
        except rules.AuthorizePageError as error:
            return error_page(str(error))
        except rules.AuthorizeRedirectError as error:
            query = {"error": error.error, "error_description": error.description, "state": error.state}
            return redirect_response(error.redirect_uri, query)
        if page:
            return sign_in_page(authz.client, params)
        if params.get("decision") == "deny":
            return redirect_response(authz.redirect_uri, {"error": "access_denied", "state": authz.state})
        if params.get("decision") != "allow":
            return error_page("Choose Allow or Deny.")
        user, problem = rules.chosen_user(params)
        if user is None:
            return sign_in_page(authz.client, params, problem)
        return redirect_response(authz.redirect_uri, {"code": self.issue_code(authz, user), "state": authz.state})

    def _register(self, request: Request) -> Response:
        """POST /oauth/clients ``{name, redirect_uri}``."""
        self._require_admin(request)
        body = json_object(request)
        name, redirect_uri = body.get("name"), body.get("redirect_uri", "")
        if not isinstance(name, str) or not name.strip() or len(name) > 255:
            raise OAuthError("invalid_request", "name is required (at most 255 characters)")
        uri = urlsplit(redirect_uri) if isinstance(redirect_uri, str) else None
        if uri is None or uri.scheme not in ("http", "https") or not uri.netloc or uri.fragment:
            raise OAuthError("invalid_request", "redirect_uri must be an absolute http(s) URI without fragment")
        return json_response(201, self.register_client(name.strip(), redirect_uri))

    def _token(self, request: Request) -> Response:
        return json_response(200, self.token(json_object(request)))

    def _userinfo(self, request: Request) -> Response:
        return json_response(200, self.userinfo(bearer(request)))

    def _knob(self, request: Request) -> Response:
        """``/_emulator/<knob>`` (see docs/local.md): every knob but ``health`` needs the admin token."""
        knob = request.path.removeprefix("/_emulator/")
        if knob == "health":
            return json_response(200, {"ok": True})
        self._require_admin(request)
        if knob == "counters":
            return json_response(200, self.counters)
        if knob == "expire-access-tokens":
            return json_response(200, {"expired": self.expire_access_tokens()})
        if knob == "reset":
            self.reset()
            return json_response(200, {"ok": True})
        body = json_object(request)
        try:
            if knob == "config":
                return json_response(200, self._configure(body))
            fault = str(body.get("endpoint")), str(body.get("kind")), body.get("count", 1), body.get("seconds")
            self.inject_fault(*fault)
        except ValueError as error:
            raise OAuthError("invalid_request", str(error)) from None
        return json_response(200, {"ok": True})

    def _configure(self, body: Mapping[str, Any]) -> dict[str, int]:
        """``/_emulator/config``: ``access_token_ttl`` (int >= 0) and/or ``code_ttl`` (seconds)."""
        if unknown := set(body) - {"access_token_ttl", "code_ttl"}:
            raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
        ttl, code_ttl = body.get("access_token_ttl"), body.get("code_ttl")
        if ttl is not None:
            _number(ttl, "access_token_ttl", integer=True)
        if code_ttl is not None:
            _number(code_ttl, "code_ttl")
        self.access_token_ttl = self.access_token_ttl if ttl is None else ttl
        self.code_ttl = self.code_ttl if code_ttl is None else code_ttl
        return {"access_token_ttl": self.access_token_ttl}


# path -> (the endpoint it is counted and faulted as, None for the knobs; {method: handler})
_ROUTES: Final[dict[str, tuple[str | None, dict[str, Callable[[Emulator, Request], Response]]]]] = {
    "/": ("authorize", {"GET": Emulator._authorize, "POST": Emulator._authorize}),
    "/oauth/clients": ("clients", {"POST": Emulator._register}),
    "/oauth/token": ("token", {"POST": Emulator._token}),
    "/oauth/userinfo": ("userinfo", {"GET": Emulator._userinfo}),
    **{f"/_emulator/{knob}": (None, {"GET": Emulator._knob}) for knob in ("health", "counters")},
    **{f"/_emulator/{knob}": (None, {"POST": Emulator._knob}) for knob in ("reset", "faults", "config")},
    "/_emulator/expire-access-tokens": (None, {"POST": Emulator._knob}),
}


def main(argv: list[str] | None = None) -> int:
    """Run until Ctrl-C or SIGTERM; print the base URL as the one line on stdout."""
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
    settings = ("access_token_ttl", "admin_token", "code_ttl", "verbose")
    emulator = Emulator(**{setting: getattr(args, setting) for setting in settings})
    if args.redirect_uri:
        client = emulator.register_client(args.client_name, args.redirect_uri, args.client_id, args.client_secret)
        shown = "" if args.client_secret else f" client_secret={client['client_secret']}"
        print(f"hitkey-emulator: registered client_id={client['client_id']}{shown}", file=sys.stderr)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
    print(emulator.start(args.host, args.port), flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
