"""Every benchmark runs to the end: each ``python -m bench.<name> --brief`` as ``make bench`` runs
it, only shorter. Every variant answers as it should (the benches raise on an unexpected status);
nothing is asserted about time."""

from __future__ import annotations

import re

import pytest

from bench import calls, coldstart, cost, journey, proxy, warm
from testkit.functions import routes

ROUTE_NAMES = sorted({r.name for r in routes().values()})


def test_warm_bench_runs_every_handler_and_part() -> None:
    result = warm.measure(calls=2, rounds=2)
    assert {warm.REFERENCE, *warm.PARTS, "session", "callback", "refresh", "logout"} <= set(result.cpu)
    assert result.calls == 2


def test_proxy_bench_runs_both_variants() -> None:
    cpu, wall = proxy.measure(calls=2, rounds=2)
    assert set(cpu) == set(wall) == {proxy.DIRECT, proxy.PROXIED}


def _row_names(report: str) -> set[str]:
    """The first cell of every Markdown table row of a bench's report."""
    return {m[1].strip() for m in re.finditer(r"^\| ([^|]+)\|", report, re.MULTILINE)}


def test_coldstart_bench_serves_a_first_event_on_every_route(capsys: pytest.CaptureFixture[str]) -> None:
    """A fresh interpreter per function, with the Lambda context's time left taken from the
    template: each first event answers its expected status (a refresh needs the whole budget)."""
    assert coldstart.main(["--brief"]) == 0
    report = capsys.readouterr().out
    assert set(ROUTE_NAMES) <= {row.split(" (")[0] for row in _row_names(report)}, report
    assert coldstart.BASELINE in report


def test_calls_bench_runs_routes_proxy_and_both_mixed_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert calls.main(["--brief"]) == 0
    report = capsys.readouterr().out
    assert "burst: 50 back to back" in report and "spread: same mix" in report
    assert "KMS calls over 50 warm requests" in report


def test_warm_bench_main_prints_its_report(capsys: pytest.CaptureFixture[str]) -> None:
    assert warm.main(["--brief"]) == 0
    assert warm.REFERENCE in _row_names(capsys.readouterr().out)


def test_proxy_bench_main_prints_its_report(capsys: pytest.CaptureFixture[str]) -> None:
    assert proxy.main(["--brief"]) == 0
    assert {proxy.DIRECT, proxy.PROXIED} <= _row_names(capsys.readouterr().out)


def test_cost_bench_prices_a_brief_run(capsys: pytest.CaptureFixture[str]) -> None:
    assert cost.main(["--brief"]) == 0
    report = capsys.readouterr().out
    assert "$" in report and "Lambda INIT" in report


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
