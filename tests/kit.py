"""The test kit shared by tests and benches, free of ``hitkey_bff`` imports: the template's
routes and their handlers (``functions/*/app.py``, loaded once by file path as Lambda does), a
browser that calls them as API Gateway would, a botocore response stub, and a clock that moves
only when told."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from local.apigw import LambdaRuntime, build_event, load_routes
from local.template import FunctionSpec

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


_runtime = LambdaRuntime()  # one warm container per function, for the whole test run


@cache
def _functions() -> dict[str, FunctionSpec]:
    """``functions/<name>`` -> its function in template.yaml."""
    return {route.function.code_uri.name: route.function for route in load_routes(TEMPLATE).values()}


def load_handler(function: str) -> Any:
    """``functions/<function>/app.py``'s ``handler`` (a ``hitkey_bff.route.Route``), imported once."""
    return _runtime.handler(_functions()[function])  # thread-safe: race tests load from threads


def handler_for(route: str) -> Any:
    """The handler of route key ``route``."""
    return load_handler(routes()[route].function)


# --- a browser ----------------------------------------------------------------------------------

Invoke = Callable[[str, dict[str, Any]], dict[str, Any]]
"""Route key ("GET /auth/session") and event -> the handler's response."""


def set_cookie_attrs(header: str) -> dict[str, str]:
    """The attributes of a ``Set-Cookie`` value, lower-cased names."""
    parts = [p.strip() for p in header.split(";")]
    return {p.partition("=")[0].lower(): p.partition("=")[2] for p in parts[1:]}


@dataclass
class Browser:
    """One browser profile: a cookie jar and the app's origin. It sends the API Gateway 2.0 events
    the local gateway builds to ``invoke`` and keeps the cookies the answers set (``set_cookies``:
    every ``Set-Cookie`` seen)."""

    invoke: Invoke
    origin: str = "https://app.example.com"
    jar: dict[str, str] = field(default_factory=dict)
    set_cookies: list[str] = field(default_factory=list)

    def call(
        self, route: str, query: str = "", headers: dict[str, str] | None = None, csrf: bool = True
    ) -> dict[str, Any]:
        """Invoke ``route`` (a route key, or the function's name: "session") as the SPA would."""
        key = route if " " in route else route_of(route).key
        method, path = key.split(" ", 1)
        sent = {"x-csrf": "1", "origin": self.origin} if csrf else {}
        sent.update(headers or {})
        cookies = [f"{k}={v}" for k, v in self.jar.items()]
        response = self.invoke(key, build_event(method, path, query, headers=sent, cookies=cookies, route_key=key))
        for header in response.get("cookies", []):
            self.set_cookies.append(header)
            name, _, value = header.split(";", 1)[0].partition("=")
            if set_cookie_attrs(header).get("max-age") == "0":
                self.jar.pop(name, None)
            else:
                self.jar[name] = value
        return response

    def login(self, return_to: str = "/") -> dict[str, Any]:
        """``GET /auth/login`` (a top-level navigation: no CSRF header)."""
        return self.call("GET /auth/login", urlencode({"return_to": return_to}), csrf=False)

    def callback(self, query: str) -> dict[str, Any]:
        """``GET /auth/callback?...`` as HitKey's redirect lands."""
        return self.call("GET /auth/callback", query, csrf=False)

    def sign_in(self, sub: str | None = None, return_to: str = "/", decision: str = "allow") -> dict[str, Any]:
        """Login, HitKey's page (real HTTP), then the callback; returns the callback's response."""
        authorize = self.login(return_to)["headers"]["location"]
        return self.callback(approve_at_hitkey(authorize, sub=sub, decision=decision))


def approve_at_hitkey(
    authorize_url: str,
    sub: str | None = None,
    decision: str = "allow",
    http: httpx.Client | None = None,
    email: str = "",
) -> str:
    """The user's part at HitKey's sign-in page (not the BFF's calls): returns the callback's query.
    ``email`` signs in a user of that address (the emulator makes one up), else ``sub``."""
    client = http or httpx.Client()
    page = client.get(authorize_url)
    if page.status_code != 200:
        raise RuntimeError(f"HitKey's sign-in page answered {page.status_code}: {page.text}")
    form = {k: v[0] for k, v in parse_qs(urlsplit(authorize_url).query).items()}
    form["decision"] = decision
    if sub:
        form["sub"] = sub
    if email:
        form["email"] = email
    answer = client.post("{0.scheme}://{0.netloc}/".format(urlsplit(authorize_url)), data=form)
    if answer.status_code not in (302, 303):
        raise RuntimeError(f"HitKey's sign-in form answered {answer.status_code}: {answer.text}")
    if http is None:
        client.close()
    return urlsplit(answer.headers["location"]).query


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

    def now_ms(self) -> int:
        """Epoch milliseconds."""
        return int(self.t * 1000)

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
