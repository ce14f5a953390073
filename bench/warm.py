"""Warm invocations: the handlers' own time per request, as a ratio to a bare Powertools handler.

    python -m bench.warm [--calls 3000]

In-process, on a warm "Lambda" (caches filled by earlier calls): AWS is answered in memory at
the HTTP layer (``bench.common.FakeAws``: botocore still serializes, signs with SigV4 and parses
every call) and HitKey by an httpx ``MockTransport`` (httpx still builds and reads every
request), so what is timed is the BFF's CPU work per request - what Lambda bills beyond waiting
on the network. The reference is the least any Powertools-based handler does: an
``APIGatewayHttpResolver`` with one route returning a constant, called with the same event.

Variants run interleaved in rounds; per-call CPU time (``thread_time``) medians are reported
with wall-clock medians beside them. Below the handlers, the parts they are made of. The
benchmarked callback signs in a user who is at the session cap (20): each sign-in lists the
user's 20 sessions and ends the least recently used - the most a sign-in reads.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.common import (
    ROUTE_NAMES,
    TABLE,
    FakeAws,
    aws_env,
    environment,
    function_of,
    heading,
    interleaved,
    load_handler,
    quiet,
    seed,
    stub_deps,
    table,
)

REFERENCE = "bare Powertools APIGatewayHttpResolver (1 route, constant)"
PARTS = (
    "route() around a flow returning a constant",
    "1 DynamoDB GetItem via botocore (in-memory answer)",
    "1 HitKey userinfo via httpx (MockTransport)",
    "open 1 sealed token (HKDF + AES-GCM, data key cached)",
    "a dispatch table (2 routes) + route() around a flow returning a constant",
)
EXPECTED_STATUS = {"login": 302, "callback": 302, "session": 200, "userinfo": 200, "refresh": 200, "logout": 204}


def bare_handler() -> Callable[[dict[str, Any], Any], Any]:
    """The reference: Powertools' HTTP API resolver with one route that returns a constant."""
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

    app = APIGatewayHttpResolver()

    @app.get("/auth/session")
    def _session() -> dict[str, bool]:
        return {"authenticated": False}

    def handler(event: dict[str, Any], context: Any) -> Any:
        return app.resolve(event, context)

    return handler


@dataclass(frozen=True)
class Warm:
    """Per-call medians (seconds) per variant."""

    cpu: dict[str, float]
    wall: dict[str, float]
    calls: int

    def ratio(self, variant: str) -> float:
        return self.cpu[variant] / self.cpu[REFERENCE]


def _variants(fake: FakeAws) -> dict[str, Callable[[], Any]]:
    from hitkey_bff import sessions, vault
    from hitkey_bff.cookies import SessionKey
    from hitkey_bff.dispatch import Dispatch
    from hitkey_bff.http import json_response
    from hitkey_bff.route import route
    from local.lambda_runtime import LambdaContext

    deps = stub_deps(fake)
    seeded = seed(deps, fake)
    key = SessionKey.decode(seeded.session_cookie)
    assert key is not None
    found = sessions.load(deps, key)
    assert found is not None
    session_event = seeded.event("session")
    constant = route(lambda request, deps: json_response(200, {"authenticated": False})).using(deps)
    dispatched = Dispatch({"GET /auth/session": constant, "POST /auth/logout": constant}).using(deps)
    bare = bare_handler()
    # One context per function for the whole run (a fresh one per call would be timed too): its
    # clock must outlast the run, or refresh sees too little Lambda time left and defers (503).
    contexts = {name: LambdaContext(name, timeout_s=24 * 3600) for name in (*ROUTE_NAMES, "bare")}
    access_token = vault.access_token(deps, found)
    dynamodb_key = {"pk": {"S": f"USER#{key.sub}"}, "sk": {"S": f"SESSION#{key.session_hash}"}}

    def handler_call(function: str) -> Callable[[], Any]:
        """The route ``function`` through its function's dispatch table, as Lambda invokes it."""
        handler = load_handler(function_of(function)).using(deps)
        event, context = seeded.event(function), contexts[function]
        expected = EXPECTED_STATUS.get(function, 200)

        def call() -> Any:
            response = handler(event, context)
            if response["statusCode"] != expected:
                raise RuntimeError(f"{function} answered {response['statusCode']}: {response.get('body')}")
            return response

        return call

    variants: dict[str, Callable[[], Any]] = {
        REFERENCE: lambda: bare(session_event, contexts["bare"]),
        PARTS[0]: lambda: constant(session_event, contexts["session"]),
        PARTS[1]: lambda: deps.aws.dynamodb().get_item(TableName=TABLE, Key=dynamodb_key),
        PARTS[2]: lambda: deps.hitkey.userinfo(access_token),
        PARTS[3]: lambda: vault.access_token(deps, found),
        PARTS[4]: lambda: dispatched(session_event, contexts["session"]),
    }
    # The API proxy needs an upstream: its warm overhead is bench/proxy.py's.
    variants.update({function: handler_call(function) for function in ROUTE_NAMES if function != "api"})
    return variants


def measure(calls: int = 3000, rounds: int = 15) -> Warm:
    """``calls`` timed calls per variant, interleaved in ``rounds`` (after a warm-up that fills
    every cache: clients, data key, client secret)."""
    with environment(aws_env()), quiet():
        return Warm(*interleaved("warm calls", _variants(FakeAws()), calls, rounds))


def us(seconds: float) -> str:
    return f"{seconds * 1e6:,.0f}"


def print_report(result: Warm) -> None:
    heading(f"Warm invocations, in-process (median of {result.calls:,} calls each, CPU µs per call)")
    rows: list[list[object]] = []
    for name in (REFERENCE, "session", "userinfo", "login", "callback", "refresh", "logout"):
        rows.append([name, us(result.cpu[name]), f"{result.ratio(name):.2f}x", us(result.wall[name])])
    print(table(["handler", "CPU µs", "ratio", "wall µs"], rows, right=(1, 2, 3)))
    verdicts = ", ".join(
        f"{f} {result.ratio(f):.2f}x ({'met' if result.ratio(f) <= 3 else 'not met'})" for f in ("session", "userinfo")
    )
    print(f"\nTarget ≤ 3x the bare Powertools handler: {verdicts}.")
    own = {
        "session": result.cpu["session"] - result.cpu[PARTS[1]],
        "userinfo": result.cpu["userinfo"] - result.cpu[PARTS[1]] - result.cpu[PARTS[2]],
    }
    print(
        "By subtraction (an upper bound: the parts alone run hotter in the caches), everything but the "
        "botocore GetItem (and, for userinfo, the httpx call): "
        + ", ".join(f"{f} {us(t)} µs = {t / result.cpu[REFERENCE]:.2f}x" for f, t in own.items())
        + "."
    )
    heading("What a warm request is made of (CPU µs per call)")
    rows = [[name, us(result.cpu[name]), f"{result.ratio(name):.2f}x"] for name in PARTS]
    print(table(["part", "CPU µs", "ratio to the bare handler"], rows, right=(1, 2)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.warm", description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=3000, help="timed calls per variant (default 3000)")
    parser.add_argument(
        "--brief",
        action="store_true",
        help="two calls in two rounds: that it runs (make test)",
    )
    args = parser.parse_args(argv)
    print_report(measure(2, rounds=2) if args.brief else measure(args.calls))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
