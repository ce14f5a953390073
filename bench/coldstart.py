"""Cold start: a fresh interpreter imports a function's handler and serves its first event.

    python -m bench.coldstart [--reps 7]

For each route of template.yaml a new ``python`` process puts the folder of the function serving
it (``functions/<name>``) and ``layers/bff`` on ``sys.path`` (as Lambda does with ``/var/task`` and
``/opt/python``), starts a clock, imports ``app`` and calls ``app.handler(event, context)`` once. The reference is the
floor any Python BFF on Lambda pays: a fresh interpreter that imports boto3 and creates one
DynamoDB client. Runs are interleaved (a shuffled order per repetition) and the medians reported.

The measured process sees the packages a Lambda environment has and no others: it runs without
this virtualenv's ``site-packages`` (``python -S``) and imports from a folder that links only the
layer's ``requirements.txt`` distributions and the runtime's boto3/botocore (:func:`lambda_site`).
A development virtualenv has more (pytest, Playwright, ...), and some are imported when present:
httpcore imports ``trio`` and httpx its command line's ``click`` and ``pygments``, costing 60-80 ms
of CPU at the first HTTP client that Lambda never pays.

No stubbing code runs in the measured process: AWS (``AWS_ENDPOINT_URL``) and HitKey
(``HITKEY_API_URL``) point at a small HTTP server in this (parent) process that answers from
memory (:class:`bench.common.FakeAws`, :func:`bench.common.hitkey_answer`); its cost per call
on loopback is measured and reported. The child only imports ``json``, ``os``, ``sys``, ``time``
before the clock starts - and so does the reference.

Also reported: ``python -X importtime``'s top 10 (cumulative) per function, the import time by
package, and what compiling the layer's modules costs when no ``.pyc`` is shipped (Lambda's
``/opt`` is read-only, so Python compiles those on every cold start).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench.common import (
    FUNCTIONS_DIR,
    LAYER_DIR,
    ROOT,
    ROUTE_NAMES,
    FakeAws,
    Progress,
    Seeded,
    aws_env,
    bff_env,
    environment,
    function_of,
    heading,
    hitkey_answer,
    median,
    seed,
    stub_deps,
    stub_settings,
    table,
)
from local.api_template import route_functions
from local.template import FunctionSpec

BASELINE = "boto3 + DynamoDB client"
BASELINE_CALL = "boto3 + DynamoDB client + 1 GetItem"
BOTOCORE = "botocore only + DynamoDB client"
BOTOCORE_LAYER = "botocore only + DynamoDB client, the layer's models"
REFERENCES = (BASELINE, BASELINE_CALL, BOTOCORE, BOTOCORE_LAYER)

ALONE = {
    "boto3": "boto3",
    "botocore.session": "botocore.session",
    "aws_lambda_powertools (Logger, Metrics)": "aws_lambda_powertools",
    "httpx": "httpx",
    "cryptography (AESGCM, HKDF)": ",".join(
        ["cryptography.hazmat.primitives.ciphers.aead", "cryptography.hazmat.primitives.kdf.hkdf"]
    ),
    "hitkey_bff.routes.* (all of the layer)": ",".join(f"hitkey_bff.routes.{name}" for name in ROUTE_NAMES),
}
"""One import each in a fresh interpreter: what every dependency costs on its own."""
RESULT_PREFIX = "BENCH-RESULT "
PHASE_MARK = "BENCH-PHASE first-event"
PHASE_END = "BENCH-PHASE end"
IMPORTTIME_RUNS = 3

RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six"})
"""Top-level packages the python3.12 Lambda runtime ships (precompiled); the layer vendors the rest."""
RUNTIME_DISTRIBUTIONS = ("boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "urllib3", "six")
"""The distributions of :data:`RUNTIME_PROVIDED`."""
REQUIREMENTS = LAYER_DIR / "requirements.txt"

# The measured process. Everything it needs before the clock is imported first, also by the reference.
CHILD = r"""
import json, os, sys, time
mode, function_dir, layer_dir, mark = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
event = json.loads(os.environ.get("BENCH_EVENT", "{}"))
sys.path[:0] = [function_dir, layer_dir]

class Context:
    function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "bench")
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:" + function_name
    memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e812345678"
    log_group_name = "/aws/lambda/" + function_name
    log_stream_name = "2025/01/01/[$LATEST]0123456789abcdef"
    identity = client_context = tenant_id = None
    deadline = time.monotonic() + int(os.environ.get("BENCH_TIMEOUT_MS", "3000")) / 1000
    def get_remaining_time_in_millis(self):
        return max(0, int((self.deadline - time.monotonic()) * 1000))

