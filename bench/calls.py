"""AWS and HitKey calls per route, cold and in steady state, and KMS calls over mixed traffic.

    python -m bench.calls [--mixed 10000] [--seed 7]

Everything runs in-process: the real handlers (``functions/<name>/app.py``), moto's
``mock_aws`` for DynamoDB, KMS and Secrets Manager, the HitKey emulator on loopback. Each
function runs as its own warm Lambda (:class:`bench.common.Fleet`: its own ``Deps`` - data keys,
the client secret, clients - as separate Lambda processes have). AWS calls are counted by a
``before-call`` hook on the botocore session each of those Lambdas creates its clients from;
HitKey calls by the emulator's counters (``token`` and ``userinfo``; the user's own visit to the
sign-in page is not the BFF's call).

* cold: before each step, that function gets a fresh Lambda: new ``Deps`` (new clients, empty
  data-key and secret caches);
* warm: the same steps again on Lambdas that have served them once (caches filled).

Mixed traffic: ``burst`` replays the requests back to back (one data-key lifetime, the issue's
"10,000 warm requests"); ``spread`` replays the same mix on a simulated clock at the average
rate of 2.02M requests a month (~0.78 req/s), so data keys and the cached client secret expire
as they would, and access tokens (1 h) expire and get refreshed.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from bench.common import (
    AwsCalls,
    Browser,
    Fleet,
    ManualClock,
    Progress,
    Stack,
    approve_at_hitkey,
    expect,
    heading,
    local_stack,
    quiet,
    table,
)

DYNAMODB_READS = frozenset({"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"})
DYNAMODB_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
HITKEY_CALLS = ("token", "userinfo")
HITKEY_DETAIL = ("token.authorization_code", "token.refresh_token", "userinfo")

MONTHLY_REQUESTS = 1_000_000 + 1_000_000 + 2 * 10_000
"""The cost workload: 1M session + 1M userinfo + 10k sign-ins (login + callback)."""
MONTH_SECONDS = 30 * 24 * 3600
SPREAD_RATE = MONTHLY_REQUESTS / MONTH_SECONDS

MIX = {"session": 0.47, "userinfo": 0.47, "refresh": 0.04, "login": 0.01, "logout": 0.01}
"""The mixed run: mostly session + userinfo, some refresh, a few sign-ins (login + callback) and sign-outs."""
COST_MIX = {"session": 0.4975, "userinfo": 0.4975, "login": 0.005}
"""The cost workload's mix (a sign-in is two requests: 10k sign-ins = 20k of 2.02M requests)."""


@dataclass(frozen=True)
class Calls:
    """The calls one request (or one run) made."""

    aws: Mapping[str, int]
    hitkey: Mapping[str, int]

    @property
    def dynamodb_reads(self) -> int:
        return sum(n for k, n in self.aws.items() if k.startswith("dynamodb.") and k[9:] in DYNAMODB_READS)

    @property
    def dynamodb_writes(self) -> int:
        return sum(n for k, n in self.aws.items() if k.startswith("dynamodb.") and k[9:] in DYNAMODB_WRITES)

    @property
    def kms(self) -> int:
        return sum(n for k, n in self.aws.items() if k.startswith("kms."))

    @property
    def secretsmanager(self) -> int:
        return sum(n for k, n in self.aws.items() if k.startswith("secretsmanager."))

    @property
    def hitkey_calls(self) -> int:
        return sum(self.hitkey.get(k, 0) for k in HITKEY_CALLS)

    def operations(self) -> str:
        """``GetItem, UpdateItem x2 · token(refresh)`` - what exactly was called."""

        def times(name: str, n: int) -> str:
            return name if n == 1 else f"{name} x{n}"

        aws = [times(k.split(".", 1)[1], n) for k, n in sorted(self.aws.items()) if n]
        names = {"token.authorization_code": "token(code)", "token.refresh_token": "token(refresh)"}
        hitkey = [times(names.get(k, k), self.hitkey.get(k, 0)) for k in HITKEY_DETAIL if self.hitkey.get(k, 0)]
        return " · ".join(part for part in (", ".join(aws), ", ".join(hitkey)) if part) or "-"


