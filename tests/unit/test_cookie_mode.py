"""``make run``'s plain-http cookie mode (``HTTP_COOKIES=1``, docs/browsers.md): cookies without
``Secure`` and without the ``__Host-`` prefix, for WebKit on http://localhost - and the proof that
a deployment cannot have it: no template parameter or environment variable turns it on, nothing
the functions run calls it, and the settings refuse it for any origin but http on loopback."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hitkey_bff import config
from hitkey_bff.cookies import (
    SessionKey,
    expired_cookie,
    login_cookie,
    plain_http_cookies,
    session_cookie,
    use_plain_http_cookies,
)
from hitkey_bff.errors import ConfigError
from local.console import UserError
from local.stack import COOKIE_SETTING, apply_cookie_mode, wanted_http_cookies
from local.template import ROOT, load_template

LOCAL = {
    "HITKEY_CLIENT_ID": "id",
    "HITKEY_CLIENT_SECRET_ARN": "arn",
    "REDIRECT_URI": "http://localhost:3000/auth/callback",
    "APP_ORIGIN": "http://localhost:3000",
    "SESSION_TABLE": "t",
    "KMS_KEY_ID": "alias/k",
}


@pytest.fixture(autouse=True)
def secure_again() -> Iterator[None]:
    """The mode is process-wide: every test leaves it off."""
    use_plain_http_cookies(False)
    yield
    use_plain_http_cookies(False)


def attributes(set_cookie: str) -> set[str]:
    return {part.strip().partition("=")[0].lower() for part in set_cookie.split(";")[1:]}


def all_cookies(settings: config.Settings) -> list[str]:
    key = SessionKey.new("u")
    return [
        session_cookie(settings.cookie_name, key, 60),
        login_cookie(settings.login_cookie_name, "b"),
        expired_cookie(settings.cookie_name),
        expired_cookie(settings.login_cookie_name, "Lax"),
    ]


def test_by_default_every_cookie_is_secure_with_the_host_prefix() -> None:
    settings = config.settings_from(LOCAL)
    assert not plain_http_cookies()
    assert settings.cookie_name == "__Host-Http-hitkey-session"
    for header in all_cookies(settings):
        assert header.startswith("__Host-Http-hitkey-session") and "secure" in attributes(header), header


def test_plain_http_mode_drops_secure_and_the_prefix_and_keeps_the_rest() -> None:
    use_plain_http_cookies()
    settings = config.settings_from(LOCAL)
    assert (settings.cookie_name, settings.login_cookie_name) == ("hitkey-session", "hitkey-session-login")
    for header in all_cookies(settings):
        assert header.startswith("hitkey-session"), header
        assert "secure" not in attributes(header), header
        assert {"httponly", "samesite", "path", "max-age"} <= attributes(header), header
    assert "SameSite=Strict" in all_cookies(settings)[0] and "SameSite=Lax" in all_cookies(settings)[1]


@pytest.mark.parametrize("name", ["__Host-mine", "__secure-mine", "__Http-mine", "__HOST-HTTP-mine"])
def test_plain_http_mode_strips_any_prefix_from_cookie_name_and_refuses_to_emit_one(name: str) -> None:
    use_plain_http_cookies()
    assert config.settings_from({**LOCAL, "COOKIE_NAME": name}).cookie_name == "mine"
    with pytest.raises(ValueError, match="needs Secure"):
        session_cookie(name, SessionKey.new("u"), 60)


@pytest.mark.parametrize(
    "origin",
    ["https://app.example.com", "http://app.example.com", "https://localhost:3000", "http://localhost.example.com"],
)
def test_settings_refuse_the_mode_for_any_origin_but_http_on_loopback(origin: str) -> None:
    use_plain_http_cookies()
    with pytest.raises(ConfigError) as caught:
        config.settings_from({**LOCAL, "APP_ORIGIN": origin})
    assert "plain-http cookies" in caught.value.message and caught.value.status == 503


@pytest.mark.parametrize("origin", ["http://localhost:5173", "http://127.0.0.1:3000", "http://[::1]:3000"])
def test_settings_accept_the_mode_on_loopback_http(origin: str) -> None:
    use_plain_http_cookies()
    assert config.settings_from({**LOCAL, "APP_ORIGIN": origin}).cookie_name == "hitkey-session"


def template_variables() -> dict[str, Any]:
    """Every environment variable template.yaml gives any function (Globals and per function)."""
    template = load_template(ROOT / "template.yaml")
    found = dict(template["Globals"]["Function"]["Environment"]["Variables"])
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            found.update(resource.get("Properties", {}).get("Environment", {}).get("Variables", {}))
    return found


def test_the_template_cannot_turn_the_mode_on() -> None:
    """Whatever parameters a deployment passes, the functions get the template's variables, and none
    of them is read for the mode: set every one (and ``make run``'s HTTP_COOKIES) to "1" and the
    cookies stay Secure."""
    template = load_template(ROOT / "template.yaml")
    variables = template_variables()
    assert {"APP_ORIGIN", "HITKEY_CLIENT_ID"} <= set(variables), "the template's variables were not found"
    for text in (*variables, *template["Parameters"]):
        assert not re.search(r"http_?cookie|plain|insecure", text, re.IGNORECASE), text
    env = {name: "1" for name in variables} | {COOKIE_SETTING: "1"} | LOCAL
    for name in ("SESSION_TTL_SECONDS", "SESSION_IDLE_TIMEOUT_SECONDS", "MAX_SESSIONS_PER_USER"):
        env[name] = "3600"
    env.pop("API_UPSTREAMS", None)
    settings = config.settings_from(env)
    assert not plain_http_cookies()
    assert settings.cookie_name.startswith("__Host-")
    assert all("secure" in attributes(header) for header in all_cookies(settings))


def test_only_the_local_stack_calls_the_switch() -> None:
    """Nothing the Lambda functions run calls ``use_plain_http_cookies``; ``local/stack.py`` does."""
    callers = sorted(
        str(path.relative_to(ROOT))
        for folder in ("layers", "functions", "local")
        for path in (ROOT / folder).rglob("*.py")
        if "use_plain_http_cookies(" in path.read_text().replace("def use_plain_http_cookies(", "")
    )
    assert callers == ["local/stack.py"]


@pytest.mark.parametrize(
    ("value", "origin", "on"),
    [
        ("", "http://localhost:3000", False),
        ("0", "http://localhost:3000", False),
        ("1", "http://localhost:3000", True),
        ("true", "http://127.0.0.1:5173", True),
        ("no", "https://localhost:3000", False),
    ],
)
def test_make_run_reads_http_cookies(value: str, origin: str, on: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(COOKIE_SETTING, value)
    assert wanted_http_cookies(origin) is on
    line = apply_cookie_mode(on, origin)
    assert plain_http_cookies() is on
    assert ("without Secure" in line) is on


@pytest.mark.parametrize(
    ("value", "origin", "says"),
    [("maybe", "http://localhost:3000", "is not 1 or 0"), ("1", "https://localhost:3000", "unset it")],
)
def test_make_run_refuses_http_cookies_it_cannot_use(
    value: str, origin: str, says: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(COOKIE_SETTING, value)
    with pytest.raises(UserError, match=says):
        wanted_http_cookies(origin)


def test_the_default_line_and_the_docs_tell_a_safari_user_what_to_do() -> None:
    assert "HTTP_COOKIES=1 make run" in apply_cookie_mode(False, "http://localhost:3000")
    use_plain_http_cookies()
    settings = config.settings_from(LOCAL)
    docs = (Path(ROOT) / "docs" / "browsers.md").read_text()
    assert "HTTP_COOKIES=1 make run" in docs
    for name in (settings.cookie_name, settings.login_cookie_name, config.COOKIE_NAME):
        assert f"| `{name}` |" in docs, name