c0, t0 = time.process_time(), time.perf_counter()
if mode == "function":
    import app
    c1, t1 = time.process_time(), time.perf_counter()
    sys.stderr.write(mark + "\n"); sys.stderr.flush()
    response = app.handler(event, Context())
    status = response.get("statusCode")
elif mode.startswith("import:"):
    import importlib
    for name in mode[7:].split(","):
        importlib.import_module(name)
    c1, t1 = time.process_time(), time.perf_counter()
    status = 200
elif mode == "botocore":
    import botocore.session
    client = botocore.session.get_session().create_client("dynamodb")
    c1, t1 = time.process_time(), time.perf_counter()
    status = 200
elif mode == "botocore-layer":
    import botocore.session
    from hitkey_bff.aws import data_loader
    session = botocore.session.get_session()
    session.register_component("data_loader", data_loader())
    client = session.create_client("dynamodb")
    c1, t1 = time.process_time(), time.perf_counter()
    status = 200
else:
    import boto3
    client = boto3.client("dynamodb")
    c1, t1 = time.process_time(), time.perf_counter()
    sys.stderr.write(mark + "\n"); sys.stderr.flush()
    if mode == "baseline+call":
        client.get_item(TableName="t", Key={"pk": {"S": "a"}, "sk": {"S": "b"}})
    status = 200
c2, t2 = time.process_time(), time.perf_counter()
sys.stderr.write(mark.replace("first-event", "end") + "\n"); sys.stderr.flush()

# -- after the clock --------------------------------------------------------------------------
import resource
runtime_provided = set(json.loads(os.environ["BENCH_RUNTIME_PROVIDED"]))
compile_s, compiled = 0.0, 0
for name, module in list(sys.modules.items()):
    path = getattr(module, "__file__", None) or ""
    top = name.split(".", 1)[0]
    vendored = "site-packages" in os.path.realpath(path) or path.startswith(layer_dir)
    if path.endswith(".py") and vendored and top not in runtime_provided:
        with open(path, "rb") as f:
            source = f.read()
        k0 = time.process_time(); compile(source, path, "exec"); compile_s += time.process_time() - k0
        compiled += 1
print("BENCH-RESULT " + json.dumps({
    "import_s": c1 - c0, "event_s": c2 - c1, "total_s": c2 - c0, "wall_s": t2 - t0, "status": status,
    "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "compile_s": compile_s, "compiled_modules": compiled, "modules": len(sys.modules),
}), flush=True)
"""

EXPECTED_STATUS = {"login": 302, "callback": 302, "session": 200, "userinfo": 200, "refresh": 200, "logout": 204}


# -- the stub server ---------------------------------------------------------------------------------


class _StubHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    wbufsize = -1  # headers and body in one segment (no Nagle / delayed-ACK stall); flushed per request
    server: _StubServer

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        target = self.headers.get("X-Amz-Target")
        if target:
            status, body = 200, self.server.fake.answer(target, json.loads(raw or b"{}"))
            content_type = "application/x-amz-json-1.1"
        else:
            status, body = hitkey_answer(self.command, self.path.split("?", 1)[0])
            content_type = "application/json"
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _StubServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FakeAws) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", 0), _StubHandler)


@contextmanager
def stub_server() -> Iterator[tuple[str, Seeded, float]]:
    """The parent's AWS + HitKey answering server, seeded by the BFF's own code; yields its URL,
    the seeded session/login and the median cost of one call to it (seconds)."""
    import http.client

    fake = FakeAws()
    server = _StubServer(fake)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with environment(aws_env()):
            seeded = seed(stub_deps(fake, api_url=url), fake)
        connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1])
        times = []
        for _ in range(200):
            t0 = time.perf_counter()
            connection.request("GET", "/oauth/userinfo")
            connection.getresponse().read()
            times.append(time.perf_counter() - t0)
        connection.close()
        yield url, seeded, median(times)
    finally:
        server.shutdown()
        server.server_close()


# -- runs ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    import_s: float  # CPU seconds (process_time) from here on
    event_s: float
    total_s: float
    wall_s: float
    rss_mb: float
    compile_s: float
    compiled_modules: int
    stderr: str


@cache
def _specs() -> dict[str, FunctionSpec]:
    """``functions/<name>`` -> its function in template.yaml (timeout and memory for the context)."""
    return {spec.code_uri.name: spec for spec in route_functions()}


@cache
def lambda_site() -> Path:
    """A folder of links to this environment's installed copies of the layer's requirements and
    the runtime's boto3/botocore - what ``sys.path`` offers a Lambda function, and nothing else."""
    import atexit
    import shutil
    import tempfile
    from importlib.metadata import distribution

    names = [*re.findall(r"^([A-Za-z0-9._-]+)==", REQUIREMENTS.read_text(), re.MULTILINE), *RUNTIME_DISTRIBUTIONS]
    site = Path(tempfile.mkdtemp(prefix="hitkey-bff-lambda-site-"))
    atexit.register(shutil.rmtree, site, ignore_errors=True)
    for name in names:
        dist = distribution(name)
        for top in {Path(str(f)).parts[0] for f in dist.files or ()}:
            if top.endswith((".dist-info", ".pth")) or top in ("..", "bin", "__pycache__"):
                continue
            source = Path(str(dist.locate_file(top)))
            if source.exists() and not (site / top).exists():
                (site / top).symlink_to(source)
    return site