def _diff(after: Mapping[str, int], before: Mapping[str, int]) -> dict[str, int]:
    return {k: after[k] - before.get(k, 0) for k in after if after[k] - before.get(k, 0)}


class Meter:
    """Counts the AWS calls and the BFF's HitKey calls made inside a block."""

    def __init__(self, aws: AwsCalls, stack: Stack) -> None:
        self._aws, self._stack = aws, stack

    def _hitkey(self) -> dict[str, int]:
        counters = self._stack.emulator.counters
        return {k: counters.get(k, 0) for k in (*HITKEY_CALLS, *HITKEY_DETAIL)}

    @contextlib.contextmanager
    def measure(self) -> Iterator[Callable[[], Calls]]:
        aws_before, hitkey_before = self._aws.snapshot(), self._hitkey()
        result: list[Calls] = []
        yield lambda: result[0]
        result.append(Calls(_diff(self._aws.snapshot(), aws_before), _diff(self._hitkey(), hitkey_before)))


# -- per route -------------------------------------------------------------------------------------

ROWS = (
    "login",
    "callback",
    "session",
    "userinfo (valid token)",
    "userinfo (expired token → refresh)",
    "refresh",
    "logout",
)

TARGETS: dict[str, tuple[str, tuple[int, int, int, int, int]]] = {
    # row: (the words, (reads, writes, KMS, Secrets Manager, HitKey))
    "login": ("1 write", (0, 1, 0, 0, 0)),
    "callback": ("1 delete + 1 write + 1 query (the session cap) + 2 HitKey", (1, 2, 0, 0, 2)),
    "session": ("1 read, nothing else", (1, 0, 0, 0, 0)),
    "userinfo (valid token)": ("1 read + 1 HitKey, 0 KMS", (1, 0, 0, 0, 1)),
    "refresh": ("1 read + 1 conditional write + 1 HitKey, 0 KMS", (1, 1, 0, 0, 1)),
}


