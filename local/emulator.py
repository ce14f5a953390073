"""A local stand-in for HitKey's OAuth2 API, faithful to HitKey's published quick-start.

One origin serves both halves of HitKey: the sign-in page (``hitkey.io/``) and the API
(``api.hitkey.io/oauth/...``). Point the BFF's ``HITKEY_AUTHORIZE_URL`` at ``<base>/`` and its
``HITKEY_API_URL`` at ``<base>``.

Endpoints
---------
``POST /oauth/clients``
    Register a client (``Authorization: Bearer <admin_token>``; JSON ``{name, redirect_uri}``).
``GET /?client_id&redirect_uri&response_type=code&state[&scope&code_challenge&code_challenge_method]``
    The sign-in page. Invalid client or redirect_uri, ``response_type != code`` and a missing
    ``state`` are reported on the page (HTTP 400), never by redirecting.
``POST /``
    The sign-in form. Fields: the authorize parameters again, ``decision=allow|deny``, and either
    ``sub=<seeded user's sub>`` or ``email`` (+ optional ``name``); with neither, the first seeded
    user (Ada Lovelace). Allow redirects to
    ``redirect_uri?code=..&state=..``; deny to ``redirect_uri?error=access_denied&state=..``.
``POST /oauth/token``
    JSON body only. ``authorization_code`` (single-use codes, 60 s, PKCE S256/plain) and
    ``refresh_token`` (rotating; reuse of a rotated token revokes the whole login).
``GET /oauth/userinfo``
    ``Authorization: Bearer <access_token>`` → the documented claims.

Test knobs (all but ``health`` need ``Authorization: Bearer <admin_token>``)
---------------------------------------------------------------------------
``GET /_emulator/health``, ``GET /_emulator/counters``, ``POST /_emulator/reset``,
``POST /_emulator/faults`` ``{endpoint, kind, count, seconds}``,
``POST /_emulator/expire-access-tokens``, ``POST /_emulator/config`` ``{access_token_ttl, code_ttl}``.

Run it standalone::

    python -m local.emulator --host 127.0.0.1 --port 0 \\
        --client-id demo --client-secret demo-secret --redirect-uri http://localhost:3000/auth/callback

It prints its base URL as the only line on stdout once listening, and stops on Ctrl-C or SIGTERM.
Token values are never logged.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import hmac
import html
import json
import re
import secrets
import selectors
import signal
import socket
import socketserver
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = [
    "DEFAULT_ADMIN_TOKEN",
    "FAULT_ENDPOINTS",
    "FAULT_KINDS",
    "SEEDED_USERS",
    "Emulator",
    "User",
    "main",
]

DEFAULT_ADMIN_TOKEN: Final = "emulator-admin-token"  # noqa: S105 - a public, local-only default
DEFAULT_SCOPE: Final = "openid profile email"
KNOWN_SCOPES: Final = frozenset({"openid", "profile", "email", "project:read"})
FAULT_ENDPOINTS: Final = ("token", "userinfo", "authorize", "clients")
FAULT_KINDS: Final = (
    "error500",
    "html",
    "malformed",
    "hang",
    "delay",
    "invalid_grant",
    "invalid_client",
    "unauthorized",
)
GRANT_TYPES: Final = ("authorization_code", "refresh_token")
COUNTER_KEYS: Final = (
    "authorize",
    "authorize.decision",
    "clients",
    "token",
    "token.authorization_code",
    "token.refresh_token",
    "userinfo",
)
DEFAULT_HANG_SECONDS: Final = 30.0
DEFAULT_DELAY_SECONDS: Final = 1.0
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

_EMAIL_NAMESPACE: Final = uuid.UUID("7ffb191e-7ffa-4394-bad7-54fcb0bc6fac")
_PKCE_RE: Final = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
_EMAIL_RE: Final = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


# --------------------------------------------------------------------------------------------
# Domain
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class User:
    """A HitKey account as userinfo describes it; ``sub`` is the stable identifier."""

    sub: str
    email: str
    name: str

    @property
    def given_name(self) -> str:
        """The first word of the name."""
        return self.name.split(" ", 1)[0]

    @property
    def family_name(self) -> str:
        """Everything after the first word of the name (may be empty)."""
        parts = self.name.split(" ", 1)
        return parts[1] if len(parts) > 1 else ""

    def claims(self) -> dict[str, Any]:
        """The userinfo claims, exactly the documented set."""
        return {
            "sub": self.sub,
            "email": self.email,
            "email_verified": True,
            "name": self.name,
            "given_name": self.given_name,
            "family_name": self.family_name,
            "display_name": self.name,
        }


SEEDED_USERS: Final = (
    User("f089f571-5f10-4429-a4a0-e87a142f62ca", "ada@example.com", "Ada Lovelace"),
    User("bc3f9687-a3ae-4d1e-a3e4-11c21390f7f1", "alan@example.com", "Alan Turing"),
    User("a479ce1f-dcf8-46f3-ab03-77fd8222fbf1", "grace@example.com", "Grace Hopper"),
)


def user_for_email(email: str, name: str = "") -> User:
    """The user signing in as ``email``: a seeded user, or one whose sub is uuid5 of the email."""
    normalized = email.strip().lower()
    for user in SEEDED_USERS:
        if user.email == normalized:
            return user
    display = " ".join(name.split()) or normalized.split("@", 1)[0]
    return User(str(uuid.uuid5(_EMAIL_NAMESPACE, normalized)), normalized, display)


@dataclass
class Client:
    """A registered OAuth client."""

    id: str
    name: str
    client_id: str
    client_secret: str
    redirect_uri: str

    def as_dict(self) -> dict[str, str]:
        """The registration response, as HitKey documents it."""
        return {
            "id": self.id,
            "name": self.name,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "redirect_uri": self.redirect_uri,
        }


@dataclass(frozen=True)
class AuthorizeRequest:
    """A validated authorization request."""

    client: Client
    redirect_uri: str
    state: str
    scope: str
    code_challenge: str | None
    code_challenge_method: str | None


@dataclass
class _AuthCode:
    request: AuthorizeRequest
    user: User
    expires_at: float
    used: bool = False
    family_id: str | None = None


@dataclass
class _Family:
    """Every token descending from one login (one code exchange)."""

    id: str
    client_id: str
    user: User
    scope: str
    revoked: bool = False


@dataclass
class _AccessToken:
    family_id: str
    expires_at: float


@dataclass
class _RefreshToken:
    family_id: str
    client_id: str
    rotated: bool = False


class OAuthError(Exception):
    """An OAuth JSON error: ``{"error", "error_description"}`` with an HTTP status."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status


