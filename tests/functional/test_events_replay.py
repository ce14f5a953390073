"""events/*.json (for ``sam local invoke -e``) replayed through their handlers, as Lambda would."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from local.emulator import SEEDED_USERS, Emulator
from tests.conftest import Aws
from tests.harness import SESSION, Browser, body, current

EVENTS = Path(__file__).resolve().parents[2] / "events"
ORIGIN = "http://localhost:3000"  # the events were captured from the local stack


def load(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return event


def replay(event: dict[str, Any]) -> dict[str, Any]:
    return current().invoke(event["routeKey"], event)


@pytest.fixture
def local_origin(hitkey: Emulator) -> Emulator:
    current().configure(app_origin=ORIGIN)
    return hitkey


@pytest.mark.parametrize(
    ("name", "status", "check"),
    [
        ("login", 302, lambda r: "code_challenge=" in r["headers"]["location"]),
        ("callback", 302, lambda r: r["headers"]["location"] == f"{ORIGIN}/?auth_error=invalid_state"),
        ("session", 200, lambda r: body(r) == {"authenticated": False}),
        ("userinfo", 401, lambda r: body(r)["error"] == "unauthenticated"),
        ("refresh", 401, lambda r: body(r)["error"] == "unauthenticated"),
        ("logout", 204, lambda r: any(c.startswith(SESSION + "=;") for c in r["cookies"])),
    ],
)
def test_each_event_replays_through_its_handler(local_origin: Emulator, name: str, status: int, check: Any) -> None:
    """The captured cookies belong to no live session, so each route answers as for a stranger."""
    response = replay(load(name))
    assert response["statusCode"] == status, response
    assert check(response)


@pytest.mark.parametrize("name", ["session", "userinfo", "refresh", "logout"])
def test_events_with_a_live_session_cookie(local_origin: Emulator, aws: Aws, name: str) -> None:
    browser = Browser(origin=ORIGIN)
    browser.sign_in(SEEDED_USERS[0].sub)
    event = load(name)
    event["cookies"] = [f"{SESSION}={browser.jar[SESSION]}"]
    response = replay(event)
    assert response["statusCode"] == {"logout": 204}.get(name, 200), response
    if name == "session":
        assert body(response)["user"]["sub"] == SEEDED_USERS[0].sub