def route_cycle(stack: Stack, fleet: Fleet, meter: Meter | None, *, cold: bool) -> dict[str, Calls]:
    """One browser through every route; with ``cold`` each step lands on a fresh Lambda."""
    browser = Browser(fleet.invoke)
    out: dict[str, Calls] = {}

    def step(row: str, function: str, status: int, call: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        if cold:
            fleet.cold(function)
        if meter is None:
            return expect(call(), status, row)
        with meter.measure() as calls:
            response = expect(call(), status, row)
        out[row] = calls()
        return response

    authorize = step("login", "login", 302, browser.login)["headers"]["location"]
    query = approve_at_hitkey(stack.http, authorize)
    step("callback", "callback", 302, lambda: browser.callback(query))
    step("session", "session", 200, lambda: browser.call("session"))
    step("userinfo (valid token)", "userinfo", 200, lambda: browser.call("userinfo"))
    stack.expire_access_token(browser)
    step("userinfo (expired token → refresh)", "userinfo", 200, lambda: browser.call("userinfo"))
    step("refresh", "refresh", 200, lambda: browser.call("refresh"))
    step("logout", "logout", 204, lambda: browser.call("logout"))
    return out


@dataclass(frozen=True)
class RouteCalls:
    """Calls per route, cold and warm, and the stored items' sizes."""

    cold: dict[str, Calls]
    warm: dict[str, Calls]
    item_bytes: dict[str, int]


def dynamodb_item_bytes(item: Mapping[str, Any]) -> int:
    """An item's size as DynamoDB bills it: attribute names plus values (numbers ~1 byte per 2 digits + 1)."""
    import base64

    size = 0
    for name, value in item.items():
        size += len(name.encode())
        ((kind, raw),) = value.items()
        if kind == "S":
            size += len(str(raw).encode())
        elif kind == "N":
            size += len(str(raw).lstrip("-").replace(".", "").strip("0") or "0") // 2 + 1
        elif kind == "B":
            size += len(raw) if isinstance(raw, bytes | bytearray) else len(base64.b64decode(raw))
        else:
            size += len(str(raw).encode())
    return size


def measure_routes() -> RouteCalls:
    """Calls per route: a cold cycle, then a warm one, on one warm Lambda per function."""
    aws = AwsCalls()
    with local_stack() as stack, quiet():
        fleet, meter = Fleet(stack.settings, hooks=[aws.hook]), Meter(aws, stack)
        cold = route_cycle(stack, fleet, meter, cold=True)
        warm = route_cycle(stack, fleet, meter, cold=False)
        stack.sign_in(Browser(fleet.invoke))  # a session and a pending login to weigh
        Browser(fleet.invoke).login()
        sizes: dict[str, int] = {}
        for item in stack.items():
            kind = "session" if str(item["pk"]["S"]).startswith("USER#") else "login state"
            sizes[kind] = max(sizes.get(kind, 0), dynamodb_item_bytes(item))
    return RouteCalls(cold, warm, sizes)


# -- the API proxy ---------------------------------------------------------------------------------

PROXY_ROUTE = "ANY /api/{upstream}/{proxy+}"
PROXY_ROWS = ("api proxy (valid token)", "api proxy (expired token → refresh)")
PROXY_TARGET = (1, 0, 0, 0, 0)
"""Steady state per proxied call: 1 DynamoDB read, 0 KMS, 0 Secrets Manager, 0 HitKey (+ 1 upstream call)."""


@dataclass(frozen=True)
class ProxyCalls:
    """Calls per proxied request (warm ``api`` Lambda) and the upstream calls each made."""

    calls: dict[str, Calls]
    upstream: dict[str, int]


def proxy_event(jar: Mapping[str, str], path: str = "/api/demo/hello") -> dict[str, Any]:
    """The event of one SPA ``api("demo", "/hello")`` call."""
    from bench.common import APP_ORIGIN
    from local.apigw.event import build_event

    cookies = [f"{k}={v}" for k, v in jar.items()]
    headers = {"x-csrf": "1", "origin": APP_ORIGIN, "accept": "application/json"}
    return build_event("GET", path, headers=headers, cookies=cookies, route_key=PROXY_ROUTE)


@contextlib.contextmanager
def sample_api(stack: Stack) -> Iterator[tuple[str, Counter[str]]]:
    """local/sample_api.py (accepts only the emulator's live tokens), counting the requests it gets."""
    from local.sample_api import SampleApi

    seen: Counter[str] = Counter()

    class CountingApi(SampleApi):
        def wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
            seen["upstream"] += 1
            return super().wsgi(environ, start_response)

    api = CountingApi(stack.emulator)
    url = api.start("127.0.0.1", 0)
    try:
        yield url, seen
    finally:
        api.stop()


def measure_proxy() -> ProxyCalls:
    """Calls per proxied request on a warm ``api`` Lambda, valid and expired token."""
    import json

    from bench.common import environment

    aws = AwsCalls()
    with (
        local_stack() as stack,
        quiet(),
        sample_api(stack) as (url, seen),
        environment({"API_UPSTREAMS": json.dumps({"demo": url})}),
    ):
        fleet, meter = Fleet(stack.settings, hooks=[aws.hook]), Meter(aws, stack)
        browser = Browser(fleet.invoke)
        stack.sign_in(browser)
        for expired in (False, True):  # warm: a call and a refresh (the secret, a data key)
            if expired:
                stack.expire_access_token(browser)
            expect(fleet.invoke("api", proxy_event(browser.jar)), 200, "api warm-up")
        out: dict[str, Calls] = {}
        upstream: dict[str, int] = {}
        for row in PROXY_ROWS:
            if "expired" in row:
                stack.expire_access_token(browser)
            before = seen["upstream"]
            with meter.measure() as calls:
                expect(fleet.invoke("api", proxy_event(browser.jar)), 200, row)
            out[row], upstream[row] = calls(), seen["upstream"] - before
    return ProxyCalls(out, upstream)


def print_proxy(result: ProxyCalls) -> None:
    heading("The API proxy: calls per proxied request (warm api Lambda, local/sample_api.py upstream)")
    rows = []
    for row in PROXY_ROWS:
        c = result.calls[row]
        met = "-" if "expired" in row else ("yes" if counts(c) == PROXY_TARGET and result.upstream[row] == 1 else "no")
        rows.append([*_row(row, c), result.upstream[row], met])
    print(table([*HEADERS, "upstream", "target met? (1 read, 0 KMS/SM, 1 upstream)"], rows, right=(1, 2, 3, 4, 5, 7)))


# -- mixed traffic ---------------------------------------------------------------------------------


@dataclass
class MixedResult:
    """A mixed run's totals."""

    label: str
    requests: int
    wall_seconds: float
    simulated_seconds: float
    calls: Calls
    key_uses: Counter[str]
    by_function: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)

    @property
    def kms_without_cache(self) -> int:
        """KMS calls had every seal been a GenerateDataKey and every open a Decrypt."""
        return self.key_uses["seal"] + self.key_uses["open"]


