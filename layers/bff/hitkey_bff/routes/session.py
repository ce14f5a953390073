"""``GET /auth/session`` - who is signed in, from DynamoDB alone; ``?passive=1`` is not activity."""

from __future__ import annotations

from hitkey_bff import claims, sessions
from hitkey_bff.deps import Deps
from hitkey_bff.http import Request, Response, json_response
from hitkey_bff.route import route
from hitkey_bff.sessions import Session


def session(request: Request, deps: Deps, found: Session | None) -> Response:
    """The user and expiries, or ``{"authenticated": false}``."""
    if found is None:
        return json_response(200, {"authenticated": False})
    record = found.record
    return json_response(
        200,
        {
            "authenticated": True,
            "user": claims.snapshot(record.user),  # items written before the bound: bounded too
            "expires_at": record.expires_at,
            "idle_expires_at": sessions.idle_deadline(deps, record),
            "access_token_expires_at": record.tokens.access_expires_at,
        },
    )


handler = route(session, session="optional")
