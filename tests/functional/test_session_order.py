"""The order of a user's sessions cannot tie: the per-user cap ends exactly the least recently
used one even when every session was opened and used within one second, and sessions with equal
milliseconds fall back to a fixed order (creation, then the public id) - never the table's."""

from __future__ import annotations

import io
import json
import time

import pytest

from local.emulator import Emulator
from local.emulator.users import SEEDED_USERS
from testkit.browser import Browser
from testkit.clock import ManualClock
from tests.conftest import Aws
from tests.harness import SESSION, Bff, body, items, signed_in

ADA = SEEDED_USERS[0]
CAP = 5


@pytest.fixture
def clock(bff: Bff) -> ManualClock:
    """A clock at the start of a whole second, so that the test's steps stay within it."""
    manual = ManualClock(float(int(time.time())))
    bff.clock = manual
    bff.configure(max_sessions_per_user=CAP)
    return manual


def alive(browser: Browser) -> bool:
    answer = body(browser.call("GET /auth/session", "passive=1"))
    return answer["authenticated"] is True


def capped(logs: io.StringIO) -> int:
    lines = [json.loads(line) for line in logs.getvalue().splitlines() if line.startswith("{")]
    ended = [x for x in lines if x.get("message") == "session ended" and x.get("reason") == "cap"]
    return sum(int(x["sessions_ended"]) for x in ended)


def test_the_cap_ends_the_oldest_of_sessions_opened_within_one_second(
    bff: Bff, hitkey: Emulator, aws: Aws, clock: ManualClock, bff_logs: io.StringIO
) -> None:
    start = clock.now()
    browsers = []
    for _ in range(CAP + 3):
        browsers.append(signed_in(bff, ADA.sub))
        clock.advance(0.01)
        if len(browsers) > CAP:  # each sign-in past the cap ends exactly the oldest still open
            assert [alive(b) for b in browsers] == [False] * (len(browsers) - CAP) + [True] * CAP
    assert clock.now() == start  # all of it within one second
    assert len(items(aws, "USER#")) == CAP
    assert capped(bff_logs) == 3


def test_sessions_with_equal_milliseconds_are_ordered_by_creation_then_id(
    bff: Bff, hitkey: Emulator, aws: Aws, clock: ManualClock
) -> None:
    browsers = [signed_in(bff, ADA.sub) for _ in range(CAP)]  # the clock stands still: equal milliseconds
    ids = {item["sid"]["S"] for item in items(aws, "USER#")}
    assert len(ids) == CAP and len({b.jar[SESSION] for b in browsers}) == CAP
    newest = signed_in(bff, ADA.sub)  # past the cap: the session with the lowest public id ends
    survivors = {item["sid"]["S"] for item in items(aws, "USER#")}
    assert ids - survivors == {min(ids)}
    assert alive(newest)
    listed = body(newest.call("GET /auth/sessions"))["sessions"]
    others = [s["id"] for s in listed if not s["current"]]
    assert others == sorted(others, reverse=True)  # the same order in the list: newest first
