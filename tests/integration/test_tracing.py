"""Tracing (hitkey_bff.tracing): off, a Lambda process never imports the X-Ray SDK; on, it sends
the handler, its AWS calls and its HitKey calls to the X-Ray daemon.

Each case is a fresh process (a cold start) that imports a function's handler and serves one
event against moto's server and the HitKey emulator, as a Lambda would: ``LAMBDA_TASK_ROOT`` is
set, so Powertools does not switch tracing off on its own. The "daemon" is a UDP socket on
loopback, which is what ``AWS_XRAY_DAEMON_ADDRESS`` points the SDK at on Lambda too.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.emulator.users import SEEDED_USERS
from testkit.browser import Browser
from tests.conftest import CLIENT_SECRET
from tests.harness import Bff
from tests.integration.test_refresh_race import moto_server, warm_bff

pytestmark = pytest.mark.integration
__all__ = ["moto_server", "warm_bff"]  # the fixtures, shared with test_refresh_race
ROOT = Path(__file__).resolve().parents[2]
SESSION = "__Host-Http-hitkey-session"
TRACE_ID = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"

# The measured process: one cold start, one event; it reports what it imported.
CHILD = r"""
import json, sys
from local.apigw.event import build_event
from local.lambda_runtime import LambdaContext
from testkit.functions import handler_for, routes
route, cookie = sys.argv[1], sys.argv[2]
handler, function = handler_for(route), routes()[route].logical_id
method, path = route.split(" ", 1)
event = build_event(method, path, headers={"x-csrf": "1"}, cookies=[cookie] if cookie else [], route_key=route)
status = handler(event, LambdaContext(function))["statusCode"]
imported = sorted(m for m in sys.modules if m.split(".")[0] == "aws_xray_sdk")
print(json.dumps({"status": status, "imported": imported}))
"""


@pytest.fixture
def stack(moto_server: dict[str, str]) -> dict[str, str]:
    """moto in server mode and the BFF's environment pointing at it and the emulator."""
    return moto_server


@pytest.fixture
def daemon() -> Iterator[socket.socket]:
    """A UDP socket standing in for the X-Ray daemon."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    try:
        yield sock
    finally:
        sock.close()


def signed_in_cookie(warm_bff: Bff) -> str:
    browser = Browser(warm_bff.invoke)
    browser.sign_in(SEEDED_USERS[0].sub)
    return f"{SESSION}={browser.jar[SESSION]}"


def cold_start(env: dict[str, str], route: str, cookie: str, **extra: str) -> dict[str, Any]:
    full = {
        **os.environ,
        **env,
        "PYTHONPATH": str(ROOT),
        "LAMBDA_TASK_ROOT": str(ROOT / "functions"),
        "POWERTOOLS_METRICS_DISABLED": "true",
        **extra,
    }
    if "TRACING" not in extra:
        full.pop("TRACING", None)
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, route, cookie],
        cwd=ROOT,
        env=full,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def received(sock: socket.socket) -> list[dict[str, Any]]:
    """Every (sub)segment the "daemon" got: each datagram is a JSON header line, then the document."""
    out: list[dict[str, Any]] = []
    while True:
        try:
            data = sock.recv(65536)
        except TimeoutError:
            return out
        header, _, document = data.decode().partition("\n")
        assert json.loads(header) == {"format": "json", "version": 1}
        out.append(json.loads(document))


def flatten(segments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every segment and nested subsegment."""
    found: list[dict[str, Any]] = []
    stack = list(segments)
    while stack:
        seg = stack.pop()
        found.append(seg)
        stack += seg.get("subsegments", [])
    return found


@pytest.mark.parametrize("tracing", [None, "false", "off"])
def test_tracing_off_imports_no_tracing_sdk(
    warm_bff: Bff, stack: dict[str, str], tracing: str | None, daemon: socket.socket
) -> None:
    cookie = signed_in_cookie(warm_bff)
    extra = {} if tracing is None else {"TRACING": tracing}
    address = f"127.0.0.1:{daemon.getsockname()[1]}"
    result = cold_start(stack, "GET /auth/userinfo", cookie, AWS_XRAY_DAEMON_ADDRESS=address, **extra)
    assert result["status"] == 200
    assert result["imported"] == []
    assert received(daemon) == []


def test_tracing_on_traces_the_handler_aws_and_hitkey(
    warm_bff: Bff, stack: dict[str, str], daemon: socket.socket
) -> None:
    cookie = signed_in_cookie(warm_bff)
    address = f"127.0.0.1:{daemon.getsockname()[1]}"
    result = cold_start(
        stack,
        "GET /auth/userinfo",
        cookie,
        TRACING="true",
        AWS_XRAY_DAEMON_ADDRESS=address,
        _X_AMZN_TRACE_ID=TRACE_ID,
    )
    assert result["status"] == 200
    assert "aws_xray_sdk.core" in result["imported"]
    segments = flatten(received(daemon))
    seen = {seg["name"] for seg in segments}
    assert "## userinfo" in seen, seen  # the handler
    assert {"dynamodb", "kms"} <= seen, seen  # botocore patched: the session read, the token decrypt
    urls = [seg["http"]["request"]["url"] for seg in segments if "url" in seg.get("http", {}).get("request", {})]
    assert any(url.startswith(stack["HITKEY_API_URL"]) for url in urls), urls  # httpx patched: HitKey's userinfo
    text = json.dumps(segments)
    assert cookie.split("=", 1)[1] not in text, "the session cookie reached the trace"
    assert CLIENT_SECRET not in text
