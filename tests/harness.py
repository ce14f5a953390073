"""The BFF under test and the checks in-process tests share.

:class:`Bff` holds the ``Deps`` a test built (moto's AWS, the emulator's HitKey) and invokes the
real handlers (``functions/*/app.py``, routes from template.yaml) on them; a test gets one from the
``bff`` fixture and browses it with ``Browser(bff.invoke)`` (:class:`testkit.browser.Browser`:
cookie jar, sign-in through the HitKey emulator's page over real HTTP)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from hitkey_bff.clock import Clock, SystemClock
from hitkey_bff.config import Settings
from hitkey_bff.deps import Deps
from hitkey_bff.route import Route
from local.emulator import Emulator
from local.emulator.users import SEEDED_USERS
from local.lambda_runtime import LambdaContext
from testkit.aws import Aws
from testkit.browser import Browser, set_cookie_attrs
from testkit.functions import handler_for, load_handler, routes

SESSION: str = next(f.default for f in dataclasses.fields(Settings) if f.name == "cookie_name")  # type: ignore[assignment]
"""The session cookie's name (Settings' default)."""
LOGIN = f"{SESSION}-login"
"""The login cookie's name."""


class Bff:
    """The BFF under test: ``settings``, ``clock`` and the ``deps`` every handler is invoked with
    (one set for all routes, like one warm process)."""

    def __init__(self, settings: Settings, *, clock: Clock | None = None, **parts: Any) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.deps = self.cold(**parts)

    def cold(self, **parts: Any) -> Deps:
        """Fresh dependencies, as a new Lambda would build (new clients, empty caches);
        ``parts`` as :class:`Deps` takes them (``hitkey=``, ``keyring=``, ``aws=``...)."""
        self.deps = Deps(self.settings, clock=self.clock, **parts)
        self._handlers: dict[str, Route] = {}
        self._functions: dict[str, Any] = {}  # function folder -> its Dispatch on these deps
        return self.deps

    def configure(self, **changes: Any) -> Deps:
        """Other settings (``dataclasses.replace``), on fresh dependencies."""
        self.settings = dataclasses.replace(self.settings, **changes)
        return self.cold()

    def handler(self, route: str) -> Route:
        """The real handler of ``route`` ("GET /auth/session"), on these dependencies."""
        if route not in self._handlers:
            self._handlers[route] = handler_for(route).using(self.deps)
        return self._handlers[route]

    def invoke(self, route: str, event: dict[str, Any]) -> dict[str, Any]:
        """Call ``route``'s function with ``event`` (whose ``routeKey`` picks the route, as in Lambda)
        and a Lambda context."""
        spec = routes()[route]
        if spec.function not in self._functions:
            self._functions[spec.function] = load_handler(spec.function).using(self.deps)
        response: dict[str, Any] = self._functions[spec.function](event, LambdaContext(spec.logical_id))
        return response

    def invoke_route(self, route: str, event: object) -> dict[str, Any]:
        """Call ``route``'s own handler, past the function's dispatch: for events that may lack the
        ``routeKey`` API Gateway always sets."""
        response: dict[str, Any] = self.handler(route)(event, LambdaContext(routes()[route].logical_id))  # type: ignore[arg-type]
        return response


def body(response: dict[str, Any]) -> Any:
    """The JSON body of a handler response."""
    return json.loads(response["body"])


# --- shared checks -------------------------------------------------------------------------------


def upstream(hitkey: Emulator) -> dict[str, int]:
    """The emulator's non-zero call counters."""
    return {k: v for k, v in hitkey.counters.items() if v}


def signed_in(bff: Bff, sub: str = SEEDED_USERS[0].sub, return_to: str = "/") -> Browser:
    """A browser on ``bff`` that has just signed in as ``sub``."""
    browser = Browser(bff.invoke)
    response = browser.sign_in(sub, return_to)
    assert response["statusCode"] == 302 and SESSION in browser.jar, response
    return browser


def items(aws: Aws, prefix: str = "") -> list[dict[str, Any]]:
    """Table items whose partition key starts with ``prefix`` (``USER#``, ``LOGIN#``)."""
    return [i for i in aws.scan() if str(i["pk"]["S"]).startswith(prefix)]  # type: ignore[index]


def only_session(aws: Aws) -> dict[str, Any]:
    """The one session item in the table."""
    (item,) = items(aws, "USER#")
    return item


def assert_error(response: dict[str, Any], status: int, code: str) -> None:
    """The stable JSON error: exactly ``{"error", "message"}``, never a 500."""
    assert response["statusCode"] == status, response
    assert response["headers"]["content-type"] == "application/json"
    data = body(response)
    assert set(data) == {"error", "message"} and data["error"] == code, data
    assert isinstance(data["message"], str) and data["message"]


def assert_auth_error(response: dict[str, Any], code: str) -> None:
    """A callback failure: a 302 to the SPA with ``?auth_error=code`` and no body."""
    assert response["statusCode"] == 302, response
    assert response["headers"]["location"].endswith(f"/?auth_error={code}"), response["headers"]
    assert not response.get("body")


def expires(response: dict[str, Any], cookie: str) -> bool:
    """Whether the response deletes ``cookie``."""
    return any(c.startswith(cookie + "=") and set_cookie_attrs(c).get("max-age") == "0" for c in response["cookies"])
