"""Calling an API with the session's access token, kept fresh: at most one refresh per request.

:func:`call_with_fresh_token` refreshes first when the stored token has expired (or will within
:data:`ACCESS_TOKEN_SKEW` seconds), and once more when the upstream refuses the token - never
twice, and not at all when the session's tokens were rotated less than
:data:`REFRESH_COOLDOWN_SECONDS` ago: an API that refuses every token then costs one rotation
per session per cooldown, not one per call (the refusal is answered as a second one). ``call``
gets the access token and raises :class:`~hitkey_bff.errors.AccessTokenRejected` for the
upstream's 401; a proxy that returns the upstream's response object does the same for a 401
response (the refused answer is discarded and the call made again with the new token)::

    def forward(token: str) -> httpx.Response:
        response = http.send(build(request, token))
        if response.status_code == 401:
            raise AccessTokenRejected("the API refused the access token")
        return response

    session, response = call_with_fresh_token(deps, session, forward)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn, TypeVar

from hitkey_bff import refresher, sessions
from hitkey_bff.errors import AccessTokenRejected, UpstreamError
from hitkey_bff.observability import logger, metrics
from hitkey_bff.sessions import Session

if TYPE_CHECKING:
    from hitkey_bff.deps import Deps

T = TypeVar("T")
ACCESS_TOKEN_SKEW = 60  # a token that expires within a minute is refreshed first
REFRESH_COOLDOWN_SECONDS = 30  # after an API's 401: no refresh of tokens rotated less than this ago


def fresh(deps: Deps, session: Session) -> bool:
    """Whether the stored access token is good for at least :data:`ACCESS_TOKEN_SKEW` seconds."""
    return session.record.tokens.access_expires_at > deps.clock.now() + ACCESS_TOKEN_SKEW


def cooling_down(deps: Deps, session: Session) -> bool:
    """Whether a refresh committed this session's tokens less than
    :data:`REFRESH_COOLDOWN_SECONDS` ago (the record's ``refreshed_at``; sign-in does not count)."""
    refreshed_at = session.record.refreshed_at
    return refreshed_at > 0 and deps.clock.now() - refreshed_at < REFRESH_COOLDOWN_SECONDS


def call_with_fresh_token(deps: Deps, session: Session, call: Callable[[str], T]) -> tuple[Session, T]:
    """``call(access_token)``'s result and the session as it is after any refresh.

    A second refusal (of a token refreshed in this request, or within the cooldown) is
    :class:`UpstreamError` (502), unless the error says ``pass_through``: then it is re-raised
    unchanged, for the caller to answer with (the proxy returns the upstream's own 401; the
    session is not ended).
    """
    refreshed = not fresh(deps, session)
    if refreshed:
        session = refresher.refresh(deps, session)
    try:
        return session, call(sessions.access_token(deps, session))
    except AccessTokenRejected as exc:
        if refreshed:
            _second_refusal(exc)
        if cooling_down(deps, session):
            metrics.add_metric(name="RefreshSuppressed", unit="Count", value=1)
            logger.info("access token refused within the refresh cooldown; no refresh")
            _second_refusal(exc)
    # Through the single-flight lease: a session another request rotated since ours was read is
    # joined (its tokens used), not rotated again.
    session = refresher.refresh(deps, session)
    try:
        return session, call(sessions.access_token(deps, session))
    except AccessTokenRejected as exc:
        _second_refusal(exc)


def _second_refusal(exc: AccessTokenRejected) -> NoReturn:
    if exc.pass_through:
        raise exc
    raise UpstreamError("the upstream refused a freshly refreshed access token") from None
