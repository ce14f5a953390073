"""Session lifetimes: idle and absolute lifetimes, bounded last-seen writes, relogin, the cap, the
``/auth/sessions`` routes, sign out everywhere - real handlers, moto, the HitKey emulator."""

from __future__ import annotations

import io
import json
from collections import Counter
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hitkey_bff.devices import describe
from local.emulator import Emulator
from local.emulator.users import SEEDED_USERS
from local.gateway import build_event
from testkit.browser import Browser
from testkit.clock import ManualClock
from tests.conftest import Aws
from tests.harness import SESSION, Bff, assert_error, body, expires, items

ADA, ALAN = SEEDED_USERS[0], SEEDED_USERS[1]
CHROME_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
IDLE = 3600


@pytest.fixture
def clock(bff: Bff) -> ManualClock:
    """The BFF on a clock the test moves, with a one-hour idle timeout (touch every 150 s)."""
    manual = ManualClock()
    bff.clock = manual
    bff.configure(session_idle_timeout_seconds=IDLE)
    return manual


@pytest.fixture
def writes(bff: Bff) -> Counter[str]:
    """The BFF's DynamoDB calls by operation."""
    seen: Counter[str] = Counter()

    def count(event_name: str, **_: object) -> None:
        seen[event_name.rsplit(".", 1)[1]] += 1

    bff.deps.aws.dynamodb().meta.events.register("before-call.dynamodb.*", count)
    return seen


def sign_in(bff: Bff, sub: str = ADA.sub, ua: str = CHROME_MAC) -> Browser:
    browser = Browser(bff.invoke)
    authorize = browser.login()["headers"]["location"]
    from testkit.browser import approve_at_hitkey

    query = approve_at_hitkey(authorize, sub=sub)
    response = browser.call("GET /auth/callback", query, headers={"user-agent": ua}, csrf=False)
    assert response["statusCode"] == 302 and SESSION in browser.jar, response
    return browser


def end_one(bff: Bff, browser: Browser, session_id: str, **kw: Any) -> dict[str, Any]:
    """``DELETE /auth/sessions/{id}`` with the real path."""
    route = "DELETE /auth/sessions/{id}"
    headers = kw.get("headers", {"x-csrf": "1", "origin": browser.origin})
    event = build_event(
        "DELETE",
        f"/auth/sessions/{session_id}",
        headers=headers,
        cookies=[f"{k}={v}" for k, v in browser.jar.items()],
        route_key=route,
        path_parameters={"id": session_id},
    )
    response = bff.invoke(route, event)
    for header in response.get("cookies", []):
        if "Max-Age=0" in header:
            browser.jar.pop(header.split("=", 1)[0], None)
    return response


def listed(browser: Browser) -> list[dict[str, Any]]:
    response = browser.call("GET /auth/sessions")
    assert response["statusCode"] == 200, response
    out: list[dict[str, Any]] = body(response)["sessions"]
    return out


def ended_reasons(logs: io.StringIO) -> list[str]:
    lines = [json.loads(line) for line in logs.getvalue().splitlines() if line.startswith("{")]
    return [x["reason"] for x in lines if x.get("message") == "session ended" and x.get("sessions_ended")]


# --- lifetimes ---------------------------------------------------------------------------------


def test_idle_session_ends_on_the_next_read(
    bff: Bff, hitkey: Emulator, aws: Aws, clock: ManualClock, bff_logs: io.StringIO
) -> None:
    browser = sign_in(bff)
    clock.advance(IDLE - 10)
    assert body(browser.call("GET /auth/session"))["authenticated"] is True  # activity: moves the deadline
    clock.advance(IDLE - 10)
    assert body(browser.call("GET /auth/session"))["authenticated"] is True
    clock.advance(IDLE + 1)
    response = browser.call("GET /auth/session")
    assert body(response) == {"authenticated": False} and expires(response, SESSION)
    assert items(aws, "USER#") == []  # deleted, not left for TTL
    assert ended_reasons(bff_logs) == ["idle"]


def test_idle_session_is_401_elsewhere(bff: Bff, hitkey: Emulator, aws: Aws, clock: ManualClock) -> None:
    browser = sign_in(bff)
    cookie = browser.jar[SESSION]
    clock.advance(IDLE + 1)
    response = browser.call("GET /auth/userinfo")
    assert_error(response, 401, "unauthenticated")
    assert expires(response, SESSION) and items(aws, "USER#") == []
    browser.jar[SESSION] = cookie
    assert_error(browser.call("GET /auth/sessions"), 401, "unauthenticated")


