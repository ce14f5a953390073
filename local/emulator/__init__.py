"""A local stand-in for HitKey on werkzeug: the sign-in page and the OAuth API on one origin.

Point the BFF's ``HITKEY_AUTHORIZE_URL`` at ``<base>/`` and its ``HITKEY_API_URL`` at ``<base>``.
Here are the endpoints, the counters and the ``/_emulator/*`` knobs (docs/local.md); the OAuth rules
are in :mod:`.provider`, the test users in :mod:`.users`, the pages in :mod:`.pages`, the request and
response helpers in :mod:`.http`, the faults in :mod:`.faults` and the CLI in :mod:`.__main__`.
"""

from __future__ import annotations

import hmac
import socket
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

from werkzeug.wrappers import Request, Response

from local.emulator import provider as rules
from local.emulator.faults import FAULT_ENDPOINTS, FAULT_KINDS, FAULT_SECONDS, FAULTS, trickle
from local.emulator.http import bearer, check_body, json_object, json_response, oauth_error_response, redirect_response
from local.emulator.pages import error_page, sign_in_page
from local.emulator.provider import GRANT_TYPES, OAuthError, invalid_token
from local.emulator.users import chosen_user
from local.httpserver import Server

__all__ = ["DEFAULT_ADMIN_TOKEN", "Emulator"]

DEFAULT_ADMIN_TOKEN: Final = "emulator-admin-token"  # noqa: S105 - a public, local-only default
# Counted: each endpoint (POST / as authorize.decision) and each grant type of the token endpoint.
COUNTER_KEYS: Final = sorted({*FAULT_ENDPOINTS, "authorize.decision", *(f"token.{grant}" for grant in GRANT_TYPES)})


def _number(value: object, name: str, minimum: int = 0, integer: bool = False) -> None:
    """Refuse (ValueError) all but an int (or, unless ``integer``, a float) of at least ``minimum``; bools too."""
    if isinstance(value, bool) or not isinstance(value, int if integer else int | float) or value < minimum:
        kind = "integer" if integer else "number"
        raise ValueError(f"{name} must be a {'positive' if minimum else 'non-negative'} {kind}")


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
        fault = (kind, FAULT_SECONDS.get(kind, 0.0) if seconds is None else seconds, count)
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
            check_body(request.environ)
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
            if (answer := FAULTS.get(kind)) is not None:
                return answer()
            response = handler(self, request)
        except OAuthError as error:
            response = oauth_error_response(error)
        if kind == "delay":  # answered (rotated) first, then slow to send
            self.stopping.wait(seconds)
        elif kind == "trickle":
            return trickle(response, seconds, self.stopping)
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
        user, problem = chosen_user(params)
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
