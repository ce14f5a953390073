"""For a team's own Lambda behind the ``BffSession`` authorizer: the signed-in user, and calls
made with that user's HitKey access token.

::

    from hitkey_bff.local_api import call_with_fresh_token, current_user

    def handler(event, context):
        user = current_user(event)                      # no AWS call: the authorizer's context
        claims = call_with_fresh_token(event, hitkey_userinfo)  # needs the policy in docs/local-api.md
        ...

Both take the raw payload-2.0 event or Powertools' ``APIGatewayHttpResolver.current_event``.

:func:`call_with_fresh_token` reads the caller's session (the session cookie is in the event),
refreshes the access token first if it has expired, and once more if ``call`` raises
:class:`AccessTokenRejected` - through the same single-flight lease as
``/auth/userinfo``, so concurrent requests of one browser never rotate a refresh token twice.
Its errors are the BFF's typed errors (:func:`error_response` answers them as the BFF does).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from hitkey_bff import refresh, sessions
from hitkey_bff.deps import Deps
from hitkey_bff.errors import BffError, ConfigError, Unauthenticated, UpstreamError
from hitkey_bff.http import Request, Response
from hitkey_bff.http import error_response as _error_response
from hitkey_bff.observability import logger

__all__ = [
    "AccessTokenRejected",
    "User",
    "call_with_fresh_token",
    "current_user",
    "default_deps",
    "error_response",
    "hitkey_userinfo",
]

T = TypeVar("T")
_lock = threading.Lock()


class AccessTokenRejected(BffError):
    """Raise it from the ``call`` given to :func:`call_with_fresh_token` for your API's 401: the
    token is refreshed once and the call made once more; refused again, it is a 502."""

    status = 401
    code = "access_token_rejected"


class _Refused:
    """What an attempt whose ``call`` raised :class:`AccessTokenRejected` returns."""


_REFUSED = _Refused()
_deps: Deps | None = None


@dataclass(frozen=True, slots=True)
class User:
    """The caller, as the ``BffSession`` authorizer found them."""

    sub: str
    session_id: str
    name: str = ""
    email: str = ""
    expires_at: int = 0
    claims: Mapping[str, Any] = field(default_factory=dict)
    """The whole authorizer context (``sub``, ``session_id``, ``name``, ``email``, ``expires_at``)."""


def _raw(event: object) -> Mapping[str, Any]:
    raw = getattr(event, "raw_event", event)  # Powertools' event classes keep the dict here
    return raw if isinstance(raw, Mapping) else {}


def current_user(event: object) -> User:
    """The user the authorizer allowed; :class:`Unauthenticated` (401) when the event carries no
    ``BffSession`` context (the route is not behind the authorizer)."""
    context = _raw(event).get("requestContext")
    authorizer = context.get("authorizer") if isinstance(context, Mapping) else None
    found = authorizer.get("lambda") if isinstance(authorizer, Mapping) else None
    if not isinstance(found, Mapping) or not isinstance(found.get("sub"), str) or not found["sub"]:
        raise Unauthenticated("this route is not behind the BffSession authorizer")

    def text(name: str) -> str:
        value = found.get(name)
        return value if isinstance(value, str) else ""

    expires = found.get("expires_at")
    return User(
        sub=found["sub"],
        session_id=text("session_id"),
        name=text("name"),
        email=text("email"),
        expires_at=int(expires) if isinstance(expires, int | float) and not isinstance(expires, bool) else 0,
        claims=dict(found),
    )


def default_deps() -> Deps:
    """This process's dependencies, from its environment (built once; docs/local-api.md lists the
    variables)."""
    global _deps
    with _lock:
        if _deps is None:
            _deps = Deps.from_env()
        return _deps


def call_with_fresh_token(
    event: object, call: Callable[[str], T], *, refused: Callable[[T], bool] | None = None, deps: Deps | None = None
) -> T:
    """``call(access_token)`` for the caller of ``event``, the token refreshed first if it has
    expired and once more if ``call`` raises :class:`AccessTokenRejected` (then retried once; a
    second refusal is a 502). With ``refused`` (``lambda r: r.status_code == 401``) a refusal is
    a result instead: the last result is returned, refused or not.

    The session is the one the cookie names, and it must be the one the authorizer allowed (the
    same ``sub`` and public id): else :class:`Unauthenticated`, as for a session that ended since.
    """
    user = current_user(event)
    deps = deps or default_deps()
    cookie = Request.from_event(_raw(event)).cookie(deps.settings.cookie_name)
    session = sessions.load(deps, cookie, activity=False)
    if session is None or session.key.sub != user.sub or session.record.session_id != user.session_id:
        raise sessions.signed_out()
    if refused is not None:
        return refresh.call_with_fresh_token(deps, session, call, refused=refused)[1]

    def attempt(token: str) -> T | _Refused:
        try:
            return call(token)
        except AccessTokenRejected:
            return _REFUSED

    _, result = refresh.call_with_fresh_token(deps, session, attempt, refused=lambda r: r is _REFUSED)
    if isinstance(result, _Refused):
        raise UpstreamError("the upstream refused a freshly refreshed access token")
    return result


def hitkey_userinfo(event: object, *, deps: Deps | None = None) -> dict[str, Any]:
    """HitKey's userinfo for the caller, with their access token (see :func:`call_with_fresh_token`)."""
    current_user(event)  # a route outside the authorizer is a 401 before any setting is read
    deps = deps or default_deps()
    claims = call_with_fresh_token(event, deps.hitkey.userinfo, refused=lambda c: c is None, deps=deps)
    if claims is None:  # refused again, after a refresh
        raise UpstreamError("the upstream refused a freshly refreshed access token")
    return claims


def error_response(error: BffError) -> Response:
    """The BFF's answer to one of its typed errors: ``{"error": code, "message": text}``; a
    misconfiguration's details (a variable's name) go to the log, not to the caller."""
    if isinstance(error, ConfigError) and not error.public:
        logger.error("misconfigured", extra={"detail": error.message})
        error = ConfigError("this service is misconfigured; its operator can see why in its logs", code=error.code)
    return _error_response(error)