def mixed_run(
    requests: int,
    *,
    spread_rate: float | None = None,
    mix: Mapping[str, float] = MIX,
    initial_sessions: int = 50,
    seed: int = 7,
    label: str = "",
    progress: bool = True,
) -> MixedResult:
    """``requests`` invocations drawn from ``mix`` over a pool of signed-in browsers, on warm
    Lambdas (a warm-up cycle and the initial sign-ins are not counted). With ``spread_rate``
    (requests/s) a simulated clock advances between requests (exponential gaps)."""
    clock = ManualClock() if spread_rate else None
    rng = random.Random(seed)
    names, weights = list(mix), list(mix.values())
    with contextlib.ExitStack() as stack_:
        stack = stack_.enter_context(local_stack(clock=clock.time if clock else time.monotonic))
        aws = AwsCalls()
        stack_.enter_context(quiet())
        fleet = Fleet(stack.settings, clock, hooks=[aws.hook])
        route_cycle(stack, fleet, None, cold=False)
        pool: list[Browser] = []
        # one user per browser (the sign-in cap, MAX_SESSIONS_PER_USER, would end one user's 21st)
        users = iter(f"bench-{n}@example.com" for n in range(10**9))
        for _ in range(initial_sessions):
            pool.append(Browser(fleet.invoke))
            stack.sign_in(pool[-1], email=next(users))
            if clock is not None:
                clock.advance(rng.expovariate(spread_rate or 1.0))
        meter = Meter(aws, stack)
        fleet.key_uses.clear()
        by_function: Counter[str] = Counter()
        statuses: Counter[int] = Counter()
        bar = Progress(label or "mixed", requests) if progress else None
        start, sim_start, done = time.perf_counter(), clock.time() if clock else 0.0, 0

        def tick(function: str, response: dict[str, Any]) -> None:
            nonlocal done
            done += 1
            by_function[function] += 1
            statuses[int(response["statusCode"])] += 1
            if clock is not None and spread_rate:
                clock.advance(rng.expovariate(spread_rate))
            if bar is not None:
                bar.update(done)

        with meter.measure() as calls:
            while done < requests:
                function = rng.choices(names, weights)[0]
                if function == "login" or not pool:
                    browser = Browser(fleet.invoke)
                    response = expect(browser.login(), 302, "login")
                    tick("login", response)
                    query = approve_at_hitkey(stack.http, response["headers"]["location"], email=next(users))
                    tick("callback", expect(browser.callback(query), 302, "callback"))
                    pool.append(browser)
                elif function == "logout" and len(pool) > 1:
                    browser = pool.pop(rng.randrange(len(pool)))
                    tick("logout", expect(browser.call("logout"), 204, "logout"))
                elif function == "logout":
                    continue
                else:
                    browser = pool[rng.randrange(len(pool))]
                    tick(function, expect(browser.call(function), 200, function))
        if bar is not None:
            bar.close()
        wall = time.perf_counter() - start
        simulated = (clock.time() - sim_start) if clock else wall
    return MixedResult(label, done, wall, simulated, calls(), Counter(fleet.key_uses), by_function, statuses)


# -- report ----------------------------------------------------------------------------------------

HEADERS = ("route", "DynamoDB reads", "DynamoDB writes", "KMS", "Secrets Manager", "HitKey", "calls")


def _row(name: str, c: Calls) -> list[object]:
    return [name, c.dynamodb_reads, c.dynamodb_writes, c.kms, c.secretsmanager, c.hitkey_calls, c.operations()]