def python_command() -> list[str]:
    """How a measured process starts: this interpreter without its ``site-packages`` (``-S``);
    :func:`child_env` puts :func:`lambda_site` on its ``PYTHONPATH``."""
    return [sys.executable, "-S"]


def child_env(url: str, function: str, event: dict[str, Any] | None) -> dict[str, str]:
    """A Lambda-like environment for the measured process: the function's timeout and memory are
    template.yaml's (a reference variant gets the first function's)."""
    spec = _specs().get(function) or next(iter(_specs().values()))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "HITKEY_", "POWERTOOLS_", "PYTHON"))}
    for values in (aws_env(endpoint=url), bff_env(stub_settings(api_url=url))):
        env.update({k: v for k, v in values.items() if v is not None})
    env.update(
        AWS_LAMBDA_FUNCTION_NAME=f"hitkey-bff-{function}",
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE=str(spec.memory_size),
        BENCH_TIMEOUT_MS=str(spec.timeout * 1000),
        AWS_EXECUTION_ENV="AWS_Lambda_python3.12",
        BENCH_EVENT=json.dumps(event or {}),
        API_UPSTREAMS=json.dumps({"bench": f"{url}/oauth"}),  # the api function's upstream: the stub
        BENCH_RUNTIME_PROVIDED=json.dumps(sorted(RUNTIME_PROVIDED)),
        PYTHONPATH=str(lambda_site()),
    )
    return env


def run_child(variant: str, url: str, seeded: Seeded, *, importtime: bool = False, layer: Path = LAYER_DIR) -> Run:
    """One fresh interpreter for ``variant`` (a route's name, served by its function, or a reference)."""
    if variant in ROUTE_NAMES:
        mode, function_dir, event = "function", FUNCTIONS_DIR / function_of(variant), seeded.event(variant)
    elif variant == BOTOCORE:
        mode, function_dir, event = "botocore", ROOT, None
    elif variant == BOTOCORE_LAYER:
        mode, function_dir, event = "botocore-layer", ROOT, None
    elif variant in ALONE:
        mode, function_dir, event = "import:" + ALONE[variant], ROOT, None
    else:
        mode, function_dir, event = ("baseline+call" if variant == BASELINE_CALL else "baseline"), ROOT, None
    flags = ["-X", "importtime"] if importtime else []
    command = [*python_command(), *flags, "-c", CHILD, mode, str(function_dir), str(layer), PHASE_MARK]
    done = subprocess.run(
        command, env=child_env(url, variant, event), capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith(RESULT_PREFIX)]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{variant}: the child failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result = json.loads(lines[-1][len(RESULT_PREFIX) :])
    expected = EXPECTED_STATUS.get(variant, 200)
    if result["status"] != expected:
        raise RuntimeError(f"{variant}: first event answered {result['status']}, expected {expected}")
    return Run(
        result["import_s"],
        result["event_s"],
        result["total_s"],
        result["wall_s"],
        result["rss_mb"],
        result["compile_s"],
        result["compiled_modules"],
        done.stderr,
    )


