"""``make run`` as a user meets it: start it, sign in over real HTTP through the emulator's page,
use every route, press Ctrl-C, and check that nothing is left running."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from local.console import free_port
from testkit.processes import stop_group
from tests.harness import SESSION

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Running:
    process: subprocess.Popen[str]
    app: str
    ready_line: str


def start_stack(port: int, **extra_env: str) -> subprocess.Popen[str]:
    mine = ("APP_ORIGIN", "SPA_DIR", "API_UPSTREAMS", "MOTO_PORT", "SAMPLE_API_PORT")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "HITKEY_")) and k not in mine}
    env.update(PORT=str(port), **extra_env)
    return subprocess.Popen(
        ["make", "--no-print-directory", "run", f"PYTHON={sys.executable}", f"VENV={Path(sys.prefix)}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def wait_ready(process: subprocess.Popen[str], timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if "ready" in line:
            return line
        if not line and process.poll() is not None:
            pytest.fail(f"make run exited {process.returncode}: {process.stderr.read() if process.stderr else ''}")
    pytest.fail("make run did not print its ready line in time")


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def stack() -> Iterator[Running]:
    port = free_port()
    process = start_stack(port)
    try:
        line = wait_ready(process)
        yield Running(process, f"http://localhost:{port}", line)
    finally:
        stop_group(process)


def cookie_from(response: httpx.Response, name: str) -> str:
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(name + "="):
            return header.split(";", 1)[0]
    pytest.fail(f"no {name} cookie set")


def sign_in(app: str, who: str = "f089f571-5f10-4429-a4a0-e87a142f62ca") -> tuple[str, httpx.Response]:
    """Login -> HitKey's page -> form -> callback, as a browser would; returns the session cookie."""
    login = httpx.get(f"{app}/auth/login", params={"return_to": "/signed-in"})
    assert login.status_code == 302
    login_cookie = cookie_from(login, SESSION + "-login")
    authorize = login.headers["location"]
    page = httpx.get(authorize)
    assert page.status_code == 200 and "Sign in" in page.text
    form = {k: v[0] for k, v in parse_qs(urlsplit(authorize).query).items()}
    decision = httpx.post(authorize.split("?")[0], data={**form, "decision": "allow", "sub": who})
    assert decision.status_code in (302, 303)
    callback_url = decision.headers["location"]
    assert callback_url.startswith(f"{app}/auth/callback?")
    # httpx never sends Secure cookies over plain http: send the header as the browser would.
    callback = httpx.get(callback_url, headers={"cookie": login_cookie})
    assert callback.status_code == 302 and callback.headers["location"] == f"{app}/signed-in"
    return cookie_from(callback, SESSION), callback


