"""The six routes' stories. Each takes a :class:`~hitkey_bff.http.Request` and returns an
API Gateway 2.0 response; :func:`hitkey_bff.http.endpoint` makes them Lambda handlers."""

from __future__ import annotations

from hitkey_bff import oauth, refresher, runtime, sessions
from hitkey_bff.config import settings
from hitkey_bff.cookies import LOGIN_MAX_AGE, SessionKey, digest, expired_cookie, login_cookie, session_cookie
from hitkey_bff.csrf import require_same_origin
from hitkey_bff.errors import AccessTokenRejected, BffError, InvalidGrant, UpstreamError
from hitkey_bff.http import Request, Response, error_response, json_response, no_content, redirect
from hitkey_bff.observability import logger, metrics
from hitkey_bff.redirects import safe_return_to
from hitkey_bff.store import LoginState

MAX_PARAM = 2048


def login(request: Request) -> Response:
    """``GET /auth/login?return_to=/path`` - 302 to HitKey with state and PKCE."""
    s = settings()
    state, binding, verifier = oauth.random_token(), oauth.random_token(), oauth.new_verifier()
    return_to = safe_return_to(request.param("return_to"), s.app_origin)
    runtime.store().put_login_state(
        digest(state), digest(binding), LoginState(verifier, return_to), sessions.now() + LOGIN_MAX_AGE
    )
    metrics.add_metric(name="LoginsStarted", unit="Count", value=1)
    return redirect(
        oauth.authorize_url(s, state, oauth.challenge(verifier)), [login_cookie(s.login_cookie_name, binding)]
    )


def callback(request: Request) -> Response:
    """``GET /auth/callback?code&state`` - one token exchange, one userinfo, one new session."""
    s = settings()
    done = [expired_cookie(s.login_cookie_name, "Lax")]
    if "error" in request.query:
        return _auth_error(oauth.error_code(request.param("error")))
    code, state, binding = request.param("code"), request.param("state"), request.cookie(s.login_cookie_name)
    if code is None or state is None or not (_oauth_value(code) and _oauth_value(state)):
        return _auth_error("invalid_request")
    if binding is None:
        return _auth_error("invalid_state")
    client_secret = runtime.client_secret()  # before the state is spent: a failure here can be retried
    login = runtime.store().consume_login_state(digest(state), digest(binding), sessions.now())
    if login is None:
        return _auth_error("invalid_state")
    try:
        tokens = runtime.hitkey().exchange_code(code, login.verifier, s.redirect_uri, client_secret)
        user = runtime.hitkey().userinfo(tokens.access_token)
    except InvalidGrant:
        return _auth_error("invalid_grant")
    except AccessTokenRejected:
        return error_response(UpstreamError("HitKey refused the access token it had just issued"), done)
    except BffError as err:
        return error_response(err, done)
    key = SessionKey.new(user["sub"])
    sessions.create(key, tokens, user)
    metrics.add_metric(name="Logins", unit="Count", value=1)
    logger.info("signed in", extra={"sub": key.sub})
    return redirect(s.app_origin + login.return_to, [session_cookie(s.cookie_name, key, s.session_ttl_seconds), *done])


def _oauth_value(value: str) -> bool:
    """OAuth's ``code`` and ``state`` are printable ASCII (RFC 6749 appendix A); a bounded length."""
    return 0 < len(value) <= MAX_PARAM and all(0x20 <= ord(ch) <= 0x7E for ch in value)


def _auth_error(code: str) -> Response:
    s = settings()
    metrics.add_metric(name="LoginsFailed", unit="Count", value=1)
    logger.info("sign-in failed", extra={"auth_error": code})
    return redirect(f"{s.app_origin}/?auth_error={code}", [expired_cookie(s.login_cookie_name, "Lax")])


def session(request: Request) -> Response:
    """``GET /auth/session`` - who is signed in, from DynamoDB alone."""
    s = settings()
    require_same_origin(request, s.app_origin)
    found = sessions.load(request)
    if found is None:
        stale = [expired_cookie(s.cookie_name)] if s.cookie_name in request.cookies else []
        return json_response(200, {"authenticated": False}, stale)
    _, record = found
    return json_response(
        200,
        {
            "authenticated": True,
            "user": record.user,
            "expires_at": record.expires_at,
            "access_token_expires_at": record.tokens.access_expires_at,
        },
    )


def userinfo(request: Request) -> Response:
    """``GET /auth/userinfo`` - HitKey's userinfo with the stored access token: refreshed first if
    it has expired, or once if HitKey refuses it - at most one refresh per request."""
    require_same_origin(request, settings().app_origin)
    key, record = sessions.require(request)
    refreshed = not sessions.access_token_fresh(record)
    if refreshed:
        record = refresher.refresh(key, record)
    try:
        return json_response(200, runtime.hitkey().userinfo(sessions.access_token(key, record)))
    except AccessTokenRejected:
        if refreshed:
            raise UpstreamError("HitKey refused a freshly refreshed access token") from None
    record = refresher.refresh(key, record)
    try:
        return json_response(200, runtime.hitkey().userinfo(sessions.access_token(key, record)))
    except AccessTokenRejected:
        raise UpstreamError("HitKey refused a freshly refreshed access token") from None


def refresh(request: Request) -> Response:
    """``POST /auth/refresh`` - rotate the session's tokens now."""
    require_same_origin(request, settings().app_origin)
    key, record = sessions.require(request)
    record = refresher.refresh(key, record)
    return json_response(200, {"expires_at": record.tokens.access_expires_at})


def logout(request: Request) -> Response:
    """``POST /auth/logout`` - delete the session and the cookie; idempotent."""
    s = settings()
    require_same_origin(request, s.app_origin)
    key = SessionKey.decode(request.cookie(s.cookie_name))
    if key is not None:
        runtime.store().delete_session(key.sub, key.session_hash)
        logger.info("signed out", extra={"sub": key.sub})
    return no_content([expired_cookie(s.cookie_name)])
