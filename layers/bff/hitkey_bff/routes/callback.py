"""``GET /auth/callback?code&state`` - one token exchange, one userinfo, one new session.

The browser is on a top-level navigation: every failure is a 302 to
``APP_ORIGIN/?auth_error=<code>`` with a stable code - ``invalid_request``,
``login_cookie_missing``, ``invalid_state``, ``invalid_grant``, ``access_denied`` (and HitKey's
other OAuth errors), ``upstream_error``, ``upstream_timeout``, ``misconfigured``,
``service_unavailable``, ``server_error``. HitKey's own text goes to the log (truncated), never to
the browser. State and the browser binding are checked before anything else, ``?error=``
included: a callback that does not match the pending login (any site can navigate a browser here)
is ``invalid_state`` and leaves that login alone.

``login_cookie_missing``: the callback came without the login cookie, so it cannot be matched to
a login of this browser. The browser did not send it back: it blocks cookies, the sign-in took
longer than the cookie's 10 minutes, or it drops ``Secure`` cookies on plain http (Safari and
WebKit do, on http://localhost too). ``invalid_state`` is kept for a login cookie that came but
does not match (another tab's login, a replayed or foreign callback).
"""

from __future__ import annotations

from hitkey_bff import oauth, sessions
from hitkey_bff.aws import is_aws_error
from hitkey_bff.cookies import SessionKey, digest, expired_cookie, session_cookie
from hitkey_bff.deps import Deps
from hitkey_bff.devices import describe
from hitkey_bff.errors import (
    BffError,
    ConfigError,
    InvalidGrant,
    ServiceUnavailable,
    UpstreamError,
    UpstreamTimeout,
)
from hitkey_bff.http import Request, Response, redirect
from hitkey_bff.observability import loggable, logger, metrics
from hitkey_bff.route import route

MAX_PARAM = 2048


def callback(request: Request, deps: Deps) -> Response:
    """Check state and browser binding first, then exchange the code and open the session."""
    try:
        return _callback(request, deps)
    except Exception as exc:  # every failure is a redirect the SPA can explain
        return _auth_error(deps, _failure_code(exc))


def _callback(request: Request, deps: Deps) -> Response:
    s = deps.settings
    error = "error" in request.query
    code, state, binding = request.param("code"), request.param("state"), request.cookie(s.login_cookie_name)
    if error:
        if state is None or not _oauth_value(state):
            return _auth_error(deps, "invalid_state", keep_login=True)
    elif code is None or state is None or not (_oauth_value(code) and _oauth_value(state)):
        return _auth_error(deps, "invalid_request", keep_login=True)
    if binding is None:
        return _auth_error(deps, "login_cookie_missing", keep_login=True)
    assert state is not None and binding is not None
    try:  # before the state is spent: a reload can retry
        client_secret = "" if error else deps.client_secret()
    except Exception as exc:
        return _auth_error(deps, _failure_code(exc), keep_login=True)
    login = deps.store.consume_login_state(digest(state), digest(binding), deps.clock.now())
    if login is None:
        return _auth_error(deps, "invalid_state", keep_login=True)
    if error or code is None:  # HitKey's answer to this very login: the user declined, or it failed
        return _auth_error(deps, oauth.error_code(request.param("error")))
    try:
        tokens = deps.hitkey.exchange_code(code, login.verifier, s.redirect_uri, client_secret)
        user = deps.hitkey.userinfo(tokens.access_token)
    except InvalidGrant:
        return _auth_error(deps, "invalid_grant")
    if user is None:  # HitKey refused the access token it has just issued
        return _auth_error(deps, "upstream_error")
    key = SessionKey.new(user["sub"])
    # this browser's old session (relogin): as recorded by the login, which the Strict cookie
    # reached; and the cookie itself when it came along here too (a login begun on another site)
    previous = {(login.previous_sub, login.previous_session)} if login.previous_sub else set()
    cookie = SessionKey.decode(request.cookie(s.cookie_name))
    if cookie is not None:
        previous.add((cookie.sub, cookie.session_hash))
    sessions.create(deps, key, tokens, user, device=describe(request.headers.get("user-agent")), previous=previous)
    metrics.add_metric(name="Logins", unit="Count", value=1)
    logger.info("signed in", extra={"sub": key.sub})
    done = [expired_cookie(s.login_cookie_name, "Lax")]
    return redirect(s.app_origin + login.return_to, [session_cookie(s.cookie_name, key, s.session_ttl_seconds), *done])


def _failure_code(exc: Exception) -> str:
    """The stable ``auth_error`` of a failure; its detail goes to the log only."""
    detail = loggable(getattr(exc, "message", ""))
    if isinstance(exc, UpstreamTimeout):
        code = "upstream_timeout"
    elif isinstance(exc, UpstreamError):
        code = "misconfigured" if exc.code == "invalid_client" else "upstream_error"
    elif isinstance(exc, ConfigError):
        code = "misconfigured"
    elif isinstance(exc, ServiceUnavailable) or is_aws_error(exc):
        code = "service_unavailable"
    else:
        code = "server_error"
    if isinstance(exc, BffError):
        logger.warning("sign-in callback failed", extra={"error": exc.code, "detail": detail})
    elif is_aws_error(exc):
        logger.warning("sign-in callback failed: AWS", extra={"exception_type": type(exc).__name__})
        metrics.add_metric(name="AwsFailures", unit="Count", value=1)
    else:
        logger.exception("sign-in callback failed unexpectedly")
    return code


def _oauth_value(value: str) -> bool:
    """OAuth's ``code`` and ``state`` are printable ASCII (RFC 6749 appendix A); a bounded length."""
    return 0 < len(value) <= MAX_PARAM and all(0x20 <= ord(ch) <= 0x7E for ch in value)


def _auth_error(deps: Deps, code: str, *, keep_login: bool = False) -> Response:
    """The redirect to the SPA with ``?auth_error=code``; ``keep_login``: the pending login (its
    cookie and state) is not this callback's to end."""
    s = deps.settings
    metrics.add_metric(name="LoginsFailed", unit="Count", value=1)
    logger.info("sign-in failed", extra={"auth_error": code})
    cookies = [] if keep_login else [expired_cookie(s.login_cookie_name, "Lax")]
    return redirect(f"{s.app_origin}/?auth_error={code}", cookies)


handler = route(callback, csrf=False)  # HitKey's redirect lands here: no X-CSRF header
