"""A stand-in Lambda process for concurrency tests: invokes one handler with one event.

Usage: ``python -m tests.integration.lambda_worker ROUTE_KEY COOKIE START_AT [METHOD PATH]`` with
the BFF's environment set (METHOD PATH: the request, for a route with parameters such as
``ANY /api/{upstream}/{proxy+}``; default: the route key's own); waits until the epoch time
START_AT so all workers fire together, then prints
the response's status code. The handler builds its dependencies from the environment, as in Lambda.
"""

from __future__ import annotations

import sys
import time

from local.apigw.event import build_event
from local.lambda_runtime import LambdaContext
from testkit.functions import handler_for, routes


def main() -> int:
    route, cookie, start_at = sys.argv[1], sys.argv[2], float(sys.argv[3])
    handler, function = handler_for(route), routes()[route].logical_id  # import before the starting gun
    method, path = sys.argv[4:6] if len(sys.argv) > 5 else route.split(" ", 1)
    event = build_event(method, path, headers={"x-csrf": "1"}, cookies=[cookie], route_key=route)
    time.sleep(max(0.0, start_at - time.time()))
    print(handler(event, LambdaContext(function))["statusCode"], flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
