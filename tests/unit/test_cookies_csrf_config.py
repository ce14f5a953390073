"""Cookie format and attributes, CSRF checks, settings."""

from __future__ import annotations

import pytest

from hitkey_bff import config
from hitkey_bff.cookies import SessionKey, expired_cookie, login_cookie, session_cookie, unb64url
from hitkey_bff.csrf import require_same_origin
from hitkey_bff.errors import ConfigError, Forbidden
from hitkey_bff.http import Request

ORIGIN = "https://app.example.com"


def attributes(set_cookie: str) -> dict[str, str]:
    parts = [p.strip() for p in set_cookie.split(";")]
    return {p.partition("=")[0].lower(): p.partition("=")[2] for p in parts[1:]}


def test_session_key_round_trips_and_hides_nothing_but_sub_and_secret() -> None:
    key = SessionKey.new("550e8400-e29b-41d4-a716-446655440000")
    value = key.encode()
    assert value.startswith("v1.") and len(key.secret) == 32
    assert SessionKey.decode(value) == key
    assert key.session_hash not in value  # the table's sort key is not in the cookie


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "v1",
        "v2.YQ.AAAA",
        "v1.YQ.short",
        "v1..AAAA",
        "v1.YQ." + "A" * 43 + ".extra",
        "v1.%%%." + "A" * 43,
        "v1.YQ=." + "A" * 43,
        "v1.//8." + "A" * 43,  # not base64url
        "v1.__8." + "A" * 43,  # not UTF-8 sub
        "v1." + "QQ" * 300 + "." + "A" * 43,
    ],
)
def test_malformed_session_cookies_are_refused(value: str | None) -> None:
    assert SessionKey.decode(value) is None


def test_a_flipped_secret_bit_is_another_session() -> None:
    key = SessionKey.new("u1")
    other = SessionKey(key.sub, bytes([key.secret[0] ^ 1]) + key.secret[1:])
    assert SessionKey.decode(other.encode()) == other and other.session_hash != key.session_hash


def test_unb64url_is_strict() -> None:
    assert unb64url("YQ") == b"a"
    for bad in ("YQ==", "Y", "YR", "Y Q"):
        with pytest.raises(ValueError):
            unb64url(bad)


def test_session_cookie_attributes() -> None:
    header = session_cookie("__Host-Http-hitkey-session", SessionKey.new("u"), 3600)
    attrs = attributes(header)
    assert header.startswith("__Host-Http-hitkey-session=v1.")
    assert attrs["path"] == "/" and attrs["max-age"] == "3600" and attrs["samesite"] == "Strict"
    assert "secure" in attrs and "httponly" in attrs and "domain" not in attrs


def test_login_cookie_is_lax_and_short_lived() -> None:
    attrs = attributes(login_cookie("__Host-Http-hitkey-session-login", "b"))
    assert attrs["samesite"] == "Lax" and int(attrs["max-age"]) <= 600
    assert "secure" in attrs and "httponly" in attrs and attrs["path"] == "/"


def test_expired_cookie_deletes() -> None:
    attrs = attributes(expired_cookie("c"))
    assert attrs["max-age"] == "0" and "secure" in attrs


def req(headers: dict[str, str]) -> Request:
    return Request(method="GET", path="/auth/session", headers=headers)


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "csrf_header_missing"),
        ({"x-csrf": "0"}, "csrf_header_missing"),
        ({"x-csrf": "1,1"}, "csrf_header_missing"),
        ({"x-csrf": "1", "origin": "https://evil.example"}, "origin_not_allowed"),
        ({"x-csrf": "1", "origin": "null"}, "origin_not_allowed"),
        ({"x-csrf": "1", "origin": "https://app.example.com.evil.example"}, "origin_not_allowed"),
        ({"x-csrf": "1", "sec-fetch-site": "cross-site"}, "origin_not_allowed"),
    ],
)
def test_csrf_refusals(headers: dict[str, str], code: str) -> None:
    with pytest.raises(Forbidden) as caught:
        require_same_origin(req(headers), ORIGIN)
    assert caught.value.code == code and caught.value.status == 403


@pytest.mark.parametrize(
    "headers",
    [{"x-csrf": "1"}, {"x-csrf": "1", "origin": ORIGIN}, {"x-csrf": "1", "origin": "HTTPS://APP.EXAMPLE.COM"}],
)
def test_csrf_passes(headers: dict[str, str]) -> None:
    require_same_origin(req(headers), ORIGIN)


REQUIRED = {
    "HITKEY_CLIENT_ID": "id",
    "HITKEY_CLIENT_SECRET_ARN": "arn",
    "REDIRECT_URI": "https://app.example.com/auth/callback",
    "APP_ORIGIN": "https://App.example.com/",
    "SESSION_TABLE": "t",
    "KMS_KEY_ID": "alias/k",
}


def test_settings_defaults() -> None:
    s = config.settings_from(REQUIRED)
    assert s.authorize_url == "https://hitkey.io/" and s.api_url == "https://api.hitkey.io"
    assert s.scopes == "openid profile email" and s.session_ttl_seconds == 30 * 24 * 3600
    assert s.cookie_name == "__Host-Http-hitkey-session" and s.app_origin == "https://app.example.com"


@pytest.mark.parametrize("missing", sorted(REQUIRED))
def test_each_missing_variable_is_named(missing: str) -> None:
    env = {k: v for k, v in REQUIRED.items() if k != missing}
    with pytest.raises(ConfigError) as caught:
        config.settings_from(env)
    assert missing in caught.value.message and caught.value.status == 503


@pytest.mark.parametrize(
    ("name", "value"),
    [("APP_ORIGIN", "app.example.com"), ("APP_ORIGIN", "https://a.example/path"), ("SESSION_TTL_SECONDS", "x")],
)
def test_bad_values_are_config_errors(name: str, value: str) -> None:
    with pytest.raises(ConfigError):
        config.settings_from({**REQUIRED, name: value})


def test_session_lifetime_and_cap_settings() -> None:
    """24 h idle and 20 sessions by default (docs/security.md), both configurable."""
    s = config.settings_from(REQUIRED)
    assert s.session_idle_timeout_seconds == 24 * 3600 and s.max_sessions_per_user == 20
    s = config.settings_from({**REQUIRED, "SESSION_IDLE_TIMEOUT_SECONDS": "3600", "MAX_SESSIONS_PER_USER": "5"})
    assert s.session_idle_timeout_seconds == 3600 and s.max_sessions_per_user == 5
    for name in ("SESSION_IDLE_TIMEOUT_SECONDS", "MAX_SESSIONS_PER_USER"):
        for bad in ("x", "0", "-1"):
            with pytest.raises(ConfigError):
                config.settings_from({**REQUIRED, name: bad})
