"""The functions under the real SAM CLI and the Lambda runtime interface (``sam local``, Docker),
against moto and the HitKey emulator in a container on a network of the run's own.

What only this catches: the layer's layout in ``/opt`` (``python/hitkey_bff``), the handler paths,
the environment the template declares (SAM passes nothing else), the parameters, ``sam build``.
Two tests prove it by breaking the built template on purpose (layer layout, a variable).

Needs Docker (a running daemon, or root with docker.io), a CPython 3.12 built ``--enable-shared``
and ``make sam-venv``. Without them it skips with what to do - and fails under ``CI=true``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from local.samlocal.stack import Stack, redact, stack, unavailable
from local.template import ROOT, load_template

pytestmark = pytest.mark.samlocal
EVENTS = ROOT / "events"
EVENT_ORIGIN = "http://localhost:3000"  # the events were captured from `make run`
SESSION = "__Host-Http-hitkey-session"
FUNCTIONS = {  # event (events/<name>.json) -> the function whose dispatch table serves its routeKey
    "login": "SessionFunction",
    "callback": "TokenFunction",
    "session": "SessionFunction",
    "userinfo": "TokenFunction",
    "refresh": "TokenFunction",
    "logout": "SessionFunction",
}


def body(response: dict[str, Any]) -> Any:
    return json.loads(response.get("body") or "null")


# What each captured event must answer (its cookies belong to no live session): a handler that
# could not import, or a setting that is missing, answers something else.
EXPECTED: dict[str, tuple[int, Callable[[dict[str, Any]], bool]]] = {
    "login": (302, lambda r: "code_challenge=" in r["headers"]["location"]),
    "callback": (302, lambda r: r["headers"]["location"] == f"{EVENT_ORIGIN}/?auth_error=invalid_state"),
    "session": (200, lambda r: body(r) == {"authenticated": False}),
    "userinfo": (401, lambda r: body(r)["error"] == "unauthenticated"),
    "refresh": (401, lambda r: body(r)["error"] == "unauthenticated"),
    "logout": (204, lambda r: any(c.startswith(SESSION + "=;") for c in r.get("cookies", []))),
}


def problem(name: str, response: dict[str, Any]) -> str | None:
    """Why ``response`` is not what event ``name`` must get; None when it is."""
    status, check = EXPECTED[name]
    if response.get("statusCode") != status:
        return f"{name}: expected {status}, got {json.dumps(response)[:600]}"
    if not check(response):
        return f"{name}: unexpected response {json.dumps(response)[:600]}"
    return None


@dataclass
class Built:
    local: Stack
    template: Path


@pytest.fixture(scope="module")
def built() -> Iterator[Built]:
    reason = unavailable()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"sam local cannot run on this CI machine: {reason}")
        pytest.skip(f"sam local: {reason} (CI=true turns this skip into a failure)")
    with stack(work=ROOT / ".aws-sam" / "samlocal-test") as local:  # not make sam-local's env.json
        yield Built(local, local.build())


def invoke(built: Built, name: str, template: Path | None = None) -> dict[str, Any]:
    return built.local.invoke(FUNCTIONS[name], EVENTS / f"{name}.json", template or built.template, app=EVENT_ORIGIN)


def _broken_copy(built: Built, name: str, breakage: Callable[[dict[str, Any]], None]) -> Path:
    """The built template with one thing broken, next to it (its CodeUris are relative)."""
    template = load_template(built.template)
    breakage(template)
    path = built.template.parent / f"broken-{name}.yaml"
    path.write_text(json.dumps(template))  # JSON is YAML
    return path


def unbuilt_layer(template: dict[str, Any]) -> None:
    """The layer's source folder as it is (``hitkey_bff/`` at the top, no dependencies) instead
    of what ``sam build`` makes of it (``python/hitkey_bff``, ``python/httpx``, ...). Under a
    logical id of its own: SAM names its container image after the layers' ids, not their
    contents, so a concurrent invoke of the good template would otherwise get this layer."""
    layer = json.loads(json.dumps(template["Resources"].pop("BffLayer")))
    layer["Properties"]["ContentUri"] = str(ROOT / "layers" / "bff")
    layer.pop("Metadata", None)  # SamResourceId would name it BffLayer again
    template["Resources"]["UnbuiltBffLayer"] = layer
    template["Globals"]["Function"]["Layers"] = [{"Ref": "UnbuiltBffLayer"}]


def no_session_table(template: dict[str, Any]) -> None:
    """SESSION_TABLE no longer declared (env.json still sets it: SAM passes only declared ones)."""
    del template["Globals"]["Function"]["Environment"]["Variables"]["SESSION_TABLE"]


BREAKAGES = {"layer": unbuilt_layer, "env": no_session_table}


@pytest.fixture(scope="module")
def invoked(built: Built) -> dict[str, dict[str, Any]]:
    """``sam local invoke`` of the six events, and of the session event against each broken copy
    of the built template - three at a time (each invoke builds its container)."""
    jobs: dict[str, tuple[str, Path | None]] = {name: (name, None) for name in FUNCTIONS}
    for broken, breakage in BREAKAGES.items():
        jobs[f"broken-{broken}"] = ("session", _broken_copy(built, broken, breakage))
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = pool.map(lambda job: invoke(built, job[0], job[1]), jobs.values())
        return dict(zip(jobs, results, strict=True))


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_sam_local_invoke_each_event(invoked: dict[str, dict[str, Any]], name: str) -> None:
    assert problem(name, invoked[name]) is None


def test_broken_layer_layout_is_caught(invoked: dict[str, dict[str, Any]]) -> None:
    """/opt/hitkey_bff is not on Lambda's path: every handler fails to import, and the same check
    that passes the good build says so."""
    response = invoked["broken-layer"]
    assert problem("session", response) is not None
    assert response.get("errorType") == "Runtime.ImportModuleError", response
    assert "hitkey_bff" in response.get("errorMessage", ""), response


def test_missing_environment_variable_is_caught(invoked: dict[str, dict[str, Any]]) -> None:
    """Without SESSION_TABLE the route answers 503 missing_config, not the stranger's 200."""
    response = invoked["broken-env"]
    assert problem("session", response) is not None
    assert response["statusCode"] == 503 and body(response)["error"] == "missing_config", response


