"""The timing benchmarks run to the end: every variant answers as it should on a warm "Lambda"
(each raises on an unexpected status), without asserting anything about time."""

from __future__ import annotations

from bench import journey, proxy, warm


def test_warm_bench_runs_every_handler_and_part() -> None:
    result = warm.measure(calls=2, rounds=2)
    assert {warm.REFERENCE, *warm.PARTS, "session", "callback", "refresh", "logout"} <= set(result.cpu)
    assert result.calls == 2


def test_proxy_bench_runs_both_variants() -> None:
    cpu, wall = proxy.measure(calls=2, rounds=2)
    assert set(cpu) == set(wall) == {proxy.DIRECT, proxy.PROXIED}


def test_journey_bench_runs_both_layouts() -> None:
    """A first visit's nine requests answer as they should on both layouts; counts, not times:
    two functions start on the template's layout, one per route module on the other."""
    result = journey.measure(reps=1, per_route=False, progress=False)
    assert result.functions_started(journey.TWO) == 2
    assert result.functions_started(journey.PER_ROUTE) == 8
    for layout in journey.LAYOUTS:
        (run,) = result.journeys[layout]
        assert [step.route for step in run] == [route for route, *_ in journey.JOURNEY]
        assert all(step.cpu_s > 0 for step in run)
