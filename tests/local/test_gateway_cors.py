"""CORS as a browser on another origin of the same site meets it through the local gateway (which
answers preflights from template.yaml's CorsConfiguration, as API Gateway does): every route's
method, ``X-CSRF`` and the proxy's forwarded headers pass the preflight; proxied response
headers are readable by script."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hitkey_bff.proxy.headers import REQUEST_HEADERS
from local.api_template import load_routes
from local.gateway import Gateway

ROOT = Path(__file__).resolve().parents[2]
APP = "https://app.example.com"
PROXY_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]


@pytest.fixture(scope="module")
def gateway() -> Iterator[Gateway]:
    with Gateway(ROOT / "template.yaml", access_log=False, parameters={"AppOrigin": APP}) as gw:
        yield gw


def _routes() -> list[tuple[str, str]]:
    """(method, example path) of every route in template.yaml; ``ANY`` as each proxy method."""
    out = []
    for route_method, route_path in load_routes(ROOT / "template.yaml"):
        path = route_path.replace("{proxy+}", "notes/42").replace("{upstream}", "demo").replace("{id}", "x" * 22)
        for method in PROXY_METHODS if route_method == "ANY" else [route_method]:
            out.append((method, path))
    return out


def _listed(value: str) -> set[str]:
    return {item.strip().lower() for item in value.split(",") if item.strip()}


@pytest.mark.parametrize(("method", "path"), _routes())
def test_preflight_allows_every_route_method_and_the_headers_the_client_sends(
    gateway: Gateway, method: str, path: str
) -> None:
    sent = {"x-csrf", "content-type", "if-match", "idempotency-key"}
    response = httpx.options(
        gateway.base_url + path,
        headers={
            "Origin": APP,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": ",".join(sorted(sent)),
        },
        timeout=5,
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == APP
    assert response.headers["access-control-allow-credentials"] == "true"
    assert method.lower() in _listed(response.headers["access-control-allow-methods"])
    assert sent <= _listed(response.headers["access-control-allow-headers"])
    assert _listed(response.headers["access-control-allow-headers"]) >= REQUEST_HEADERS


def test_answers_expose_the_proxied_headers_script_needs(gateway: Gateway) -> None:
    response = httpx.get(gateway.base_url + "/auth/session", headers={"Origin": APP, "X-CSRF": "1"}, timeout=30)
    assert response.headers["access-control-allow-origin"] == APP
    assert {"etag", "retry-after", "content-range"} <= _listed(response.headers["access-control-expose-headers"])


def test_another_origin_gets_no_cors_headers_for_any_method(gateway: Gateway) -> None:
    for method in ("DELETE", "PUT", "PATCH"):
        response = httpx.options(
            gateway.base_url + "/auth/sessions",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": method},
            timeout=5,
        )
        assert response.status_code == 204
        assert not [name for name in response.headers if name.lower().startswith("access-control-")]
