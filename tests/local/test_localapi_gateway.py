"""The local gateway applies a Lambda REQUEST authorizer as API Gateway does, to routes another
template adds (``EXTRA_TEMPLATES``): over real HTTP, with fixture templates and handlers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from local.api_template import load_routes
from local.gateway import Gateway

FIXTURES = Path(__file__).resolve().parents[1] / "gateway_fixtures" / "localapi"
MAIN, EXTRA = FIXTURES / "main.yaml", FIXTURES / "extra.yaml"
ROOT = Path(__file__).resolve().parents[2]


def serve(cache_seconds: int = 0) -> Gateway:
    gw = Gateway(MAIN, spa_dir=None, parameters={"CacheSeconds": str(cache_seconds)}, extra_templates=[EXTRA])
    gw.start("127.0.0.1", 0)
    return gw


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    gw = serve()
    yield gw
    gw.stop()


def calls(gw: Gateway) -> int:
    return gw.authorizers.invocations.get("Authz", 0)


def test_an_allowed_request_reaches_the_function_with_the_context(gateway: Gateway) -> None:
    answer = httpx.get(f"{gateway.base_url}/api/me", headers={"cookie": "s=allow", "x-csrf": "1"})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "authorizer": {"lambda": {"sub": "fixture-user", "seen": ["s=allow", "1"]}},
        "route": "GET /api/me",
    }


@pytest.mark.parametrize("headers", [{"x-csrf": "1"}, {"cookie": "s=allow"}, {"cookie": "s=allow", "x-csrf": ""}])
def test_a_missing_identity_source_is_a_401_without_invoking_the_authorizer(
    gateway: Gateway, headers: dict[str, str]
) -> None:
    answer = httpx.get(f"{gateway.base_url}/api/me", headers=headers)
    assert (answer.status_code, answer.json()) == (401, {"message": "Unauthorized"})
    assert calls(gateway) == 0


def test_a_denial_is_a_403_and_the_function_never_runs(gateway: Gateway) -> None:
    answer = httpx.get(f"{gateway.base_url}/api/me", headers={"cookie": "s=deny", "x-csrf": "1"})
    assert (answer.status_code, answer.json()) == (403, {"message": "Forbidden"})
    assert calls(gateway) == 1


@pytest.mark.parametrize("cookie", ["s=boom", "s=junk"])
def test_an_authorizer_that_fails_or_answers_nonsense_is_a_500(gateway: Gateway, cookie: str) -> None:
    answer = httpx.get(f"{gateway.base_url}/api/me", headers={"cookie": cookie, "x-csrf": "1"})
    assert (answer.status_code, answer.json()) == (500, {"message": "Internal Server Error"})


def test_without_a_cache_every_request_asks_the_authorizer(gateway: Gateway) -> None:
    for _ in range(3):
        httpx.get(f"{gateway.base_url}/api/me", headers={"cookie": "s=allow", "x-csrf": "1"})
    assert calls(gateway) == 3


def test_the_cache_keeps_answers_per_identity_source_values() -> None:
    gw = serve(cache_seconds=60)
    try:
        for cookie in ("s=allow", "s=allow", "s=deny", "s=deny", "s=allow"):
            httpx.get(f"{gw.base_url}/api/me", headers={"cookie": cookie, "x-csrf": "1"})
        assert calls(gw) == 2  # one allow, one deny: denials are cached too
        other = httpx.get(f"{gw.base_url}/api/me", headers={"cookie": "s=allow", "x-csrf": "2"})
        assert other.status_code == 200 and calls(gw) == 3  # another X-CSRF value is another key
    finally:
        gw.stop()


def test_routes_without_an_authorizer_and_route_priority(gateway: Gateway) -> None:
    public = httpx.get(f"{gateway.base_url}/api/public")
    assert public.status_code == 200 and public.json()["authorizer"] is None
    fallback = httpx.get(f"{gateway.base_url}/api/me/else")  # not a route of EXTRA: the greedy one
    assert fallback.status_code == 200 and fallback.json()["route"] == "ANY /api/{upstream}/{proxy+}"
    assert calls(gateway) == 0


def test_the_example_binds_to_the_bff_template() -> None:
    bff = load_routes(ROOT / "template.yaml")
    both = load_routes(ROOT / "template.yaml", [ROOT / "examples/local-api/template.yaml"])
    routes = {r.route_key: r for key, r in both.items() if key not in bff}
    assert set(routes) == {"GET /api/me", "POST /api/me/echo", "GET /api/me/hitkey"}
    for route in routes.values():
        assert route.authorizer is not None and route.authorizer.name == "BffSession"
        assert route.authorizer.identity_sources == ("$request.header.cookie", "$request.header.x-csrf")
        assert route.authorizer.ttl_seconds == 0 and route.authorizer.simple_responses
        assert route.function.logical_id == "LocalApiFunction"


def test_a_route_on_another_api_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(EXTRA.read_text().replace("ApiId: !Ref HttpApiId\n      RouteKey", "ApiId: abc\n      RouteKey", 1))
    with pytest.raises(ValueError, match="ApiId must be the BFF's HTTP API"):
        load_routes(MAIN, [bad])