def _invalid_token(description: str) -> OAuthError:
    return OAuthError("invalid_token", description, 401)


class AuthorizePageError(Exception):
    """An authorization request too broken to redirect back: shown on the page."""


class AuthorizeRedirectError(Exception):
    """An authorization error reported to the (validated) redirect_uri."""

    def __init__(self, error: str, description: str, redirect_uri: str, state: str) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.redirect_uri = redirect_uri
        self.state = state


def _pkce_matches(challenge: str, method: str, verifier: str) -> bool:
    if method == "S256":
        digest = hashlib.sha256(verifier.encode("ascii")).digest()
        computed = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    else:
        computed = verifier
    return hmac.compare_digest(computed, challenge)


def _require_str(body: Mapping[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise OAuthError("invalid_request", f"{key} is required")
    return value


def _normalize_scope(raw: str | None) -> tuple[str, list[str]]:
    """The scope string to grant and the unknown scopes in ``raw``."""
    requested = list(dict.fromkeys((raw or DEFAULT_SCOPE).split()))
    unknown = [scope for scope in requested if scope not in KNOWN_SCOPES]
    return " ".join(requested), unknown


class OAuthProvider:
    """HitKey's OAuth state and rules, without HTTP. Thread-safe."""

    def __init__(self, *, access_token_ttl: int, code_ttl: float, clock: Callable[[], float]) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._access_token_ttl = access_token_ttl
        self._code_ttl = code_ttl
        self._clients: dict[str, Client] = {}
        self._codes: dict[str, _AuthCode] = {}
        self._families: dict[str, _Family] = {}
        self._access: dict[str, _AccessToken] = {}
        self._refresh: dict[str, _RefreshToken] = {}

    def configure(self, *, access_token_ttl: int | None = None, code_ttl: float | None = None) -> None:
        """Change lifetimes for tokens and codes issued from now on."""
        with self._lock:
            if access_token_ttl is not None:
                self._access_token_ttl = access_token_ttl
            if code_ttl is not None:
                self._code_ttl = code_ttl

    @property
    def access_token_ttl(self) -> int:
        """Lifetime in seconds of newly issued access tokens."""
        with self._lock:
            return self._access_token_ttl

    def register_client(
        self, name: str, redirect_uri: str, client_id: str | None = None, client_secret: str | None = None
    ) -> Client:
        """Register (or, for a given ``client_id``, replace) a client."""
        client = Client(
            id=str(uuid.uuid4()),
            name=name,
            client_id=client_id or secrets.token_hex(16),
            client_secret=client_secret or secrets.token_hex(40),
            redirect_uri=redirect_uri,
        )
        with self._lock:
            self._clients[client.client_id] = client
        return client

    def client(self, client_id: str) -> Client | None:
        """The registered client with this id, if any."""
        with self._lock:
            return self._clients.get(client_id)

    def clients(self) -> list[Client]:
        """Every registered client."""
        with self._lock:
            return list(self._clients.values())

    def authenticate_client(self, client_id: object, client_secret: object) -> Client:
        """The client these credentials prove, or ``invalid_client`` (401)."""
        client = self.client(client_id) if isinstance(client_id, str) else None
        if (
            client is None
            or not isinstance(client_secret, str)
            or not hmac.compare_digest(client.client_secret.encode(), client_secret.encode())
        ):
            raise OAuthError("invalid_client", "client authentication failed", 401)
        return client

    def validate_authorize(self, params: Mapping[str, str]) -> AuthorizeRequest:
        """Check an authorization request; raise a page error or a redirect error."""
        client_id = params.get("client_id", "")
        if not client_id:
            raise AuthorizePageError("The request has no client_id.")
        client = self.client(client_id)
        if client is None:
            raise AuthorizePageError(f"There is no application with client_id {client_id!r}.")
        redirect_uri = params.get("redirect_uri", "")
        if redirect_uri != client.redirect_uri:
            raise AuthorizePageError(f"The redirect_uri {redirect_uri!r} is not the one registered for {client.name}.")
        if params.get("response_type") != "code":
            raise AuthorizePageError("response_type must be 'code'.")
        state = params.get("state", "")
        if not state:
            raise AuthorizePageError("The request has no state parameter.")
        return self._validate_redirectable(params, client, redirect_uri, state)

    def _validate_redirectable(
        self, params: Mapping[str, str], client: Client, redirect_uri: str, state: str
    ) -> AuthorizeRequest:
        scope, unknown = _normalize_scope(params.get("scope"))
        if unknown:
            raise AuthorizeRedirectError("invalid_scope", f"unknown scope: {' '.join(unknown)}", redirect_uri, state)
        challenge = params.get("code_challenge") or None
        method = params.get("code_challenge_method") or None
        if method is not None and challenge is None:
            raise AuthorizeRedirectError(
                "invalid_request", "code_challenge_method without code_challenge", redirect_uri, state
            )
        if challenge is not None:
            method = method or "plain"
            if method not in ("S256", "plain"):
                raise AuthorizeRedirectError(
                    "invalid_request", "code_challenge_method must be S256 or plain", redirect_uri, state
                )
            if not _PKCE_RE.fullmatch(challenge):
                raise AuthorizeRedirectError("invalid_request", "malformed code_challenge", redirect_uri, state)
        return AuthorizeRequest(client, redirect_uri, state, scope, challenge, method)

    def issue_code(self, request: AuthorizeRequest, user: User) -> str:
        """A fresh single-use authorization code for ``user``."""
        code = "hkac_" + secrets.token_urlsafe(32)
        with self._lock:
            self._codes[code] = _AuthCode(request, user, self._clock() + self._code_ttl)
        return code

    def token(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """The token endpoint: dispatch on grant_type after authenticating the client."""
        grant_type = body.get("grant_type")
        if not isinstance(grant_type, str) or not grant_type:
            raise OAuthError("invalid_request", "grant_type is required")
        if grant_type not in GRANT_TYPES:
            raise OAuthError("unsupported_grant_type", f"grant_type {grant_type!r} is not supported")
        client = self.authenticate_client(body.get("client_id"), body.get("client_secret"))
        if grant_type == "authorization_code":
            return self._grant_authorization_code(client, body)
        return self._grant_refresh_token(client, body)

    def _grant_authorization_code(self, client: Client, body: Mapping[str, Any]) -> dict[str, Any]:
        code = _require_str(body, "code")
        redirect_uri = _require_str(body, "redirect_uri")
        verifier = body.get("code_verifier")
        with self._lock:
            record = self._codes.get(code)
            if record is None:
                raise OAuthError("invalid_grant", "unknown authorization code")
            if record.used:
                if record.family_id is not None:
                    self._revoke_family_locked(record.family_id)
                raise OAuthError("invalid_grant", "authorization code already used; its tokens are revoked")
            record.used = True  # presented once, consumed whatever the outcome
            self._check_code_locked(record, client, redirect_uri, verifier)
            family = _Family(str(uuid.uuid4()), client.client_id, record.user, record.request.scope)
            self._families[family.id] = family
            record.family_id = family.id
            return self._issue_pair_locked(family)

    def _check_code_locked(self, record: _AuthCode, client: Client, redirect_uri: str, verifier: object) -> None:
        request = record.request
        if self._clock() >= record.expires_at:
            raise OAuthError("invalid_grant", "authorization code expired")
        if request.client.client_id != client.client_id:
            raise OAuthError("invalid_grant", "authorization code was issued to another client")
        if request.redirect_uri != redirect_uri:
            raise OAuthError("invalid_grant", "redirect_uri does not match the authorization request")
        if request.code_challenge is None:
            if verifier is not None:
                raise OAuthError("invalid_grant", "code_verifier sent but no code_challenge was")
            return
        if not isinstance(verifier, str) or not _PKCE_RE.fullmatch(verifier):
            raise OAuthError("invalid_grant", "a valid code_verifier is required")
        if not _pkce_matches(request.code_challenge, request.code_challenge_method or "plain", verifier):
            raise OAuthError("invalid_grant", "code_verifier does not match code_challenge")

    def _grant_refresh_token(self, client: Client, body: Mapping[str, Any]) -> dict[str, Any]:
        presented = _require_str(body, "refresh_token")
        with self._lock:
            record = self._refresh.get(presented)
            if record is None or record.client_id != client.client_id:
                raise OAuthError("invalid_grant", "unknown refresh token")
            family = self._families[record.family_id]
            if family.revoked:
                raise OAuthError("invalid_grant", "refresh token revoked")
            if record.rotated:
                self._revoke_family_locked(family.id)
                raise OAuthError("invalid_grant", "refresh token reused; the session is revoked")
            record.rotated = True
            return self._issue_pair_locked(family)

    def _issue_pair_locked(self, family: _Family) -> dict[str, Any]:
        access = "hkat_" + secrets.token_urlsafe(32)
        refresh = "hkrt_" + secrets.token_urlsafe(32)
        ttl = self._access_token_ttl
        self._access[access] = _AccessToken(family.id, self._clock() + ttl)
        self._refresh[refresh] = _RefreshToken(family.id, family.client_id)
        return {
            "access_token": access,
            "refresh_token": refresh,
            "token_type": "Bearer",
            "expires_in": ttl,
            "scope": family.scope,
        }

    def _revoke_family_locked(self, family_id: str) -> None:
        self._families[family_id].revoked = True

    def userinfo(self, access_token: str | None) -> dict[str, Any]:
        """The claims for a live access token, or ``invalid_token`` (401)."""
        if not access_token:
            raise _invalid_token("a bearer access token is required")
        with self._lock:
            record = self._access.get(access_token)
            if record is None:
                raise _invalid_token("unknown access token")
            if self._clock() >= record.expires_at:
                raise _invalid_token("access token expired")
            family = self._families[record.family_id]
            if family.revoked:
                raise _invalid_token("access token revoked")
            return family.user.claims()

    def expire_access_tokens(self) -> int:
        """Expire every access token issued so far; return how many there were."""
        with self._lock:
            now = self._clock()
            for record in self._access.values():
                record.expires_at = min(record.expires_at, now)
            return len(self._access)


# --------------------------------------------------------------------------------------------
# Test instrumentation: counters and faults
# --------------------------------------------------------------------------------------------


@dataclass
class _Fault:
    kind: str
    remaining: int
    seconds: float | None


class Instruments:
    """Call counters and queued faults, shared by all request threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, int] = dict.fromkeys(COUNTER_KEYS, 0)
        self._faults: dict[str, list[_Fault]] = {}

    def count(self, keys: list[str]) -> None:
        """Add one to each counter in ``keys``."""
        with self._lock:
            for key in keys:
                self._counters[key] = self._counters.get(key, 0) + 1

    def snapshot(self) -> dict[str, int]:
        """A copy of the counters."""
        with self._lock:
            return dict(self._counters)

    def reset_counters(self) -> None:
        """Set every counter back to zero."""
        with self._lock:
            self._counters = dict.fromkeys(COUNTER_KEYS, 0)

    def inject(self, endpoint: str, kind: str, count: int = 1, seconds: float | None = None) -> None:
        """Queue a fault for the next ``count`` calls of ``endpoint`` (after faults already queued)."""
        if endpoint not in FAULT_ENDPOINTS:
            raise ValueError(f"endpoint must be one of {', '.join(FAULT_ENDPOINTS)}")
        if kind not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {', '.join(FAULT_KINDS)}")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError("count must be a positive integer")
        if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0):
            raise ValueError("seconds must be a non-negative number")
        with self._lock:
            self._faults.setdefault(endpoint, []).append(_Fault(kind, count, seconds))

    def clear_faults(self) -> None:
        """Drop every queued fault."""
        with self._lock:
            self._faults.clear()

    def take(self, endpoint: str) -> _Fault | None:
        """Consume one call's worth of the next fault queued for ``endpoint``."""
        with self._lock:
            queue = self._faults.get(endpoint)
            if not queue:
                return None
            fault = queue[0]
            fault.remaining -= 1
            if fault.remaining == 0:
                queue.pop(0)
            return _Fault(fault.kind, 1, fault.seconds)


# --------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------

_CSS: Final = """
:root{color-scheme:light dark;font-family:system-ui,-apple-system,"Segoe UI",sans-serif}
body{margin:0;min-height:100vh;display:grid;place-items:center;background:#f4f5f7;color:#1b1d21}
main{background:#fff;max-width:26rem;width:calc(100% - 2rem);padding:1.75rem;border-radius:12px;
box-shadow:0 2px 12px rgba(0,0,0,.08)}
h1{font-size:1.3rem;margin:0 0 .5rem}
p{line-height:1.45}
fieldset{border:1px solid #d8dbe0;border-radius:8px;margin:1rem 0;padding:.75rem}
legend{font-weight:600;padding:0 .25rem}
.user{display:flex;gap:.6rem;align-items:center;padding:.35rem 0;cursor:pointer}
.user small{color:#5b6170}
label.field{display:block;margin:.5rem 0 .2rem;font-size:.9rem}
input[type=email],input[type=text]{box-sizing:border-box;width:100%;padding:.5rem;border:1px solid #b9bec7;
border-radius:6px;font:inherit}
.actions{display:flex;gap:.75rem;margin-top:1rem}
button{font:inherit;padding:.55rem 1.2rem;border-radius:6px;border:1px solid #1f5bd8;cursor:pointer}
#allow{background:#1f5bd8;color:#fff}
#deny{background:transparent;color:#1f5bd8}
.error{background:#fdecec;color:#8a1111;border-radius:6px;padding:.6rem .75rem}
.note{font-size:.8rem;color:#5b6170;margin-top:1.5rem}
code{background:#eef0f3;border-radius:4px;padding:0 .25rem}
@media (prefers-color-scheme:dark){body{background:#15171b;color:#e8eaee}main{background:#1f2228}
fieldset{border-color:#3a3f48}.user small,.note{color:#a3a9b5}code{background:#2c3038}
.error{background:#4a1c1c;color:#ffd7d7}#deny{color:#8fb2ff}}
"""

_PAGE_HEADERS: Final = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _page(title: str, content: str) -> str:
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n"
        f"<body>\n<main>\n{content}\n"
        '<p class="note">HitKey emulator &mdash; for local development and tests only.</p>\n'
        "</main>\n</body>\n</html>\n"
    )


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
    scope, _ = _normalize_scope(params.get("scope"))
    scopes = " ".join(f"<code>{html.escape(item)}</code>" for item in scope.split())
    users = "\n".join(_user_choice(user, index == 0) for index, user in enumerate(SEEDED_USERS))
    alert = f'<p class="error" role="alert" id="error">{html.escape(error)}</p>\n' if error else ""
    content = f"""<h1>Sign in with HitKey</h1>
<p><strong id="client-name">{html.escape(client.name)}</strong> wants to access your account: {scopes}</p>
{alert}<form method="post" action="/">
{hidden}
<fieldset><legend>Choose a test user</legend>
{users}
</fieldset>
<fieldset><legend>Or sign in as someone else</legend>
<label class="field" for="email">Email</label>
<input id="email" name="email" type="email" autocomplete="off" value="{html.escape(email)}">
<label class="field" for="name">Name</label>
<input id="name" name="name" type="text" autocomplete="off" value="{html.escape(name)}">
</fieldset>
<div class="actions">
<button id="allow" type="submit" name="decision" value="allow">Allow</button>
<button id="deny" type="submit" name="decision" value="deny" formnovalidate>Deny</button>
</div>
</form>"""
    return _page(f"Sign in to {client.name} - HitKey", content)


_FAULT_HTML: Final = _page(
    "502 Bad Gateway", "<h1>502 Bad Gateway</h1>\n<p>The upstream server returned an invalid response.</p>"
)


# --------------------------------------------------------------------------------------------
# HTTP application: requests in, responses out
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """An HTTP request as the application sees it."""

    method: str
    path: str
    query: dict[str, str]
    headers: Message
    body: bytes

    def bearer(self) -> str | None:
        """The bearer token from the Authorization header, if any."""
        scheme, _, value = self.headers.get("Authorization", "").partition(" ")
        token = value.strip()
        return token if scheme.lower() == "bearer" and token else None

    def json_object(self) -> dict[str, Any]:
        """The JSON object body, or ``invalid_request``."""
        content_type = self.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        if content_type != "application/json":
            raise OAuthError("invalid_request", "the body must be JSON (Content-Type: application/json)")
        try:
            value = json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            raise OAuthError("invalid_request", "the body is not valid JSON") from None
        if not isinstance(value, dict):
            raise OAuthError("invalid_request", "the body must be a JSON object")
        return value

    def form(self) -> dict[str, str]:
        """The urlencoded form body (first value of each field)."""
        return _first_values(self.body.decode("utf-8", "replace"))


@dataclass
class Response:
    """An HTTP response; ``hang_up`` closes the connection without answering."""

    status: int
    body: bytes = b""
    content_type: str | None = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    hang_up: bool = False


def _first_values(query: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        values.setdefault(key, value)
    return values


def json_response(status: int, payload: object, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON response that caches must not store."""
    return Response(
        status,
        json.dumps(payload).encode(),
        "application/json",
        {"Cache-Control": "no-store", "Pragma": "no-cache", **(headers or {})},
    )


def html_response(status: int, page: str) -> Response:
    """An HTML page with a strict CSP."""
    return Response(status, page.encode(), "text/html; charset=utf-8", dict(_PAGE_HEADERS))


def redirect_response(uri: str, params: Mapping[str, str]) -> Response:
    """302 to ``uri`` with ``params`` added to its query."""
    parts = urlsplit(uri)
    query = urlencode([*parse_qsl(parts.query, keep_blank_values=True), *params.items()])
    location = urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))
    return Response(302, b"", None, {"Location": location, "Cache-Control": "no-store"})


def oauth_error_response(error: OAuthError) -> Response:
    """The JSON error body, plus WWW-Authenticate for bearer-token errors."""
    headers = {}
    if error.error == "invalid_token":
        headers["WWW-Authenticate"] = f'Bearer error="invalid_token", error_description="{error.description}"'
    return json_response(error.status, {"error": error.error, "error_description": error.description}, headers)


Route = Callable[["App", Request], Response]


class App:
    """Routes, counters and faults around an :class:`OAuthProvider`."""

    def __init__(
        self, provider: OAuthProvider, instruments: Instruments, admin_token: str, stopping: threading.Event
    ) -> None:
        self.provider = provider
        self.instruments = instruments
        self.admin_token = admin_token
        self.stopping = stopping

    def handle(self, request: Request) -> Response:
        """Answer one request (counting it and applying any queued fault first)."""
        route = _ROUTES.get(request.path)
        if route is None:
            return json_response(404, {"error": "not_found", "error_description": "no such endpoint"})
        endpoint, methods = route
        handler = methods.get(request.method)
        if handler is None:
            allow = ", ".join(sorted(methods))
            return json_response(405, {"error": "method_not_allowed"}, {"Allow": allow})
        if endpoint is not None:
            self.instruments.count(self._counter_keys(endpoint, request))
            fault = self.instruments.take(endpoint)
            faulted = self._apply_fault(fault) if fault is not None else None
            if faulted is not None:
                return faulted
        try:
            return handler(self, request)
        except OAuthError as error:
            return oauth_error_response(error)

    @staticmethod
    def _counter_keys(endpoint: str, request: Request) -> list[str]:
        keys = [endpoint]
        if endpoint == "token":
            try:
                grant_type = json.loads(request.body).get("grant_type")
            except (ValueError, UnicodeDecodeError, AttributeError):
                grant_type = None
            if grant_type in GRANT_TYPES:
                keys.append(f"token.{grant_type}")
        elif endpoint == "authorize" and request.method == "POST":
            keys = ["authorize.decision"]
        return keys

    def _apply_fault(self, fault: _Fault) -> Response | None:
        """The faulty response, or None to answer normally (after a ``delay``)."""
        kind = fault.kind
        if kind == "hang":
            self.stopping.wait(DEFAULT_HANG_SECONDS if fault.seconds is None else fault.seconds)
            return Response(0, hang_up=True)
        if kind == "delay":
            self.stopping.wait(DEFAULT_DELAY_SECONDS if fault.seconds is None else fault.seconds)
            return None
        if kind == "error500":
            return json_response(500, {"error": "server_error", "error_description": "injected fault"})
        if kind == "html":
            return Response(502, _FAULT_HTML.encode(), "text/html; charset=utf-8")
        if kind == "malformed":
            return Response(200, b'{"access_token": "hkat_trunc', "application/json")
        if kind == "invalid_grant":
            return oauth_error_response(OAuthError("invalid_grant", "injected fault"))
        if kind == "invalid_client":
            return oauth_error_response(OAuthError("invalid_client", "injected fault", 401))
        return oauth_error_response(_invalid_token("injected fault"))

    def _require_admin(self, request: Request) -> None:
        token = request.bearer()
        if token is None or not hmac.compare_digest(token.encode(), self.admin_token.encode()):
            raise _invalid_token("the admin bearer token is required")

    # -- HitKey endpoints ------------------------------------------------------------------

    def authorize_page(self, request: Request) -> Response:
        """GET /: validate, then render the sign-in page."""
        try:
            authz = self.provider.validate_authorize(request.query)
        except AuthorizePageError as error:
            return html_response(400, render_error_page(str(error)))
        except AuthorizeRedirectError as error:
            return _redirect_error(error)
        return html_response(200, render_sign_in_page(authz.client, request.query))

    def authorize_decision(self, request: Request) -> Response:
        """POST /: the form's Allow or Deny, re-validated from scratch."""
        form = request.form()
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
        user, problem = _chosen_user(form)
        if user is None:
            page = render_sign_in_page(authz.client, form, problem, form.get("email", ""), form.get("name", ""))
            return html_response(400, page)
        code = self.provider.issue_code(authz, user)
        return redirect_response(authz.redirect_uri, {"code": code, "state": authz.state})

    def register_client(self, request: Request) -> Response:
        """POST /oauth/clients."""
        self._require_admin(request)
        body = request.json_object()
        name, redirect_uri = body.get("name"), body.get("redirect_uri")
        if not isinstance(name, str) or not name.strip() or len(name) > 255:
            raise OAuthError("invalid_request", "name is required (at most 255 characters)")
        if not isinstance(redirect_uri, str) or not _is_absolute_http_uri(redirect_uri):
            raise OAuthError("invalid_request", "redirect_uri must be an absolute http(s) URI without fragment")
        client = self.provider.register_client(name.strip(), redirect_uri)
        return json_response(201, client.as_dict())

    def token(self, request: Request) -> Response:
        """POST /oauth/token."""
        return json_response(200, self.provider.token(request.json_object()))

    def userinfo(self, request: Request) -> Response:
        """GET /oauth/userinfo."""
        return json_response(200, self.provider.userinfo(request.bearer()))

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
        body = request.json_object()
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
        """POST /_emulator/config: ``access_token_ttl`` (int ≥ 0) and/or ``code_ttl`` (seconds)."""
        self._require_admin(request)
        body = request.json_object()
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


def _redirect_error(error: AuthorizeRedirectError) -> Response:
    params = {"error": error.error, "error_description": error.description, "state": error.state}
    return redirect_response(error.redirect_uri, params)


def _chosen_user(form: Mapping[str, str]) -> tuple[User | None, str]:
    """The user the form signs in, or a problem.

    A typed email wins over the radio choice; with neither (a bare POST), the first seeded user.
    """
    email = form.get("email", "").strip()
    if email:
        if len(email) > 254 or not _EMAIL_RE.fullmatch(email):
            return None, "Enter a valid email address."
        return user_for_email(email, form.get("name", "")[:100]), ""
    sub = form.get("sub") or SEEDED_USERS[0].sub
    for user in SEEDED_USERS:
        if user.sub == sub:
            return user, ""
    return None, "Choose a test user or enter an email address."


def _is_absolute_http_uri(uri: str) -> bool:
    parts = urlsplit(uri)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and not parts.fragment


_ROUTES: Final[dict[str, tuple[str | None, dict[str, Route]]]] = {
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
# HTTP server
# --------------------------------------------------------------------------------------------


class _BodyError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes
    server_version = "HitKeyEmulator/1.0"
    sys_version = ""
    server: _Server

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        try:
            body = self._read_body()
        except _BodyError as error:
            self.close_connection = True
            self._write(json_response(error.status, {"error": "invalid_request", "error_description": str(error)}))
            return
        parts = urlsplit(self.path)
        request = Request(self.command, parts.path, _first_values(parts.query), self.headers, body)
        try:
            response = self.server.app.handle(request)
        except Exception:
            traceback.print_exc(file=sys.stderr)
            response = json_response(500, {"error": "server_error", "error_description": "emulator bug"})
        if response.hang_up:
            self.close_connection = True
            return
        self._write(response)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding"):
            raise _BodyError(411, "send a Content-Length, not Transfer-Encoding")
        raw = self.headers.get("Content-Length")
        if raw is None:
            return b""
        try:
            length = int(raw)
        except ValueError:
            raise _BodyError(400, "invalid Content-Length") from None
        if length < 0 or length > MAX_BODY_BYTES:
            raise _BodyError(413, "body too large")
        return self.rfile.read(length)

    def _write(self, response: Response) -> None:
        try:
            self.send_response(response.status)
            if response.content_type is not None:
                self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            for name, value in response.headers.items():
                self.send_header(name, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """One line per request, path only (never the query string, never bodies)."""
        if self.server.app_verbose:
            path = urlsplit(self.path).path
            sys.stderr.write(f"hitkey-emulator: {self.command} {path} -> {code}\n")

    def log_message(self, format: str, *args: Any) -> None:
        """Protocol errors only when verbose."""
        if self.server.app_verbose:
            sys.stderr.write("hitkey-emulator: " + (format % args) + "\n")


class _Server(ThreadingHTTPServer):
    """A threading server that can cut its open keep-alive connections on shutdown."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: App, verbose: bool) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.app = app
        self.app_verbose = verbose
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        self._closing = threading.Event()
        self._wake_reader, self._wake_writer = socket.socketpair()
        super().__init__(address, _Handler)
        self.timeout = 0  # handle_request() runs only once select() has seen a connection

    def serve_until_stopped(self) -> None:
        """Accept connections until :meth:`stop_serving`; unlike serve_forever, no polling delay."""
        with selectors.DefaultSelector() as selector:
            selector.register(self.socket, selectors.EVENT_READ)
            selector.register(self._wake_reader, selectors.EVENT_READ)
            while not self._closing.is_set():
                for key, _ in selector.select():
                    if key.fileobj is self.socket and not self._closing.is_set():
                        self.handle_request()

    def stop_serving(self) -> None:
        """Make :meth:`serve_until_stopped` return now."""
        self._closing.set()
        with contextlib.suppress(OSError):
            self._wake_writer.send(b"\0")

    def server_close(self) -> None:
        """Close the listening socket and the wake-up pair."""
        super().server_close()
        self._wake_reader.close()
        self._wake_writer.close()

    def server_bind(self) -> None:
        """Bind without HTTPServer's reverse DNS lookup (getfqdn can stall for seconds)."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_open_connections(self) -> None:
        """Shut down every connection still open (idle keep-alives, hung requests)."""
        with self._open_lock:
            connections = list(self._open)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


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
        self._app = App(self._provider, self._instruments, admin_token, self._stopping)
        self._verbose = verbose
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._base_url: str | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on ``host:port`` (0 picks a free port), serve in a daemon thread, return the base URL."""
        if self._server is not None:
            raise RuntimeError("the emulator is already running")
        self._stopping.clear()
        server = _Server((host, port), self._app, self._verbose)
        self._server = server
        self._base_url = _base_url(host, int(server.server_address[1]))
        self._thread = threading.Thread(target=server.serve_until_stopped, name="hitkey-emulator", daemon=True)
        self._thread.start()
        return self._base_url

    def stop(self) -> None:
        """Stop serving: wake hung/delayed requests, close connections, release the port. Idempotent."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()
        server.stop_serving()
        if thread is not None:
            thread.join(timeout=5)
        server.server_close()
        server.close_open_connections()
        self._server = self._thread = None

    @property
    def running(self) -> bool:
        """Whether the emulator is serving."""
        return self._server is not None

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the running emulator."""
        if self._base_url is None:
            raise RuntimeError("the emulator has not been started")
        return self._base_url

    @property
    def authorize_url(self) -> str:
        """Where to send browsers (HitKey's ``https://hitkey.io/``)."""
        return self.base_url + "/"

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


def _base_url(host: str, port: int) -> str:
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


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
