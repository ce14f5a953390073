"""The AWS bill for 1M ``session`` + 1M ``userinfo`` requests + 10k sign-ins a month.

    python -m bench.cost [--memory MB] [--requests 10000] [--cpu-factor 1.0]

Each route is billed at the memory size of the function that serves it in template.yaml (the
session function: login, session; the token function: callback, userinfo, refresh), or at
``--memory`` for every function.

Nothing about the BFF is assumed: the calls each route makes come from :mod:`bench.calls`
(moto + the HitKey emulator), KMS and Secrets Manager calls per request from a mixed run replayed
at this workload's average rate on a simulated clock (data keys and the cached client secret
expire, access tokens expire after an hour and are refreshed), CPU per request from
:mod:`bench.warm` and per cold start from :mod:`bench.coldstart`, item sizes from the table.

What is assumed is printed with the result: prices (us-east-1, on demand, no free tier),
network latencies, how CPU scales with memory, how many cold starts there are.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping
from dataclasses import dataclass

from bench import calls, coldstart, warm
from bench.common import function_of, heading, table
from local.api_template import route_functions

# us-east-1 on-demand list prices, as published on the AWS pricing pages (taken 2025; DynamoDB
# on-demand since the 1 Nov 2024 price cut, Lambda INIT billed since 1 Aug 2025). Free tiers ignored.
PRICES = {
    "http_api_per_million": 1.00,  # HTTP API, first 300M requests/month (512 KB metering unit)
    "lambda_requests_per_million": 0.20,
    "lambda_gb_second_arm64": 0.0000133334,
    "dynamodb_rru_per_million": 0.125,  # on-demand read request units (was 0.25 before Nov 2024)
    "dynamodb_wru_per_million": 0.625,  # on-demand write request units (was 1.25)
    "kms_per_10k": 0.03,  # symmetric requests (GenerateDataKey, Decrypt)
    "secretsmanager_per_10k": 0.05,
    "kms_key_month": 1.00,  # one customer managed key
    "secret_month": 0.40,
    "cloudwatch_logs_per_gb": 0.50,  # ingestion, first 10 TB
}


@dataclass(frozen=True)
class Assumptions:
    """What the bench cannot measure locally."""

    memory_mb: int | None = None  # None: each function's MemorySize in template.yaml
    cpu_factor: float = 1.0  # one Lambda vCPU (at 1,769 MB) ≈ one core of this machine
    dynamodb_ms: float = 5.0  # per DynamoDB call, in-region, warm connection
    kms_ms: float = 8.0
    secretsmanager_ms: float = 10.0
    hitkey_ms: float = 40.0  # per HitKey call over the internet, warm connection (HitKey's own time unknown)
    log_bytes_per_invocation: int = 350  # Lambda's START/END/REPORT lines (+ the odd EMF/log line)
    cold_starts_hot_functions: int = 2 * 24 * 30  # the two functions: ~1 new environment an hour each
    # login and callback share the functions session and userinfo keep warm (a request every ~3 s):
    # a sign-in adds no cold start of its own
    cold_share_sign_in: float = 0.0
    session_pool: int = 100  # concurrently active sessions in the simulated traffic


FULL_VCPU_MB = 1769  # Lambda gives one full vCPU at 1,769 MB, proportionally less below


def cpu_scale(memory_mb: int) -> float:
    """How much longer CPU work takes at ``memory_mb`` than on one full vCPU (CPU ∝ memory)."""
    return max(1.0, FULL_VCPU_MB / memory_mb)


@dataclass(frozen=True)
class Measured:
    routes: calls.RouteCalls
    spread: calls.MixedResult
    warm: warm.Warm
    cold: coldstart.ColdStarts


def measure(requests: int, assumptions: Assumptions, *, brief: bool = False) -> Measured:
    """Run the benches this model feeds on (~1-2 minutes; ``brief``: a few calls of each)."""
    routes = calls.measure_routes()
    spread = calls.mixed_run(
        requests,
        spread_rate=calls.SPREAD_RATE,
        mix=calls.COST_MIX,
        initial_sessions=assumptions.session_pool,
        label="cost workload, simulated clock",
    )
    return Measured(
        routes,
        spread,
        warm.measure(calls=2, rounds=2) if brief else warm.measure(calls=1000, rounds=10),
        coldstart.measure(
            reps=1 if brief else 3,
            functions=("login", "callback", "session", "userinfo"),
            importtime=False,
            warm_up=not brief,
        ),
    )


WORKLOAD = {"session": 1_000_000, "userinfo (valid token)": 1_000_000, "login": 10_000, "callback": 10_000}
FUNCTION_OF = {"session": "session", "userinfo (valid token)": "userinfo", "login": "login", "callback": "callback"}
"""Row -> the route (its name) that serves it."""
FIRST_ROUTE = {"session": "session", "token": "userinfo"}
"""Function -> the route a new environment of it most often serves first (the hot one)."""


def template_memory() -> dict[str, int]:
    """Function folder -> its MemorySize in template.yaml (Globals applied)."""
    return {spec.code_uri.name: spec.memory_size for spec in route_functions()}


def memory_of(a: Assumptions, route: str) -> int:
    """The memory size ``route`` (a route's name) runs at: ``--memory``, else the template's."""
    return a.memory_mb or template_memory()[function_of(route)]


def layout(a: Assumptions, sizes: Mapping[str, int] | None = None) -> str:
    """ "session 512 MB, token 1024 MB": the functions' sizes in a bill."""
    chosen = sizes or {f: a.memory_mb or mb for f, mb in template_memory().items()}
    return ", ".join(f"{f} {mb} MB" for f, mb in chosen.items())


@dataclass(frozen=True)
class Line:
    what: str
    quantity: float
    unit: str
    cost: float


def billed_ms(m: Measured, a: Assumptions, row: str, memory_mb: int) -> int:
    """Billed duration of one warm request: CPU (measured, scaled to the memory size) + network waits."""
    c = m.routes.warm[row]
    if row in FUNCTION_OF:
        cpu_s = m.warm.cpu[FUNCTION_OF[row]]
    else:  # userinfo that refreshes first: userinfo's work + refresh's, less the GetItem counted twice
        cpu_s = m.warm.cpu["userinfo"] + m.warm.cpu["refresh"] - m.warm.cpu[warm.PARTS[1]]
    cpu_ms = cpu_s * 1000 * a.cpu_factor * cpu_scale(memory_mb)
    io_ms = (
        (c.dynamodb_reads + c.dynamodb_writes) * a.dynamodb_ms
        + c.kms * a.kms_ms
        + c.secretsmanager * a.secretsmanager_ms
        + c.hitkey_calls * a.hitkey_ms
    )
    return math.ceil(cpu_ms + io_ms)


def refreshes(m: Measured) -> float:
    """Token refreshes inside userinfo per month, at the simulated run's rate."""
    per_request = m.spread.calls.hitkey.get("token.refresh_token", 0) / m.spread.requests
    return per_request * calls.MONTHLY_REQUESTS


def bill(m: Measured, a: Assumptions, sizes: Mapping[str, int] | None = None) -> list[Line]:
    """The month's bill, line by line (``sizes``: function -> MB, else as :func:`memory_of`)."""

    def mem(route: str) -> int:
        return sizes[function_of(route)] if sizes else memory_of(a, route)

    p = PRICES
    total_requests = sum(WORKLOAD.values())
    n_refresh = refreshes(m)
    expired, valid = m.routes.warm["userinfo (expired token → refresh)"], m.routes.warm["userinfo (valid token)"]
    userinfo_mb = mem("userinfo")
    refresh_extra_ms = billed_ms(m, a, "userinfo (expired token → refresh)", userinfo_mb) - billed_ms(
        m, a, "userinfo (valid token)", userinfo_mb
    )

    gb_seconds = sum(
        n * billed_ms(m, a, row, mem(FUNCTION_OF[row])) / 1000 * mem(FUNCTION_OF[row]) / 1024
        for row, n in WORKLOAD.items()
    )
    gb_seconds += n_refresh * refresh_extra_ms / 1000 * userinfo_mb / 1024
    cold_starts = {route: a.cold_starts_hot_functions / len(FIRST_ROUTE) for route in FIRST_ROUTE.values()}
    cold_starts["login"] = WORKLOAD["login"] * a.cold_share_sign_in
    cold_starts["callback"] = WORKLOAD["callback"] * a.cold_share_sign_in
    init_gb_s = sum(
        n * m.cold.med(r, "total_s") * a.cpu_factor * cpu_scale(mem(r)) * mem(r) / 1024 for r, n in cold_starts.items()
    )

    rru = sum(
        # sessions are read strongly consistent (store.get_session): 1 RRU per 4 KB, not 0.5
        n * m.routes.warm[row].dynamodb_reads * 1.0 * math.ceil(_item(m, row) / 4096)
        for row, n in WORKLOAD.items()
    )
    wru_per_write = math.ceil(m.routes.item_bytes["session"] / 1024)
    wru = sum(n * _wru(m, row) for row, n in WORKLOAD.items())
    wru += n_refresh * (expired.dynamodb_writes - valid.dynamodb_writes) * wru_per_write
    kms_calls = m.spread.calls.kms / m.spread.requests * total_requests
    sm_calls = m.spread.calls.secretsmanager / m.spread.requests * total_requests
    log_gb = total_requests * a.log_bytes_per_invocation / 1e9
    return [
        Line(
            "API Gateway HTTP API requests",
            total_requests,
            "requests",
            total_requests / 1e6 * p["http_api_per_million"],
        ),
        Line("Lambda requests", total_requests, "invocations", total_requests / 1e6 * p["lambda_requests_per_million"]),
        Line(
            f"Lambda duration ({layout(a, sizes)}, arm64)",
            gb_seconds,
            "GB-s",
            gb_seconds * p["lambda_gb_second_arm64"],
        ),
        Line(
            "Lambda INIT (cold starts, billed since Aug 2025)",
            init_gb_s,
            "GB-s",
            init_gb_s * p["lambda_gb_second_arm64"],
        ),
        Line("DynamoDB reads", rru, "RRU", rru / 1e6 * p["dynamodb_rru_per_million"]),
        Line("DynamoDB writes", wru, "WRU", wru / 1e6 * p["dynamodb_wru_per_million"]),
        Line("KMS requests", kms_calls, "requests", kms_calls / 1e4 * p["kms_per_10k"]),
        Line("Secrets Manager requests", sm_calls, "requests", sm_calls / 1e4 * p["secretsmanager_per_10k"]),
        Line("KMS key (fixed)", 1, "key-month", p["kms_key_month"]),
        Line("Secrets Manager secret (fixed)", 1, "secret-month", p["secret_month"]),
        Line("CloudWatch Logs ingestion (assumed log volume)", log_gb, "GB", log_gb * p["cloudwatch_logs_per_gb"]),
    ]


def _item(m: Measured, row: str) -> int:
    return m.routes.item_bytes["login state" if row in ("login", "callback") else "session"]


def _wru(m: Measured, row: str) -> float:
    """WRU of one request: each write costs the larger of the item before/after, per started KB."""
    c = m.routes.warm[row]
    if row == "callback":  # delete the login state, put the session
        return math.ceil(m.routes.item_bytes["login state"] / 1024) + math.ceil(m.routes.item_bytes["session"] / 1024)
    return c.dynamodb_writes * math.ceil(_item(m, row) / 1024)


def money(x: float) -> str:
    return f"${x:,.2f}" if x >= 0.01 or x == 0 else f"${x:,.4f}"


def qty(x: float) -> str:
    return f"{x:,.0f}" if x >= 10 else f"{x:,.2f}"


def print_report(m: Measured, a: Assumptions) -> None:
    lines = bill(m, a)
    total = sum(line.cost for line in lines)
    heading(f"AWS bill for 1M session + 1M userinfo + 10k sign-ins a month (us-east-1, arm64: {layout(a)})")
    rows: list[list[object]] = [
        [ln.what, qty(ln.quantity), ln.unit, money(ln.cost), f"{ln.cost / total:.1%}"] for ln in lines
    ]
    rows.append(["**total**", "", "", f"**{money(total)}**", "100%"])
    print(table(["line", "quantity", "unit", "cost", "share"], rows, right=(1, 3, 4)))

    heading("Per request: calls (measured) and billed duration (model)")
    rows = []
    for row, n in WORKLOAD.items():
        c = m.routes.warm[row]
        function = FUNCTION_OF[row]
        rows.append(
            [
                row,
                f"{n:,}",
                c.dynamodb_reads,
                c.dynamodb_writes,
                c.hitkey_calls,
                f"{m.warm.cpu[function] * 1e6:,.0f}",
                f"{billed_ms(m, a, row, memory_of(a, function))} "
                f"({function_of(function)}, {memory_of(a, function)} MB)",
            ]
        )
    n_refresh = refreshes(m)
    expired = m.routes.warm["userinfo (expired token → refresh)"]
    rows.append(
        [
            "+ refresh inside userinfo (simulated rate)",
            f"{n_refresh:,.0f}",
            0,
            expired.dynamodb_writes - m.routes.warm["userinfo (valid token)"].dynamodb_writes,
            1,
            "-",
            billed_ms(m, a, "userinfo (expired token → refresh)", memory_of(a, "userinfo"))
            - billed_ms(m, a, "userinfo (valid token)", memory_of(a, "userinfo")),
        ]
    )
    print(
        table(
            ["request", "per month", "reads", "writes", "HitKey", "CPU µs here", "billed ms (function, memory)"],
            rows,
            right=(1, 2, 3, 4, 5, 6),
        )
    )

    heading("The data-key cache: KMS on this workload")
    total_requests = sum(WORKLOAD.values())
    kms_line = next(ln for ln in lines if ln.what == "KMS requests")
    others = total - kms_line.cost
    no_cache = m.spread.kms_without_cache / m.spread.requests * total_requests
    every = float(total_requests)
    rows = []
    designs: tuple[tuple[str, float], ...] = (
        ("this design (cached data keys: sealing 15 min / 10k uses, opened 1 h)", kms_line.quantity),
        ("no data-key cache (a KMS call per seal and per open)", no_cache),
        ("one KMS Decrypt on every request", every),
    )
    for name, kms_calls in designs:
        cost = kms_calls / 1e4 * PRICES["kms_per_10k"]
        rows.append([name, f"{kms_calls:,.0f}", money(cost), money(others + cost), f"{(others + cost) / total:.2f}x"])
    print(table(["design", "KMS calls/month", "KMS cost", "total bill", "vs this design"], rows, right=(1, 2, 3, 4)))
    spread = m.spread
    print(
        f"\nSimulated: {spread.requests:,} requests over {spread.simulated_seconds / 3600:.1f} h at "
        f"{calls.SPREAD_RATE:.2f} req/s with {a.session_pool} active sessions: KMS {spread.calls.kms}, "
        f"Secrets Manager {spread.calls.secretsmanager}, seals+opens {spread.kms_without_cache}, "
        f"refreshes {spread.calls.hitkey.get('token.refresh_token', 0)}."
    )

    heading("Memory size per function: latency and cost (model: CPU ∝ memory up to 1,769 MB)")
    rows = []
    for function, first in FIRST_ROUTE.items():
        served = [row for row in WORKLOAD if function_of(FUNCTION_OF[row]) == function]
        for memory in (256, 512, 1024, 1769):
            sizes = {f: (memory if f == function else memory_of(a, r)) for f, r in FIRST_ROUTE.items()}
            b = bill(m, a, sizes)
            lambda_cost = sum(ln.cost for ln in b if ln.what.startswith("Lambda duration") or "INIT" in ln.what)
            rows.append(
                [
                    function,
                    memory,
                    ", ".join(f"{FUNCTION_OF[row]} {billed_ms(m, a, row, memory)}" for row in served),
                    f"{m.cold.med(first, 'total_s') * 1000 * a.cpu_factor * cpu_scale(memory):,.0f}",
                    money(lambda_cost),
                    money(sum(ln.cost for ln in b)),
                ]
            )
    print(
        table(
            [
                "function",
                "MB",
                "warm billed ms",
                "cold start CPU ms (its hot route)",
                "Lambda duration + INIT (all functions)",
                "total bill",
            ],
            rows,
            right=(1, 3, 4, 5),
        )
    )
    print_assumptions(a)


def print_assumptions(a: Assumptions) -> None:
    heading("Prices and assumptions")
    rows: list[list[object]] = [[name, value] for name, value in PRICES.items()]
    rows += [[name, value] for name, value in vars(a).items()]
    print(table(["name", "value"], rows, right=(1,)))
    print(
        "\nPrices: us-east-1 on-demand list prices (2025): HTTP API $1.00/M (first 300M); Lambda arm64 "
        "$0.0000133334/GB-s + $0.20/M; DynamoDB on-demand $0.125/M RRU, $0.625/M WRU (since the Nov 2024 "
        "cut, was $0.25/$1.25); KMS $0.03/10k; Secrets Manager $0.05/10k + $0.40/secret; KMS key $1/month; "
        "CloudWatch Logs $0.50/GB. Free tiers are ignored. Billed duration = measured CPU x cpu_factor x "
        "max(1, 1769/MB) + calls x latency, rounded up to 1 ms; INIT = measured cold-start CPU, scaled the same way."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cost", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--memory", type=int, default=None, help="every function at this memory (MB); default: the template's"
    )
    parser.add_argument("--requests", type=int, default=10_000, help="requests in the simulated run (default 10000)")
    parser.add_argument("--cpu-factor", type=float, default=1.0, help="Lambda vCPU time per CPU second here")
    parser.add_argument("--sessions", type=int, default=100, help="active sessions in the simulated traffic")
    parser.add_argument(
        "--brief",
        action="store_true",
        help="tiny runs of its inputs: that it runs (make test)",
    )
    args = parser.parse_args(argv)
    a = Assumptions(memory_mb=args.memory, cpu_factor=args.cpu_factor, session_pool=args.sessions)
    print_report(measure(50, a, brief=True) if args.brief else measure(args.requests, a), a)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