@dataclass(frozen=True)
class ColdStarts:
    """Medians per variant and the raw runs."""

    runs: dict[str, list[Run]]
    stub_call_s: float
    importtime: dict[str, list[str]]  # -X importtime stderr of IMPORTTIME_RUNS runs per function

    def med(self, variant: str, attr: str) -> float:
        return median([getattr(r, attr) for r in self.runs[variant]])

    def ratio(self, variant: str) -> float:
        return self.med(variant, "total_s") / self.med(BASELINE, "total_s")


def measure(
    reps: int = 7,
    functions: tuple[str, ...] = ROUTE_NAMES,
    *,
    importtime: bool = True,
    layer: Path = LAYER_DIR,
    warm_up: bool = True,
) -> ColdStarts:
    """``reps`` interleaved fresh-interpreter runs of every function and both references (after
    an uncounted ``warm_up`` run of each that fills the page cache and the local .pyc files)."""
    variants = [*REFERENCES, *functions, *(ALONE if importtime else ())]
    runs: dict[str, list[Run]] = defaultdict(list)
    traces: dict[str, list[str]] = {}
    rng = random.Random(42)
    with stub_server() as (url, seeded, stub_call_s):
        for variant in variants if warm_up else ():  # not counted
            run_child(variant, url, seeded, layer=layer)
        bar = Progress("cold starts", reps * len(variants))
        for rep in range(reps):
            order = variants[:]
            rng.shuffle(order)
            for i, variant in enumerate(order):
                runs[variant].append(run_child(variant, url, seeded, layer=layer))
                bar.update(rep * len(variants) + i + 1)
        bar.close()
        if importtime:
            for function in functions:
                traces[function] = [
                    run_child(function, url, seeded, importtime=True, layer=layer).stderr
                    for _ in range(IMPORTTIME_RUNS)
                ]
    return ColdStarts(dict(runs), stub_call_s, traces)


# -- import-time analysis --------------------------------------------------------------------------

_IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)")


@dataclass(frozen=True)
class ImportEntry:
    module: str
    self_us: int
    cumulative_us: int
    depth: int
    phase: str  # "import app" or "first event"