def test_full_flow_over_http_then_ctrl_c_leaves_nothing(stack: Running) -> None:
    assert re.search(r"open http://localhost:\d+/", stack.ready_line)
    app = stack.app
    assert "Sign in with HitKey" in httpx.get(f"{app}/").text  # the demo SPA
    cookie, _ = sign_in(app)
    headers = {"cookie": cookie, "x-csrf": "1", "origin": app}
    session = httpx.get(f"{app}/auth/session", headers=headers).json()
    assert session["authenticated"] is True and session["user"]["name"] == "Ada Lovelace"
    assert httpx.get(f"{app}/auth/userinfo", headers=headers).json()["email"] == "ada@example.com"
    # The API proxy: the demo SPA's api("demo", "/hello") reaches the sample API with Ada's token.
    hello = httpx.get(f"{app}/api/demo/hello", headers={**headers, "authorization": "Bearer forged"})
    assert hello.status_code == 200, hello.text
    assert hello.json()["name"] == "Ada Lovelace" and hello.json()["path"] == "/hello"
    assert (
        "set-cookie" not in hello.headers and hello.headers["cache-control"] == "no-store, private"
    )  # a per-user answer is never shared-cacheable
    assert httpx.get(f"{app}/api/demo/hello", headers={"x-csrf": "1", "origin": app}).status_code == 401
    refreshed = httpx.post(f"{app}/auth/refresh", headers=headers)
    assert refreshed.status_code == 200 and refreshed.json()["expires_at"] > time.time()
    assert httpx.get(f"{app}/auth/userinfo", headers=headers).status_code == 200
    assert httpx.post(f"{app}/auth/logout", headers=headers).status_code == 204
    assert httpx.get(f"{app}/auth/session", headers=headers).json() == {"authenticated": False}
    assert httpx.get(f"{app}/auth/userinfo", headers=headers).status_code == 401

    os.killpg(stack.process.pid, signal.SIGINT)  # Ctrl-C
    assert stack.process.wait(timeout=20) in (0, 130, -signal.SIGINT, 2)
    deadline = time.monotonic() + 10
    while group_alive(stack.process.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not group_alive(stack.process.pid), "make run left processes behind"
    port = int(urlsplit(app).port or 0)
    with socket.socket() as probe:
        # werkzeug closes each connection itself, so its side may sit in TIME_WAIT: a restarted
        # server binds with SO_REUSEADDR (local.httpserver does), and so does this probe.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))  # the port is free again


def test_port_in_use_is_a_clear_message() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        process = start_stack(port)
        _, err = process.communicate(timeout=60)
    assert process.returncode != 0
    assert f"port {port} (the app) is already in use" in err and "PORT=" in err
    assert "Traceback" not in err


# ---------------------------------------------------------------------------------------------
# make run for your app, and the sample API
# ---------------------------------------------------------------------------------------------


def test_app_origin_points_sign_in_at_your_dev_server() -> None:
    port, dev = free_port(), free_port()
    bff, app = f"http://localhost:{port}", f"http://localhost:{dev}"
    process = start_stack(port, APP_ORIGIN=app)
    try:
        line = wait_ready(process)
        assert f"open {app}/" in line and f"proxy /auth and /api to the BFF at {bff}" in line
        # The dev server proxies /auth to the BFF: the browser's requests reach it with the app's origin.
        login = httpx.get(f"{bff}/auth/login", params={"return_to": "/deep/link"})
        login_cookie = cookie_from(login, SESSION + "-login")
        authorize = login.headers["location"]
        assert parse_qs(urlsplit(authorize).query)["redirect_uri"] == [f"{app}/auth/callback"]
        assert httpx.get(authorize).status_code == 200  # the emulator knows that redirect URI
        form = {k: v[0] for k, v in parse_qs(urlsplit(authorize).query).items()}
        decision = httpx.post(authorize.split("?")[0], data={**form, "decision": "allow"})
        callback = urlsplit(decision.headers["location"])
        assert f"{callback.scheme}://{callback.netloc}{callback.path}" == f"{app}/auth/callback"
        landed = httpx.get(f"{bff}/auth/callback?{callback.query}", headers={"cookie": login_cookie})
        assert landed.status_code == 302 and landed.headers["location"] == f"{app}/deep/link"
        cookie = cookie_from(landed, SESSION)

        refreshed = httpx.post(f"{bff}/auth/refresh", headers={"cookie": cookie, "x-csrf": "1", "origin": app})
        assert refreshed.status_code == 200
        other = httpx.post(f"{bff}/auth/refresh", headers={"cookie": cookie, "x-csrf": "1", "origin": bff})
        assert other.status_code == 403  # only APP_ORIGIN is accepted
        preflight = httpx.options(
            f"{bff}/auth/refresh", headers={"origin": app, "access-control-request-method": "POST"}
        )
        assert preflight.status_code == 204 and preflight.headers["access-control-allow-origin"] == app
    finally:
        stop_group(process)


def test_spa_dir_sample_api_and_127_0_0_1(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<!doctype html><title>team app</title>", encoding="utf-8")
    port, api_port = free_port(), free_port()
    process = start_stack(port, SPA_DIR=str(tmp_path), SAMPLE_API_PORT=str(api_port))
    try:
        wait_ready(process)
        app = f"http://localhost:{port}"
        for path in ("/", "/projects/7/settings"):
            page = httpx.get(app + path)
            assert page.status_code == 200 and page.text == "<!doctype html><title>team app</title>", path
        api = httpx.get(f"{app}/auth/session", headers={"x-csrf": "1", "origin": app})
        assert api.headers["content-type"].startswith("application/json")  # /auth is the BFF, not index.html
        moved = httpx.get(f"http://127.0.0.1:{port}/projects/7?tab=a%2Fb")
        assert moved.status_code == 302 and moved.headers["location"] == f"{app}/projects/7?tab=a%2Fb"
        sample = httpx.get(f"http://127.0.0.1:{api_port}/anything", headers={"authorization": "Bearer nope"})
        assert sample.status_code == 401 and sample.json()["error"] == "invalid_token"
    finally:
        err = stop_group(process)
    assert f"sample API on http://127.0.0.1:{api_port}" in err


def test_api_upstreams_from_the_environment_is_honoured() -> None:
    port, api_port = free_port(), free_port()
    process = start_stack(port, API_UPSTREAMS='{"mine": "http://127.0.0.1:9"}', SAMPLE_API_PORT=str(api_port))
    try:
        wait_ready(process)
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{api_port}/")  # no sample API in the way
    finally:
        err = stop_group(process)
    assert "API_UPSTREAMS from the environment" in err


def run_stack_module(**env: str) -> subprocess.CompletedProcess[str]:
    mine = ("APP_ORIGIN", "SPA_DIR", "API_UPSTREAMS", "PORT", "MOTO_PORT", "SAMPLE_API_PORT")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "HITKEY_")) and k not in mine}
    return subprocess.run(
        [sys.executable, "-m", "local.stack"],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("missing", ["HITKEY_CLIENT_SECRET", "HITKEY_API_URL"])
def test_three_of_four_hitkey_variables_is_an_error_naming_the_missing_one(missing: str) -> None:
    values = {
        "HITKEY_AUTHORIZE_URL": "https://hitkey.io/",
        "HITKEY_API_URL": "https://api.hitkey.io",
        "HITKEY_CLIENT_ID": "id",
        "HITKEY_CLIENT_SECRET": "secret",
    }
    del values[missing]
    result = run_stack_module(PORT=str(free_port()), **values)
    assert result.returncode != 0
    assert f"{missing} not set" in result.stderr
    assert "Traceback" not in result.stderr and "moto" not in result.stderr  # refused before starting anything
    assert "secret" not in result.stderr.replace("HITKEY_CLIENT_SECRET", "")


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"PORT": "0"}, "PORT=0 is not allowed"),
        ({"HITKEY_EMULATOR_PORT": "{port}"}, "PORT={port} and HITKEY_EMULATOR_PORT={port}"),
        ({"MOTO_PORT": "{port}"}, "PORT={port} and MOTO_PORT={port}"),
        ({"PORT": "70000"}, "PORT=70000 is not a port number"),
    ],
)
def test_port_mistakes_are_one_line_errors(variables: dict[str, str], expected: str) -> None:
    port = str(free_port())
    env = {"PORT": port, **{k: v.format(port=port) for k, v in variables.items()}}
    result = run_stack_module(**env)
    assert result.returncode != 0
    assert expected.format(port=port) in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
