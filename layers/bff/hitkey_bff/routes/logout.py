"""``POST /auth/logout[?everywhere=true]`` - end the session (or all the user's sessions) and
delete the cookie; idempotent."""

from __future__ import annotations

from hitkey_bff import sessions
from hitkey_bff.cookies import SessionKey, expired_cookie
from hitkey_bff.deps import Deps
from hitkey_bff.http import Request, Response, no_content
from hitkey_bff.route import route


def logout(request: Request, deps: Deps) -> Response:
    """No read first: whatever the cookie names is deleted. ``everywhere=true`` ends every
    session of the cookie's user - only if the cookie's own session is live (a stale cookie
    must not sign a user out of their other devices)."""
    name = deps.settings.cookie_name
    key = SessionKey.decode(request.cookie(name))
    if key is not None:
        if request.param("everywhere") == "true" and sessions.load(deps, key, activity=False) is not None:
            sessions.end_all(deps, key.sub, "logout_everywhere")
        else:
            sessions.end(deps, key, "logout")
    return no_content([expired_cookie(name)])


handler = route(logout)
