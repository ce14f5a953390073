"""A first visit, all environments cold: the nine requests of a sign-in journey, on fresh
processes per function, for today's layout and for one function per route, side by side.

    python -m bench.journey [--reps 5]

session -> login -> callback -> session -> userinfo -> api -> refresh -> sessions -> logout.
Each function is a ``python`` process started when the journey first reaches one of its routes
(a cold start: ``import app`` and that event) and kept for the rest of the journey (warm), as
Lambda keeps an environment. The processes put the function's folder and ``layers/bff`` on
``sys.path`` and see only the packages a Lambda environment has, as :mod:`bench.coldstart`'s do
(:func:`bench.coldstart.lambda_site`), and AWS and HitKey are its stub server in this
(parent) process: no stubbing code runs in a measured process. The parent is the browser (it
keeps the cookies the answers set and follows the login's redirect to the callback).

Layouts: *two functions* is ``functions/*/app.py`` from template.yaml; *one function per route*
is the same route table with one function per route module (``from hitkey_bff.routes.<name>
import handler``), which is how the functions were laid out before.

Floors, each a fresh interpreter: ``boto3 + DynamoDB client``, and for a route that calls HitKey
``+ httpx + 1 HTTP call`` (an ``httpx.Client`` GET of the stub). Ratios use CPU (``process_time``)
medians over ``--reps`` journeys. Also reported: each route's cold start when it is the first
event its function serves (``bench.coldstart``'s measurement), against its floor.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from bench.coldstart import child_env, python_command, run_child, stub_server
from bench.common import (
    APP_ORIGIN,
    FUNCTIONS_DIR,
    LAYER_DIR,
    ROOT,
    Progress,
    heading,
    median,
    routes,
    table,
)

RESULT = "BENCH-RESULT "
JOURNEY: tuple[tuple[str, str, str, int], ...] = (
    # (route name, method, path?query, expected status)
    ("session", "GET", "/auth/session", 200),
    ("login", "GET", "/auth/login?" + urlencode({"return_to": "/"}), 302),
    ("callback", "GET", "/auth/callback", 302),  # the query is HitKey's redirect's
    ("session", "GET", "/auth/session", 200),
    ("userinfo", "GET", "/auth/userinfo", 200),
    ("api", "GET", "/api/bench/userinfo", 200),
    ("refresh", "POST", "/auth/refresh", 200),
    ("sessions", "GET", "/auth/sessions", 200),
    ("logout", "POST", "/auth/logout", 204),
)
CALLS_HITKEY = frozenset({"callback", "userinfo", "api", "refresh"})
"""Routes whose floor includes httpx and one HTTP call (HitKey, or the API proxy's upstream)."""
FLOOR = "boto3 + DynamoDB client"
FLOOR_HTTP = "boto3 + DynamoDB client + httpx + 1 HTTP call"
TWO = "two functions"
PER_ROUTE = "one function per route"
LAYOUTS = (PER_ROUTE, TWO)

# A function process: imports app on its first event, then serves one JSON event per stdin line.
SERVER = r"""
import json, os, sys, time
function_dir, layer_dir = sys.argv[1], sys.argv[2]
sys.path[:0] = [function_dir, layer_dir]

class Context:
    function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "bench")
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:" + function_name
    memory_limit_in_mb = 256
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e812345678"
    log_group_name = "/aws/lambda/" + function_name
    log_stream_name = "2025/01/01/[$LATEST]0123456789abcdef"
    identity = client_context = tenant_id = None
    def get_remaining_time_in_millis(self):
        return 60000  # the template's Timeout

handler = None
for line in sys.stdin:
    event = json.loads(line)
    c0 = time.process_time()
    if handler is None:
        import app
        handler = app.handler
    response = handler(event, Context())
    c1 = time.process_time()
    print("BENCH-RESULT " + json.dumps({"cpu_s": c1 - c0, "response": response}), flush=True)
"""

# A floor: what any Python BFF on Lambda pays before its first answer.
FLOOR_CHILD = r"""
import json, os, sys, time
c0 = time.process_time()
import boto3
client = boto3.client("dynamodb")
if sys.argv[1] == "http":
    import httpx
    http = httpx.Client(timeout=10)
    http.get(sys.argv[2] + "/oauth/userinfo").raise_for_status()
c1 = time.process_time()
print("BENCH-RESULT " + json.dumps({"cpu_s": c1 - c0}), flush=True)
"""


# -- the two layouts -------------------------------------------------------------------------------


@contextmanager
def layouts() -> Iterator[dict[str, dict[str, Path]]]:
    """Layout -> route name -> the function folder serving it (one per route: generated)."""
    names = list(dict.fromkeys(r.name for r in routes().values()))
    with tempfile.TemporaryDirectory(prefix="hitkey-bff-journey-") as tmp:
        per_route: dict[str, Path] = {}
        for name in names:
            folder = Path(tmp) / name
            folder.mkdir()
            (folder / "app.py").write_text(f"from hitkey_bff.routes.{name} import handler as handler\n")
            per_route[name] = folder
        two = {r.name: FUNCTIONS_DIR / r.function for r in routes().values()}
        yield {PER_ROUTE: per_route, TWO: two}


# -- one journey -----------------------------------------------------------------------------------


class Function:
    """One function's process (its environment, kept warm for the journey)."""

    def __init__(self, folder: Path, url: str) -> None:
        self.folder = folder
        env = child_env(url, folder.name, None)
        command = [*python_command(), "-c", SERVER, str(folder), str(LAYER_DIR)]
        self.process = subprocess.Popen(
            command,
            env=env,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def invoke(self, event: dict[str, Any]) -> tuple[float, dict[str, Any]]:
        """CPU seconds the process spent on ``event`` (its import included on the first) and the answer."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(event) + "\n")
        self.process.stdin.flush()
        for line in self.process.stdout:  # the function's own log lines come first
            if line.startswith(RESULT):
                result = json.loads(line[len(RESULT) :])
                return float(result["cpu_s"]), result["response"]
        raise RuntimeError(f"the function process in {self.folder} exited ({self.process.wait()})")

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=30)


@dataclass
class Step:
    route: str
    function: str
    cold: bool
    cpu_s: float


@dataclass
class Browser:
    """The parent's cookie jar and the login's pending state."""

    jar: dict[str, str] = field(default_factory=dict)
    state: str = ""

    def event(self, route: str, method: str, target: str) -> dict[str, Any]:
        from local.apigw.event import build_event

        key = next(r.key for r in routes().values() if r.name == route)
        path, _, query = target.partition("?")
        if route == "callback":
            query = urlencode({"code": "bench-code", "state": self.state})
        headers = {} if route in ("login", "callback") else {"x-csrf": "1", "origin": APP_ORIGIN}
        cookies = [f"{k}={v}" for k, v in self.jar.items()]
        return build_event(method, path, query, headers=headers, cookies=cookies, route_key=key)

    def keep(self, route: str, response: dict[str, Any]) -> None:
        for header in response.get("cookies", []):
            name, _, value = header.split(";", 1)[0].partition("=")
            if "max-age=0" in header.lower():
                self.jar.pop(name, None)
            else:
                self.jar[name] = value
        if route == "login":
            self.state = parse_qs(urlsplit(response["headers"]["location"]).query)["state"][0]


def journey(folders: dict[str, Path], url: str) -> list[Step]:
    """The nine requests, every function cold at the start."""
    started: dict[Path, Function] = {}
    browser, steps = Browser(), []
    try:
        for route, method, target, status in JOURNEY:
            folder = folders[route]
            cold = folder not in started
            if cold:
                started[folder] = Function(folder, url)
            cpu_s, response = started[folder].invoke(browser.event(route, method, target))
            if response.get("statusCode") != status:
                raise RuntimeError(f"{route}: answered {json.dumps(response)[:500]}, expected {status}")
            browser.keep(route, response)
            steps.append(Step(route, folder.name, cold, cpu_s))
    finally:
        for function in started.values():
            function.close()
    return steps


def floor(kind: str, url: str) -> float:
    """CPU seconds of one fresh floor process (``kind``: "ddb" or "http")."""
    env = child_env(url, "floor", None)
    done = subprocess.run(
        [*python_command(), "-c", FLOOR_CHILD, kind, url],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith(RESULT)]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"floor {kind} failed ({done.returncode}): {done.stderr[-2000:]}")
    return float(json.loads(lines[-1][len(RESULT) :])["cpu_s"])


# -- the run ---------------------------------------------------------------------------------------


@dataclass
class Result:
    reps: int
    journeys: dict[str, list[list[Step]]]  # layout -> one list of steps per repetition
    floors: dict[str, list[float]]
    first_event: dict[str, list[float]] = field(default_factory=dict)  # route -> cold start CPU s (two functions)

    def floor(self, route: str | None = None) -> float:
        return median(self.floors[FLOOR_HTTP if route in CALLS_HITKEY else FLOOR])

    def step_cpu(self, layout: str, index: int) -> float:
        return median([run[index].cpu_s for run in self.journeys[layout]])

    def total(self, layout: str, *, cold_only: bool = False) -> float:
        return median([sum(s.cpu_s for s in run if s.cold or not cold_only) for run in self.journeys[layout]])

    def functions_started(self, layout: str) -> int:
        return sum(s.cold for s in self.journeys[layout][0])


def measure(reps: int = 5, *, per_route: bool = True, progress: bool = True) -> Result:
    """``reps`` journeys per layout (interleaved), the floors, and (``per_route``) each route's
    cold start as the first event of its function."""
    journeys: dict[str, list[list[Step]]] = defaultdict(list)
    floors: dict[str, list[float]] = defaultdict(list)
    first: dict[str, list[float]] = defaultdict(list)
    names = list(dict.fromkeys(r.name for r in routes().values()))
    units = reps * (len(LAYOUTS) + 2 + (len(names) if per_route else 0))
    bar = Progress("journeys", units) if progress else None
    done = 0
    with stub_server() as (url, seeded, _), layouts() as folders:
        journey(folders[TWO], url)  # warm the page cache and the .pyc files; not counted
        journey(folders[PER_ROUTE], url)
        for _ in range(reps):
            for layout in LAYOUTS:
                journeys[layout].append(journey(folders[layout], url))
                done += 1
            floors[FLOOR].append(floor("ddb", url))
            floors[FLOOR_HTTP].append(floor("http", url))
            done += 2
            if per_route:
                for name in names:
                    first[name].append(run_child(name, url, seeded).total_s)
                    done += 1
            if bar is not None:
                bar.update(done)
    if bar is not None:
        bar.close()
    return Result(reps, dict(journeys), dict(floors), dict(first))


# -- report ----------------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def print_report(result: Result) -> None:
    base = result.floor()
    heading(f"A first visit, every function cold (median of {result.reps}; CPU ms)")
    rows: list[list[object]] = []
    for i, (route, *_rest) in enumerate(JOURNEY):
        row: list[object] = [f"{i + 1}. {route}"]
        for layout in LAYOUTS:
            step = result.journeys[layout][0][i]
            row += [f"{step.function}{' (cold)' if step.cold else ''}", ms(result.step_cpu(layout, i))]
        rows.append(row)
    summary: list[list[object]] = [
        ["functions started", *[x for layout in LAYOUTS for x in ("", result.functions_started(layout))]]
    ]
    for label, cold_only in (("total CPU", False), ("of which the requests that started a function", True)):
        cells: list[object] = [label]
        for layout in LAYOUTS:
            total = result.total(layout, cold_only=cold_only)
            cells += ["", f"{ms(total)} ({total / base:.2f}x)"]
        summary.append(cells)
    headers = ["request", f"{PER_ROUTE}: function", "CPU", f"{TWO}: function", "CPU"]
    print(table(headers, [*rows, *summary], right=(2, 4)))
    print(
        f"\nRatios: over '{FLOOR}' = {ms(base)} ms CPU (median of {result.reps} fresh interpreters); "
        f"'{FLOOR_HTTP}' = {ms(result.floor('userinfo'))} ms. Targets: at most 2 functions started "
        f"({result.functions_started(TWO)}); the journey's total CPU at most 2.5x the floor "
        f"({result.total(TWO) / base:.2f}x). A function imports botocore when a route first needs "
        "DynamoDB: a first request that reads no session (no cookie) leaves that to the next one."
    )
    if not result.first_event:
        return
    heading(f"Each route's cold start as its function's first event ({TWO}; median of {result.reps}; CPU ms)")
    by_function: dict[str, float] = defaultdict(float)
    rows = []
    for name, runs in result.first_event.items():
        function = next(r.function for r in routes().values() if r.name == name)
        ratio = median(runs) / result.floor(name)
        by_function[function] = max(by_function[function], ratio)
        floor_name = FLOOR_HTTP if name in CALLS_HITKEY else FLOOR
        rows.append([name, function, ms(median(runs)), floor_name, ms(result.floor(name)), f"{ratio:.2f}x"])
    print(table(["route", "function", "CPU", "floor", "floor CPU", "ratio"], rows, right=(2, 4, 5)))
    worst = ", ".join(f"{f} {r:.2f}x" for f, r in by_function.items())
    print(f"\nTarget: each function's heaviest route at most 1.25x its floor ({worst}).")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.journey", description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=5, help="journeys per layout (default 5)")
    parser.add_argument("--no-per-route", action="store_true", help="skip each route's own cold start")
    args = parser.parse_args(argv)
    print_report(measure(args.reps, per_route=not args.no_per_route))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    raise SystemExit(main())
