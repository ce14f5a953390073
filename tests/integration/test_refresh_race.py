"""Refresh single-flight across Lambdas: many requests on one session whose access token has
expired, from threads and from separate processes, against moto's server -> exactly one refresh
at HitKey, every request answered, the session intact."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.server import ThreadedMotoServer
from werkzeug.serving import make_server

from hitkey_bff.config import settings_from
from local.console import free_port
from local.emulator import Emulator
from local.emulator.users import SEEDED_USERS
from local.resources import create_resources
from testkit.browser import Browser
from tests.conftest import APP_ORIGIN, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI
from tests.harness import SESSION, Bff, body

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
THREADS, PROCESSES = 10, 10


class AtomicMotoServer(ThreadedMotoServer):
    """moto's server, one request at a time. DynamoDB applies each conditional write atomically;
    moto's threaded server does not (it reads, checks and writes an item without a lock), so two
    racing leases could both pass their condition - a race in the double, not in DynamoDB."""

    def _server_entry(self) -> None:
        app = DomainDispatcherApplication(create_backend_app)
        lock = threading.Lock()

        def serial(environ: dict[str, Any], start_response: Any) -> list[bytes]:
            with lock:
                return list(app(environ, start_response))

        self._server = make_server(self._ip_address, self._port, serial, True)
        self._server_ready_event.set()
        self._server.serve_forever()


@pytest.fixture
def moto_server(monkeypatch: pytest.MonkeyPatch, emulator: Emulator) -> Iterator[dict[str, str]]:
    """moto in server mode and the BFF's full environment pointing at it and the emulator."""
    port = free_port()
    server = AtomicMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
        made = create_resources(boto3.Session(), CLIENT_SECRET, prefix=f"race-{port}")
        env = {
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
            "HITKEY_AUTHORIZE_URL": emulator.authorize_url,
            "HITKEY_API_URL": emulator.base_url,
            "HITKEY_CLIENT_ID": CLIENT_ID,
            "HITKEY_CLIENT_SECRET_ARN": made.secret_id,
            "REDIRECT_URI": REDIRECT_URI,
            "APP_ORIGIN": APP_ORIGIN,
            "SESSION_TABLE": made.table,
            "KMS_KEY_ID": made.key_id,
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        emulator.reset()
        yield env
    finally:
        server.stop()


@pytest.fixture
def warm_bff(moto_server: dict[str, str]) -> Bff:
    """The BFF on the moto server's resources: one warm process, whose threads share it."""
    return Bff(settings_from(dict(os.environ)))


def expire_access_token(table: str) -> None:
    client = boto3.client("dynamodb")
    for item in client.scan(TableName=table)["Items"]:
        if item["pk"]["S"].startswith("USER#"):
            client.update_item(
                TableName=table,
                Key={"pk": item["pk"], "sk": item["sk"]},
                UpdateExpression="SET at_exp = :z",
                ExpressionAttributeValues={":z": {"N": "1"}},
            )


def session_item(table: str) -> dict[str, object]:
    items = boto3.client("dynamodb").scan(TableName=table)["Items"]
    (item,) = [i for i in items if i["pk"]["S"].startswith("USER#")]
    return item  # type: ignore[return-value]


def workers(env: dict[str, str], route: str, cookie: str, count: int, start_at: float) -> list[subprocess.Popen[str]]:
    full = {**os.environ, **env, "PYTHONPATH": str(ROOT), "POWERTOOLS_METRICS_DISABLED": "true"}
    return [
        subprocess.Popen(
            [sys.executable, "-m", "tests.integration.lambda_worker", route, cookie, str(start_at)],
            cwd=ROOT,
            env=full,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]


def race(warm_bff: Bff, env: dict[str, str], emulator: Emulator, routes: list[str]) -> tuple[list[int], str]:
    """Sign in, expire the token, fire ``routes`` (threads) and ``PROCESSES`` userinfo processes."""
    browser = Browser(warm_bff.invoke)
    browser.sign_in(SEEDED_USERS[0].sub)
    cookie = f"{SESSION}={browser.jar[SESSION]}"
    emulator.expire_access_tokens()
    expire_access_token(env["SESSION_TABLE"])
    emulator.reset_counters()
    emulator.inject_fault("token", "delay", count=1, seconds=1.0)  # a slow HitKey widens the race
    start_at = time.time() + 4.0  # time for every process to import its handler
    procs = workers(env, "GET /auth/userinfo", cookie, PROCESSES, start_at)

    def one(route: str) -> int:
        time.sleep(max(0.0, start_at - time.time()))
        return int(browser.call(route)["statusCode"])

    with ThreadPoolExecutor(len(routes)) as pool:
        statuses = list(pool.map(one, routes))
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        statuses.append(int(out.strip().splitlines()[-1]))
    return statuses, cookie


def test_twenty_concurrent_userinfo_refresh_once(
    warm_bff: Bff, moto_server: dict[str, str], emulator: Emulator
) -> None:
    statuses, _ = race(warm_bff, moto_server, emulator, ["GET /auth/userinfo"] * THREADS)
    assert statuses == [200] * (THREADS + PROCESSES)
    assert emulator.counters.get("token.refresh_token") == 1
    item = session_item(moto_server["SESSION_TABLE"])
    assert item["version"] == {"N": "2"} and "lease_owner" not in item


def test_refresh_and_userinfo_racing_like_two_tabs(
    warm_bff: Bff, moto_server: dict[str, str], emulator: Emulator
) -> None:
    routes = ["POST /auth/refresh", "GET /auth/userinfo"] * 5
    statuses, cookie = race(warm_bff, moto_server, emulator, routes)
    assert statuses == [200] * (len(routes) + PROCESSES)
    assert emulator.counters.get("token.refresh_token") == 1
    browser = Browser(warm_bff.invoke, jar={SESSION: cookie.split("=", 1)[1]})
    assert browser.call("GET /auth/userinfo")["statusCode"] == 200
    assert body(browser.call("POST /auth/refresh"))["expires_at"] > time.time()
    assert emulator.counters.get("token.refresh_token") == 2  # the rotated token still works
