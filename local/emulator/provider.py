"""HitKey's OAuth rules without HTTP: clients, authorization requests, single-use codes bound to
client, redirect_uri and PKCE, rotating refresh tokens whose reuse revokes the login, userinfo.

:mod:`local.emulator` serves them over HTTP; :mod:`local.sample_api` asks whose an access token is.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import re
import secrets
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Final

from local.emulator.users import User

DEFAULT_SCOPE: Final = "openid profile email"
KNOWN_SCOPES: Final = frozenset({"openid", "profile", "email", "project:read"})
GRANT_TYPES: Final = ("authorization_code", "refresh_token")

_PKCE_RE: Final = re.compile(r"[A-Za-z0-9\-._~]{43,128}")


def normalize_scope(raw: str | None) -> tuple[str, list[str]]:
    """The scope string to grant and the unknown scopes in ``raw``."""
    requested = list(dict.fromkeys((raw or DEFAULT_SCOPE).split()))
    unknown = [scope for scope in requested if scope not in KNOWN_SCOPES]
    return " ".join(requested), unknown


@dataclass
class Client:
    """A registered OAuth client; its fields are HitKey's registration response."""

    id: str
    name: str
    client_id: str
    client_secret: str
    redirect_uri: str


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
class _Login:
    """One sign-in: its code and every token descending from it are revoked together."""

    request: AuthorizeRequest
    user: User
    revoked: bool = False


@dataclass
class _Token:
    """An authorization code, access token or refresh token of one login."""

    login: _Login
    expires_at: float = math.inf  # refresh tokens do not expire
    used: bool = False  # codes and refresh tokens are single-use