def parse_importtime(stderr: str) -> list[ImportEntry]:
    """``-X importtime`` lines of the handler import and of the first event (startup excluded)."""
    entries, phase, started = [], "", False
    for line in stderr.splitlines():
        if line.strip() == PHASE_MARK:
            phase = "first event"
            continue
        if line.strip() == PHASE_END:
            break
        m = _IMPORT_LINE.match(line)
        if not m:
            continue
        self_us, cumulative_us, indent, module = int(m[1]), int(m[2]), len(m[3]), m[4]
        if not phase and module == "app" and indent == 1:
            started = True
        entries.append(ImportEntry(module, self_us, cumulative_us, (indent - 1) // 2, phase or "import app"))
    if not started:
        return entries
    # lines are printed when an import finishes: everything before `app` (depth 0) and after the
    # marker belongs to the measurement, interpreter start-up (site, encodings) comes first
    app_index = next(i for i, e in enumerate(entries) if e.module == "app" and e.depth == 0)
    first_app_child = app_index
    while first_app_child > 0 and entries[first_app_child - 1].depth > 0:
        first_app_child -= 1
    return entries[first_app_child:]


def median_entries(traces: list[str]) -> list[ImportEntry]:
    """Per module, the median self and cumulative time over several ``-X importtime`` runs."""
    runs = [parse_importtime(trace) for trace in traces]
    by_module: dict[tuple[str, str], list[ImportEntry]] = defaultdict(list)
    for entries in runs:
        for e in entries:
            by_module[(e.module, e.phase)].append(e)
    return [
        ImportEntry(
            module,
            int(median([e.self_us for e in found])),
            int(median([e.cumulative_us for e in found])),
            found[0].depth,
            phase,
        )
        for (module, phase), found in by_module.items()
    ]


PACKAGE_GROUPS = {
    "boto3/botocore": RUNTIME_PROVIDED,
    "powertools": {"aws_lambda_powertools"},
    "httpx stack": {"httpx", "httpcore", "h11", "h2", "anyio", "sniffio", "idna", "certifi"},
    "cryptography": {"cryptography", "cffi", "_cffi_backend"},
    "hitkey_bff": {"hitkey_bff", "app"},
}


def group_of(module: str) -> str:
    top = module.split(".", 1)[0]
    for group, tops in PACKAGE_GROUPS.items():
        if top in tops:
            return group
    return "stdlib/other"


# -- report ----------------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def print_report(result: ColdStarts, reps: int) -> None:
    base, base_wall = result.med(BASELINE, "total_s"), result.med(BASELINE, "wall_s")
    heading(f"Cold start: fresh interpreter, import + first event (median of {reps}, interleaved; CPU ms)")
    rows: list[list[object]] = []
    for variant in [*REFERENCES, *[f for f in ROUTE_NAMES if f in result.runs]]:
        runs = result.runs[variant]
        rows.append(
            [
                variant,
                "" if variant in REFERENCES else function_of(variant),
                ms(result.med(variant, "import_s")),
                ms(result.med(variant, "event_s")),
                ms(result.med(variant, "total_s")),
                f"{result.med(variant, 'total_s') / base:.2f}x",
                f"{ms(result.med(variant, 'wall_s'))} ({result.med(variant, 'wall_s') / base_wall:.2f}x)",
                f"{result.med(variant, 'rss_mb'):.0f}",
                f"+{ms(result.med(variant, 'compile_s'))} ({runs[0].compiled_modules} modules)",
            ]
        )
    headers = [
        "process (route)",
        "function",
        "import",
        "first event",
        "total",
        "ratio",
        "wall ms (ratio)",
        "max RSS MB",
        "+ compile if the layer ships no .pyc",
    ]
    print(table(headers, rows, right=(2, 3, 4, 5, 6, 7)))
    verdicts = ", ".join(
        f"{f} {result.ratio(f):.2f}x ({'met' if result.ratio(f) <= 1.5 else 'not met'})"
        for f in ("session", "userinfo")
        if f in result.runs
    )
    print(
        f"\nRatios are CPU time (process_time: the machine is shared, wall time is shown for reference) over "
        f"'{BASELINE}' = {ms(base)} ms CPU on this machine. The stub server answers in "
        f"{result.stub_call_s * 1e6:.0f} µs per call on loopback (wall time, not CPU: it runs in the parent). "
        f"Target ≤ 1.5x for session and userinfo: {verdicts}."
    )
    if not result.importtime:
        return
    heading("What each dependency costs alone (fresh interpreter, one import, median CPU ms)")
    rows = [
        [name, ms(result.med(name, "import_s")), f"{result.med(name, 'import_s') / base:.2f}x"]
        for name in ALONE
        if name in result.runs
    ]
    print(table(["import", "CPU ms", f"share of '{BASELINE}'"], rows, right=(1, 2)))
    heading(f"Import time by package (self ms, -X importtime, import + first event, median of {IMPORTTIME_RUNS} runs)")
    groups = [*PACKAGE_GROUPS, "stdlib/other"]
    rows = []
    for function, traces in result.importtime.items():
        sums: dict[str, float] = defaultdict(float)
        for e in median_entries(traces):
            sums[group_of(e.module)] += e.self_us / 1000
        rows.append([function, *[f"{sums[g]:.0f}" for g in groups], f"{sum(sums.values()):.0f}"])
    print(table(["function", *groups, "total"], rows, right=tuple(range(1, len(groups) + 2))))
    print(
        "\n-X importtime measures wall time and adds its own overhead on a shared machine: read it for the "
        "structure (what imports what, and when), the CPU tables above for the magnitudes."
    )
    for function, traces in result.importtime.items():
        heading(f"-X importtime top 10 (cumulative, median of {IMPORTTIME_RUNS} runs): {function}")
        entries = sorted(median_entries(traces), key=lambda e: e.cumulative_us, reverse=True)[:10]
        rows = [[e.module, f"{e.cumulative_us / 1000:.1f}", f"{e.self_us / 1000:.1f}", e.phase] for e in entries]
        print(table(["module", "cumulative ms", "self ms", "phase"], rows, right=(1, 2)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.coldstart", description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=7, help="fresh interpreters per variant (default 7)")
    parser.add_argument("--no-importtime", action="store_true", help="skip the -X importtime tables")
    parser.add_argument(
        "--brief",
        action="store_true",
        help="one cold start each, no warm-up: that it runs (make test)",
    )
    parser.add_argument(
        "--layer",
        type=Path,
        default=LAYER_DIR,
        help="the folder holding hitkey_bff (default layers/bff): try a variant",
    )
    args = parser.parse_args(argv)
    if args.brief:
        args.reps, args.no_importtime = 1, True
    result = measure(args.reps, importtime=not args.no_importtime, layer=args.layer.resolve(), warm_up=not args.brief)
    print_report(result, args.reps)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
