"""``POST /auth/logout[?everywhere=true]`` - end the session (or all the user's sessions) and
delete the cookie; idempotent.

Every session cookie the browser sent is ended (two cookies of one name: both), so a 204 never
leaves a session alive.
"""

from __future__ import annotations

from hitkey_bff import sessions
from hitkey_bff.cookies import SessionKey, expired_cookie
from hitkey_bff.deps import Deps
from hitkey_bff.errors import BadRequest
from hitkey_bff.http import MAX_COOKIE_VALUE, Request, Response, no_content
from hitkey_bff.route import route

MAX_COOKIES = 4  # more copies of the session cookie than a browser ever sends: refused


def logout(request: Request, deps: Deps) -> Response:
    """No read first: whatever the cookie names is deleted. ``everywhere=true`` ends every
    session of the cookie's user - only if the cookie's own session is live (a stale cookie
    must not sign a user out of their other devices)."""
    name = deps.settings.cookie_name
    values = request.cookies.get(name, [])
    if len(values) > MAX_COOKIES:
        raise BadRequest("too many session cookies; clear this site's cookies", code="invalid_request")
    everywhere = request.param("everywhere") == "true"
    for value in values:
        key = SessionKey.decode(value if len(value) <= MAX_COOKIE_VALUE else None)
        if key is None:
            continue
        if everywhere and sessions.load(deps, key, activity=False) is not None:
            sessions.end_all(deps, key.sub, "logout_everywhere")
        else:
            sessions.end(deps, key, "logout")
    return no_content([expired_cookie(name)])


handler = route(logout)