class OAuthError(Exception):
    """An OAuth JSON error: ``{"error", "error_description"}`` with an HTTP status."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status


def invalid_token(description: str) -> OAuthError:
    """A 401 ``invalid_token`` error."""
    return OAuthError("invalid_token", description, 401)


class AuthorizePageError(Exception):
    """An authorization request too broken to redirect back: shown on the page."""


class AuthorizeRedirectError(OAuthError):
    """An authorization error reported to the (validated) redirect_uri."""

    def __init__(self, error: str, description: str, redirect_uri: str, state: str) -> None:
        super().__init__(error, description)
        self.redirect_uri = redirect_uri
        self.state = state


def _pkce_matches(challenge: str, method: str, verifier: str) -> bool:
    if method == "S256":
        verifier = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).decode().rstrip("=")
    return hmac.compare_digest(verifier, challenge)


def _require_str(body: Mapping[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise OAuthError("invalid_request", f"{key} is required")
    return value


class OAuthProvider:
    """HitKey's OAuth state and rules, without HTTP. Thread-safe."""

    def __init__(self, *, access_token_ttl: int, code_ttl: float, clock: Callable[[], float]) -> None:
        self.access_token_ttl = access_token_ttl  # seconds, for the tokens issued from now on
        self.code_ttl = code_ttl
        self._lock = threading.Lock()
        self._clock = clock
        self._clients: dict[str, Client] = {}
        self._codes: dict[str, _Token] = {}
        self._access: dict[str, _Token] = {}
        self._refresh: dict[str, _Token] = {}

    def register_client(
        self, name: str, redirect_uri: str, client_id: str | None = None, client_secret: str | None = None
    ) -> dict[str, str]:
        """Register (or, for a given ``client_id``, replace) a client; returns the registration response."""
        client_id = client_id or secrets.token_hex(16)
        client = Client(str(uuid.uuid4()), name, client_id, client_secret or secrets.token_hex(40), redirect_uri)
        with self._lock:
            self._clients[client_id] = client
        return asdict(client)

    @property
    def clients(self) -> list[dict[str, str]]:
        """Every registered client, as the registration returned it (secrets included)."""
        with self._lock:
            return [asdict(client) for client in self._clients.values()]

    def _client(self, client_id: str) -> Client | None:
        with self._lock:
            return self._clients.get(client_id)

    def validate_authorize(self, params: Mapping[str, str]) -> AuthorizeRequest:
        """Check an authorization request; raise a page error or a redirect error."""
        client_id = params.get("client_id", "")
        if not client_id:
            raise AuthorizePageError("The request has no client_id.")
        client = self._client(client_id)
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
        scope, unknown = normalize_scope(params.get("scope"))
        if unknown:
            raise AuthorizeRedirectError("invalid_scope", f"unknown scope: {' '.join(unknown)}", redirect_uri, state)
        challenge = params.get("code_challenge") or None
        method = params.get("code_challenge_method") or None
        if challenge is None and method is not None:
            problem = "code_challenge_method without code_challenge"
        elif challenge is not None and (method or "plain") not in ("S256", "plain"):
            problem = "code_challenge_method must be S256 or plain"
        elif challenge is not None and not _PKCE_RE.fullmatch(challenge):
            problem = "malformed code_challenge"
        else:
            method = method or (challenge and "plain")  # a challenge without a method is plain
            return AuthorizeRequest(client, redirect_uri, state, scope, challenge, method)
        raise AuthorizeRedirectError("invalid_request", problem, redirect_uri, state)

    def issue_code(self, request: AuthorizeRequest, user: User) -> str:
        """A fresh single-use authorization code for ``user``."""
        code = "hkac_" + secrets.token_urlsafe(32)
        with self._lock:
            self._codes[code] = _Token(_Login(request, user), self._clock() + self.code_ttl)
        return code

    def token(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """The token endpoint: dispatch on grant_type after authenticating the client."""
        grant_type = body.get("grant_type")
        if not isinstance(grant_type, str) or not grant_type:
            raise OAuthError("invalid_request", "grant_type is required")
        if grant_type not in GRANT_TYPES:
            raise OAuthError("unsupported_grant_type", f"grant_type {grant_type!r} is not supported")
        client_id, secret = body.get("client_id"), body.get("client_secret")
        client = self._client(client_id) if isinstance(client_id, str) else None
        if (
            client is None
            or not isinstance(secret, str)
            or not hmac.compare_digest(client.client_secret.encode(), secret.encode())
        ):
            raise OAuthError("invalid_client", "client authentication failed", 401)
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
                record.login.revoked = True
                raise OAuthError("invalid_grant", "authorization code already used; its tokens are revoked")
            record.used = True  # presented once, consumed whatever the outcome
            request = record.login.request
            if self._clock() >= record.expires_at:
                raise OAuthError("invalid_grant", "authorization code expired")
            if request.client.client_id != client.client_id:
                raise OAuthError("invalid_grant", "authorization code was issued to another client")
            if request.redirect_uri != redirect_uri:
                raise OAuthError("invalid_grant", "redirect_uri does not match the authorization request")
            if request.code_challenge is None and verifier is not None:
                raise OAuthError("invalid_grant", "code_verifier sent but no code_challenge was")
            if request.code_challenge is not None:
                if not isinstance(verifier, str) or not _PKCE_RE.fullmatch(verifier):
                    raise OAuthError("invalid_grant", "a valid code_verifier is required")
                if not _pkce_matches(request.code_challenge, request.code_challenge_method or "plain", verifier):
                    raise OAuthError("invalid_grant", "code_verifier does not match code_challenge")
            return self._issue_pair_locked(record.login)

    def _grant_refresh_token(self, client: Client, body: Mapping[str, Any]) -> dict[str, Any]:
        presented = _require_str(body, "refresh_token")
        with self._lock:
            record = self._refresh.get(presented)
            if record is None or record.login.request.client.client_id != client.client_id:
                raise OAuthError("invalid_grant", "unknown refresh token")
            if record.login.revoked:
                raise OAuthError("invalid_grant", "refresh token revoked")
            if record.used:
                record.login.revoked = True
                raise OAuthError("invalid_grant", "refresh token reused; the session is revoked")
            record.used = True
            return self._issue_pair_locked(record.login)

    def _issue_pair_locked(self, login: _Login) -> dict[str, Any]:
        access = "hkat_" + secrets.token_urlsafe(32)
        refresh = "hkrt_" + secrets.token_urlsafe(32)
        ttl = self.access_token_ttl
        self._access[access] = _Token(login, self._clock() + ttl)
        self._refresh[refresh] = _Token(login)
        return {
            "access_token": access,
            "refresh_token": refresh,
            "token_type": "Bearer",
            "expires_in": ttl,
            "scope": login.request.scope,
        }

    def userinfo(self, access_token: str | None) -> dict[str, Any]:
        """The claims for a live access token, or ``invalid_token`` (401)."""
        if not access_token:
            raise invalid_token("a bearer access token is required")
        with self._lock:
            record = self._access.get(access_token)
            if record is None:
                raise invalid_token("unknown access token")
            if self._clock() >= record.expires_at:
                raise invalid_token("access token expired")
            if record.login.revoked:
                raise invalid_token("access token revoked")
            return record.login.user.claims()

    def user_for_access_token(self, access_token: str | None) -> User | None:
        """The user a live access token was issued for, else ``None``."""
        with self._lock:
            record = self._access.get(access_token or "")
            if record is None or self._clock() >= record.expires_at or record.login.revoked:
                return None
            return record.login.user

    def expire_access_tokens(self) -> int:
        """Expire every access token issued so far (refresh tokens stay valid); return how many there were."""
        with self._lock:
            now = self._clock()
            for record in self._access.values():
                record.expires_at = min(record.expires_at, now)
            return len(self._access)
