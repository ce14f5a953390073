"""``POST /auth/refresh`` - rotate the session's tokens now."""

from __future__ import annotations

from hitkey_bff.deps import Deps
from hitkey_bff.http import Request, Response, json_response
from hitkey_bff.refresh import refresh as refresh_tokens
from hitkey_bff.route import route
from hitkey_bff.sessions import Session


def refresh(request: Request, deps: Deps, session: Session) -> Response:
    """The new access token's expiry."""
    record = refresh_tokens(deps, session).record
    return json_response(200, {"expires_at": record.tokens.access_expires_at})


handler = route(refresh, session="required")