def test_absolute_lifetime_ends_even_an_active_session(
    hitkey: Emulator, aws: Aws, bff: Bff, clock: ManualClock, bff_logs: io.StringIO
) -> None:
    bff.configure(session_ttl_seconds=3 * IDLE)
    browser = sign_in(bff)
    deadline = clock.now() + 3 * IDLE
    for _ in range(5):
        clock.advance(IDLE - 100)
        assert body(browser.call("GET /auth/session"))["authenticated"] is (clock.now() < deadline)
    state = body(browser.call("GET /auth/session"))
    assert state == {"authenticated": False} and items(aws, "USER#") == []
    assert ended_reasons(bff_logs) == ["expired"]


def test_passive_reads_do_not_keep_a_session_alive(
    bff: Bff, hitkey: Emulator, clock: ManualClock, writes: Counter[str]
) -> None:
    browser = sign_in(bff)
    first = body(browser.call("GET /auth/session", "passive=1"))
    writes.clear()
    for _ in range(3):
        clock.advance(IDLE // 3 - 1)
        state = body(browser.call("GET /auth/session", "passive=1"))
        assert state["authenticated"] is True and state["idle_expires_at"] == first["idle_expires_at"]
    assert writes["UpdateItem"] == 0
    clock.advance(10)
    assert body(browser.call("GET /auth/session", "passive=1")) == {"authenticated": False}


def test_session_reports_idle_deadline(bff: Bff, hitkey: Emulator, clock: ManualClock) -> None:
    browser = sign_in(bff)
    state = body(browser.call("GET /auth/session"))
    assert state["idle_expires_at"] == clock.now() + IDLE and state["expires_at"] > state["idle_expires_at"]


def test_last_seen_is_written_at_most_once_per_interval(
    bff: Bff, hitkey: Emulator, clock: ManualClock, writes: Counter[str]
) -> None:
    browser = sign_in(bff)
    writes.clear()
    for _ in range(301):  # one call a second for five minutes; the interval is IDLE/24 = 150 s
        browser.call("GET /auth/session")
        clock.advance(1)
    assert writes["GetItem"] == 301
    assert writes["UpdateItem"] == 2  # at 150 s and at 300 s: one per interval
    assert set(writes) == {"GetItem", "UpdateItem"}


# --- relogin, cap ------------------------------------------------------------------------------


def test_signing_in_again_ends_the_browsers_old_session(
    bff: Bff, hitkey: Emulator, aws: Aws, bff_logs: io.StringIO
) -> None:
    browser = sign_in(bff)
    old = browser.jar[SESSION]
    authorize = browser.login()["headers"]["location"]
    from testkit.browser import approve_at_hitkey

    browser.callback(approve_at_hitkey(authorize, sub=ALAN.sub))  # even as another user
    assert browser.jar[SESSION] != old and len(items(aws, "USER#")) == 1
    stale = Browser(bff.invoke, jar={SESSION: old})
    assert body(stale.call("GET /auth/session")) == {"authenticated": False}
    assert "relogin" in ended_reasons(bff_logs)


def test_the_cap_ends_the_least_recently_used(
    hitkey: Emulator, aws: Aws, bff: Bff, clock: ManualClock, bff_logs: io.StringIO
) -> None:
    bff.configure(max_sessions_per_user=3)
    browsers = []
    for _ in range(3):
        browsers.append(sign_in(bff))
        clock.advance(200)
    browsers[0].call("GET /auth/session")  # the oldest is now the most recently used
    clock.advance(200)
    newest = sign_in(bff)
    assert len(items(aws, "USER#")) == 3
    assert body(browsers[1].call("GET /auth/session")) == {"authenticated": False}  # the LRU one
    for b in (browsers[0], browsers[2], newest):
        assert body(b.call("GET /auth/session"))["authenticated"] is True
    assert ended_reasons(bff_logs).count("cap") == 1


# --- the routes ---------------------------------------------------------------------------------


def test_list_shows_only_the_callers_sessions_newest_activity_first(
    bff: Bff, hitkey: Emulator, clock: ManualClock
) -> None:
    a = sign_in(bff)
    clock.advance(200)
    b = sign_in(bff, ua="Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0")
    sign_in(bff, ALAN.sub)
    clock.advance(100)  # b's listing below is within its interval: no write; a's call writes
    a.call("GET /auth/session")
    sessions = listed(b)
    assert [s["current"] for s in sessions] == [False, True]
    assert [s["device"] for s in sessions] == ["Chrome on macOS", "Firefox on Linux"]
    assert sessions[0]["last_seen_at"] > sessions[1]["last_seen_at"]
    for s in sessions:
        assert set(s) == {"id", "created_at", "last_seen_at", "expires_at", "idle_expires_at", "device", "current"}
        assert len(s["id"]) == 22 and s["id"] not in a.jar[SESSION] + b.jar[SESSION]


def test_ending_another_session(bff: Bff, hitkey: Emulator, aws: Aws, bff_logs: io.StringIO) -> None:
    a, b = sign_in(bff), sign_in(bff)
    other = next(s["id"] for s in listed(a) if not s["current"])
    response = end_one(bff, a, other)
    assert response["statusCode"] == 204 and not expires(response, SESSION)
    assert body(b.call("GET /auth/session")) == {"authenticated": False}
    assert body(a.call("GET /auth/session"))["authenticated"] is True and len(items(aws, "USER#")) == 1


def test_ending_the_current_session_expires_the_cookie(bff: Bff, hitkey: Emulator, aws: Aws) -> None:
    a = sign_in(bff)
    mine = listed(a)[0]["id"]
    response = end_one(bff, a, mine)
    assert response["statusCode"] == 204 and expires(response, SESSION) and items(aws, "USER#") == []


@pytest.mark.parametrize("kind", ["other_user", "missing", "malformed", "long", "hash"])
def test_unknown_session_ids_are_one_answer(bff: Bff, hitkey: Emulator, aws: Aws, kind: str) -> None:
    a, alan = sign_in(bff), sign_in(bff, ALAN.sub)
    stored = items(aws, "USER#")
    ids = {
        "other_user": listed(alan)[0]["id"],
        "missing": "A" * 22,
        "malformed": "not an id!",
        "long": "A" * 5000,
        "hash": str(stored[0]["sk"]["S"]).removeprefix("SESSION#"),
    }
    assert_error(end_one(bff, a, ids[kind]), 404, "unknown_session")
    assert len(items(aws, "USER#")) == 2


def test_end_other_sessions_keeps_this_one(bff: Bff, hitkey: Emulator, aws: Aws) -> None:
    a, b, c = sign_in(bff), sign_in(bff), sign_in(bff)
    alan = sign_in(bff, ALAN.sub)
    response = b.call("DELETE /auth/sessions")
    assert response["statusCode"] == 200 and body(response) == {"ended": 2}
    assert body(b.call("GET /auth/session"))["authenticated"] is True
    for gone in (a, c):
        assert body(gone.call("GET /auth/session")) == {"authenticated": False}
    assert body(alan.call("GET /auth/session"))["authenticated"] is True


def test_logout_everywhere(bff: Bff, hitkey: Emulator, aws: Aws, bff_logs: io.StringIO) -> None:
    a, b = sign_in(bff), sign_in(bff)
    alan = sign_in(bff, ALAN.sub)
    response = a.call("POST /auth/logout", "everywhere=true")
    assert response["statusCode"] == 204 and expires(response, SESSION)
    assert body(b.call("GET /auth/session")) == {"authenticated": False}
    assert body(alan.call("GET /auth/session"))["authenticated"] is True
    assert "logout_everywhere" in ended_reasons(bff_logs)


def test_a_stale_cookie_cannot_sign_out_everywhere(bff: Bff, hitkey: Emulator, aws: Aws) -> None:
    a, b = sign_in(bff), sign_in(bff)
    cookie = a.jar[SESSION]
    a.call("POST /auth/logout")
    Browser(bff.invoke, jar={SESSION: cookie}).call("POST /auth/logout", "everywhere=true")
    assert body(b.call("GET /auth/session"))["authenticated"] is True


@pytest.mark.parametrize("route", ["GET /auth/sessions", "DELETE /auth/sessions"])
def test_routes_refuse_missing_csrf_and_foreign_origin(bff: Bff, hitkey: Emulator, aws: Aws, route: str) -> None:
    a, b = sign_in(bff), sign_in(bff)
    assert a.call(route, csrf=False)["statusCode"] == 403
    assert a.call(route, headers={"origin": "https://evil.example"})["statusCode"] == 403
    assert len(items(aws, "USER#")) == 2 and body(b.call("GET /auth/session"))["authenticated"] is True


def test_end_one_refuses_missing_csrf_and_foreign_origin(bff: Bff, hitkey: Emulator, aws: Aws) -> None:
    a, _ = sign_in(bff), sign_in(bff)
    other = next(s["id"] for s in listed(a) if not s["current"])
    assert end_one(bff, a, other, headers={})["statusCode"] == 403
    assert end_one(bff, a, other, headers={"x-csrf": "1", "origin": "https://evil.example"})["statusCode"] == 403
    assert len(items(aws, "USER#")) == 2


def test_routes_need_a_session(bff: Bff, hitkey: Emulator) -> None:
    assert_error(Browser(bff.invoke).call("GET /auth/sessions"), 401, "unauthenticated")
    assert_error(Browser(bff.invoke).call("DELETE /auth/sessions"), 401, "unauthenticated")


# --- concurrency: a revoke racing a refresh -------------------------------------------------------


def test_a_refresh_commit_does_not_resurrect_a_revoked_session(hitkey: Emulator, aws: Aws, bff: Bff) -> None:
    """The refresh takes its lease, the session is revoked, then the commit lands: it must fail."""
    from hitkey_bff import sessions

    browser = sign_in(bff)
    found = sessions.load(bff.deps, browser.jar[SESSION])
    assert found is not None
    record = found.record
    now = bff.deps.clock.now()
    assert bff.deps.store.try_lease(record, "racer", now, now + 20) == (True, None)
    assert sessions.end_by_id(bff.deps, ADA.sub, record.session_id, "revoked") is not None
    from hitkey_bff.store import SessionGone

    with pytest.raises(SessionGone):  # the conditional write failed and the item is gone
        bff.deps.store.commit_tokens(record, "racer", record.tokens)
    assert not bff.deps.store.touch_session(record, now + 999, now + 9999, now + 999)
    assert items(aws, "USER#") == []
    assert body(browser.call("GET /auth/session")) == {"authenticated": False}


# --- devices -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ua", "expected"),
    [
        (CHROME_MAC, "Chrome on macOS"),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120 Safari/537.36 Edg/120",
            "Edge on Windows",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605 Version/17.0 Mobile Safari/604.1",
            "Safari on iOS",
        ),
        ("Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/120 Mobile Safari/537.36", "Chrome on Android"),
        ("", "Unknown device"),
        (None, "Unknown device"),
        ("x" * 100_000, "Unknown device"),
    ],
)
def test_device_description(ua: str | None, expected: str) -> None:
    assert describe(ua) == expected and len(describe(ua)) <= 64


