"""Settings: what a deployment is, read from the environment by :meth:`hitkey_bff.deps.Deps.from_env`.

A missing required variable raises :class:`~hitkey_bff.errors.ConfigError` at the first
invocation (a 503 naming the variable), never an import-time crash.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from hitkey_bff.budgets import REFRESH_BUDGET_SECONDS
from hitkey_bff.cookies import plain_http_cookies, unprefixed
from hitkey_bff.errors import ConfigError

THIRTY_DAYS = 30 * 24 * 3600
ONE_DAY = 24 * 3600
MAX_SESSIONS_PER_USER = 20
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")  # where plain-http cookies may be used
COOKIE_NAME = "__Host-Http-hitkey-session"


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the flows need to know about this deployment."""

    client_id: str
    client_secret_id: str
    redirect_uri: str
    app_origin: str
    session_table: str
    kms_key_id: str
    authorize_url: str = "https://hitkey.io/"
    api_url: str = "https://api.hitkey.io"
    scopes: str = "openid profile email"
    session_ttl_seconds: int = THIRTY_DAYS
    cookie_name: str = COOKIE_NAME
    end_all_sessions_on_reuse: bool = False
    # inactivity timeout (docs/security.md, ASVS 7.3.1) and live sessions per user
    session_idle_timeout_seconds: int = ONE_DAY
    max_sessions_per_user: int = MAX_SESSIONS_PER_USER
    refresh_budget_seconds: int = REFRESH_BUDGET_SECONDS

    @property
    def login_cookie_name(self) -> str:
        """The short-lived cookie that binds a browser to its login ``state``."""
        return f"{self.cookie_name}-login"


def _required(env: dict[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"environment variable {name} is not set", code="missing_config")
    return value


def _origin(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
        raise ConfigError("APP_ORIGIN must be a scheme and host, e.g. https://app.example.com")
    return f"{parts.scheme}://{parts.netloc}".lower()


def _plain_http_cookie_name(name: str, app_origin: str) -> str:
    """In ``make run``'s plain-http cookie mode, the cookie name without its ``__Host-`` prefix -
    and a refusal for any APP_ORIGIN other than http on loopback, where it would be a downgrade."""
    parts = urlsplit(app_origin)
    if parts.scheme != "http" or parts.hostname not in LOOPBACK_HOSTS:
        raise ConfigError(f"plain-http cookies are for http://localhost only, not APP_ORIGIN {app_origin}")
    return unprefixed(name)


def _int(env: dict[str, str], name: str) -> int | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"environment variable {name} must be a whole number") from None
    if value <= 0:
        raise ConfigError(f"environment variable {name} must be positive")
    return value


def settings_from(env: dict[str, str]) -> Settings:
    """Build :class:`Settings` from a mapping of environment variables (unset or empty optional
    ones keep the dataclass's defaults)."""
    optional: dict[str, Any] = {}
    if authorize_url := env.get("HITKEY_AUTHORIZE_URL"):
        optional["authorize_url"] = authorize_url
    if api_url := env.get("HITKEY_API_URL"):
        optional["api_url"] = api_url.rstrip("/")
    if scopes := " ".join(env.get("SCOPES", "").split()):
        optional["scopes"] = scopes
    if ttl := _int(env, "SESSION_TTL_SECONDS"):
        optional["session_ttl_seconds"] = ttl
    if idle := _int(env, "SESSION_IDLE_TIMEOUT_SECONDS"):
        optional["session_idle_timeout_seconds"] = idle
    if cap := _int(env, "MAX_SESSIONS_PER_USER"):
        optional["max_sessions_per_user"] = cap
    if cookie_name := env.get("COOKIE_NAME"):
        optional["cookie_name"] = cookie_name
    if env.get("END_ALL_SESSIONS_ON_REUSE", "").lower() in ("1", "true", "yes"):
        optional["end_all_sessions_on_reuse"] = True
    if budget := _int(env, "REFRESH_BUDGET_SECONDS"):
        optional["refresh_budget_seconds"] = min(budget, REFRESH_BUDGET_SECONDS)
    required: dict[str, Any] = {
        "client_id": _required(env, "HITKEY_CLIENT_ID"),
        "client_secret_id": _required(env, "HITKEY_CLIENT_SECRET_ARN"),
        "redirect_uri": _required(env, "REDIRECT_URI"),
        "app_origin": _origin(_required(env, "APP_ORIGIN")),
        "session_table": _required(env, "SESSION_TABLE"),
        "kms_key_id": _required(env, "KMS_KEY_ID"),
    }
    if plain_http_cookies():
        name = optional.get("cookie_name", COOKIE_NAME)
        optional["cookie_name"] = _plain_http_cookie_name(name, required["app_origin"])
    return Settings(**required, **optional)
