"""HitKey refuses a refresh token this BFF holds as current (revoked after a reuse elsewhere, or
expired): the session ends, a security event is logged without secrets, a metric is emitted,
and - when configured - every session of that user ends too."""

from __future__ import annotations

import io
import json

import pytest

from local.emulator import Emulator
from local.emulator.users import SEEDED_USERS
from tests.conftest import Aws
from tests.harness import SESSION, Bff, items, signed_in

ADA, ALAN = SEEDED_USERS[0], SEEDED_USERS[1]


def json_lines(text: str) -> list[dict[str, object]]:
    out = []
    for line in text.splitlines():
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def test_rejected_refresh_token_ends_the_session_with_event_and_metric(
    bff: Bff, hitkey: Emulator, aws: Aws, capsys: pytest.CaptureFixture[str], bff_logs: io.StringIO
) -> None:
    ada_laptop, ada_phone = signed_in(bff, ADA.sub), signed_in(bff, ADA.sub)
    capsys.readouterr()
    hitkey.inject_fault("token", "invalid_grant")
    assert ada_laptop.call("POST /auth/refresh")["statusCode"] == 401
    events = [line for line in json_lines(bff_logs.getvalue()) if line.get("security_event")]
    assert len(events) == 1 and events[0]["security_event"] == "refresh_token_rejected"
    assert events[0]["sub"] == ADA.sub and events[0]["sessions_ended"] == 1
    metrics = [line for line in json_lines(capsys.readouterr().out) if "RefreshTokenRejected" in line]
    assert metrics and metrics[0]["RefreshTokenRejected"] == [1.0]
    assert ada_phone.call("GET /auth/userinfo")["statusCode"] == 200  # default: only this session


def test_setting_ends_every_session_of_that_user(bff: Bff, hitkey: Emulator, aws: Aws) -> None:
    bff.configure(end_all_sessions_on_reuse=True)
    ada_laptop, ada_phone, alan = signed_in(bff, ADA.sub), signed_in(bff, ADA.sub), signed_in(bff, ALAN.sub)
    hitkey.inject_fault("token", "invalid_grant")
    assert ada_laptop.call("POST /auth/refresh")["statusCode"] == 401
    assert sorted(str(i["pk"]["S"]) for i in items(aws, "USER#")) == [f"USER#{ALAN.sub}"]
    assert ada_phone.call("GET /auth/userinfo")["statusCode"] == 401
    assert alan.call("GET /auth/userinfo")["statusCode"] == 200


def test_a_real_reuse_at_hitkey_is_detected(bff: Bff, hitkey: Emulator, aws: Aws) -> None:
    """A thief replays an old refresh token: HitKey revokes the family, our next refresh is refused."""
    browser = signed_in(bff, ADA.sub)
    old_item = next(i for i in aws.scan() if str(i["pk"]["S"]).startswith("USER#"))  # type: ignore[index]
    assert browser.call("POST /auth/refresh")["statusCode"] == 200  # rotation: the old token is now spent
    # Restore the pre-rotation item, as if a stale copy of the refresh token were used again.
    aws.session.client("dynamodb").put_item(TableName=aws.resources.table, Item=old_item)  # type: ignore[arg-type]
    response = browser.call("POST /auth/refresh")
    assert response["statusCode"] == 401
    assert sorted(str(i["pk"]["S"]) for i in items(aws, "USER#")) == [] and SESSION not in browser.jar
