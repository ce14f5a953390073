"""Refresh timing (docs/security.md): a slow HitKey never signs anyone out.

A trickled token answer racing a second tab is one grant; answers delayed 8 s, 20 s or just under
the budget are committed; past the budget the outcome is "unknown", and HitKey's later
``invalid_grant`` ends that one session as ``refresh_outcome_lost`` (no theft event, no
sign-out everywhere). The data key is pinned before HitKey is called; a token generation in the
associated data makes an old ciphertext written back undecryptable. docs/security.md has the
arithmetic.
"""

from __future__ import annotations

import io
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from hitkey_bff import vault
from hitkey_bff.cookies import SessionKey
from hitkey_bff.errors import Unauthenticated
from hitkey_bff.sessions import Session
from local.emulator import Emulator
from local.emulator.users import SEEDED_USERS
from local.lambda_runtime import LambdaContext
from testkit.browser import Browser
from tests.conftest import APP_ORIGIN, Aws
from tests.harness import SESSION, Bff, assert_error, body, items, signed_in, upstream

ADA = SEEDED_USERS[0]


def sessions_of(aws: Aws) -> list[dict[str, Any]]:
    return items(aws, "USER#")


def item_of(aws: Aws, browser: Browser) -> dict[str, Any]:
    key = SessionKey.decode(browser.jar[SESSION])
    assert key is not None
    (found,) = [i for i in sessions_of(aws) if i["sk"]["S"] == f"SESSION#{key.session_hash}"]
    return found


def expire_stored_access_token(aws: Aws, browser: Browser) -> None:
    item = item_of(aws, browser)
    aws.session.client("dynamodb").update_item(
        TableName=aws.resources.table,
        Key={"pk": item["pk"], "sk": item["sk"]},
        UpdateExpression="SET at_exp = :z",
        ExpressionAttributeValues={":z": {"N": "1"}},
    )


def assert_session_lives(browser: Browser) -> None:
    """The stored refresh token is HitKey's current one: another refresh and userinfo work."""
    assert browser.call("POST /auth/refresh")["statusCode"] == 200
    assert browser.call("GET /auth/userinfo")["statusCode"] == 200


def test_trickled_refresh_racing_a_second_tab_is_one_grant(bff: Bff, hitkey: Emulator, aws: Aws) -> None:
    """HitKey rotates at once and trickles its answer over 22 s (each piece well under httpx's
    read timeout); a second tab refreshes 1 s later. The old 20 s lease lapsed while its holder
    was still reading: two grants of one refresh token, the family revoked, the session gone."""
    browser = signed_in(bff)
    hitkey.reset_counters()
    hitkey.inject_fault("token", "trickle", 1, seconds=22.0)
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(browser.call, "POST /auth/refresh")
        time.sleep(1.0)
        expire_stored_access_token(aws, browser)  # the second tab's userinfo must refresh too
        second = pool.submit(browser.call, "GET /auth/userinfo")
        answers = [first.result(), second.result()]
    assert upstream(hitkey).get("token.refresh_token") == 1  # one grant
    for answer in answers:
        assert answer["statusCode"] == 200 or (answer["statusCode"] == 503 and body(answer)["error"]), answer
    assert [a["statusCode"] for a in answers].count(200) >= 1
    assert int(item_of(aws, browser)["version"]["N"]) == 2  # the rotated tokens are stored
    assert_session_lives(browser)
    assert upstream(hitkey).get("token.refresh_token") == 2


def test_trickle_past_the_budget_is_cut_at_the_overall_deadline(bff: Bff, hitkey: Emulator, aws: Aws) -> None:
    """The deadline bounds the whole answer, not each read: a body trickled past the budget is a
    504, and the session is marked as having an unknown outcome."""
    bff.configure(refresh_budget_seconds=2)
    browser = signed_in(bff)
    hitkey.inject_fault("token", "trickle", 1, seconds=5.0)
    assert_error(browser.call("POST /auth/refresh"), 504, "upstream_timeout")
    item = item_of(aws, browser)
    assert int(item["refresh_unknown_since"]["N"]) > 0 and "lease_owner" not in item


def test_delays_of_8_and_20_seconds_keep_the_sessions(bff: Bff, hitkey: Emulator, aws: Aws) -> None:
    """At the default budget (35 s), two sessions whose refreshes HitKey answers 8 s and 20 s late
    (rotated at once, then slow to send) both keep their new tokens. Run side by side."""
    browsers = [signed_in(bff), signed_in(bff)]
    hitkey.reset_counters()
    hitkey.inject_fault("token", "delay", 1, seconds=8.0)
    hitkey.inject_fault("token", "delay", 1, seconds=20.0)
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda b: b.call("POST /auth/refresh"), browsers))
    assert [a["statusCode"] for a in answers] == [200, 200], answers
    for browser in browsers:
        assert int(item_of(aws, browser)["version"]["N"]) == 2
        assert_session_lives(browser)


