"""The timing benchmarks run to the end: every variant answers as it should on a warm "Lambda"
(each raises on an unexpected status), without asserting anything about time."""

from __future__ import annotations

from bench import proxy, warm


def test_warm_bench_runs_every_handler_and_part() -> None:
    result = warm.measure(calls=2, rounds=2)
    assert {warm.REFERENCE, *warm.PARTS, "session", "callback", "refresh", "logout"} <= set(result.cpu)
    assert result.calls == 2


def test_proxy_bench_runs_both_variants() -> None:
    cpu, wall = proxy.measure(calls=2, rounds=2)
    assert set(cpu) == set(wall) == {proxy.DIRECT, proxy.PROXIED}
