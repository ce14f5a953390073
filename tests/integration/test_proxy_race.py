"""The API proxy's refresh single-flight: 20 proxied calls on one session whose access token has
expired - 10 threads of one warm process and 10 separate processes, against moto's server, to
local/sample_api.py (which accepts only the emulator's live tokens) -> exactly one refresh grant
at HitKey, 20 x 200 from the upstream, the session intact."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from local.emulator import SEEDED_USERS, Emulator
from local.gateway import build_event
from local.sample_api import SampleApi
from tests.harness import SESSION, Browser, current
from tests.integration.test_refresh_race import ROOT, expire_access_token, moto_server, session_item

pytestmark = pytest.mark.integration
__all__ = ["moto_server"]  # the fixture, shared with test_refresh_race
PROXY = "ANY /api/{upstream}/{proxy+}"
THREADS, PROCESSES = 10, 10


class CountingApi(SampleApi):
    """The sample API, counting the requests it answers by status."""

    def __init__(self, emulator: Emulator) -> None:
        super().__init__(emulator.provider)
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
    moto_server: dict[str, str], emulator: Emulator, sample: CountingApi
) -> None:
    browser = Browser()
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
        return int(current().invoke(PROXY, event)["statusCode"])

    current().handler(PROXY)  # imported once, before the threads (the warm process's handler)
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
