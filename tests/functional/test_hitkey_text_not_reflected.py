"""HitKey's own words (its token endpoint's ``error`` and ``error_description``) never reach an
answer: a refusal is a fixed message with the stable code, and the text goes to the log only,
bounded and escaped. A hostile HitKey answers with a 3,000-character ``<script>`` payload."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator

import httpx
import pytest
import respx

from hitkey_bff.observability import MAX_LOGGED
from local.emulator import Emulator
from testkit.browser import Browser, approve_at_hitkey
from tests.conftest import Aws
from tests.harness import Bff, assert_auth_error, assert_error, body, signed_in

PAYLOAD = ("<script>alert(document.cookie)</script>\u202e\n" * 80)[:3000]
ESCAPED_START = ascii(PAYLOAD[:40])[1:-1]  # the log's escaped form of the payload's start


@contextlib.contextmanager
def hostile_token_endpoint(hitkey: Emulator) -> Iterator[None]:
    """HitKey's token endpoint refuses every grant with the payload as its error and description;
    every other call goes to the emulator."""
    with respx.mock(assert_all_called=False) as mock:
        token = mock.post(f"{hitkey.base_url}/oauth/token").mock(
            return_value=httpx.Response(400, json={"error": PAYLOAD, "error_description": PAYLOAD})
        )
        mock.route().pass_through()
        yield
    assert token.call_count == 1


def _assert_not_reflected(text: str) -> None:
    assert "<script" not in text and "alert(" not in text and "\u202e" not in text, text[:300]


def _refusal_lines(logs: io.StringIO) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in logs.getvalue().splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("message") == "HitKey's token endpoint refused the grant"]


@pytest.mark.parametrize("route", ["POST /auth/refresh", "GET /auth/userinfo"])
def test_hitkey_error_text_is_not_in_the_json_answer_and_is_logged_bounded(
    bff: Bff, hitkey: Emulator, aws: Aws, bff_logs: io.StringIO, route: str
) -> None:
    browser = signed_in(bff)
    if route == "GET /auth/userinfo":
        hitkey.expire_access_tokens()  # HitKey refuses the stored token: a refresh runs first
    with hostile_token_endpoint(hitkey):
        response = browser.call(route)
    assert_error(response, 502, "upstream_rejected")
    assert body(response)["message"] == "HitKey's token endpoint refused the request"
    _assert_not_reflected(response["body"])
    _assert_not_reflected(json.dumps(response["headers"]))
    (line,) = _refusal_lines(bff_logs)
    for field in ("hitkey_error", "detail"):
        logged = str(line[field])
        assert logged.startswith(ESCAPED_START)  # the text is there for the operator, escaped
        assert "\n" not in logged and "\u202e" not in logged
        assert logged.count("alert(") <= MAX_LOGGED // len("<script>alert(document.cookie)</script>") + 1
    assert bff_logs.getvalue().count("alert(") < PAYLOAD.count("alert(")  # never the whole payload


def test_hitkey_error_text_at_the_callback_is_a_stable_auth_error(
    bff: Bff, hitkey: Emulator, aws: Aws, bff_logs: io.StringIO
) -> None:
    browser = Browser(bff.invoke)
    query = approve_at_hitkey(browser.login()["headers"]["location"])
    with hostile_token_endpoint(hitkey):
        response = browser.callback(query)
    assert_auth_error(response, "upstream_error")
    _assert_not_reflected(json.dumps(response))
    assert len(_refusal_lines(bff_logs)) == 1
