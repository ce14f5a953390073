"""``GET /auth/login?return_to=/path`` - 302 to HitKey with state and PKCE.

Signing in again ends this browser's old session. The session cookie is ``SameSite=Strict``, so
it never comes back on HitKey's cross-site redirect to the callback - but it does come with this
navigation, which starts on the app. The login state records which session the browser had (its
``sub`` and sort-key hash: what the table already holds, never the cookie's secret), and the
callback ends it once the new session is stored, whoever signs in: the new cookie replaces the
old one in this browser, so the old session could only linger unreachable - holding tokens,
counting against its user's cap and listed as a device - until it expired. A different person
signing in on a shared browser is exactly when the previous user's session must not outlive it.
"""

from __future__ import annotations

from hitkey_bff import oauth
from hitkey_bff.cookies import LOGIN_MAX_AGE, SessionKey, digest, login_cookie
from hitkey_bff.deps import Deps
from hitkey_bff.http import Request, Response, redirect
from hitkey_bff.observability import metrics
from hitkey_bff.redirects import safe_return_to
from hitkey_bff.route import route
from hitkey_bff.store import LoginState


def login(request: Request, deps: Deps) -> Response:
    """Remember the login (state, verifier, return path) and bind this browser to it."""
    s = deps.settings
    state, binding, verifier = oauth.random_token(), oauth.random_token(), oauth.new_verifier()
    return_to = safe_return_to(request.param("return_to"), s.app_origin)
    current = SessionKey.decode(request.cookie(s.cookie_name))  # the browser's session, if any
    previous = (current.sub, current.session_hash) if current else ("", "")
    deps.store.put_login_state(
        digest(state), digest(binding), LoginState(verifier, return_to, *previous), deps.clock.now() + LOGIN_MAX_AGE
    )
    metrics.add_metric(name="LoginsStarted", unit="Count", value=1)
    return redirect(
        oauth.authorize_url(s, state, oauth.challenge(verifier)), [login_cookie(s.login_cookie_name, binding)]
    )


handler = route(login, csrf=False)  # a top-level navigation: no X-CSRF header
