"""The API proxy's refresh single-flight: 20 proxied calls on one session whose access token has
expired - 10 threads of one warm process and 10 separate processes, against moto's server, to
local/sample_api.py (which accepts only the emulator's live tokens) -> exactly one refresh grant
at HitKey, 20 x 200 from the upstream, the session intact. And an API that refuses every token,
called concurrently: one refresh grant per cooldown, not one per call."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from hitkey_bff.clock import SystemClock
from local.emulator import Emulator
from local.emulator.users import SEEDED_USERS
from local.gateway import build_event
from local.sample_api import SampleApi
from testkit.browser import Browser
from tests.harness import SESSION, Bff
from tests.integration.test_refresh_race import ROOT, expire_access_token, moto_server, session_item, warm_bff

pytestmark = pytest.mark.integration
__all__ = ["moto_server", "warm_bff"]  # the fixtures, shared with test_refresh_race
PROXY = "ANY /api/{upstream}/{proxy+}"
THREADS, PROCESSES = 10, 10


class CountingApi(SampleApi):
    """The sample API, counting the requests it answers by status."""

    def __init__(self, emulator: Emulator) -> None:
        super().__init__(emulator)
        self.statuses: Counter[str] = Counter()

    def wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        def recording(status: str, headers: Any, *rest: Any) -> Any:
            self.statuses[status.split(" ", 1)[0]] += 1
            return start_response(status, headers, *rest)

        return super().wsgi(environ, recording)


@pytest.fixture
def sample(moto_server: dict[str, str], emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[CountingApi]:
    api = CountingApi(emulator)
    url = api.start("127.0.0.1", 0)
    monkeypatch.setenv("API_UPSTREAMS", json.dumps({"demo": url}))
    moto_server["API_UPSTREAMS"] = json.dumps({"demo": url})
    try:
        yield api
    finally:
        api.stop()


def test_twenty_concurrent_proxy_calls_refresh_once(
    warm_bff: Bff, moto_server: dict[str, str], emulator: Emulator, sample: CountingApi
) -> None:
    browser = Browser(warm_bff.invoke)
    browser.sign_in(SEEDED_USERS[0].sub)
    cookie = f"{SESSION}={browser.jar[SESSION]}"
    emulator.expire_access_tokens()
    expire_access_token(moto_server["SESSION_TABLE"])
    emulator.reset_counters()
    emulator.inject_fault("token", "delay", count=1, seconds=1.0)  # a slow HitKey widens the race
    start_at = time.time() + 4.0  # time for every process to import its handler
    full = {**os.environ, **moto_server, "PYTHONPATH": str(ROOT), "POWERTOOLS_METRICS_DISABLED": "true"}
    command = [sys.executable, "-m", "tests.integration.lambda_worker", PROXY, cookie, str(start_at)]
    procs = [
        subprocess.Popen(
            [*command, "GET", "/api/demo/hello"],
            cwd=ROOT,
            env=full,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]

    def one(_: int) -> int:
        event = build_event("GET", "/api/demo/hello", headers={"x-csrf": "1"}, cookies=[cookie], route_key=PROXY)
        time.sleep(max(0.0, start_at - time.time()))
        return int(warm_bff.invoke(PROXY, event)["statusCode"])

    warm_bff.handler(PROXY)  # imported once, before the threads (the warm process's handler)
    with ThreadPoolExecutor(THREADS) as pool:
        statuses = list(pool.map(one, range(THREADS)))
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        statuses.append(int(out.strip().splitlines()[-1]))
    assert statuses == [200] * (THREADS + PROCESSES)
    assert emulator.counters.get("token.refresh_token") == 1
    assert sample.statuses == Counter({"200": THREADS + PROCESSES})  # never a call with the dead token
    item = session_item(moto_server["SESSION_TABLE"])
    assert item["version"] == {"N": "2"} and "lease_owner" not in item


class FrozenWallClock(SystemClock):
    """Wall time that stands still (every call is within one refresh cooldown); monotonic time
    and sleep are real, so the single-flight waiters poll as in Lambda."""

    def __init__(self) -> None:
        self.frozen = int(time.time())

    def now(self) -> int:
        return self.frozen


class RefusingApi(ThreadingHTTPServer):
    """An API that answers 401 to every request, counting them."""

    daemon_threads = True

    def __init__(self) -> None:
        self.refused = 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet: requests carry tokens
                pass

            def do_GET(self) -> None:
                with server.lock:
                    server.refused += 1
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Bearer error="invalid_token"')
                self.send_header("Content-Length", "0")
                self.end_headers()

        super().__init__(("127.0.0.1", 0), Handler)


@pytest.fixture
def refusing(moto_server: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[RefusingApi]:
    api = RefusingApi()
    thread = threading.Thread(target=api.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("API_UPSTREAMS", json.dumps({"refusing": f"http://127.0.0.1:{api.server_address[1]}"}))
    try:
        yield api
    finally:
        api.shutdown()
        api.server_close()


def test_concurrent_calls_to_an_api_that_always_answers_401_refresh_once(
    warm_bff: Bff, moto_server: dict[str, str], emulator: Emulator, refusing: RefusingApi
) -> None:
    """10 threads of one warm process, two calls each: the first wave's refusals share one
    refresh (the lease), the second wave's fall within the cooldown - one rotation in all."""
    bff = warm_bff
    bff.clock = FrozenWallClock()
    bff.cold()
    browser = Browser(warm_bff.invoke)
    browser.sign_in(SEEDED_USERS[0].sub)
    cookie = f"{SESSION}={browser.jar[SESSION]}"
    emulator.reset_counters()
    emulator.inject_fault("token", "delay", count=1, seconds=1.0)  # a slow HitKey widens the race
    start = threading.Barrier(THREADS)

    def two_calls(_: int) -> list[int]:
        event = build_event("GET", "/api/refusing/x", headers={"x-csrf": "1"}, cookies=[cookie], route_key=PROXY)
        start.wait()
        return [int(bff.invoke(PROXY, event)["statusCode"]) for _ in range(2)]

    bff.handler(PROXY)  # imported once, before the threads (the warm process's handler)
    with ThreadPoolExecutor(THREADS) as pool:
        statuses = [s for pair in pool.map(two_calls, range(THREADS)) for s in pair]
    assert statuses == [401] * (2 * THREADS)  # the API's own answer, passed through
    assert emulator.counters.get("token.refresh_token") == 1
    item = session_item(moto_server["SESSION_TABLE"])
    assert item["version"] == {"N": "2"} and "lease_owner" not in item
    assert item["refreshed_at"] == {"N": str(bff.clock.now())}
