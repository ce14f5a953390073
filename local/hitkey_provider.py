"""HitKey's OAuth rules without HTTP: clients, authorization requests and decisions, codes bound
to client, redirect_uri and PKCE, rotating refresh tokens with family revocation on reuse,
userinfo, and the test instrumentation (call counters, queued faults).

:mod:`local.emulator` serves this over HTTP; :mod:`local.sample_api` asks it whose an access
token is.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

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
    "trickle",
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
DEFAULT_TRICKLE_SECONDS: Final = 10.0
TRICKLE_GAP_SECONDS: Final = 1.0  # between chunks of a trickled body: well under httpx's 7 s read timeout
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
EMAIL_RE: Final = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


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


def chosen_user(form: Mapping[str, str]) -> tuple[User | None, str]:
    """The user the form signs in, or a problem.

    A typed email wins over the radio choice; with neither (a bare POST), the first seeded user.
    """
    email = form.get("email", "").strip()
    if email:
        if len(email) > 254 or not EMAIL_RE.fullmatch(email):
            return None, "Enter a valid email address."
        return user_for_email(email, form.get("name", "")[:100]), ""
    sub = form.get("sub") or SEEDED_USERS[0].sub
    for user in SEEDED_USERS:
        if user.sub == sub:
            return user, ""
    return None, "Choose a test user or enter an email address."


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


def invalid_token(description: str) -> OAuthError:
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


def normalize_scope(raw: str | None) -> tuple[str, list[str]]:
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
        scope, unknown = normalize_scope(params.get("scope"))
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
            raise invalid_token("a bearer access token is required")
        with self._lock:
            record = self._access.get(access_token)
            if record is None:
                raise invalid_token("unknown access token")
            if self._clock() >= record.expires_at:
                raise invalid_token("access token expired")
            family = self._families[record.family_id]
            if family.revoked:
                raise invalid_token("access token revoked")
            return family.user.claims()

    def user_for_access_token(self, access_token: str | None) -> User | None:
        """The user a live access token was issued for, else ``None``."""
        with self._lock:
            record = self._access.get(access_token or "")
            if record is None or self._clock() >= record.expires_at:
                return None
            family = self._families[record.family_id]
            return None if family.revoked else family.user

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
class Fault:
    kind: str
    remaining: int
    seconds: float | None


class Instruments:
    """Call counters and queued faults, shared by all request threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, int] = dict.fromkeys(COUNTER_KEYS, 0)
        self._faults: dict[str, list[Fault]] = {}

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
            self._faults.setdefault(endpoint, []).append(Fault(kind, count, seconds))

    def clear_faults(self) -> None:
        """Drop every queued fault."""
        with self._lock:
            self._faults.clear()

    def take(self, endpoint: str) -> Fault | None:
        """Consume one call's worth of the next fault queued for ``endpoint``."""
        with self._lock:
            queue = self._faults.get(endpoint)
            if not queue:
                return None
            fault = queue[0]
            fault.remaining -= 1
            if fault.remaining == 0:
                queue.pop(0)
            return Fault(fault.kind, 1, fault.seconds)
