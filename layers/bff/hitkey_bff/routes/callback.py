"""``GET /auth/callback?code&state`` - one token exchange, one userinfo, one new session.

Every failure is a 302 to ``APP_ORIGIN/?auth_error=<code>`` (the browser is on a navigation),
except AWS and HitKey faults after the state is checked, which are JSON errors.
"""

from __future__ import annotations

from hitkey_bff import oauth, sessions
from hitkey_bff.cookies import SessionKey, digest, expired_cookie, session_cookie
from hitkey_bff.deps import Deps
from hitkey_bff.devices import describe
from hitkey_bff.errors import AccessTokenRejected, BffError, InvalidGrant, UpstreamError
from hitkey_bff.http import Request, Response, error_response, redirect
from hitkey_bff.observability import logger, metrics
from hitkey_bff.route import route

MAX_PARAM = 2048


def callback(request: Request, deps: Deps) -> Response:
    """Check state and browser binding first, then exchange the code and open the session."""
    s = deps.settings
    done = [expired_cookie(s.login_cookie_name, "Lax")]
    if "error" in request.query:
        return _auth_error(deps, oauth.error_code(request.param("error")))
    code, state, binding = request.param("code"), request.param("state"), request.cookie(s.login_cookie_name)
    if code is None or state is None or not (_oauth_value(code) and _oauth_value(state)):
        return _auth_error(deps, "invalid_request")
    if binding is None:
        return _auth_error(deps, "invalid_state")
    client_secret = deps.client_secret()  # before the state is spent: a failure here can be retried
    login = deps.store.consume_login_state(digest(state), digest(binding), deps.clock.now())
    if login is None:
        return _auth_error(deps, "invalid_state")
    try:
        tokens = deps.hitkey.exchange_code(code, login.verifier, s.redirect_uri, client_secret)
        user = deps.hitkey.userinfo(tokens.access_token)
    except InvalidGrant:
        return _auth_error(deps, "invalid_grant")
    except AccessTokenRejected:
        return error_response(UpstreamError("HitKey refused the access token it had just issued"), done)
    except BffError as err:
        return error_response(err, done)
    key = SessionKey.new(user["sub"])
    previous = SessionKey.decode(request.cookie(s.cookie_name))  # this browser's old session: relogin
    sessions.create(deps, key, tokens, user, device=describe(request.headers.get("user-agent")), previous=previous)
    metrics.add_metric(name="Logins", unit="Count", value=1)
    logger.info("signed in", extra={"sub": key.sub})
    return redirect(s.app_origin + login.return_to, [session_cookie(s.cookie_name, key, s.session_ttl_seconds), *done])


def _oauth_value(value: str) -> bool:
    """OAuth's ``code`` and ``state`` are printable ASCII (RFC 6749 appendix A); a bounded length."""
    return 0 < len(value) <= MAX_PARAM and all(0x20 <= ord(ch) <= 0x7E for ch in value)


def _auth_error(deps: Deps, code: str) -> Response:
    s = deps.settings
    metrics.add_metric(name="LoginsFailed", unit="Count", value=1)
    logger.info("sign-in failed", extra={"auth_error": code})
    return redirect(f"{s.app_origin}/?auth_error={code}", [expired_cookie(s.login_cookie_name, "Lax")])


handler = route(callback, csrf=False)  # HitKey's redirect lands here: no X-CSRF header
