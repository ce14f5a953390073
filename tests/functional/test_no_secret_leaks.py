"""No token, client secret, code, code verifier or session secret in any log line, response body,
response header or Location URL - across the whole flow, success and failure paths, at DEBUG."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from hitkey_bff.hitkey import HitKeyClient, new_http_client
from hitkey_bff.observability import logger
from local.emulator import Emulator
from local.emulator.users import SEEDED_USERS
from testkit.browser import Browser, approve_at_hitkey
from tests.conftest import CLIENT_SECRET, Aws
from tests.harness import LOGIN, SESSION, Bff


class Secrets:
    """Every secret the flow handles, collected as it goes."""

    def __init__(self) -> None:
        self.values: set[str] = {CLIENT_SECRET}

    def add(self, *values: str | None) -> None:
        self.values.update(v for v in values if v)


# Every logging switch a deployer could flip: the raw event (codes, states, the login
# cookie, the session secret) must not reach the logs even with POWERTOOLS_LOGGER_LOG_EVENT on.
LOGGING_TOGGLES = {
    "POWERTOOLS_LOGGER_LOG_EVENT": "true",
    "POWERTOOLS_LOG_LEVEL": "DEBUG",
    "LOG_LEVEL": "DEBUG",
    "POWERTOOLS_DEBUG": "true",
    "POWERTOOLS_LOGGER_SAMPLE_RATE": "1",
}


@pytest.fixture(params=["defaults", "every-logging-toggle-on"])
def toggles(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The environment's logging switches, set before the handlers are built."""
    if request.param != "defaults":
        for name, value in LOGGING_TOGGLES.items():
            monkeypatch.setenv(name, value)
    return str(request.param)


@pytest.fixture
def issued(bff: Bff, hitkey: Emulator, toggles: str) -> Secrets:
    """Records every grant the BFF sends to HitKey's token endpoint and every token it gets back,
    with httpx's event hooks on the real client (the BFF's HitKey client is built on it)."""
    secrets = Secrets()

    def on_request(request: httpx.Request) -> None:
        if request.url.path.endswith("/oauth/token"):
            grant = json.loads(request.content or b"{}")
            secrets.add(grant.get("code"), grant.get("code_verifier"), grant.get("refresh_token"))

    def on_response(response: httpx.Response) -> None:
        if response.request.url.path.endswith("/oauth/token") and response.status_code == 200:
            with contextlib.suppress(ValueError, AttributeError):  # a fault may send broken JSON
                tokens = json.loads(response.read())
                secrets.add(tokens.get("access_token"), tokens.get("refresh_token"))

    http = new_http_client()
    http.event_hooks = {"request": [on_request], "response": [on_response]}
    bff.cold(hitkey=HitKeyClient(http, bff.settings.api_url, bff.settings.client_id))
    return secrets


@pytest.fixture
def debug_logs() -> Iterator[None]:
    root = logging.getLogger()
    levels = (root.level, logger.log_level)
    root.setLevel(logging.DEBUG)
    logger.setLevel("DEBUG")
    yield
    root.setLevel(levels[0])
    logger.setLevel(levels[1])


def run_every_flow(bff: Bff, hitkey: Emulator, aws: Aws, secrets: Secrets) -> list[dict[str, Any]]:
    """Sign in, use, refresh, fail in every way we know, sign out; returns all responses."""
    responses: list[dict[str, Any]] = []
    browser = Browser(bff.invoke)
    login = browser.login("/after")
    responses.append(login)
    secrets.add(browser.jar[LOGIN])
    verifier = next(i["verifier"]["S"] for i in aws.scan() if str(i["pk"]["S"]).startswith("LOGIN#"))  # type: ignore[index]
    query = approve_at_hitkey(login["headers"]["location"], SEEDED_USERS[0].sub)
    secrets.add(verifier, parse_qs(query)["code"][0])
    responses.append(browser.callback(query))
    cookie = browser.jar[SESSION]
    secrets.add(cookie, cookie.rsplit(".", 1)[1])
    responses.append(browser.callback(query))  # replay
    hitkey.expire_access_tokens()
    responses.append(browser.call("GET /auth/userinfo"))  # refused upstream, refreshed (before any other refresh)
    for route in ("GET /auth/session", "GET /auth/userinfo", "POST /auth/refresh", "GET /auth/userinfo"):
        responses.append(browser.call(route))
    for kind in ("error500", "malformed", "html", "invalid_client"):
        hitkey.inject_fault("token", kind)
        responses.append(browser.call("POST /auth/refresh"))
    hitkey.inject_fault("userinfo", "error500")
    responses.append(browser.call("GET /auth/userinfo"))
    responses.append(browser.call("GET /auth/session", headers={"origin": "https://evil.example"}))
    responses.append(browser.call("POST /auth/logout"))
    other = Browser(bff.invoke)
    other.sign_in(SEEDED_USERS[1].sub)
    secrets.add(other.jar[SESSION], other.jar[SESSION].rsplit(".", 1)[1])
    hitkey.inject_fault("token", "invalid_grant")
    responses.append(other.call("POST /auth/refresh"))  # session ended
    bad = Browser(bff.invoke)
    query = approve_at_hitkey(bad.login()["headers"]["location"], SEEDED_USERS[2].sub)
    secrets.add(parse_qs(query)["code"][0])
    hitkey.inject_fault("token", "malformed")
    responses.append(bad.callback(query))
    return responses


def test_no_secret_anywhere(
    bff: Bff,
    hitkey: Emulator,
    aws: Aws,
    issued: Secrets,
    debug_logs: None,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    bff_logs: io.StringIO,
) -> None:
    caplog.set_level(logging.DEBUG)
    responses = run_every_flow(bff, hitkey, aws, issued)
    out, err = capsys.readouterr()
    ours = bff_logs.getvalue()
    log_text = "\n".join([ours, out, err, caplog.text, *(r.getMessage() for r in caplog.records)])
    statuses = sorted({r["statusCode"] for r in responses})
    assert statuses == [200, 204, 302, 401, 403, 502]  # the failure paths really ran
    tokens = {s for s in issued.values if s.startswith(("hkat_", "hkrt_"))}
    assert len(tokens) >= 8, "the spy saw the tokens"
    assert '"level":"DEBUG"' in ours or '"level":"INFO"' in ours, "the BFF's own logs were captured"
    assert ours.count("\n") >= 10 and '"sign-in failed"' in ours.replace("'", '"')
    for secret in issued.values:
        assert secret not in log_text, "a secret reached the logs"
        for response in responses:
            assert secret not in str(response.get("body", ""))
            headers = json.dumps(response.get("headers", {}))
            assert secret not in headers, "a secret reached a header or Location"
            for set_cookie in response.get("cookies", []):
                if not set_cookie.startswith((SESSION + "=", LOGIN + "=")):
                    pytest.fail(f"unexpected cookie {set_cookie.split('=')[0]}")
                if secret.startswith(("hkat_", "hkrt_")) or secret in (CLIENT_SECRET,):
                    assert secret not in set_cookie, "a token reached a cookie"
