"""make run's sample API wiring: the proxy's ``demo`` upstream unless API_UPSTREAMS is set."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import httpx
import pytest

from local.emulator import Emulator
from local.stack import Stack, start_sample_api

pytestmark = pytest.mark.integration


@pytest.fixture
def stack() -> Iterator[Stack]:
    running = Stack()
    emulator = Emulator()
    emulator.start()
    running.stops.append(emulator.stop)
    running.emulator = emulator
    yield running
    running.stop()


def test_sample_api_becomes_the_demo_upstream(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_UPSTREAMS", "")  # unset for make run; monkeypatch restores what was there
    start_sample_api(stack, 0)
    upstreams = json.loads(os.environ["API_UPSTREAMS"])
    assert list(upstreams) == ["demo"] and upstreams["demo"].startswith("http://127.0.0.1:")
    assert httpx.get(upstreams["demo"] + "/x", timeout=5).status_code == 401  # it is listening there


def test_api_upstreams_in_the_environment_wins(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    mine = '{"notes": "http://127.0.0.1:8123"}'
    monkeypatch.setenv("API_UPSTREAMS", mine)
    before = len(stack.stops)
    start_sample_api(stack, 0)
    assert os.environ["API_UPSTREAMS"] == mine
    assert len(stack.stops) == before  # no sample API started
