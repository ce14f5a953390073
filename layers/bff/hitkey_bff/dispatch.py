"""A Lambda function that serves several routes: a table from API Gateway's route key to each
route's handler, with the policy that route declares (:func:`hitkey_bff.route.route`).

::

    handler = dispatch({
        "GET /auth/session": session.handler,
        "POST /auth/logout": logout.handler,
    })

The event's ``routeKey`` (``"GET /auth/session"``, exactly as the template's ``HttpApi`` event
declares method and path) picks the route: one dictionary lookup (``sam local`` names an ``ANY``
route by the request's method, so a miss tries ``ANY <path>``). The routes of one function share
one :class:`~hitkey_bff.deps.Deps` per process - one DynamoDB client, one data-key cache, one
HitKey client - built at the first invocation of any of them. A route key the table does not list
(the template and the table disagree) answers ``404 {"error": "not_found"}``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from hitkey_bff.deps import Deps
from hitkey_bff.errors import UnknownRoute
from hitkey_bff.http import Response, error_response
from hitkey_bff.observability import logger
from hitkey_bff.route import Route

MAX_LOGGED_KEY = 100


class _Shared:
    """One ``Deps`` for every route of a function, built at the first call (a failure is retried)."""

    def __init__(self, factory: Callable[[], Deps]) -> None:
        self._factory = factory
        self._deps: Deps | None = None
        self._lock = threading.Lock()

    def __call__(self) -> Deps:
        with self._lock:
            if self._deps is None:
                self._deps = self._factory()
            return self._deps


class Dispatch:
    """A Lambda handler (``dispatch(event, context)``): the route of ``event["routeKey"]``."""

    def __init__(self, table: Mapping[str, Route], deps: Callable[[], Deps] = Deps.from_env) -> None:
        shared = _Shared(deps)
        self.routes: dict[str, Route] = {key: handler.using(shared) for key, handler in table.items()}

    def __call__(self, event: dict[str, Any], context: Any) -> Response:
        key = event.get("routeKey") if isinstance(event, dict) else None
        handler = self.routes.get(key) if isinstance(key, str) else None
        if handler is None and isinstance(key, str):
            handler = self.routes.get("ANY " + key.partition(" ")[2])
        if handler is None:
            logger.error("no route for this route key", extra={"route_key": str(key)[:MAX_LOGGED_KEY]})
            return error_response(UnknownRoute("no such route"))
        return handler(event, context)

    def using(self, deps: Deps | Callable[[], Deps]) -> Dispatch:
        """The same table on other dependencies (see :meth:`hitkey_bff.route.Route.using`)."""
        factory = deps if callable(deps) and not isinstance(deps, Deps) else (lambda: deps)
        return Dispatch(dict(self.routes), factory)


def dispatch(table: Mapping[str, Route]) -> Dispatch:
    """The handler of a function serving ``table``'s routes (route key -> the route's handler)."""
    return Dispatch(table)
