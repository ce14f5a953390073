"""The test kit shared by tests and benches, free of ``hitkey_bff`` imports: the template's
routes and their handlers (``functions/*/app.py``, loaded once by file path as Lambda does), a
botocore response stub, and a clock that moves only when told."""

from __future__ import annotations

import importlib.util
import json
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from local.gateway import load_routes

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
FUNCTIONS_DIR = ROOT / "functions"
LAYER_DIR = ROOT / "layers" / "bff"


@dataclass(frozen=True)
class RouteSpec:
    """One route of template.yaml: ``key`` ("GET /auth/login"), its function folder and logical id."""

    key: str
    method: str
    path: str
    function: str
    logical_id: str
    handler_file: Path


@cache
def routes() -> dict[str, RouteSpec]:
    """Route key -> :class:`RouteSpec`, for every route in template.yaml."""
    table: dict[str, RouteSpec] = {}
    for (method, path), route in load_routes(TEMPLATE).items():
        file = Path(route.function.handler_file)
        table[f"{method} {path}"] = RouteSpec(
            f"{method} {path}", method, path, file.parent.name, route.function.logical_id, file
        )
    return table


def route_of(function: str) -> RouteSpec:
    """The route served by ``functions/<function>``."""
    return next(r for r in routes().values() if r.function == function)


_LOADING = threading.RLock()


def load_handler(function: str) -> Any:
    """``functions/<function>/app.py``'s ``handler`` (a ``hitkey_bff.route.Route``), imported once."""
    name = f"_fn_{function}"
    with _LOADING:  # threads racing the first call must not see a half-executed module
        module = sys.modules.get(name)
        if module is None:
            spec = importlib.util.spec_from_file_location(name, FUNCTIONS_DIR / function / "app.py")
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
    return module.handler


def handler_for(route: str) -> Any:
    """The handler of route key ``route``."""
    return load_handler(routes()[route].function)


# --- botocore responses ---------------------------------------------------------------------------


class Body:
    """The ``raw`` of a botocore ``AWSResponse``: what botocore streams the body from."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


def aws_response(url: str, status: int, payload: object, protocol: str = "1.0") -> Any:
    """An AWS JSON-protocol response (what a ``before-send`` handler returns instead of sending)."""
    from botocore.awsrequest import AWSResponse
    from botocore.compat import HTTPHeaders

    headers = HTTPHeaders()
    headers["x-amzn-RequestId"] = "stub"
    headers["content-type"] = f"application/x-amz-json-{protocol}"
    return AWSResponse(url, status, headers, Body(json.dumps(payload).encode()))


# --- time -----------------------------------------------------------------------------------------


class ManualClock:
    """A clock (``hitkey_bff.clock.Clock``) that moves only by :meth:`advance`; ``sleep`` advances."""

    def __init__(self, start: float | None = None) -> None:
        self.t = time.time() if start is None else start

    def now(self) -> int:
        """Epoch seconds."""
        return int(self.t)

    def monotonic(self) -> float:
        """The same time, as a float."""
        return self.t

    def time(self) -> float:
        """Epoch seconds, as a float."""
        return self.t

    def sleep(self, seconds: float) -> None:
        """Let ``seconds`` pass at once."""
        self.t += seconds

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass."""
        self.t += seconds
