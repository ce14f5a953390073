"""``POST /auth/logout`` - end the session and delete the cookie; idempotent."""

from __future__ import annotations

from hitkey_bff import sessions
from hitkey_bff.cookies import SessionKey, expired_cookie
from hitkey_bff.deps import Deps
from hitkey_bff.http import Request, Response, no_content
from hitkey_bff.route import route


def logout(request: Request, deps: Deps) -> Response:
    """No read first: whatever the cookie names is deleted."""
    name = deps.settings.cookie_name
    key = SessionKey.decode(request.cookie(name))
    if key is not None:
        sessions.end(deps, key, "logout")
    return no_content([expired_cookie(name)])


handler = route(logout)
