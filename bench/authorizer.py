"""The BffSession authorizer: its calls, cold start, warm CPU and what a million authorized
requests cost with the authorizer cache off and at 60 s.

    python -m bench.authorizer [--reps 5] [--calls 2000]

* calls: the real handler on moto and the HitKey emulator, as :mod:`bench.calls` counts them
  (a fresh Lambda's ``Deps``, then the same one warm);
* cold start: fresh interpreters as :mod:`bench.coldstart` runs them (the same child script and
  stub server), interleaved with the floor (boto3 + a DynamoDB client) and the session function;
* warm CPU: ``process_time`` per invocation against the in-memory AWS of :mod:`bench.warm`;
* cost: :data:`bench.cost.PRICES` for the authorizer's own part of a request to a team's route
  (the HTTP API request and the team's function are paid with or without it).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from bench.calls import Calls, Meter, counts
from bench.common import (
    FUNCTIONS_DIR,
    LAYER_DIR,
    ROOT,
    AwsCalls,
    Browser,
    FakeAws,
    Fleet,
    Progress,
    aws_env,
    environment,
    heading,
    local_stack,
    median,
    quiet,
    seed,
    stub_deps,
    table,
)

FUNCTION = "authorizer"
TARGET = (1, 0, 0, 0, 0)
"""Steady state per authorization: 1 DynamoDB read, no write, 0 KMS, 0 Secrets Manager, 0 HitKey."""
MEMORY_MB = 512  # template.yaml's AuthorizerFunction
DYNAMODB_MS = 5.0  # as bench.cost assumes per DynamoDB call, in-region
REQUESTS_PER_USER_MINUTE = 6.0  # the cache model: an active user's calls to the team's routes


def event_for(cookie_name: str, cookie: str, origin: str) -> dict[str, Any]:
    """The authorizer event of one ``GET /api/me`` from the SPA."""
    from local.apigw.event import build_event
    from local.localapi import authorizer_event

    jar = f"{cookie_name}={cookie}"
    request = build_event("GET", "/api/me", headers={"x-csrf": "1", "origin": origin}, cookies=[jar])
    return authorizer_event(request, [jar, "1"])


@dataclass(frozen=True)
class AuthorizerCalls:
    cold: Calls
    warm: Calls


def measure_calls() -> AuthorizerCalls:
    """Calls of one authorization on a fresh Lambda, then on the same Lambda warm."""
    from bench.common import APP_ORIGIN
    from hitkey_bff.authorizer import Authorizer
    from local.lambda_runtime import LambdaContext

    aws = AwsCalls()
    with local_stack() as stack, quiet():
        fleet, meter = Fleet(stack.settings, hooks=[aws.hook]), Meter(aws, stack)
        browser = Browser(fleet.invoke)
        stack.sign_in(browser)
        name = stack.settings.cookie_name
        authorizer = Authorizer(fleet.deps())
        event = event_for(name, browser.jar[name], APP_ORIGIN)
        found: list[Calls] = []
        for _ in range(2):
            with meter.measure() as measured:
                answer = authorizer(event, LambdaContext("AuthorizerFunction"))
            if answer.get("isAuthorized") is not True:
                raise RuntimeError(f"the authorizer refused a live session: {answer}")
            found.append(measured())
    return AuthorizerCalls(found[0], found[1])


# -- cold start -------------------------------------------------------------------------------------


def _child(variant: str, url: str, event: dict[str, Any] | None) -> float:
    """CPU seconds of one fresh interpreter: import + first event (the function's or the floor's)."""
    from bench import coldstart

    script = coldstart.CHILD.replace(
        'status = response.get("statusCode")',
        'status = 200 if response.get("isAuthorized") is True else response.get("statusCode")',
    )
    mode, folder = ("function", FUNCTIONS_DIR / variant) if variant != coldstart.BASELINE else ("baseline", ROOT)
    command = [sys.executable, "-c", script, mode, str(folder), str(LAYER_DIR), coldstart.PHASE_MARK]
    done = subprocess.run(
        command, env=coldstart.child_env(url, variant, event), capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith(coldstart.RESULT_PREFIX)]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{variant}: the child failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result = json.loads(lines[-1][len(coldstart.RESULT_PREFIX) :])
    if result["status"] != 200:
        raise RuntimeError(f"{variant}: its first event answered {result['status']}")
    return float(result["total_s"])


def measure_cold(reps: int = 5) -> dict[str, float]:
    """Median CPU seconds to import and serve a first event: the floor, ``session``, the authorizer."""
    from bench import coldstart

    variants = [coldstart.BASELINE, "session", FUNCTION]
    runs: dict[str, list[float]] = {v: [] for v in variants}
    rng = random.Random(7)
    with coldstart.stub_server() as (url, seeded, _):
        events = {
            coldstart.BASELINE: None,
            "session": seeded.event("session"),
            FUNCTION: event_for(seeded.cookie_name, seeded.session_cookie, "https://app.example.com"),
        }
        for variant in variants:  # page cache and .pyc files; not counted
            _child(variant, url, events[variant])
        bar = Progress("authorizer cold starts", reps * len(variants))
        for rep in range(reps):
            order = variants[:]
            rng.shuffle(order)
            for i, variant in enumerate(order):
                runs[variant].append(_child(variant, url, events[variant]))
                bar.update(rep * len(variants) + i + 1)
        bar.close()
    return {variant: median(values) for variant, values in runs.items()}


# -- warm CPU --------------------------------------------------------------------------------------


def measure_warm(calls: int = 2000) -> dict[str, float]:
    """Median CPU seconds per warm invocation (in-memory AWS): the authorizer and ``session``."""
    from bench.common import load_handler
    from hitkey_bff.authorizer import Authorizer
    from local.lambda_runtime import LambdaContext

    fake = FakeAws()
    with environment(aws_env()), quiet():
        deps = stub_deps(fake)
        seeded = seed(deps, fake)
        handlers = {FUNCTION: Authorizer(deps), "session": load_handler("session").using(deps)}
        events = {
            FUNCTION: event_for(seeded.cookie_name, seeded.session_cookie, "https://app.example.com"),
            "session": seeded.event("session"),
        }
        per_call: dict[str, list[float]] = {name: [] for name in handlers}
        for _ in range(5):  # rounds, interleaved
            for name, handler in handlers.items():
                context = LambdaContext(name)
                handler(events[name], context)  # warm
                c0 = time.process_time()
                for _ in range(calls):
                    handler(events[name], context)
                per_call[name].append((time.process_time() - c0) / calls)
    return {name: median(values) for name, values in per_call.items()}


# -- cost ------------------------------------------------------------------------------------------


def cost_per_million(cpu_s: float, cache_seconds: int) -> dict[str, float]:
    """The authorizer's share of a million authorized requests, in dollars, by line."""
    from bench.cost import PRICES, cpu_scale

    if cache_seconds == 0:
        invocations = 1_000_000.0
    else:  # one invocation per active user per cache period, at REQUESTS_PER_USER_MINUTE
        invocations = 1_000_000.0 / max(1.0, REQUESTS_PER_USER_MINUTE * cache_seconds / 60)
    billed_ms = math.ceil(cpu_s * 1000 * cpu_scale(MEMORY_MB) + DYNAMODB_MS)
    return {
        "Lambda requests": invocations / 1e6 * PRICES["lambda_requests_per_million"],
        "Lambda duration": invocations * billed_ms / 1000 * MEMORY_MB / 1024 * PRICES["lambda_gb_second_arm64"],
        "DynamoDB reads": invocations / 1e6 * PRICES["dynamodb_rru_per_million"],  # 1 RRU: <= 4 KB, consistent
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.authorizer", description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=5, help="cold starts per variant (default 5)")
    parser.add_argument("--calls", type=int, default=2000, help="warm invocations per round (default 2000)")
    args = parser.parse_args(argv)
    from bench import coldstart

    found = measure_calls()
    heading("BffSession: calls per authorization")
    rows = [[when, *counts(c), c.operations()] for when, c in (("cold", found.cold), ("warm", found.warm))]
    headers = ["Lambda", "DynamoDB reads", "DynamoDB writes", "KMS", "Secrets Manager", "HitKey", "calls"]
    print(table(headers, rows, right=(1, 2, 3, 4, 5)))
    print(f"target (1 read, 0 KMS, 0 HitKey) met warm: {'yes' if counts(found.warm) == TARGET else 'no'}")

    cold = measure_cold(args.reps)
    heading("Cold start (CPU: import + first event, median)")
    floor = cold[coldstart.BASELINE]
    print(table(["", "ms", "x floor"], [[k, f"{v * 1000:.0f}", f"{v / floor:.2f}"] for k, v in cold.items()], (1, 2)))

    warm_cpu = measure_warm(args.calls)
    heading("Warm CPU per invocation (median, in-memory AWS)")
    print(table(["", "µs"], [[k, f"{v * 1e6:.0f}"] for k, v in warm_cpu.items()], right=(1,)))

    heading(f"The authorizer's cost per million authorized requests ({MEMORY_MB} MB arm64, us-east-1)")
    rows = []
    for ttl in (0, 60):
        lines = cost_per_million(warm_cpu[FUNCTION], ttl)
        rows.append([f"{ttl} s", *(f"${v:.3f}" for v in lines.values()), f"${sum(lines.values()):.3f}"])
    print(table(["AuthorizerCacheSeconds", "Lambda requests", "Lambda duration", "DynamoDB", "total"], rows))
    print(f"(60 s: {REQUESTS_PER_USER_MINUTE:g} requests per active user a minute share one invocation)")
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        raise SystemExit(main())
