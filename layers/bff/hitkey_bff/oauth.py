"""The authorization request: ``state``, PKCE (RFC 7636, S256) and HitKey's authorize URL."""

from __future__ import annotations

import hashlib
import re
import secrets
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from hitkey_bff.config import Settings
from hitkey_bff.cookies import b64url

_ERROR_CODE = re.compile(r"[a-z_]{1,40}")


def random_token() -> str:
    """256 random bits, base64url: a ``state`` or a browser-binding value."""
    return secrets.token_urlsafe(32)


def new_verifier() -> str:
    """A PKCE code verifier: 64 characters from the unreserved set (RFC 7636 allows 43-128)."""
    return secrets.token_urlsafe(48)


def challenge(verifier: str) -> str:
    """The S256 code challenge of ``verifier``."""
    return b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def authorize_url(settings: Settings, state: str, code_challenge: str) -> str:
    """HitKey's authorization page URL for this login (keeps any query the base URL has)."""
    base = urlsplit(settings.authorize_url)
    params = [
        *parse_qsl(base.query),
        ("client_id", settings.client_id),
        ("redirect_uri", settings.redirect_uri),
        ("response_type", "code"),
        ("state", state),
        ("scope", settings.scopes),
        ("code_challenge", code_challenge),
        ("code_challenge_method", "S256"),
    ]
    return urlunsplit((base.scheme, base.netloc, base.path or "/", urlencode(params), ""))


def error_code(value: str | None) -> str:
    """An OAuth ``error`` from the callback URL, reduced to a safe code for ``?auth_error=``."""
    return value if value and _ERROR_CODE.fullmatch(value) else "authorization_failed"