# --- fuzzed events through the new routes, with a live session ----------------------------------

ID_TEXT = st.one_of(
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", min_size=0, max_size=30),
    st.text(max_size=300),
    st.just("A" * 22),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    route=st.sampled_from(["GET /auth/sessions", "DELETE /auth/sessions", "DELETE /auth/sessions/{id}"]),
    session_id=ID_TEXT,
    query=st.text(max_size=60),
    extra_headers=st.dictionaries(
        st.sampled_from(["x-csrf", "origin", "user-agent", "content-type"]), st.text(max_size=40)
    ),
    body_text=st.one_of(st.none(), st.text(max_size=200)),
)
def test_fuzzed_events_through_the_sessions_routes_never_5xx(
    bff: Bff,
    hitkey: Emulator,
    route: str,
    session_id: str,
    query: str,
    extra_headers: dict[str, str],
    body_text: str | None,
) -> None:
    browser = sign_in(bff)
    method, template_path = route.split(" ", 1)
    path = template_path.replace("{id}", quote(session_id, safe="")) if "{id}" in route else template_path
    headers = {"x-csrf": "1", "origin": browser.origin, **extra_headers}
    event = build_event(
        method,
        path,
        quote(query, safe="=&"),
        headers=headers,
        cookies=[f"{k}={v}" for k, v in browser.jar.items()],
        body=body_text,
        route_key=route,
        path_parameters={"id": session_id} if "{id}" in route else None,
    )
    response = bff.invoke(route, event)
    assert response["statusCode"] in {200, 204, 400, 403, 404}, response
    if response["statusCode"] >= 400:
        data = body(response)
        assert set(data) == {"error", "message"}
    browser.call("POST /auth/logout")


