"""``/auth/sessions`` - the caller's sessions ("your devices"):

* ``GET /auth/sessions`` - ``{"sessions": [...]}``, most recent activity first;
* ``DELETE /auth/sessions/{id}`` - end one (``204``; the current one also deletes the cookie);
  an id that is not one of the caller's sessions, or not an id at all, is ``404 unknown_session``;
* ``DELETE /auth/sessions`` - end all the others, ``{"ended": n}``.

Ids are public random values (never derived from the cookie's secret): knowing one gives no way
to use the session.
"""

from __future__ import annotations

from hitkey_bff import sessions
from hitkey_bff.cookies import expired_cookie
from hitkey_bff.deps import Deps
from hitkey_bff.errors import MethodNotAllowed, UnknownSession
from hitkey_bff.http import Request, Response, error_response, json_response, no_content
from hitkey_bff.route import route
from hitkey_bff.sessions import Session

PREFIX = "/auth/sessions"


def manage(request: Request, deps: Deps, session: Session) -> Response:
    """Dispatch on method and path."""
    path = request.path.rstrip("/")
    if path == PREFIX:
        if request.method == "GET":
            return _list(deps, session)
        if request.method == "DELETE":
            count = sessions.end_others(deps, session.key.sub, session.record.session_hash, "logout")
            return json_response(200, {"ended": count})
        return error_response(MethodNotAllowed("use GET or DELETE", allow=("GET", "DELETE")))
    session_id = path.removeprefix(PREFIX + "/") if path.startswith(PREFIX + "/") else ""
    if request.method != "DELETE" or not session_id:
        return error_response(MethodNotAllowed("use DELETE /auth/sessions/{id}", allow=("DELETE",)))
    ended = sessions.end_by_id(deps, session.key.sub, session_id, "logout")
    if ended is None:
        return error_response(UnknownSession("no such session"))
    current = ended.session_hash == session.record.session_hash
    return no_content([expired_cookie(deps.settings.cookie_name)] if current else [])


def _list(deps: Deps, session: Session) -> Response:
    current = session.record.session_hash
    return json_response(
        200,
        {
            "sessions": [
                {
                    "id": r.session_id,
                    "created_at": r.created_at,
                    "last_seen_at": r.last_seen_at,
                    "expires_at": r.expires_at,
                    "idle_expires_at": sessions.idle_deadline(deps, r),
                    "device": r.device or "Unknown device",
                    "current": r.session_hash == current,
                }
                for r in sessions.live_sessions(deps, session.key.sub)
                if r.session_id
            ]
        },
    )


handler = route(manage, session="required")
