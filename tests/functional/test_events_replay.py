"""events/*.json (for ``sam local invoke -e``): one per route of template.yaml, each replayed
through the handler the template maps its ``routeKey`` to, as Lambda would."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from local.emulator import Emulator
from local.emulator.users import SEEDED_USERS
from local.sample_api import SampleApi
from testkit.browser import Browser
from testkit.functions import routes
from tests.conftest import Aws
from tests.harness import SESSION, Bff, body

EVENTS = Path(__file__).resolve().parents[2] / "events"
ORIGIN = "http://localhost:3000"  # the events were captured from the local stack
# The route events; an authorizer's event ("type": "REQUEST") is no route's (test_local_api_events.py).
NAMES = sorted(
    p.stem for p in EVENTS.glob("*.json") if json.loads(p.read_text(encoding="utf-8")).get("type") != "REQUEST"
)

Check = Callable[[dict[str, Any]], bool]


def load(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return event


def replay(bff: Bff, event: dict[str, Any]) -> dict[str, Any]:
    """Through the handler of the event's route, as template.yaml maps it."""
    return bff.invoke(event["routeKey"], event)


def _unauthenticated(r: dict[str, Any]) -> bool:
    return bool(body(r)["error"] == "unauthenticated")


# What each event answers when its cookie belongs to no live session (a stranger), by route.
AS_A_STRANGER: dict[str, tuple[int, Check]] = {
    "GET /auth/login": (302, lambda r: "code_challenge=" in r["headers"]["location"]),
    "GET /auth/callback": (302, lambda r: r["headers"]["location"] == f"{ORIGIN}/?auth_error=invalid_state"),
    "GET /auth/session": (200, lambda r: body(r) == {"authenticated": False}),
    "POST /auth/logout": (204, lambda r: any(c.startswith(SESSION + "=;") for c in r["cookies"])),
}
# ...and with the cookie of a live session (routes that need none are not listed).
SIGNED_IN: dict[str, tuple[int, Check]] = {
    "GET /auth/session": (200, lambda r: body(r)["user"]["sub"] == SEEDED_USERS[0].sub),
    "GET /auth/userinfo": (200, lambda r: body(r)["sub"] == SEEDED_USERS[0].sub),
    "POST /auth/refresh": (200, lambda r: body(r)["expires_at"] > 0),
    "POST /auth/logout": (204, lambda r: any(c.startswith(SESSION + "=;") for c in r["cookies"])),
    "GET /auth/sessions": (200, lambda r: [s["current"] for s in body(r)["sessions"]] == [True]),
    "DELETE /auth/sessions": (200, lambda r: body(r) == {"ended": 0}),
    "DELETE /auth/sessions/{id}": (404, lambda r: body(r)["error"] == "unknown_session"),
    "ANY /api/{upstream}": (200, lambda r: body(r)["path"] == "/" or body(r)["path"] == ""),
    "ANY /api/{upstream}/{proxy+}": (200, lambda r: body(r)["path"] == "/whoami"),
}


def test_one_event_per_route_of_the_template() -> None:
    by_route: dict[str, list[str]] = {}
    for name in NAMES:
        by_route.setdefault(load(name)["routeKey"], []).append(name)
    assert set(by_route) == set(routes()), "events/ and template.yaml's routes differ"
    assert all(len(names) == 1 for names in by_route.values()), by_route


@pytest.mark.parametrize("name", NAMES)
def test_each_event_is_well_formed_for_its_route(name: str) -> None:
    event = load(name)
    spec = routes()[event["routeKey"]]
    http = event["requestContext"]["http"]
    assert event["requestContext"]["routeKey"] == event["routeKey"]
    assert spec.method in ("ANY", http["method"])
    assert event["rawPath"] == http["path"]
    if "{" not in spec.path:
        assert event["rawPath"] == spec.path
    else:  # the path parameters API Gateway would extract
        template = spec.path.replace("{proxy+}", "{proxy}")
        assert template.format(**event["pathParameters"]) == event["rawPath"]


@pytest.fixture
def local_origin(bff: Bff, hitkey: Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """The BFF configured as the events were captured, with the sample API as the ``demo`` upstream."""
    bff.configure(app_origin=ORIGIN)
    api = SampleApi(hitkey)
    monkeypatch.setenv("API_UPSTREAMS", json.dumps({"demo": api.start()}))
    try:
        yield hitkey
    finally:
        api.stop()


@pytest.mark.parametrize("name", NAMES)
def test_each_event_replays_through_its_handler(bff: Bff, local_origin: Emulator, name: str) -> None:
    """The captured cookies belong to no live session, so each route answers as for a stranger."""
    event = load(name)
    status, check = AS_A_STRANGER.get(event["routeKey"], (401, _unauthenticated))
    response = replay(bff, event)
    assert response["statusCode"] == status, response
    assert check(response), response


@pytest.mark.parametrize("name", [n for n in NAMES if load(n)["routeKey"] in SIGNED_IN])
def test_events_with_a_live_session_cookie(bff: Bff, local_origin: Emulator, aws: Aws, name: str) -> None:
    browser = Browser(bff.invoke, origin=ORIGIN)
    browser.sign_in(SEEDED_USERS[0].sub)
    event = load(name)
    event["cookies"] = [f"{SESSION}={browser.jar[SESSION]}"]
    status, check = SIGNED_IN[event["routeKey"]]
    response = replay(bff, event)
    assert response["statusCode"] == status, response
    assert check(response), response


def test_every_route_that_needs_a_session_is_replayed_with_one() -> None:
    needs = {key for key in routes() if key not in ("GET /auth/login", "GET /auth/callback")}
    assert needs <= set(SIGNED_IN)
