"""The template's routes and their functions (``functions/*/app.py``, loaded once by file path as
Lambda does, each a dispatch table from route key to route)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from local.api_template import load_routes
from local.lambda_runtime import LambdaRuntime
from local.template import FunctionSpec

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
FUNCTIONS_DIR = ROOT / "functions"
LAYER_DIR = ROOT / "layers" / "bff"


@dataclass(frozen=True)
class RouteSpec:
    """One route of template.yaml: ``key`` ("GET /auth/login"), its name (``hitkey_bff.routes.<name>``,
    from the function's dispatch table), the function folder that serves it and its logical id."""

    key: str
    method: str
    path: str
    name: str
    function: str
    logical_id: str
    handler_file: Path


@cache
def routes() -> dict[str, RouteSpec]:
    """Route key -> :class:`RouteSpec`, for every route in template.yaml, in the template's order.

    Raises when a function's dispatch table lacks a route key the template sends it."""
    table: dict[str, RouteSpec] = {}
    for (method, path), route in load_routes(TEMPLATE).items():
        key, file = f"{method} {path}", Path(route.function.handler_file)
        served = load_handler(file.parent.name).routes
        if key not in served:
            raise LookupError(f"template.yaml sends {key} to {file}, whose dispatch table lacks it")
        table[key] = RouteSpec(key, method, path, served[key].name, file.parent.name, route.function.logical_id, file)
    return table


def route_of(name: str) -> RouteSpec:
    """The (first, in the template's order) route named ``name``: "session", "sessions", "api"..."""
    return next(r for r in routes().values() if r.name == name)


def function_of(route: str) -> str:
    """The function folder serving ``route``: a route key, a route's name or a function's name."""
    if " " in route:
        return routes()[route].function
    named = [r.function for r in routes().values() if r.name == route]
    return named[0] if named else route


_runtime = LambdaRuntime()  # one warm container per function, for the whole test run


@cache
def _functions() -> dict[str, FunctionSpec]:
    """``functions/<name>`` -> its function in template.yaml."""
    return {route.function.code_uri.name: route.function for route in load_routes(TEMPLATE).values()}


def load_handler(function: str) -> Any:
    """``functions/<function>/app.py``'s ``handler`` (a ``hitkey_bff.dispatch.Dispatch``), imported once."""
    return _runtime.handler(_functions()[function])  # thread-safe: race tests load from threads


def handler_for(route: str) -> Any:
    """The handler (a ``hitkey_bff.route.Route``) of route key ``route``, from its function's table."""
    return load_handler(routes()[route].function).routes[route]
