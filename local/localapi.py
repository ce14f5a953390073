"""Local APIs for ``make run``: the Lambda authorizers API Gateway applies to routes - a team's
own routes from other templates (``EXTRA_TEMPLATES``, read with the BFF's own by
:func:`local.api_template.api_routes`) on the BFF's HTTP API.

The authorizer is applied as API Gateway applies a REQUEST authorizer with simple responses: an
identity source missing or empty is a 401 without invoking it; an answer is cached for its TTL
under the identity sources' values (denials too); ``isAuthorized: false`` is a 403; an error or
a malformed answer is a 500; an allowed request's event carries ``requestContext.authorizer.lambda``.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs

from local.api_template import AuthorizerSpec
from local.apigw.response import HttpResponse, json_response
from local.lambda_runtime import DEFAULT_ACCOUNT_ID, LambdaRuntime, region

UNAUTHORIZED = 401
FORBIDDEN = 403


# -- applying an authorizer ----------------------------------------------------------------------


def identity_values(spec: AuthorizerSpec, headers: Mapping[str, str], event: Mapping[str, Any]) -> list[str] | None:
    """The identity sources' values, or ``None`` when one is missing or empty (a 401)."""
    query = parse_qs(str(event.get("rawQueryString") or ""), keep_blank_values=True)
    context = event.get("requestContext") or {}
    values: list[str] = []
    for source in spec.identity_sources:
        kind, _, name = source.removeprefix("$").partition(".")
        value: object = None
        if kind == "request":
            where, _, key = name.partition(".")
            if where == "header":
                value = headers.get(key.lower())
            elif where == "querystring":
                value = ",".join(query.get(key, [])) or None
        elif kind == "context":
            value = context.get(name) if isinstance(context, Mapping) else None
        if not isinstance(value, str | int) or value == "":
            return None
        values.append(str(value))
    return values


def authorizer_event(event: Mapping[str, Any], identity: Sequence[str]) -> dict[str, Any]:
    """The payload-2.0 REQUEST authorizer event for a request's integration event."""
    out = {k: copy.deepcopy(v) for k, v in event.items() if k not in ("body", "isBase64Encoded")}
    http = (event.get("requestContext") or {}).get("http") or {}
    api = (event.get("requestContext") or {}).get("apiId", "local")
    where = f"{api}/$default/{http.get('method')}{http.get('path')}"
    route_arn = f"arn:aws:execute-api:{region()}:{DEFAULT_ACCOUNT_ID}:{where}"
    return {"version": "2.0", "type": "REQUEST", "routeArn": route_arn, "identitySource": list(identity), **out}


class Authorizers:
    """Applies authorizers for a gateway: invocation on ``runtime``, a cache per authorizer."""

    def __init__(
        self,
        runtime: LambdaRuntime,
        clock: Callable[[], float] = time.monotonic,
        log: Callable[[str, bool], None] = lambda line, with_traceback: None,
    ) -> None:
        self._runtime, self._clock, self._log = runtime, clock, log
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, tuple[str, ...]], tuple[float, dict[str, Any] | None]] = {}
        self.invocations: dict[str, int] = {}

    def apply(self, spec: AuthorizerSpec, event: dict[str, Any], headers: Mapping[str, str]) -> HttpResponse | None:
        """``None`` when the request may go on (``event`` then carries the context), else the
        answer API Gateway gives instead of invoking the route's function."""
        identity = identity_values(spec, headers, event)
        if identity is None:
            return json_response(UNAUTHORIZED, {"message": "Unauthorized"})
        key = (spec.logical_id, tuple(identity))
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and hit[0] > self._clock():
            context = hit[1]
        else:
            try:
                context = self._decide(spec, authorizer_event(event, identity))
            except (Exception, SystemExit):
                self._log(f"[gateway] authorizer {spec.name} failed; API Gateway answers 500", True)
                return json_response(500, {"message": "Internal Server Error"})
            if spec.ttl_seconds > 0:
                with self._lock:
                    self._cache[key] = (self._clock() + spec.ttl_seconds, context)
        if context is None:
            return json_response(FORBIDDEN, {"message": "Forbidden"})
        event.setdefault("requestContext", {})["authorizer"] = {"lambda": context}
        return None

    def _decide(self, spec: AuthorizerSpec, event: dict[str, Any]) -> dict[str, Any] | None:
        """The context of an allowed request, ``None`` for a denied one; raises for a bad answer."""
        with self._lock:
            self.invocations[spec.logical_id] = self.invocations.get(spec.logical_id, 0) + 1
        answer = self._runtime.invoke(spec.function, event)
        if not spec.simple_responses or spec.payload_version != "2.0" or not isinstance(answer, dict):
            raise ValueError(f"{spec.name}: only simple responses of payload 2.0 are emulated")
        allowed = answer.get("isAuthorized")
        if not isinstance(allowed, bool):
            raise ValueError(f"{spec.name}: isAuthorized must be a boolean")
        extra = answer.get("context") or {}
        if not isinstance(extra, dict):
            raise ValueError(f"{spec.name}: context must be an object")
        return dict(extra) if allowed else None
