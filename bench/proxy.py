"""Warm CPU overhead of the API proxy over calling the same upstream directly with httpx.

    python -m bench.proxy [--calls 3000]

In-process, warm: the real ``api`` route (through ``functions/token/app.py``'s dispatch) with its session read
answered in memory at the HTTP layer (``bench.common.FakeAws``: botocore still serializes, signs
and parses the GetItem), forwarding ``GET /api/bench/hello`` to a real HTTP/1.1 upstream on
loopback; the reference is one ``httpx.Client.get`` of the same URL with a bearer token (what an
SPA-side or server-side caller does without the BFF). Variants run interleaved in rounds; the
medians of per-call CPU time of the calling thread (``thread_time``; the upstream's own threads
are not counted) are reported, with wall-clock medians beside them, and the ratio.
"""

from __future__ import annotations

import argparse
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bench.common import (
    APP_ORIGIN,
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

DIRECT = "httpx.Client.get of the upstream (reference)"
PROXIED = "api handler: session read + proxy + the same upstream call"
BODY = json.dumps({"sub": "bench-user", "name": "Bench", "path": "/hello"}).encode()


class _Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    wbufsize = -1  # headers and body in one segment (no Nagle / delayed-ACK stall); flushed per request

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)


@contextmanager
def upstream() -> Iterator[str]:
    """A keep-alive HTTP/1.1 upstream on loopback; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _variants(url: str) -> dict[str, Callable[[], Any]]:
    import httpx

    from local.apigw.event import build_event
    from local.lambda_runtime import LambdaContext

    fake = FakeAws()
    deps = stub_deps(fake)
    seeded = seed(deps, fake)
    handler = load_handler(function_of("api")).using(deps)
    cookies = [f"{seeded.cookie_name}={seeded.session_cookie}"]
    headers = {"x-csrf": "1", "origin": APP_ORIGIN, "accept": "application/json"}
    event = build_event("GET", "/api/bench/hello", headers=headers, cookies=cookies, route_key="ANY /api/{upstream}")
    context = LambdaContext("api", timeout_s=24 * 3600)  # outlasts the run (a refresh checks time left)
    client = httpx.Client(trust_env=False, follow_redirects=False)

    def proxied() -> Any:
        response = handler(event, context)
        if response["statusCode"] != 200:
            raise RuntimeError(f"api answered {response['statusCode']}: {response.get('body')}")
        return response

    def direct() -> Any:
        response = client.get(f"{url}/hello", headers={"authorization": "Bearer bench", "accept": "application/json"})
        if response.status_code != 200:
            raise RuntimeError(f"the upstream answered {response.status_code}")
        return response.content

    return {DIRECT: direct, PROXIED: proxied}


def measure(calls: int = 3000, rounds: int = 15) -> tuple[dict[str, float], dict[str, float]]:
    """CPU and wall medians per variant (seconds), interleaved in ``rounds`` after a warm-up."""
    with upstream() as url, environment({**aws_env(), "API_UPSTREAMS": json.dumps({"bench": url})}), quiet():
        cpu, wall, _ = interleaved("proxy calls", _variants(url), calls, rounds)
    return cpu, wall


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.proxy", description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=3000, help="timed calls per variant (default 3000)")
    parser.add_argument(
        "--brief",
        action="store_true",
        help="two calls in two rounds: that it runs (make test)",
    )
    args = parser.parse_args(argv)
    cpu, wall = measure(2, rounds=2) if args.brief else measure(args.calls)
    heading("API proxy: warm CPU per call vs calling the upstream directly (medians)")
    rows = [
        [name, f"{cpu[name] * 1e6:.0f}", f"{cpu[name] / cpu[DIRECT]:.2f}x", f"{wall[name] * 1e6:.0f}"]
        for name in (DIRECT, PROXIED)
    ]
    print(table(["variant", "CPU µs", "CPU ratio", "wall µs"], rows, right=(1, 2, 3)))
    overhead = (cpu[PROXIED] - cpu[DIRECT]) * 1e6
    print(f"\nproxy overhead: {overhead:.0f} µs CPU per call, {cpu[PROXIED] / cpu[DIRECT]:.2f}x the direct call")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
