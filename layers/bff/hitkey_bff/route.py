"""A route's policy, declared where its handler is made, and the wrapper that enforces it.

::

    handler = route(userinfo, session="required")         # CSRF/origin check on: the default
    handler = route(login, csrf=False)                      # a top-level navigation: no X-CSRF

Policy, in order: the event is parsed (400 for a query we refuse to read); the process's
:class:`~hitkey_bff.deps.Deps` are built on the first invocation (503 for a missing setting);
the CSRF/origin check runs unless ``csrf=False``; with ``session="required"`` the flow is handed
the :class:`~hitkey_bff.sessions.Session` (none: 401), with ``"optional"`` the session or
``None``. Every 401, and every answer of an optional-session route that found no session for a
cookie the browser sent, deletes the session cookie. Typed errors become JSON, AWS failures 503,
anything unexpected a 500 without details; logs carry the request id and metrics are flushed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Literal, overload

from hitkey_bff import invocation, sessions, tracing
from hitkey_bff.aws import is_aws_error
from hitkey_bff.cookies import expired_cookie
from hitkey_bff.csrf import require_same_origin
from hitkey_bff.deps import Deps
from hitkey_bff.errors import BffError, ConfigError, ServiceUnavailable
from hitkey_bff.http import Request, Response, error_response, json_response
from hitkey_bff.observability import logger, metrics
from hitkey_bff.sessions import Session

SessionPolicy = Literal["required", "optional", "none"]
Flow = Callable[[Request, Deps], Response]
SessionFlow = Callable[[Request, Deps, Session], Response]
OptionalSessionFlow = Callable[[Request, Deps, Session | None], Response]
_AnyFlow = Callable[[Request, Deps, Session | None], Response]


class Route:
    """A Lambda handler (``route(event, context)``) for one flow and its policy; ``name`` is the
    route's (its module's, ``hitkey_bff.routes.<name>``)."""

    def __init__(
        self,
        flow: _AnyFlow,
        *,
        csrf: bool,
        session: SessionPolicy,
        deps: Callable[[], Deps] = Deps.from_env,
        name: str | None = None,
    ) -> None:
        self.flow, self.csrf, self.session = flow, csrf, session
        self.name = name or flow.__module__.rpartition(".")[2]
        self._factory = deps
        self._deps: Deps | None = None
        self._lock = threading.Lock()

        def run(event: dict[str, Any], context: Any) -> Response:
            return self._run(event, context)

        run.__name__ = run.__qualname__ = flow.__name__  # names the trace's "## <flow>" subsegment
        run = logger.inject_lambda_context(correlation_id_path="requestContext.requestId", log_event=False)(run)
        self._handler: Callable[[dict[str, Any], Any], Response] = tracing.instrument(
            metrics.log_metrics(run, capture_cold_start_metric=True)
        )

    def __call__(self, event: dict[str, Any], context: Any) -> Response:
        return self._handler(event, context)

    def using(self, deps: Deps | Callable[[], Deps]) -> Route:
        """The same route on other dependencies: a :class:`Deps`, or a factory called at the
        first invocation (``Deps.from_env`` reads the environment then)."""
        factory = deps if callable(deps) and not isinstance(deps, Deps) else (lambda: deps)
        return Route(self.flow, csrf=self.csrf, session=self.session, deps=factory, name=self.name)

    def deps(self) -> Deps:
        """This handler's dependencies, built once (a failure is retried at the next invocation)."""
        with self._lock:
            if self._deps is None:
                self._deps = self._factory()
            return self._deps

    def _run(self, event: dict[str, Any], context: Any) -> Response:
        invocation.begin(context)
        try:
            return self._serve(Request.from_event(event))
        except BffError as err:
            logger.info("request refused", extra={"status": err.status, "error": err.code})
            # names of variables and ARNs are the log's, not the caller's
            if isinstance(err, ConfigError) and not err.public:
                logger.error("misconfigured", extra={"detail": err.message})
                err = ConfigError("this service is misconfigured; its operator can see why in its logs", code=err.code)
            deps = self._deps
            signed_out = err.status == 401 and deps is not None
            return error_response(err, [expired_cookie(deps.settings.cookie_name)] if deps and signed_out else [])
        except Exception as exc:  # every failure must become JSON, never a stack trace
            if is_aws_error(exc):
                logger.warning("AWS dependency failed", extra={"exception_type": type(exc).__name__})
                metrics.add_metric(name="AwsFailures", unit="Count", value=1)
                return error_response(ServiceUnavailable("a backing service is unavailable, try again"))
            logger.exception("unexpected error")
            return json_response(500, {"error": "internal_error", "message": "unexpected error"})

    def _serve(self, request: Request) -> Response:
        deps = self.deps()
        if self.csrf:
            require_same_origin(request, deps.settings.app_origin)
        if self.session == "none":
            return self.flow(request, deps, None)
        name = deps.settings.cookie_name
        activity = request.param("passive") != "1"  # a background poll does not keep a session alive
        if self.session == "required":
            found = sessions.load(deps, request.cookie(name), activity=activity)
            if found is None:
                raise sessions.signed_out()
            return self.flow(request, deps, found)
        found = sessions.load(deps, request.cookie(name), activity=activity)
        response = self.flow(request, deps, found)
        if found is None and name in request.cookies:  # a stale or forged cookie: delete it
            response["cookies"] = [*response.get("cookies", []), expired_cookie(name)]
        return response


@overload
def route(flow: Flow, *, csrf: bool = True, session: Literal["none"] = "none") -> Route: ...
@overload
def route(flow: SessionFlow, *, csrf: bool = True, session: Literal["required"]) -> Route: ...
@overload
def route(flow: OptionalSessionFlow, *, csrf: bool = True, session: Literal["optional"]) -> Route: ...


def route(flow: Callable[..., Response], *, csrf: bool = True, session: SessionPolicy = "none") -> Route:
    """The Lambda handler of ``flow``: CSRF/origin check on unless ``csrf=False``; ``session``
    ``"required"`` hands the flow ``(request, deps, session)``, ``"optional"`` the session or
    ``None``, ``"none"`` (the default) just ``(request, deps)``."""
    name = flow.__module__.rpartition(".")[2]
    if session == "none":
        plain: Flow = flow
        return Route(lambda request, deps, _: plain(request, deps), csrf=csrf, session=session, name=name)
    return Route(flow, csrf=csrf, session=session, name=name)
