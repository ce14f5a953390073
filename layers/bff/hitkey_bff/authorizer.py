"""``BffSession``: the Lambda REQUEST authorizer (payload 2.0, simple responses) for a team's own
routes on the BFF's HTTP API.

API Gateway invokes it only when the request carries both identity sources, the ``Cookie`` and
``X-CSRF`` headers (without either it answers 401 itself). It allows the request when ``X-CSRF: 1``
is sent, the ``Origin`` (where the browser sends one) is the app's, and the session cookie names a
live session - one strongly consistent GetItem, no KMS, no HitKey, no write: it is read-only on
the table (an ended or idle session is left for the BFF's own routes or the TTL to delete).
Otherwise it denies, and API Gateway answers 403.

The allowed request reaches the team's function with the caller in
``event["requestContext"]["authorizer"]["lambda"]``::

    {"sub": "...", "session_id": "<public id, as /auth/sessions lists it>",
     "name": "Ada Lovelace", "email": "ada@example.com", "expires_at": 1767225600}

Never a token, never the cookie. ``expires_at`` is the session's absolute end (epoch seconds).
"""

from __future__ import annotations

import threading
from typing import Any

from hitkey_bff import invocation, tracing
from hitkey_bff.aws import is_aws_error
from hitkey_bff.cookies import SessionKey
from hitkey_bff.csrf import require_same_origin
from hitkey_bff.deps import Deps
from hitkey_bff.errors import BffError
from hitkey_bff.http import Request
from hitkey_bff.observability import logger, metrics
from hitkey_bff.sessions import why_dead
from hitkey_bff.store import SessionRecord

AuthorizerResponse = dict[str, Any]
CONTEXT_KEYS = ("sub", "session_id", "name", "email", "expires_at")
"""What the team's function receives, and nothing else."""


def context_of(record: SessionRecord) -> dict[str, str | int]:
    """The authorizer context of a live session: the user and the session's public id."""
    user = record.user
    name = user.get("name") or user.get("display_name") or ""
    email = user.get("email") or ""
    return {
        "sub": record.sub,
        "session_id": record.session_id,
        "name": name if isinstance(name, str) else "",
        "email": email if isinstance(email, str) else "",
        "expires_at": record.expires_at,
    }


def deny(reason: str) -> AuthorizerResponse:
    """A refusal (API Gateway answers 403); ``reason`` goes to the log only."""
    logger.info("local API request denied", extra={"reason": reason})
    metrics.add_metric(name="LocalApiDenied", unit="Count", value=1)
    return {"isAuthorized": False}


def authorize(event: object, deps: Deps) -> AuthorizerResponse:
    """The simple response for one authorizer event (payload format 2.0)."""
    try:
        request = Request.from_event(event)
        require_same_origin(request, deps.settings.app_origin)
    except BffError as err:
        return deny(err.code)
    key = SessionKey.decode(request.cookie(deps.settings.cookie_name))
    if key is None:
        return deny("no_session_cookie")  # absent, duplicated or tampered with
    record = deps.store.read_session(key.sub, key.session_hash)
    if record is None:
        return deny("no_session")  # signed out, ended elsewhere, or a forged secret
    ended = why_dead(deps, record, deps.clock.now())
    if ended:
        return deny(f"session_{ended}")
    return {"isAuthorized": True, "context": context_of(record)}


class Authorizer:
    """The Lambda handler: ``Authorizer()(event, context)``; dependencies built once per process."""

    def __init__(self, deps: Deps | None = None) -> None:
        self._deps = deps
        self._lock = threading.Lock()

        def run(event: dict[str, Any], context: Any) -> AuthorizerResponse:
            invocation.begin(context)
            try:
                return authorize(event, self.deps())
            except BffError as err:  # a missing setting: no answer but a refusal
                logger.error("authorizer misconfigured", extra={"error": err.code, "detail": err.message})
                return {"isAuthorized": False}
            except Exception as exc:
                if is_aws_error(exc):  # API Gateway answers 500: a retryable failure, not a refusal
                    logger.warning("AWS dependency failed", extra={"exception_type": type(exc).__name__})
                    metrics.add_metric(name="AwsFailures", unit="Count", value=1)
                else:
                    logger.exception("unexpected error in the authorizer")
                raise RuntimeError("the session authorizer could not decide") from None

        run.__name__ = run.__qualname__ = "bff_session"
        run = logger.inject_lambda_context(correlation_id_path="requestContext.requestId", log_event=False)(run)
        self._handler = tracing.instrument(metrics.log_metrics(run, capture_cold_start_metric=True))

    def deps(self) -> Deps:
        """This process's dependencies (``Deps.from_env`` at the first invocation)."""
        with self._lock:
            if self._deps is None:
                self._deps = Deps.from_env()
            return self._deps

    def using(self, deps: Deps) -> Authorizer:
        """The same authorizer on other dependencies (tests, benches)."""
        return Authorizer(deps)

    def __call__(self, event: dict[str, Any], context: Any) -> AuthorizerResponse:
        result: AuthorizerResponse = self._handler(event, context)
        return result


handler = Authorizer()