def test_a_revoke_racing_a_real_refresh_ends_the_session(hitkey: Emulator, aws: Aws, bff: Bff) -> None:
    """The refresh holds its lease while HitKey is slow to answer; meanwhile the user ends that
    session from another browser. The refresh's version-checked commit then finds no item: the
    session stays ended (no item, no tokens), whatever the racing request answers."""
    import threading

    victim, other = sign_in(bff), sign_in(bff)
    victim_id = next(s["id"] for s in listed(other) if not s["current"])
    hitkey.inject_fault("token", "delay", count=1, seconds=1.5)
    answers: list[dict[str, Any]] = []
    racer = threading.Thread(target=lambda: answers.append(victim.call("POST /auth/refresh")))
    racer.start()
    leased = False
    for _ in range(200):  # wait (on the real clock, bounded) until the refresh holds the lease
        leased = any("lease_owner" in i for i in items(aws, "USER#"))
        if leased:
            break
        threading.Event().wait(0.02)
    assert leased, "the refresh never took its lease"
    assert end_one(bff, other, victim_id)["statusCode"] == 204
    racer.join(30)
    assert not racer.is_alive() and answers
    # never a 200 that would imply stored tokens: the commit finds no item, so the racing
    # request is told it is signed out (401, cookie deleted), not to retry (503)
    assert answers[0]["statusCode"] == 401, answers[0]
    assert body(answers[0])["error"] == "unauthenticated"
    remaining = items(aws, "USER#")
    assert len(remaining) == 1 and "lease_owner" not in remaining[0]  # only `other`'s session
    assert body(victim.call("GET /auth/session")) == {"authenticated": False}
    assert body(other.call("GET /auth/session"))["authenticated"] is True