def test_a_delay_just_under_the_budget_keeps_the_session(bff: Bff, hitkey: Emulator, aws: Aws) -> None:
    bff.configure(refresh_budget_seconds=3)
    browser = signed_in(bff)
    hitkey.inject_fault("token", "delay", 1, seconds=2.5)
    assert browser.call("POST /auth/refresh")["statusCode"] == 200
    assert "refresh_unknown_since" not in item_of(aws, browser)
    assert_session_lives(browser)


def test_a_delay_past_the_budget_is_an_outcome_lost_not_reuse(
    bff: Bff, hitkey: Emulator, aws: Aws, bff_logs: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    """Past the budget HitKey has rotated but we never learn the new token. The next refresh
    presents the old one, HitKey answers invalid_grant: that one session ends as
    ``refresh_outcome_lost``, no ``refresh_token_rejected`` event, and even with
    END_ALL_SESSIONS_ON_REUSE the user's other session stays."""
    bff.configure(refresh_budget_seconds=2, end_all_sessions_on_reuse=True)
    other, browser = signed_in(bff), signed_in(bff)
    hitkey.inject_fault("token", "delay", 1, seconds=4.0)
    assert_error(browser.call("POST /auth/refresh"), 504, "upstream_timeout")
    assert int(item_of(aws, browser)["refresh_unknown_since"]["N"]) > 0
    time.sleep(2.5)  # the emulator finishes its delayed (rotated) answer
    capsys.readouterr()
    assert_error(browser.call("POST /auth/refresh"), 401, "unauthenticated")
    out = capsys.readouterr().out
    logs = bff_logs.getvalue()
    assert '"RefreshOutcomeLost"' in out and '"RefreshTokenRejected"' not in out
    assert "refresh_token_rejected" not in logs and '"reason":"refresh_outcome_lost"' in logs
    assert len(sessions_of(aws)) == 1  # the other session lives
    assert other.call("GET /auth/userinfo")["statusCode"] == 200


def test_a_refresh_that_cannot_finish_in_this_lambda_is_not_sent(bff: Bff, hitkey: Emulator, aws: Aws) -> None:
    """With too little of the Lambda's time left for HitKey's budget and the commit, the refresh
    token is not sent: a retryable 503, the session as it was."""
    browser = signed_in(bff)
    before = item_of(aws, browser)
    hitkey.reset_counters()
    event = browser_event(browser, "POST /auth/refresh")
    answer = bff.handler("POST /auth/refresh")(event, LambdaContext("RefreshFunction", timeout_s=20))
    assert answer["statusCode"] == 503 and body(answer)["error"] == "refresh_retry"
    assert upstream(hitkey).get("token.refresh_token", 0) == 0
    assert item_of(aws, browser) == before
    assert browser.call("POST /auth/refresh")["statusCode"] == 200  # a retry with time enough


def browser_event(browser: Browser, route: str) -> dict[str, Any]:
    from local.gateway import build_event

    method, path = route.split(" ", 1)
    return build_event(
        method,
        path,
        headers={"x-csrf": "1", "origin": APP_ORIGIN},
        cookies=[f"{SESSION}={browser.jar[SESSION]}"],
        route_key=route,
    )


def test_the_sealing_key_is_obtained_before_hitkey_rotates(bff: Bff, hitkey: Emulator, aws: Aws) -> None:
    """A data key used up (here after one seal) is replaced before HitKey is called, never after:
    no KMS GenerateDataKey runs once HitKey has rotated."""
    from hitkey_bff.vault import KeyRing

    kms = aws.session.client("kms")
    seen_grants: list[int] = []
    kms.meta.events.register(
        "before-call.kms.GenerateDataKey",
        lambda **_: seen_grants.append(upstream(hitkey).get("token.refresh_token", 0)),
    )
    bff.cold(keyring=KeyRing(lambda: kms, bff.settings.kms_key_id, max_uses=1))
    browser = signed_in(bff)
    hitkey.reset_counters()
    seen_grants.clear()
    assert browser.call("POST /auth/refresh")["statusCode"] == 200
    assert seen_grants == [0]  # one new key, taken before the grant
    assert_session_lives(browser)


def test_an_old_ciphertext_written_back_does_not_decrypt(bff: Bff, hitkey: Emulator, aws: Aws) -> None:
    browser = signed_in(bff)
    old = item_of(aws, browser)
    assert browser.call("POST /auth/refresh")["statusCode"] == 200
    new = item_of(aws, browser)
    assert int(new["gen"]["N"]) == int(old["gen"]["N"]) + 1
    aws.session.client("dynamodb").update_item(  # the rollback: old key blob and ciphertexts
        TableName=aws.resources.table,
        Key={"pk": old["pk"], "sk": old["sk"]},
        UpdateExpression="SET dk = :dk, rt = :rt, #at = :at",
        ExpressionAttributeNames={"#at": "at"},
        ExpressionAttributeValues={":dk": old["dk"], ":rt": old["rt"], ":at": old["at"]},
    )
    key = SessionKey.decode(browser.jar[SESSION])
    assert key is not None
    record = bff.deps.store.get_session(key.sub, key.session_hash, bff.deps.clock.now())
    assert record is not None
    for read in (vault.access_token, vault.refresh_token):
        with pytest.raises(Unauthenticated):
            read(bff.deps, Session(key, record))