# The whole flow through `sam local start-api`
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def api(built: Built) -> Iterator[str]:
    with built.local.start_api(built.template):
        yield built.local.app


def cookie_from(response: httpx.Response, name: str) -> str:
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(name + "="):
            return header.split(";", 1)[0]
    pytest.fail(f"no {name} cookie in {response.status_code} {response.headers} {response.text[:300]}")


def test_whole_flow_through_start_api(built: Built, api: str) -> None:
    """Login -> the emulator's sign-in page (on 127.0.0.1, as a browser sees it) -> callback ->
    session, userinfo, refresh, userinfo, logout - every Lambda calling moto and HitKey by name."""
    client = httpx.Client(timeout=120)
    login = client.get(f"{api}/auth/login", params={"return_to": "/signed-in"})
    assert login.status_code == 302, login.text
    login_cookie = cookie_from(login, SESSION + "-login")
    authorize = login.headers["location"]
    assert authorize.startswith(f"{built.local.hitkey}/?")
    page = client.get(authorize)
    assert page.status_code == 200 and "Sign in" in page.text
    form = {k: v[0] for k, v in parse_qs(urlsplit(authorize).query).items()}
    decision = client.post(authorize.split("?")[0], data={**form, "decision": "allow"})
    assert decision.status_code in (302, 303)
    assert decision.headers["location"].startswith(f"{api}/auth/callback?")
    # httpx never sends Secure cookies over plain http: send the header as the browser would.
    callback = client.get(decision.headers["location"], headers={"cookie": login_cookie})
    assert callback.status_code == 302 and callback.headers["location"] == f"{api}/signed-in", callback.text
    headers = {"cookie": cookie_from(callback, SESSION), "x-csrf": "1", "origin": api}

    session = client.get(f"{api}/auth/session", headers=headers)
    assert session.json()["authenticated"] is True and session.json()["user"]["name"] == "Ada Lovelace"
    assert client.get(f"{api}/auth/userinfo", headers=headers).json()["email"] == "ada@example.com"
    refreshed = client.post(f"{api}/auth/refresh", headers=headers)
    assert refreshed.status_code == 200 and refreshed.json()["expires_at"] > time.time()
    assert client.get(f"{api}/auth/userinfo", headers=headers).status_code == 200
    assert client.post(f"{api}/auth/logout", headers=headers).status_code == 204
    assert client.get(f"{api}/auth/session", headers=headers).json() == {"authenticated": False}
    assert client.get(f"{api}/auth/userinfo", headers=headers).status_code == 401


def test_sam_request_log_is_redacted() -> None:
    """SAM's werkzeug logs every query string: the OAuth code and state must not reach the terminal."""
    line = '127.0.0.1 - - "GET /auth/callback?code=hkac_x-1&state=jVK_2 HTTP/1.1" 302 -'
    assert redact(line) == '127.0.0.1 - - "GET /auth/callback?code=<redacted>&state=<redacted> HTTP/1.1" 302 -'
    assert redact("GET /auth/session HTTP/1.1") == "GET /auth/session HTTP/1.1"