def counts(c: Calls) -> tuple[int, int, int, int, int]:
    """(reads, writes, KMS, Secrets Manager, HitKey)."""
    return (c.dynamodb_reads, c.dynamodb_writes, c.kms, c.secretsmanager, c.hitkey_calls)


def print_routes(result: RouteCalls) -> None:
    heading("Calls per request, steady state (each function on a warm Lambda that has served the route)")
    rows: list[list[object]] = []
    for name in ROWS:
        c = result.warm[name]
        target = TARGETS.get(name)
        if target is None:
            verdict = "-"
        elif counts(c) == target[1]:
            verdict = f"yes ({target[0]})"
        else:
            verdict = f"no: target {target[0]}"
        rows.append([*_row(name, c), verdict])
    print(table([*HEADERS, "target met?"], rows, right=(1, 2, 3, 4, 5)))
    heading("Calls per request, cold (fresh Lambda: new clients, empty data-key and secret caches)")
    print(table(HEADERS, [_row(name, result.cold[name]) for name in ROWS], right=(1, 2, 3, 4, 5)))
    heading("Stored item sizes (DynamoDB billing size)")
    rows = [
        [kind, size, 1.0 * math.ceil(size / 4096), math.ceil(size / 1024)]
        for kind, size in sorted(result.item_bytes.items())
    ]
    print(table(["item", "bytes", "RRU per GetItem (strongly consistent)", "WRU per write"], rows, right=(1, 2, 3)))


def print_mixed(results: list[MixedResult]) -> None:
    heading("Mixed traffic on warm Lambdas (one per function)")
    rows: list[list[object]] = []
    for r in results:
        simulated = f"{r.simulated_seconds / 3600:.1f} h" if r.simulated_seconds > 3 * r.wall_seconds else "-"
        rows.append(
            [
                r.label,
                f"{r.requests:,}",
                f"{r.wall_seconds:.0f} s ({r.requests / r.wall_seconds:,.0f}/s)",
                simulated,
                r.calls.dynamodb_reads,
                r.calls.dynamodb_writes,
                f"{1000 * r.calls.dynamodb_writes / max(r.requests, 1):.1f}",
                r.calls.kms,
                r.kms_without_cache,
                r.calls.secretsmanager,
                r.calls.hitkey_calls,
            ]
        )
    print(
        table(
            [
                "run",
                "requests",
                "wall time",
                "simulated",
                "DynamoDB reads",
                "DynamoDB writes",
                "writes per 1,000 requests",
                "KMS",
                "KMS without data-key cache",
                "Secrets Manager",
                "HitKey",
            ],
            rows,
            right=(1, 4, 5, 6, 7, 8, 9, 10),
        )
    )
    for r in results:
        mix = ", ".join(f"{f} {n:,}" for f, n in r.by_function.most_common())
        secure = {k: n for k, n in r.calls.aws.items() if not k.startswith("dynamodb.")}
        ops = Calls(secure, {}).operations()
        print(f"\n* {r.label}: {mix}; statuses {dict(r.statuses)}; KMS and Secrets Manager calls: {ops}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.calls", description=__doc__.split("\n")[0])
    parser.add_argument("--mixed", type=int, default=10_000, help="requests per mixed run (default 10000)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--brief",
        action="store_true",
        help="a few requests per run: that it runs (make test)",
    )
    args = parser.parse_args(argv)
    if args.brief:
        args.mixed = 50
    print_routes(measure_routes())
    print_proxy(measure_proxy())
    burst = mixed_run(args.mixed, seed=args.seed, label=f"burst: {args.mixed:,} back to back")
    if burst.wall_seconds > 120:
        print(f"\nnote: the burst run took {burst.wall_seconds:.0f} s (> 2 min)")
    spread = mixed_run(
        args.mixed, seed=args.seed, spread_rate=SPREAD_RATE, label=f"spread: same mix at {SPREAD_RATE:.2f} req/s"
    )
    print_mixed([burst, spread])
    print(f"\nKMS calls over {burst.requests:,} warm requests back to back: {burst.calls.kms} (target ≤ 10)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
