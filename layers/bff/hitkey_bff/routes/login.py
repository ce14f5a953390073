"""``GET /auth/login?return_to=/path`` - 302 to HitKey with state and PKCE."""

from __future__ import annotations

from hitkey_bff import oauth
from hitkey_bff.cookies import LOGIN_MAX_AGE, digest, login_cookie
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
    deps.store.put_login_state(
        digest(state), digest(binding), LoginState(verifier, return_to), deps.clock.now() + LOGIN_MAX_AGE
    )
    metrics.add_metric(name="LoginsStarted", unit="Count", value=1)
    return redirect(
        oauth.authorize_url(s, state, oauth.challenge(verifier)), [login_cookie(s.login_cookie_name, binding)]
    )


handler = route(login, csrf=False)  # a top-level navigation: no X-CSRF header
