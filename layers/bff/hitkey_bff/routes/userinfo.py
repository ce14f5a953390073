"""``GET /auth/userinfo`` - HitKey's userinfo with the session's access token, kept fresh."""

from __future__ import annotations

from hitkey_bff.deps import Deps
from hitkey_bff.errors import UpstreamError
from hitkey_bff.http import Request, Response, json_response
from hitkey_bff.refresh import call_with_fresh_token
from hitkey_bff.route import route
from hitkey_bff.sessions import Session


def userinfo(request: Request, deps: Deps, session: Session) -> Response:
    """At most one refresh per request: first if the token has expired, or once if HitKey refuses it."""
    _, claims = call_with_fresh_token(deps, session, deps.hitkey.userinfo, refused=lambda c: c is None)
    if claims is None:  # refused again: a token refreshed in this request, or within the cooldown
        raise UpstreamError("the upstream refused a freshly refreshed access token")
    return json_response(200, claims)


handler = route(userinfo, session="required")
