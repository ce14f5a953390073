"""The two cookies: the session cookie (who you are) and the login cookie (which login is yours).

Session cookie value: ``v1.<base64url(sub)>.<base64url(32 random bytes)>``. The sub finds the
partition and the secret's SHA-256 the item, in one GetItem; the secret itself is never stored,
and it is half of the key that decrypts the session's tokens.

Every cookie is ``Secure`` (and by default named with the ``__Host-`` prefix). The one exception is
``make run`` with ``HTTP_COOKIES=1`` (docs/browsers.md): ``local/stack.py`` calls
:func:`use_plain_http_cookies` in its own process so that WebKit, which drops ``Secure`` cookies
on http://localhost, can sign in. No environment variable or template parameter turns it on, and
:func:`hitkey_bff.config.settings_from` refuses it for any origin but http on loopback.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from dataclasses import dataclass

SECRET_BYTES = 32
LOGIN_MAX_AGE = 600
MAX_SUB_BYTES = 255
SECURE_PREFIXES = ("__host-http-", "__host-", "__http-", "__secure-")  # each needs Secure (lower case)


@dataclass(slots=True)
class _Mode:
    plain_http: bool = False


_mode = _Mode()


def use_plain_http_cookies(on: bool = True) -> None:
    """``make run`` only (``HTTP_COOKIES=1``): cookies without ``Secure`` and without a prefix that
    requires it. Process-wide; nothing in the functions calls it."""
    _mode.plain_http = on


def plain_http_cookies() -> bool:
    """Whether this process sets cookies for plain http (``make run`` with ``HTTP_COOKIES=1``)."""
    return _mode.plain_http


def unprefixed(name: str) -> str:
    """``name`` without the ``__Host-``/``__Secure-``/``__Http-`` prefix a browser ties to ``Secure``."""
    for prefix in SECURE_PREFIXES:
        if name.lower().startswith(prefix):
            return name[len(prefix) :]
    return name


def b64url(data: bytes) -> str:
    """Unpadded base64url."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    """Strict unpadded base64url decode; raises ``ValueError``."""
    if not text or len(text) % 4 == 1 or "=" in text:
        raise ValueError("not base64url")
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise ValueError("not base64url") from None
    if b64url(raw) != text:
        raise ValueError("not canonical base64url")
    return raw


def digest(value: str | bytes) -> str:
    """Hex SHA-256: what the table stores instead of a secret."""
    data = value.encode() if isinstance(value, str) else value
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class SessionKey:
    """What the session cookie carries: the user's sub and the session's secret."""

    sub: str
    secret: bytes

    @classmethod
    def new(cls, sub: str) -> SessionKey:
        """A fresh session for ``sub`` (a new secret at every sign-in: no fixation)."""
        return cls(sub, secrets.token_bytes(SECRET_BYTES))

    @property
    def session_hash(self) -> str:
        """SHA-256 of the secret - the sort key."""
        return digest(self.secret)

    def encode(self) -> str:
        """The cookie value."""
        return f"v1.{b64url(self.sub.encode())}.{b64url(self.secret)}"

    @classmethod
    def decode(cls, value: str | None) -> SessionKey | None:
        """Parse a cookie value; ``None`` for anything malformed."""
        if not value:
            return None
        parts = value.split(".")
        if len(parts) != 3 or parts[0] != "v1":
            return None
        try:
            sub_raw, secret = unb64url(parts[1]), unb64url(parts[2])
            sub = sub_raw.decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return None
        if len(secret) != SECRET_BYTES or not sub.strip() or len(sub_raw) > MAX_SUB_BYTES or not sub.isprintable():
            return None
        return cls(sub, secret)


def _secure(name: str) -> str:
    """The ``Secure`` attribute - left out only in the plain-http mode, for a name no prefix binds."""
    if not _mode.plain_http:
        return " Secure;"
    if unprefixed(name) != name:
        raise ValueError(f"cookie {name!r} needs Secure: plain-http cookies take a name without the prefix")
    return ""


def _cookie(name: str, value: str, max_age: int, same_site: str) -> str:
    return f"{name}={value}; Path=/; Max-Age={max_age};{_secure(name)} HttpOnly; SameSite={same_site}"


def session_cookie(name: str, key: SessionKey, max_age: int) -> str:
    """``Set-Cookie`` for a new session: HttpOnly, Secure, SameSite=Strict, Path=/, no Domain."""
    return _cookie(name, key.encode(), max_age, "Strict")


def login_cookie(name: str, binding: str) -> str:
    """``Set-Cookie`` binding this browser to a login; Lax so HitKey's redirect carries it."""
    return _cookie(name, binding, LOGIN_MAX_AGE, "Lax")


def expired_cookie(name: str, same_site: str = "Strict") -> str:
    """``Set-Cookie`` that deletes ``name``."""
    expired = "Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT"
    return f"{name}=; Path=/; {expired};{_secure(name)} HttpOnly; SameSite={same_site}"
